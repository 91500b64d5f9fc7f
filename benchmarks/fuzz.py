"""Benchmark: fuzz every importer and the protocol loader with >= 10,000 cases each.

Each case is a structured mutation of a small valid file (``tests/unit/fuzz_inputs.py``):
the file is parsed in full with the format named and with detection (``auto``); every
``--store-every``-th case is also imported into a real SQLite store, and a refused import
must leave every table's digest unchanged. Anything escaping other than ``LsrError`` is a
failure; failures are collected (not shrunk) and printed with the first bytes of the case.

Run: ``python benchmarks/fuzz.py [--cases 10000] [--store-every 20] [--only ris,csv]``.
Prints counts per importer; asserts nothing. Needs no shared data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.unit.fuzz_inputs import DATABASE, SEEDS, mutated  # noqa: E402
from tests.unit.test_fuzz_protocol import mutated_protocol  # noqa: E402

from living_review.errors import LsrError  # noqa: E402
from living_review.export import table_digests  # noqa: E402
from living_review.importing import import_file  # noqa: E402
from living_review.protocol import parse_protocol  # noqa: E402
from living_review.sources.registry import parse_file  # noqa: E402
from living_review.store import migrate  # noqa: E402
from living_review.store.engine import make_engine, sqlite_url  # noqa: E402


def _failure(exc: BaseException, data: bytes | str) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    head = data[:80] if isinstance(data, str) else data[:80].decode("utf-8", "replace")
    return f"{type(exc).__name__}: {exc} at {Path(where.filename).name}:{where.lineno} | {head!r}"


def fuzz_importer(fmt: str, cases: int, store_every: int, work: Path) -> dict[str, Any]:
    """Run ``cases`` mutations of one format's seed; return counts and failures."""
    engine = make_engine(sqlite_url(work / f"{fmt}.sqlite"))
    migrate.upgrade(engine)
    path = work / f"case.{fmt}"
    tally: Counter[str] = Counter()
    failures: list[str] = []

    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(data=mutated(fmt), auto=st.booleans())
    def case(data: bytes, auto: bool) -> None:
        tally["cases"] += 1
        path.write_bytes(data)
        try:
            _, records = parse_file(path, "auto" if auto else fmt)
            n = sum(1 for _ in records)
            tally["parsed"] += 1
            tally["records"] += n
        except LsrError:
            tally["refused"] += 1
        except Exception as exc:  # a bug: collect it and go on
            failures.append(_failure(exc, data))
        if tally["cases"] % store_every:
            return
        tally["store_cases"] += 1
        before = table_digests(engine)
        try:
            import_file(engine, path, database=DATABASE[fmt], fmt="auto" if auto else fmt)
            tally["store_imported"] += 1
        except LsrError:
            if table_digests(engine) != before:
                failures.append(f"store changed after a refused import | {data[:80]!r}")
        except Exception as exc:
            failures.append("store: " + _failure(exc, data))

    case()
    engine.dispose()
    return {"tally": tally, "failures": failures}


def fuzz_protocol(cases: int) -> dict[str, Any]:
    """Run ``cases`` mutations of a valid protocol through the loader."""
    tally: Counter[str] = Counter()
    failures: list[str] = []

    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(text=mutated_protocol())
    def case(text: str) -> None:
        tally["cases"] += 1
        try:
            parse_protocol(text, "review.toml")
            tally["parsed"] += 1
        except LsrError:
            tally["refused"] += 1
        except Exception as exc:
            failures.append(_failure(exc, text))

    case()
    return {"tally": tally, "failures": failures}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000, help="cases per importer")
    ap.add_argument("--store-every", type=int, default=20, help="import every Nth case")
    ap.add_argument("--only", default="", help="comma-separated formats (and/or 'protocol')")
    args = ap.parse_args()
    wanted = set(filter(None, args.only.split(","))) or {*SEEDS, "protocol"}
    total_failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in [f for f in SEEDS if f in wanted]:
            t0 = time.perf_counter()
            out = fuzz_importer(fmt, args.cases, args.store_every, Path(tmp))
            t = out["tally"]
            total_failures += len(out["failures"])
            print(
                f"{fmt:<11} cases {t['cases']:>6}  parsed {t['parsed']:>6} "
                f"({t['records']} records)  refused {t['refused']:>6}  store cases "
                f"{t['store_cases']:>5} (imported {t['store_imported']})  failures "
                f"{len(out['failures'])}  {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            for f in sorted(set(out["failures"]))[:10]:
                print(f"    {f}")
        if "protocol" in wanted:
            t0 = time.perf_counter()
            out = fuzz_protocol(args.cases)
            t = out["tally"]
            total_failures += len(out["failures"])
            print(
                f"{'protocol':<11} cases {t['cases']:>6}  valid {t['parsed']:>6}  refused "
                f"{t['refused']:>6}  failures {len(out['failures'])}  "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            for f in sorted(set(out["failures"]))[:10]:
                print(f"    {f}")
    print(f"total failures: {total_failures}")


if __name__ == "__main__":
    main()

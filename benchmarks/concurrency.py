"""Benchmark: team mode under load, on SQLite (WAL) and PostgreSQL.

1. Concurrency: 4 reviewers in 4 separate processes (multiprocessing spawn) make 2,000
   title/abstract decisions each on one review, while a fifth process imports 2,000 records
   and a sixth runs the dedup pass. Checks every decision is stored exactly once, no error
   ("database is locked" or other) reached a reviewer, and PRISMA's invariants hold; prints
   decisions/s per engine (all decisions / the slowest reviewer's time).
2. Crash safety (``--crash N``, default 24): SIGKILL an import + dedup child at random
   moments per engine until N kills landed mid-work (a kill after the child finished does
   not count; at most 3N rounds); prints kills, the states found (before / imported / deduped)
   and how many were corrupt (must be 0), and whether re-running completed every time.

PostgreSQL runs when ``--pg URL`` or ``$LSR_TEST_PG_URL`` is given (a fresh schema, dropped
afterwards). Run: ``python benchmarks/concurrency.py [--per-worker 2000] [--crash 24]``.
Prints figures; asserts nothing. Needs no shared data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from tests.integration.team_data import (  # noqa: E402
    concurrency_setup,
    crash_rounds,
    decide_worker,
    make_records,
    run_concurrently,
)
from tests.integration.test_concurrency import check_store  # noqa: E402

from living_review.importing import RunInfo, import_records  # noqa: E402
from living_review.init import init_workspace  # noqa: E402
from living_review.workspace import Workspace  # noqa: E402


@contextmanager
def workspace_on(engine: str, pg: str | None, tmp: Path) -> Iterator[Workspace]:
    """A fresh workspace on SQLite, or on its own PostgreSQL schema."""
    root = init_workspace(tmp / f"review-{uuid.uuid4().hex[:6]}")
    if engine == "sqlite":
        os.environ.pop("LSR_DATABASE_URL", None)
        ws = Workspace(root)
        yield ws
        ws.close()
        return
    assert pg is not None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in pg else "?"
    os.environ["LSR_DATABASE_URL"] = f"{pg}{sep}options=-csearch_path%3D{schema}"
    ws = Workspace(root)
    try:
        yield ws
    finally:
        ws.close()
        os.environ.pop("LSR_DATABASE_URL", None)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def concurrency(engine: str, pg: str | None, per_worker: int, import_n: int) -> dict[str, Any]:
    """Run the concurrency scenario once; return figures (and the check's verdict)."""
    with tempfile.TemporaryDirectory() as tmp, workspace_on(engine, pg, Path(tmp)) as ws:
        _, ids = concurrency_setup(ws, per_worker)
        out = run_concurrently(ws, ids, per_worker, import_n=import_n, dedup_passes=5)
        decisions = sum(len(r["made"]) for r in out["deciders"])
        slowest = max(r["elapsed"] for r in out["deciders"])
        errors = [e for r in out["deciders"] + out["side"] for e in r["errors"]]
        try:
            check_store(ws, out, per_worker, import_n)
            verdict = "ok: every decision stored exactly once, PRISMA invariants hold"
        except AssertionError as exc:
            verdict = f"FAILED: {str(exc).splitlines()[0][:200]}"
        return {
            "decisions": decisions,
            "per_s": decisions / slowest,
            "per_reviewer_s": [len(r["made"]) / r["elapsed"] for r in out["deciders"]],
            "errors": errors,
            "wall": out["wall"],
            "verdict": verdict,
        }


def baseline(engine: str, pg: str | None, n: int) -> float:
    """Decisions/s of one reviewer alone, in this process: the no-contention reference."""
    with tempfile.TemporaryDirectory() as tmp, workspace_on(engine, pg, Path(tmp)) as ws:
        _, ids = concurrency_setup(ws, n)
        out = decide_worker(str(ws.root), os.environ.get("LSR_DATABASE_URL"), "r1", ids, n, 0)
        return len(out["made"]) / out["elapsed"]  # type: ignore[arg-type, operator]


def crash(engine: str, pg: str | None, rounds: int, n_file: int) -> dict[str, Any]:
    """Run ``rounds`` kill rounds on a fresh workspace."""
    with tempfile.TemporaryDirectory() as tmp, workspace_on(engine, pg, Path(tmp)) as ws:
        import_records(ws.engine, make_records(500), RunInfo(database="pubmed"))
        return crash_rounds(
            ws, Path(tmp), rounds=rounds + 1, n_file=n_file, seed=11, min_kills=rounds
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-worker", type=int, default=2000)
    ap.add_argument("--import-records", type=int, default=2000)
    ap.add_argument("--crash", type=int, default=24, help="kill rounds per engine (0: skip)")
    ap.add_argument("--crash-records", type=int, default=2000)
    ap.add_argument("--skip-concurrency", action="store_true")
    ap.add_argument("--pg", default=os.environ.get("LSR_TEST_PG_URL"))
    ap.add_argument("--engines", default="sqlite,postgresql", help="which engines to run")
    args = ap.parse_args()
    wanted = args.engines.split(",")
    engines = [e for e in ("sqlite", "postgresql") if e in wanted and (e == "sqlite" or args.pg)]
    if not args.pg:
        print("PostgreSQL: skipped (give --pg URL or set LSR_TEST_PG_URL)")
    for engine in engines:
        if not args.skip_concurrency:
            t0 = time.perf_counter()
            alone = baseline(engine, args.pg, min(args.per_worker, 500))
            r = concurrency(engine, args.pg, args.per_worker, args.import_records)
            print(
                f"{engine:<10} concurrency: 4 x {args.per_worker} decisions + import of "
                f"{args.import_records} + dedup: {r['decisions']} decisions, "
                f"{r['per_s']:.1f} decisions/s overall "
                f"(per reviewer {', '.join(f'{x:.1f}' for x in r['per_reviewer_s'])}), "
                f"vs {alone:.1f}/s for one reviewer alone (x{r['per_s'] / alone:.2f}); "
                f"{len(r['errors'])} errors reached a reviewer; {r['verdict']} "
                f"[{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )
            for e in r["errors"][:5]:
                print(f"    {e[:200]}")
        if args.crash:
            t0 = time.perf_counter()
            c = crash(engine, args.pg, args.crash, args.crash_records)
            print(
                f"{engine:<10} crash: {c['rounds'] - 1} kill rounds ({c['kills']} killed mid-work, "
                f"the rest had finished), states {c['outcomes']} (round 0 unkilled), corrupt "
                f"{c['corrupt']}, re-run failures {c['rerun_failures']}, import+dedup "
                f"{c['budget_s']:.2f} s [{time.perf_counter() - t0:.0f} s]",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Living-loop benchmark and demo: including KEYNOTE-394 at full text refits OS and shows the diff.

Issue 8's goals: from the inclusion event to updated conclusions, frequentist <= 1 s and
Bayesian <= 15 s (warm) on the example review. Prints figures (not a timed test):

1. Sets up a throw-away workspace: the example protocol and verified trial data
   (``../shared/example-hcc``), and one screened record of KEYNOTE-394 (NCT03062358), included
   at title/abstract and linked to its study but not yet included at full text, so the trial
   is outside the analysis set (:mod:`living_review.living`'s rule).
2. Fits OS with both engines (v1; the Bayesian one cold: compile included).
3. Includes the record at full text (two reviewers agree), then times, per engine, the cycle
   a refit worker runs: the staleness check, ``fit_and_record`` (read data, fit, store) and
   the diff; prints the diff summary (``+KEYNOTE-394: pembrolizumab vs placebo ...``).
4. Baselines in the same process: the engine alone on the same network (no store), so the
   ratio shows what the living bookkeeping costs on top of the fit. For the Bayesian engine
   the baseline hits nutpie's in-process compile cache (same shapes), while the refit after an
   inclusion does not (a new study changes the model's shapes): the "engine timing" line
   splits compile from sampling.

Usage::

    python benchmarks/living.py                   # protocol settings (tune 2000 / draws 4000)
    python benchmarks/living.py --skip-bayes      # frequentist only
    python benchmarks/living.py --shared DIR      # where example-hcc lives

The same scenario by hand, on a workspace (the repository root is one)::

    lsr extract load-example && lsr search load          # trials and the example's records
    lsr decide REC --reviewer ben --stage ta include      # REC: KEYNOTE-394's record (PMID
    lsr decide REC --reviewer chloe --stage ta include    #   36455168), then
    lsr fulltext advance && lsr fulltext study REC --registry NCT03062358
    lsr nma fit --outcome OS                              # v1: KEYNOTE-394 not in the set
    lsr decide REC --reviewer ben --stage ft include      # include at full text ...
    lsr decide REC --reviewer chloe --stage ft include
    lsr update --no-search                                # ... v2 and its diff
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
KN394 = "NCT03062358"


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def setup(root: Path, shared: Path) -> Any:
    from sqlalchemy import select
    from sqlmodel import Session

    from living_review.extraction.example import load_example
    from living_review.importing import RunInfo, import_records
    from living_review.init import init_workspace
    from living_review.screening.decisions import record_decision
    from living_review.screening.fulltext import advance_to_fulltext, link_study
    from living_review.sources.base import ParsedRecord
    from living_review.store.models import Record
    from living_review.workspace import Workspace

    init_workspace(root)
    shutil.copy(REPO / "protocol" / "review.toml", root / "protocol" / "review.toml")
    ws = Workspace(root)
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")
    rec = ParsedRecord(
        source_key="36455168",
        pmid="36455168",
        title="Pembrolizumab versus placebo as second-line therapy in patients from Asia with "
        "advanced hepatocellular carcinoma (KEYNOTE-394)",
        authors=["Qin S"],
        year=2023,
        raw=f"SI  - ClinicalTrials.gov/{KN394}",
    )
    import_records(ws.engine, [rec], RunInfo(database="pubmed"))
    with Session(ws.engine) as s:
        rid = int(s.scalar(select(Record.id).where(Record.source_key == "36455168")) or 0)  # type: ignore[arg-type]

    def decide(stage: str) -> None:
        for who in ("ben", "chloe"):
            record_decision(
                engine=ws.engine, protocol=ws.protocol, record_id=rid, stage=stage,
                reviewer=who, decision="include",
            )  # fmt: skip

    decide("ta")
    advance_to_fulltext(engine=ws.engine, protocol=ws.protocol)
    link_study(engine=ws.engine, protocol=ws.protocol, record_id=rid, registry_id=KN394)
    return ws, lambda: decide("ft")


def cycle(ws: Any, engine: str) -> dict[str, Any]:
    """What a refit worker does after an event: check, fit and store, diff."""
    from living_review import living

    stale, t_check = timed(lambda: living.staleness(ws, "OS", engine=engine))
    run, t_fit = timed(lambda: living.fit_and_record(ws, "OS", engine=engine, trigger="bench"))
    diff, t_diff = timed(lambda: living.diff_latest(ws, run))
    return {
        "reasons": stale.reasons,
        "check": t_check,
        "fit_record": t_fit,
        "diff": t_diff,
        "total": t_check + t_fit + t_diff,
        "summary": diff.summary(),
        "run": run,
    }


def engine_alone(ws: Any, engine: str) -> float:
    """Baseline: the engine on the same network, no store reads or writes."""
    from living_review import living

    _, data = living._prepare(ws, "OS")  # the same rows the recorded fit used
    settings = living.settings_for(ws, "OS")
    _, t = timed(lambda: living._fit(ws, data, settings, engine))
    return t


def verdict(seconds: float, goal: float) -> str:
    return "OK" if seconds <= goal else "MISSED"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("LSR_SHARED", REPO.parent / "shared"))
    )
    ap.add_argument("--skip-bayes", action="store_true")
    args = ap.parse_args()
    if not (args.shared / "example-hcc").is_dir():
        print(f"{args.shared}/example-hcc not found (use --shared)", file=sys.stderr)
        return 1
    os.environ.pop("LSR_DATABASE_URL", None)
    engines = ["frequentist"] + ([] if args.skip_bayes else ["bayes"])
    goals = {"frequentist": 1.0, "bayes": 15.0}
    from living_review import living

    with tempfile.TemporaryDirectory(prefix="lsr-living-bench-") as tmp:
        (ws, include_ft), t_setup = timed(lambda: setup(Path(tmp) / "review", args.shared))
        print(f"setup (example loaded, KEYNOTE-394 linked, not yet included): {t_setup:.2f} s")
        for engine in engines:
            first, t_first = timed(lambda e=engine: living.fit_and_record(ws, "OS", engine=e))  # type: ignore[misc]
            print(f"v1 {engine} (cold, KEYNOTE-394 not in the set): {t_first:.2f} s")
        _, t_event = timed(include_ft)
        print(f"\nevent: KEYNOTE-394 included at full text ({t_event * 1000:.0f} ms)")
        rows = []
        for engine in engines:
            c = cycle(ws, engine)
            base = engine_alone(ws, engine)
            rows.append((engine, c, base))
            print(f"\n[{engine}] stale: {', '.join(c['reasons'])}")
            print(f"  {c['summary']}")
            tm = c["run"].result.get("timing_seconds") or {}
            attempts = c["run"].diagnostics.get("attempts")
            if tm:
                parts = ", ".join(f"{k} {v:.2f} s" for k, v in tm.items())
                print(f"  engine timing: {parts}")
            if attempts:
                print(f"  sampling attempts: {len(attempts)} (converged: {c['run'].converged})")
        print("\nengine        check   fit+store  diff    total   goal   engine alone  overhead")
        for engine, c, base in rows:
            print(
                f"{engine:<12} {c['check']:6.3f}  {c['fit_record']:8.3f}  {c['diff']:6.3f}  "
                f"{c['total']:6.2f}  {goals[engine]:5.1f}  {base:11.3f}   "
                f"x{c['fit_record'] / base:.2f}  {verdict(c['total'], goals[engine])}"
            )
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

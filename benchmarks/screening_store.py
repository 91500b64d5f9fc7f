"""Benchmark: screening at scale: agreement, PRISMA and the next-record query, on SQLite.

Builds a store with 100,000 records (one search run), two reviewers' title/abstract
decisions on 95% of them (about 90% agreement, 5% includes), resolutions for the conflicts
and full-text decisions on the included records, then times:

* ``stage_agreement`` (kappa with CI over ~95,000 record pairs) and ``prisma_counts``
  (every box, from events), each the median of 5 runs (target: under 1 s each);
* ``next_record`` for one reviewer, 1,000 calls from random cursor positions, median and
  p95 (target: a cheap indexed query, well under 50 ms), and from the start of a queue whose
  first half is decided (the worst case for the cursor);
* a screening key press: ``record_decision`` then ``next_record`` (200 presses).

Run: ``python benchmarks/screening_store.py [--records N]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session, col

from living_review.agreement import stage_agreement
from living_review.importing import RunInfo, import_records
from living_review.init import init_workspace
from living_review.prisma import check_invariants, prisma_counts, publish_version
from living_review.screening.decisions import record_decision
from living_review.screening.queue import next_record, sync_assignments
from living_review.screening.reviewers import get_reviewer
from living_review.sources.base import ParsedRecord
from living_review.store.models import Resolution, ScreeningAssignment, ScreeningDecision, utcnow
from living_review.workspace import Workspace

TEAM = '\n[[reviewers]]\nname = "ana"\nrole = "lead"\n\n[[reviewers]]\nname = "ben"\n\n[[reviewers]]\nname = "chloe"\n'  # noqa: E501


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _command_seconds(root: Path, command: list[str], repeat: int = 3) -> float:
    """Median wall time of ``lsr COMMAND`` run in the workspace, as a user runs it."""
    lsr = Path(sys.executable).with_name("lsr")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([str(lsr), *command], cwd=root, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def build(root: Path, n: int, seed: int = 1) -> Workspace:
    """Create the workspace and fill it (bulk inserts; the service path is timed separately)."""
    ws_root = init_workspace(root / "review")
    (ws_root / "protocol" / "review.toml").write_text(
        (ws_root / "protocol" / "review.toml").read_text() + TEAM
    )
    ws = Workspace(ws_root)
    t0 = time.perf_counter()
    import_records(
        ws.engine,
        (
            ParsedRecord(
                source_key=str(10_000_000 + i),
                title=f"Trial {i} of agent {i % 997} in hepatocellular carcinoma",
                authors=[f"Author{i} A"],
                year=2000 + i % 25,
                raw="",
            )
            for i in range(n)
        ),
        RunInfo(database="pubmed"),
    )
    print(f"imported {n:,} records in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    sync_assignments(engine=ws.engine, protocol=ws.protocol, stage="ta")
    print(f"assigned them to two reviewers in {time.perf_counter() - t0:.1f} s")
    ben = get_reviewer(ws.engine, ws.protocol, "ben").id
    chloe = get_reviewer(ws.engine, ws.protocol, "chloe").id
    ana = get_reviewer(ws.engine, ws.protocol, "ana").id
    rng = random.Random(seed)
    now = utcnow()
    with Session(ws.engine) as s:
        ids = list(s.scalars(select(col(ScreeningAssignment.record_id)).distinct()))
    ids.sort()
    decided = ids[: int(0.95 * len(ids))]
    rows: list[dict[str, Any]] = []
    resolutions: list[dict[str, Any]] = []
    for rid in decided:
        b = "include" if rng.random() < 0.05 else "exclude"
        c = b if rng.random() < 0.9 else rng.choice(["include", "exclude", "maybe"])
        for who, d in ((ben, b), (chloe, c)):
            rows.append({"record_id": rid, "stage": "ta", "reviewer_id": who, "decision": d,
                         "created_at": now})  # fmt: skip
        if b != c or "maybe" in (b, c):
            resolutions.append({"record_id": rid, "stage": "ta", "reviewer_id": ana,
                                "decision": rng.choice(["include", "exclude"]),
                                "method": "third_reviewer", "created_at": now})  # fmt: skip
    with ws.engine.begin() as conn:
        conn.execute(insert(ScreeningDecision), rows)
        conn.execute(insert(Resolution), resolutions)
    print(f"stored {len(rows):,} decisions and {len(resolutions):,} resolutions")
    moved = sync_assignments(engine=ws.engine, protocol=ws.protocol, stage="ft")
    with Session(ws.engine) as s:
        ft_ids = sorted(
            s.scalars(
                select(col(ScreeningAssignment.record_id))
                .where(col(ScreeningAssignment.stage) == "ft")
                .distinct()
            )
        )
    ft_rows = []
    for rid in ft_ids:
        d = "include" if rng.random() < 0.2 else "exclude"
        for who in (ben, chloe):
            ft_rows.append({"record_id": rid, "stage": "ft", "reviewer_id": who, "decision": d,
                            "reason": "wrong-design" if d == "exclude" else None,
                            "created_at": now})  # fmt: skip
    with ws.engine.begin() as conn:
        conn.execute(insert(ScreeningDecision), ft_rows)
    print(f"{moved:,} records moved to full text; {len(ft_rows):,} full-text decisions")
    return ws


def main() -> None:
    """Build the store and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=1_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = build(Path(tmp), args.records)
        engine, protocol = ws.engine, ws.protocol

        t, result = _timed(lambda: stage_agreement(engine=engine, stage="ta"), 5)
        s = result.stats
        print(
            f"agreement (ta, n = {s.n:,}): median {t * 1000:.0f} ms; kappa {s.kappa:.3f} "
            f"[{s.ci[0]:.3f}, {s.ci[1]:.3f}]"
        )
        t, counts = _timed(lambda: prisma_counts(engine=engine, protocol=protocol), 5)
        print(
            f"prisma: median {t * 1000:.0f} ms; screened {counts['records_screened']:,}, "
            f"excluded {counts['records_excluded']:,}, sought {counts['dbr_sought_reports']:,}, "
            f"included reports {counts['new_reports']:,}; invariants broken: "
            f"{check_invariants(counts) or 'none'}"
        )

        for command in (["agreement", "--json"], ["prisma", "--json"]):
            t = _command_seconds(ws.root, command)
            print(
                f"lsr {command[0]} as a command (Python start-up and imports included): "
                f"median {t * 1000:.0f} ms"
            )

        publish_version(engine=engine, protocol=protocol, label="v1", reviewer="ana")
        t, counts = _timed(lambda: prisma_counts(engine=engine, protocol=protocol), 5)
        print(
            f"prisma with a previous-version column (two snapshots): median {t * 1000:.0f} ms; "
            f"invariants broken: {check_invariants(counts) or 'none'}"
        )

        ben = get_reviewer(engine, protocol, "ben").id
        with Session(engine) as sess:
            assigned = sorted(
                sess.scalars(
                    select(col(ScreeningAssignment.record_id)).where(
                        col(ScreeningAssignment.reviewer_id) == ben,
                        col(ScreeningAssignment.stage) == "ta",
                    )
                )
            )
        rng = random.Random(2)
        # Cursor positions in the undecided tail (where a reviewer screening in order is).
        tail = assigned[int(0.95 * len(assigned)) :]
        lat = []
        for _ in range(args.calls):
            after = rng.choice(tail)
            t0 = time.perf_counter()
            next_record(engine=engine, reviewer_id=ben, stage="ta", after=after)
            lat.append((time.perf_counter() - t0) * 1000)
        print(
            f"next_record from the cursor ({args.calls:,} calls): median "
            f"{statistics.median(lat):.2f} ms, p95 {_pct(lat, 0.95):.2f} ms"
        )
        lat = []
        for _ in range(20):
            t0 = time.perf_counter()
            next_record(engine=engine, reviewer_id=ben, stage="ta")
            lat.append((time.perf_counter() - t0) * 1000)
        print(
            f"next_record from the start, 95% of the queue decided (worst case, 20 calls): "
            f"median {statistics.median(lat):.1f} ms"
        )
        lat = []
        cursor: int | None = tail[0]
        for _ in range(200):
            t0 = time.perf_counter()
            assert cursor is not None
            record_decision(engine=engine, protocol=protocol, record_id=cursor, stage="ta",
                            reviewer="ben", decision="exclude")  # fmt: skip
            cursor = next_record(engine=engine, reviewer_id=ben, stage="ta", after=cursor)
            lat.append((time.perf_counter() - t0) * 1000)
        print(
            f"key press (record_decision + next_record, 200 presses): median "
            f"{statistics.median(lat):.1f} ms, p95 {_pct(lat, 0.95):.1f} ms"
        )
        t0 = time.perf_counter()
        sync_assignments(engine=engine, protocol=protocol, stage="ta")
        print(f"sync_assignments with nothing new (screen open): {time.perf_counter() - t0:.2f} s")
        ws.close()


if __name__ == "__main__":
    main()

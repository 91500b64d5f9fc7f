"""Four reviewers screen one review at once (separate processes), while an import and a dedup
pass run: no decision lost or doubled, no "database is locked" reaching anyone.

Runs on the SQLite file (WAL) and on PostgreSQL. The full size (4 x 2,000 decisions) is
``benchmarks/concurrency.py``; here 4 x 80 keeps the suite quick on a 2-core machine.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.dedup.service import run_dedup
from living_review.prisma import check_invariants, prisma_counts
from living_review.screening.queue import sync_assignments
from living_review.store.models import (
    Record,
    Reviewer,
    ScreeningAssignment,
    ScreeningDecision,
    SearchRun,
)
from living_review.workspace import Workspace
from tests.integration.team_data import WORKERS, concurrency_setup, run_concurrently

PER_WORKER = 80
IMPORT_N = 200


def check_store(ws: Workspace, out: dict[str, Any], per_worker: int, import_n: int) -> None:
    """Every decision a process was told it made is in the store exactly once; nothing else."""
    errors = [e for r in out["deciders"] + out["side"] for e in r["errors"]]
    assert errors == []  # no "database is locked" (nor anything else) reached a caller
    with Session(ws.engine) as s:
        rows = s.execute(
            select(
                col(ScreeningDecision.id), col(Reviewer.name), col(ScreeningDecision.record_id),
                col(ScreeningDecision.decision),
            ).join(Reviewer, col(Reviewer.id) == col(ScreeningDecision.reviewer_id))
        ).all()  # fmt: skip
        stored = {rid: (name, rec, d) for rid, name, rec, d in rows}
        assert len(stored) == len(rows)
        told = {}
        for r in out["deciders"]:
            assert len(r["made"]) == per_worker, r["reviewer"]
            for event_id, rec, d in r["made"]:
                assert event_id not in told  # ids never handed out twice
                told[event_id] = (r["reviewer"], rec, d)
        assert stored == told  # exactly once each; no extra, none lost
        # Each (reviewer, record) was decided once, by one of the record's two screeners.
        pairs = Counter((name, rec) for name, rec, _ in stored.values())
        assert max(pairs.values()) == 1
        assigned = Counter(
            s.execute(
                select(col(ScreeningAssignment.record_id), col(ScreeningAssignment.stage))
            ).all()
        )
        assert set(assigned.values()) == {2}  # dual: never a third screener, never one
        n_records = s.scalar(select(func.count()).select_from(Record))
        in_files = s.scalar(select(func.sum(col(SearchRun.records_in_file))))
    assert n_records == in_files  # the concurrent import is complete
    p = ws.protocol
    counts = prisma_counts(engine=ws.engine, protocol=p)
    assert counts["identified"] == in_files
    assert counts["database_specific_results"] == {
        "embase": import_n,
        "pubmed": in_files - import_n,
    }
    assert check_invariants(counts) == []
    # Recount from what the processes were told: both screeners exclude -> excluded, both
    # include -> sought at full text (maybe is a conflict, per the protocol's default).
    votes: dict[int, list[str]] = {}
    for _, rec, d in told.values():
        votes.setdefault(rec, []).append(d)
    both = Counter(v[0] for v in votes.values() if len(v) == 2 and v[0] == v[1])
    assert counts["records_excluded"] == both["exclude"]
    assert counts["dbr_sought_reports"] == both["include"]
    # Counts are derived from events, so a recount after everything settles is unchanged.
    run_dedup(ws.engine)
    sync_assignments(engine=ws.engine, protocol=p, stage="ta")
    assert prisma_counts(engine=ws.engine, protocol=p)["identified"] == in_files


@pytest.mark.slow
def test_four_processes_screen_at_once_with_import_and_dedup(workspace: Workspace) -> None:
    _, ids = concurrency_setup(workspace, PER_WORKER)
    out = run_concurrently(workspace, ids, PER_WORKER, import_n=IMPORT_N, dedup_passes=3)
    check_store(workspace, out, PER_WORKER, IMPORT_N)
    assert {r["reviewer"] for r in out["deciders"]} == set(WORKERS)

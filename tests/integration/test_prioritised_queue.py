"""Prioritised screening on a real store: ranking, queues, the stopping estimate, PRISMA.

Dual screening stays: both screeners keep every assigned record in their queue; only the
order changes. The model learns from reconciled labels only (by default).
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from living_review.prisma import check_invariants, prisma_counts
from living_review.screening import NotLeadError
from living_review.screening.prioritise import PrioritySettings, compute_ranking, latest_ranking
from living_review.screening.queue import next_record
from living_review.screening.rerank import rerank_in_child
from living_review.screening.reviewers import get_reviewer
from living_review.screening.stopping import active_stop, record_stop, stage_estimate
from living_review.store.models import AuditEvent, PriorityRanking
from living_review.workspace import Workspace
from tests.integration.test_screening import add_records, decide, queue_ids, setup_review

STATIN = "Statin therapy and cholesterol lowering: a randomised lipid trial in adults"
SOIL = "Soil bacteria diversity in alpine meadows measured by amplicon sequencing"


def make_review(ws: Workspace) -> tuple[list[int], list[int]]:
    setup_review(ws)
    soil = add_records(ws, 12, abstract=SOIL, start=1)
    statin = add_records(ws, 6, abstract=STATIN, start=101, database="embase")
    return statin, soil


def test_ranking_orders_both_queues_and_is_reproducible(workspace: Workspace) -> None:
    statin, soil = make_review(workspace)
    before = queue_ids(workspace, "ben")
    assert before == sorted(statin + soil)  # record order until a ranking exists
    assert latest_ranking(workspace.engine, "ta") is None
    for who in ("ben", "chloe"):
        decide(workspace, statin[0], who, "include")
        decide(workspace, soil[0], who, "exclude")
    decide(workspace, soil[1], "ben", "exclude")  # a single label: not learnt by default

    settings = PrioritySettings(exploration=0.0)
    row = compute_ranking(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta",
        settings=settings, actor="ana",
    )  # fmt: skip
    assert row.training_size == 2 and row.n_includes == 1
    assert row.model == settings.model and row.settings["exploration"] == 0.0
    assert row.label_source == "reconciled"

    ben, chloe = queue_ids(workspace, "ben"), queue_ids(workspace, "chloe")
    assert set(ben[:5]) == set(statin[1:])  # likely includes first
    assert set(chloe[:5]) == set(statin[1:])
    # dual screening unchanged: chloe still has soil[1], which only ben decided
    assert soil[1] in chloe and soil[1] not in ben
    assert len(chloe) == len(ben) + 1

    again = compute_ranking(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta", settings=settings
    )
    assert again.order == row.order and again.fingerprint == row.fingerprint
    with Session(workspace.engine) as s:
        assert len(s.exec(select(PriorityRanking)).all()) == 2
        actions = [a.action for a in s.exec(select(AuditEvent)).all()]
    assert actions.count("prioritise.rank") == 2

    ben_id = get_reviewer(workspace.engine, workspace.protocol, "ben").id
    first = next_record(engine=workspace.engine, reviewer_id=ben_id, stage="ta")
    assert first == ben[0]
    assert (
        next_record(engine=workspace.engine, reviewer_id=ben_id, stage="ta", after=first) == ben[1]
    )
    last = ben[-1]
    assert (
        next_record(engine=workspace.engine, reviewer_id=ben_id, stage="ta", after=last) == ben[0]
    )


@pytest.mark.parametrize("chunk", [256, 2])
def test_next_record_in_ranking_order_from_any_cursor(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The per-key lookup (a chunk of the ranking at a time, else the whole queue) gives what
    the whole queue in ranking order gives, wherever the cursor is: ranked records the
    reviewer already decided are skipped, records imported after the ranking come last."""
    monkeypatch.setattr("living_review.screening.queue._RANKED_CHUNK", chunk)
    statin, soil = make_review(workspace)
    for who in ("ben", "chloe"):
        decide(workspace, statin[0], who, "include")
        decide(workspace, soil[0], who, "exclude")
    row = compute_ranking(engine=workspace.engine, protocol=workspace.protocol, stage="ta",
                          settings=PrioritySettings(exploration=0.0))  # fmt: skip
    for rid in row.order[1:12:2]:  # gaps in the ranking for ben
        decide(workspace, rid, "ben", "exclude")
    late = add_records(workspace, 3, abstract=SOIL, start=500)  # not in the ranking
    ben_queue = queue_ids(workspace, "ben")
    assert ben_queue[-3:] == late
    ben_id = get_reviewer(workspace.engine, workspace.protocol, "ben").id
    pos = {r: i for i, r in enumerate(row.order)}

    def key(r: int) -> int:
        return pos.get(r, len(pos) + r)

    for after in [None, *row.order, *late]:
        later = [r for r in ben_queue if after is None or key(r) > key(after)]
        want = later[0] if later else ben_queue[0]
        got = next_record(engine=workspace.engine, reviewer_id=ben_id, stage="ta", after=after)
        assert got == want, (after, got, want)


def test_single_labels_by_setting(workspace: Workspace) -> None:
    statin, soil = make_review(workspace)
    queue_ids(workspace, "ben")  # assigns
    decide(workspace, statin[0], "ben", "include")
    decide(workspace, soil[0], "ben", "exclude")
    row = compute_ranking(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta",
        settings=PrioritySettings(use_single_labels=True),
    )  # fmt: skip
    assert row.training_size == 2 and row.label_source == "single"


def test_stop_is_a_lead_decision_and_prisma_counts_automation(workspace: Workspace) -> None:
    statin, soil = make_review(workspace)
    queue_ids(workspace, "ben")
    for who in ("ben", "chloe"):
        decide(workspace, statin[0], who, "include")
        decide(workspace, soil[0], who, "exclude")
    est = stage_estimate(engine=workspace.engine, protocol=workspace.protocol, stage="ta")
    assert (est.screened, est.total, est.includes) == (2, 18, 1)
    assert not est.reached

    with pytest.raises(NotLeadError):
        record_stop(
            engine=workspace.engine, protocol=workspace.protocol, stage="ta", reviewer="ben"
        )
    counts = prisma_counts(engine=workspace.engine, protocol=workspace.protocol)
    assert counts["records_excluded_automation"] == 0
    assert counts["records_awaiting_screening"] == 16

    stop = record_stop(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta", reviewer="ana",
        note="rule not met, protocol deadline",
    )  # fmt: skip
    assert stop.rule == "callaghan-mueller-hansen-2020"
    assert stop.parameters == {"target": 0.95, "alpha": 0.05, "method": "ranked quasi-sampling"}
    assert stop.estimate["reached"] is False
    with Session(workspace.engine) as s:
        assert active_stop(s, "ta") is not None

    counts = prisma_counts(engine=workspace.engine, protocol=workspace.protocol)
    assert counts["records_excluded_automation"] == 16
    assert counts["records_excluded_human"] == 1
    assert counts["records_excluded"] == 17
    assert counts["records_awaiting_screening"] == 0
    assert check_invariants(counts) == []


def test_rerank_in_a_child_process_stores_a_ranking_or_is_cancelled(workspace: Workspace) -> None:
    """The TUI's re-rank runs in a spawned child (training holds the GIL for seconds at scale):
    it stores the ranking the core would, returns the stopping estimate, and a cancelled one
    stores nothing."""
    statin, soil = make_review(workspace)
    early = rerank_in_child(workspace, "ta", "ana")
    assert early is not None and early.ranking_id is None and early.labels == 0  # too few
    for who in ("ben", "chloe"):
        decide(workspace, statin[0], who, "include")
        for rid in soil[:9]:
            decide(workspace, rid, who, "exclude")
    res = rerank_in_child(workspace, "ta", "ana")
    assert res is not None and res.labels == 10
    newest = latest_ranking(workspace.engine, "ta")
    assert newest is not None and res.ranking_id == newest.id and newest.created_by == "ana"
    assert res.estimate == stage_estimate(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta"
    )
    assert rerank_in_child(workspace, "ta", "ana", cancelled=lambda: True) is None
    again = latest_ranking(workspace.engine, "ta")
    assert again is not None and again.id == newest.id  # the cancelled child stored nothing

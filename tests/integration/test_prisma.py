"""PRISMA 2020 counts from events on a real store: the spec's invariants, and living versions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from living_review.importing import RunInfo, import_records
from living_review.prisma import (
    PrismaError,
    check_invariants,
    diagram_text,
    list_versions,
    prisma_counts,
    prisma_csv_rows,
    publish_version,
    render_diagram,
)
from living_review.screening import NotLeadError
from living_review.screening.conflicts import resolve, stage_summary
from living_review.screening.fulltext import (
    advance_to_fulltext,
    link_study,
    mark_not_retrieved,
)
from living_review.sources.base import ParsedRecord
from living_review.store.models import DuplicateLink
from living_review.workspace import Workspace
from tests.integration.test_screening import add_records, decide, setup_review


def both(
    ws: Workspace, rid: int, a: str, b: str | None = None, stage: str = "ta", **kw: str
) -> None:
    """ben decides ``a`` and chloe ``b`` (default: the same)."""
    decide(ws, rid, "ben", a, stage, **kw)
    decide(ws, rid, "chloe", b or a, stage, **kw)


def counts(ws: Workspace, previous: str | None = None) -> dict[str, Any]:
    return prisma_counts(engine=ws.engine, protocol=ws.protocol, previous=previous)


def first_cycle(ws: Workspace) -> list[int]:
    """10 PubMed + 4 Embase records, one Embase record a duplicate, one re-found at import."""
    setup_review(ws)
    pm = add_records(ws, 10, database="pubmed")
    em = add_records(ws, 4, database="embase")
    # the same Embase accession found again by a second run: joined at import
    import_records(
        ws.engine,
        [ParsedRecord(source_key="embase-1", title="again", raw="x")],
        RunInfo(database="embase"),
    )
    with Session(ws.engine) as s:  # em[0] duplicates pm[0] (dedup's decision)
        s.add(DuplicateLink(record_a=pm[0], record_b=em[0], decision="duplicate", method="auto"))
        s.commit()
    units = pm + em[1:]  # 13 units
    for rid in units[:6]:
        both(ws, rid, "exclude")
    both(ws, units[6], "include", "exclude")  # conflict, resolved to exclude
    resolve(engine=ws.engine, protocol=ws.protocol, record_id=units[6], stage="ta",
            reviewer="ana", decision="exclude")  # fmt: skip
    for rid in units[7:12]:
        both(ws, rid, "include")
    decide(ws, units[12], "ben", "include")  # still awaiting chloe
    advance_to_fulltext(engine=ws.engine, protocol=ws.protocol)
    a, b, c, d, e = units[7:12]
    mark_not_retrieved(engine=ws.engine, protocol=ws.protocol, record_id=a, reason="no access")
    both(ws, b, "exclude", stage="ft", reason="wrong-design")
    for rid in (c, d, e):
        both(ws, rid, "include", stage="ft")
    # c and d are reports of one trial (primary paper and its follow-up)
    for rid in (c, d):
        link_study(engine=ws.engine, protocol=ws.protocol, record_id=rid, registry_id="NCT01140347")
    return units


def test_counts_from_events_and_invariants(workspace: Workspace) -> None:
    first_cycle(workspace)
    c = counts(workspace)
    assert c["template"] == "new" and c["previous_studies"] is None
    assert c["database_specific_results"] == {"embase": 5, "pubmed": 10}
    assert (c["database_results"], c["register_results"]) == (15, 0)
    assert c["duplicates"] == 2  # one re-found accession, one cross-database duplicate
    assert c["records_screened"] == 13
    assert c["records_excluded"] == 7 and c["records_awaiting_screening"] == 1
    assert c["dbr_sought_reports"] == 5
    assert c["dbr_notretrieved_reports"] == 1 and c["dbr_assessed"] == 4
    assert c["dbr_excluded"] == {"wrong-design": 1}
    assert (c["new_reports"], c["new_studies"]) == (3, 2)  # two reports of one trial
    assert (c["total_reports"], c["total_studies"]) == (3, 2)
    assert check_invariants(c) == []
    # the spec's invariants, spelled out
    a = c["database_results"] + c["register_results"]
    assert (
        c["records_screened"] == a - c["duplicates"] - c["excluded_automatic"] - c["excluded_other"]
    )
    assert c["dbr_assessed"] == c["dbr_sought_reports"] - c["dbr_notretrieved_reports"]
    assert sum(c["dbr_excluded"].values()) == c["dbr_assessed"] - c["new_reports"]
    assert c["total_studies"] <= c["total_reports"]


def test_completed_screening_gives_the_plain_invariants(workspace: Workspace) -> None:
    units = first_cycle(workspace)
    decide(workspace, units[12], "chloe", "exclude")  # conflict...
    resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=units[12],
            stage="ta", reviewer="ana", decision="exclude")  # fmt: skip
    c = counts(workspace)
    assert c["records_screened"] - c["records_excluded"] == c["dbr_sought_reports"]
    assert check_invariants(c) == []


def test_invariant_checker_catches_a_broken_count(workspace: Workspace) -> None:
    first_cycle(workspace)
    c = counts(workspace)
    c["dbr_assessed"] += 1
    assert "new: G = E - F" in check_invariants(c)


def test_the_previous_snapshot_recomputes_only_records_touched_since(
    workspace: Workspace,
) -> None:
    units = first_cycle(workspace)
    publish_version(engine=workspace.engine, protocol=workspace.protocol, label="v1",
                    reviewer="ana")  # fmt: skip
    time.sleep(0.01)
    # After the cut-off old records change too, not only new ones.
    decide(workspace, units[12], "chloe", "include")  # was waiting for chloe
    decide(workspace, units[0], "ben", "include")  # an agreed exclusion becomes a conflict
    new = add_records(workspace, 2, database="pubmed", start=200)
    both(workspace, new[0], "exclude")
    cutoff = list_versions(workspace.engine)[-1].cutoff
    maybe = workspace.protocol.screening.maybe_is_conflict
    with Session(workspace.engine) as s:
        for stage in ("ta", "ft"):
            now = stage_summary(s, stage=stage, maybe_is_conflict=maybe)
            full = stage_summary(s, stage=stage, maybe_is_conflict=maybe, as_of=cutoff)
            reused = stage_summary(s, stage=stage, maybe_is_conflict=maybe, as_of=cutoff, now=now)
            assert reused == full
            if stage == "ta":
                assert reused != now  # the snapshot really is an earlier state
                assert (reused[units[0]].status, now[units[0]].status) == ("exclude", "conflict")
                assert new[0] not in reused and new[0] in now
    assert check_invariants(counts(workspace)) == []


def test_previous_version_column(workspace: Workspace) -> None:
    first_cycle(workspace)
    with pytest.raises(NotLeadError):
        publish_version(engine=workspace.engine, protocol=workspace.protocol, label="v1",
                        reviewer="ben")  # fmt: skip
    publish_version(engine=workspace.engine, protocol=workspace.protocol, label="v1",
                    reviewer="ana")  # fmt: skip
    time.sleep(0.01)
    with pytest.raises(PrismaError, match="already exists"):
        publish_version(engine=workspace.engine, protocol=workspace.protocol, label="v1",
                        reviewer="ana")  # fmt: skip
    # the update: 4 new PubMed records; one a new report of the included trial, one a new trial
    new = add_records(workspace, 4, database="pubmed", start=100)
    for rid in new[:2]:
        both(workspace, rid, "exclude")
    for rid in new[2:]:
        both(workspace, rid, "include")
    advance_to_fulltext(engine=workspace.engine, protocol=workspace.protocol)
    for rid in new[2:]:
        both(workspace, rid, "include", stage="ft")
    link_study(engine=workspace.engine, protocol=workspace.protocol, record_id=new[2],
               registry_id="NCT01140347")  # fmt: skip
    c = counts(workspace)
    assert c["template"] == "updated" and c["previous_version"]["label"] == "v1"
    assert (c["previous_studies"], c["previous_reports"]) == (2, 3)
    assert c["database_results"] == 4 and c["duplicates"] == 0
    assert c["records_screened"] == 4 and c["records_excluded"] == 2
    assert c["dbr_sought_reports"] == 2 and c["dbr_assessed"] == 2
    assert (c["new_reports"], c["new_studies"]) == (
        2,
        1,
    )  # a new report of an old trial adds no study
    assert (c["total_reports"], c["total_studies"]) == (5, 3)
    assert c["cumulative"]["records_screened"] == 17
    assert check_invariants(c) == []
    with pytest.raises(PrismaError, match="no review version called 'v9'"):
        counts(workspace, previous="v9")


def test_diagram_svg_png_and_csv(workspace: Workspace, tmp_path: Path) -> None:
    first_cycle(workspace)
    publish_version(engine=workspace.engine, protocol=workspace.protocol, label="v1",
                    reviewer="ana")  # fmt: skip
    c = counts(workspace)
    text = diagram_text(c)
    assert text["head_prev"] == "Previous studies"
    assert text["screened"].startswith("Records screened\n(n = 0)")
    svg = render_diagram(c, tmp_path / "flow.svg")
    body = svg.read_text(encoding="utf-8")
    assert body.startswith("<?xml") and "<svg" in body
    for label in (
        "Records screened",
        "Reports sought for retrieval",
        "Previous studies",
        "Reports of total included studies",
        "Identification",
        "Included",
    ):
        assert label in body
    png = render_diagram(c, tmp_path / "flow.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PrismaError, match="svg, .png or .pdf"):
        render_diagram(c, tmp_path / "flow.gif")
    rows = dict(prisma_csv_rows(counts(workspace, previous="v1")))
    assert rows["previous_studies"] == "2" and rows["records_screened"] == "0"


@pytest.mark.parametrize("maybe_is_conflict", [True, False])
def test_sql_summary_agrees_with_the_rule_function(
    workspace: Workspace, maybe_is_conflict: bool
) -> None:
    """PRISMA's SQL-side tally must give every record the state ``record_state`` gives it,
    and the prioritiser's per-record votes (newest current vote, include or maybe among the
    current votes) must be those the event-by-event loader finds."""
    from living_review.screening.conflicts import (
        load_stage,
        stage_states,
        stage_summary,
        stage_votes,
    )
    from living_review.screening.decisions import undo_decision

    units = first_cycle(workspace)
    decide(workspace, units[5], "ben", "maybe")  # supersedes: include... vs chloe's exclude
    decide(workspace, units[4], "chloe", "maybe")
    decide(workspace, units[3], "chloe", "include")
    undo_decision(engine=workspace.engine, protocol=workspace.protocol, record_id=units[3],
                  stage="ta", reviewer="chloe")  # fmt: skip
    with Session(workspace.engine) as s:
        for stage in ("ta", "ft"):
            data = load_stage(s, stage)
            slow = stage_states(data, stage=stage, maybe_is_conflict=maybe_is_conflict)
            fast = stage_summary(s, stage=stage, maybe_is_conflict=maybe_is_conflict)
            assert {r: (v.status, v.reason) for r, v in fast.items()} == {
                r: (v.status, v.reason) for r, v in slow.items()
            }
            states, votes = stage_votes(s, stage=stage, maybe_is_conflict=maybe_is_conflict)
            assert states == fast
            assert votes == {
                rid: (
                    max(v.event_id for v in vs.values()),
                    any(v.decision in ("include", "maybe") for v in vs.values()),
                )
                for rid, vs in data.votes.items()
                if vs
            }
            if stage == "ta":  # chloe's undo withdrew her vote: the record waits for her again
                assert fast[units[3]].status == "pending" and fast[units[3]].waiting_for == 1

"""Dual, blinded screening on a real store (SQLite file, and PostgreSQL when configured).

Blinding is tested at the core API (queue, record view, conflict list), not through a UI.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.importing import RunInfo, import_records
from living_review.protocol import Protocol
from living_review.screening import NotLeadError, ScreeningError, UnknownReviewerError
from living_review.screening.conflicts import list_conflicts, resolve, unblind_stage
from living_review.screening.decisions import (
    current_decision,
    own_history,
    record_decision,
    undo_decision,
)
from living_review.screening.fulltext import (
    advance_to_fulltext,
    link_reports_by_registry,
    link_study,
    mark_not_retrieved,
    registry_ids,
    set_fulltext,
)
from living_review.screening.queue import (
    next_record,
    progress,
    queue,
    record_view,
    sync_assignments,
)
from living_review.screening.reviewers import add_reviewer, get_reviewer, reviewers
from living_review.sources.base import ParsedRecord
from living_review.store.models import (
    DuplicateLink,
    Record,
    Resolution,
    ScreeningAssignment,
    ScreeningDecision,
)
from living_review.workspace import Workspace

TEAM = (("ana", "lead"), ("ben", "reviewer"), ("chloe", "reviewer"))


def setup_review(
    ws: Workspace,
    *,
    team: Sequence[tuple[str, str]] = TEAM,
    screening: str = 'mode = "dual"',
) -> Protocol:
    """Give the workspace's protocol a team and screening settings (before first use)."""
    text = ws.protocol_path.read_text(encoding="utf-8")
    text = text.replace('[screening]\nmode = "dual"\n', f"[screening]\n{screening}\n")
    text += "".join(f'\n[[reviewers]]\nname = "{n}"\nrole = "{r}"\n' for n, r in team)
    ws.protocol_path.write_text(text, encoding="utf-8")
    return ws.protocol


def add_records(
    ws: Workspace, n: int, *, database: str = "pubmed", start: int = 1, **fields: object
) -> list[int]:
    """Import ``n`` distinct records as one search run; return their ids in order."""
    recs = [
        ParsedRecord(
            source_key=f"{database}-{start + i}",
            title=f"Randomised trial number {start + i} of agent {start + i} in liver cancer",
            authors=[f"Author{start + i} A"],
            year=2010 + (i % 10),
            raw=f"record {start + i}",
            **fields,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]
    import_records(ws.engine, recs, RunInfo(database=database))
    with Session(ws.engine) as s:
        keys = {r.source_key for r in recs}
        rows = s.execute(select(col(Record.source_key), col(Record.id))).all()
        by_key = {k: i for k, i in rows if k in keys}
    return [by_key[r.source_key] for r in recs if r.source_key]


def decide(ws: Workspace, rid: int, who: str, decision: str, stage: str = "ta", **kw: str) -> None:
    record_decision(
        engine=ws.engine, protocol=ws.protocol, record_id=rid, stage=stage, reviewer=who,
        decision=decision, **kw,
    )  # fmt: skip


def queue_ids(ws: Workspace, who: str, stage: str = "ta") -> list[int]:
    return [i.id for i in queue(engine=ws.engine, protocol=ws.protocol, reviewer=who, stage=stage)]


def count(ws: Workspace, model: type) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --- reviewers -------------------------------------------------------------------------------


def test_protocol_reviewers_and_added_ones(workspace: Workspace) -> None:
    p = setup_review(workspace)
    people = reviewers(workspace.engine, p)
    assert [(r.name, r.role) for r in people.values()] == list(TEAM)
    dee = add_reviewer(engine=workspace.engine, protocol=p, name="dee", role="reviewer")
    assert not dee.in_protocol and dee.role == "reviewer"
    with pytest.raises(ScreeningError, match="named in the protocol"):
        add_reviewer(engine=workspace.engine, protocol=p, name="ana", role="reviewer")
    with pytest.raises(ScreeningError, match="not valid"):
        add_reviewer(engine=workspace.engine, protocol=p, name="bad name")
    with pytest.raises(ScreeningError, match="role must be"):
        add_reviewer(engine=workspace.engine, protocol=p, name="eve", role="boss")
    with pytest.raises(UnknownReviewerError, match="'zed' is not in this review"):
        get_reviewer(workspace.engine, p, "zed")


# --- the dual flow ---------------------------------------------------------------------------


def test_dual_flow_assigns_two_non_leads_and_agreement_reconciles(workspace: Workspace) -> None:
    setup_review(workspace)
    ids = add_records(workspace, 4)
    assert queue_ids(workspace, "ben") == ids  # stable order: record order
    assert queue_ids(workspace, "chloe") == ids
    assert queue_ids(workspace, "ana") == []  # the lead stays free to resolve
    decide(workspace, ids[0], "ben", "include")
    assert queue_ids(workspace, "ben") == ids[1:]
    assert queue_ids(workspace, "chloe") == ids  # chloe's queue is hers alone
    decide(workspace, ids[0], "chloe", "include")
    view = record_view(
        engine=workspace.engine, protocol=workspace.protocol, record_id=ids[0], stage="ta",
        viewer="ben",
    )  # fmt: skip
    assert not view.blinded and view.status == "include"
    assert view.others == [
        {"reviewer": "chloe", "decision": "include", "reason": None, "note": None}
    ]
    prog = progress(
        engine=workspace.engine, protocol=workspace.protocol, reviewer="ben", stage="ta"
    )
    assert (prog.assigned, prog.decided, prog.remaining) == (4, 1, 3)


def test_assignment_is_idempotent_and_single_mode_assigns_one(workspace: Workspace) -> None:
    p = setup_review(workspace, screening='mode = "single"')
    add_records(workspace, 6)
    assert sync_assignments(engine=workspace.engine, protocol=p, stage="ta") == 6
    assert sync_assignments(engine=workspace.engine, protocol=p, stage="ta") == 0
    assert count(workspace, ScreeningAssignment) == 6
    assert len(queue_ids(workspace, "ben")) + len(queue_ids(workspace, "chloe")) == 6


def test_dual_sample_is_seeded_and_reproducible(workspace: Workspace) -> None:
    p = setup_review(workspace, screening='mode = "dual_sample"\ndual_share = 0.3')
    add_records(workspace, 60)
    sync_assignments(engine=workspace.engine, protocol=p, stage="ta")
    with Session(workspace.engine) as s:
        rows = sorted(s.execute(select(col(ScreeningAssignment.record_id),
                                       col(ScreeningAssignment.method))).all())  # fmt: skip
    per_record: dict[int, int] = {}
    for rid, _ in rows:
        per_record[rid] = per_record.get(rid, 0) + 1
    dual = sum(1 for v in per_record.values() if v == 2)
    assert len(per_record) == 60 and 5 <= dual <= 35  # about 30% of 60, by a seeded draw
    # The draw depends only on the record id: the same records get a second reviewer again.
    from living_review.screening.queue import _required

    assert {r for r, v in per_record.items() if v == 2} == {
        r for r in per_record if _required(p, "ta", r)[0] == 2
    }


def test_dual_mode_with_one_reviewer_is_refused(workspace: Workspace) -> None:
    setup_review(workspace, team=(("ana", "lead"),))
    add_records(workspace, 2)
    with pytest.raises(ScreeningError, match="needs at least 2 reviewers"):
        queue_ids(workspace, "ana")


# --- blinding at the core API ----------------------------------------------------------------


def test_blinding_until_reconciled_or_unblinded(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b = add_records(workspace, 2)

    def view(who: str, rid: int) -> object:
        return record_view(
            engine=workspace.engine, protocol=workspace.protocol, record_id=rid, stage="ta",
            viewer=who,
        )  # fmt: skip

    decide(workspace, a, "ben", "exclude", reason="not an RCT", note="case series")
    v = view("chloe", a)
    assert v.blinded and v.others is None and v.status is None and v.own is None  # type: ignore[attr-defined]
    assert "exclude" not in repr(v) and "case series" not in repr(v)
    # chloe's queue items carry no decision of anyone
    item = queue(engine=workspace.engine, protocol=workspace.protocol, reviewer="chloe",
                 stage="ta")[0].as_json()  # fmt: skip
    assert set(item) >= {"id"} and not {"decision", "decisions", "status"} & set(item)
    # a disagreement is still blinded for both screeners: "conflict" would betray the vote
    decide(workspace, a, "chloe", "include")
    for who in ("ben", "chloe"):
        v = view(who, a)
        assert v.blinded and v.others is None and v.status is None  # type: ignore[attr-defined]
    assert list_conflicts(engine=workspace.engine, protocol=workspace.protocol, stage="ta",
                          viewer="ben") == []  # fmt: skip
    # the lead (not a screener) sees the conflict with both decisions
    conflicts = list_conflicts(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta", viewer="ana"
    )
    assert [c.record_id for c in conflicts] == [a]
    assert {d["reviewer"]: d["decision"] for d in conflicts[0].decisions or []} == {
        "ben": "exclude", "chloe": "include",
    }  # fmt: skip
    # only a lead unblinds; then everyone sees every decision
    with pytest.raises(NotLeadError, match="only a lead"):
        unblind_stage(engine=workspace.engine, protocol=workspace.protocol, stage="ta",
                      reviewer="ben")  # fmt: skip
    decide(workspace, b, "ben", "include")
    assert view("chloe", b).blinded  # type: ignore[attr-defined]
    unblind_stage(engine=workspace.engine, protocol=workspace.protocol, stage="ta", reviewer="ana")
    v = view("chloe", b)
    assert not v.blinded and v.others[0]["decision"] == "include"  # type: ignore[attr-defined]
    assert view("ben", a).status == "conflict"  # type: ignore[attr-defined]


def test_third_reviewer_sees_decisions_only_when_all_screeners_decided(
    workspace: Workspace,
) -> None:
    setup_review(workspace, team=(*TEAM, ("dee", "reviewer")))
    ids = add_records(workspace, 12)
    sync_assignments(engine=workspace.engine, protocol=workspace.protocol, stage="ta")
    with Session(workspace.engine) as s:
        pairs = s.execute(
            select(col(ScreeningAssignment.record_id), col(ScreeningAssignment.reviewer_id))
        ).all()
        by_rec: dict[int, set[int]] = {}
        for rid, r in pairs:
            by_rec.setdefault(rid, set()).add(r)
    people = {p.id: p.name for p in reviewers(workspace.engine, workspace.protocol).values()}
    rid = ids[0]
    screeners = sorted(people[r] for r in by_rec[rid])
    outsider = next(n for n in ("ben", "chloe", "dee") if n not in screeners)
    assert "ana" not in screeners and len(screeners) == 2
    decide(workspace, rid, screeners[0], "include")
    v = record_view(engine=workspace.engine, protocol=workspace.protocol, record_id=rid,
                    stage="ta", viewer=outsider)  # fmt: skip
    assert v.blinded
    decide(workspace, rid, screeners[1], "exclude")
    v = record_view(engine=workspace.engine, protocol=workspace.protocol, record_id=rid,
                    stage="ta", viewer=outsider)  # fmt: skip
    assert not v.blinded and v.status == "conflict"
    with pytest.raises(ScreeningError, match="not assigned record"):
        decide(workspace, rid, outsider, "include")


# --- conflicts and resolve -------------------------------------------------------------------


def test_maybe_is_a_conflict_per_protocol_and_resolve_records_who_and_why(
    workspace: Workspace,
) -> None:
    setup_review(workspace)
    a, b, c = add_records(workspace, 3)
    for rid in (a, b, c):
        decide(workspace, rid, "ben", "include")
    decide(workspace, a, "chloe", "maybe")
    decide(workspace, b, "chloe", "include")
    decide(workspace, c, "chloe", "exclude")
    found = list_conflicts(engine=workspace.engine, protocol=workspace.protocol, stage="ta",
                           viewer="ana")  # fmt: skip
    assert [(x.record_id, x.why) for x in found] == [
        (a, "include vs maybe"),
        (c, "include vs exclude"),
    ]
    with pytest.raises(ScreeningError, match="no open conflict"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=b, stage="ta",
                reviewer="ana", decision="include")  # fmt: skip
    res = resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=c, stage="ta",
                  reviewer="ana", decision="exclude", note="not randomised on reading")  # fmt: skip
    assert (res.method, res.reviewer) == ("third_reviewer", "ana")
    res = resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ta",
                  reviewer="ben", decision="include")  # fmt: skip
    assert res.method == "consensus"
    with pytest.raises(ScreeningError, match="already resolved"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=c, stage="ta",
                reviewer="ana", decision="include")  # fmt: skip
    assert count(workspace, Resolution) == 2
    v = record_view(engine=workspace.engine, protocol=workspace.protocol, record_id=c,
                    stage="ta", viewer="ben")  # fmt: skip
    assert not v.blinded and v.status == "exclude"  # reconciled: blinding lifted


def test_maybe_counts_as_include_when_protocol_says_so(workspace: Workspace) -> None:
    setup_review(workspace, screening='mode = "dual"\nmaybe_is_conflict = false')
    (a,) = add_records(workspace, 1)
    decide(workspace, a, "ben", "maybe")
    decide(workspace, a, "chloe", "include")
    assert list_conflicts(engine=workspace.engine, protocol=workspace.protocol, stage="ta",
                          viewer="ana") == []  # fmt: skip
    assert advance_to_fulltext(engine=workspace.engine, protocol=workspace.protocol) == 1


# --- supersede and undo ----------------------------------------------------------------------


def test_second_decision_supersedes_and_undo_is_an_event(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b = add_records(workspace, 2)
    decide(workspace, a, "ben", "include")
    decide(workspace, a, "ben", "exclude", reason="wrong population")
    cur = current_decision(engine=workspace.engine, protocol=workspace.protocol, record_id=a,
                           stage="ta", reviewer="ben")  # fmt: skip
    assert cur is not None and (cur.decision, cur.reason) == ("exclude", "wrong population")
    hist = own_history(engine=workspace.engine, protocol=workspace.protocol, record_id=a,
                       stage="ta", reviewer="ben")  # fmt: skip
    assert [h["decision"] for h in hist] == ["include", "exclude"]
    assert hist[1]["supersedes_id"] == hist[0]["event_id"]
    undo_decision(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ta",
                  reviewer="ben")  # fmt: skip
    assert current_decision(engine=workspace.engine, protocol=workspace.protocol, record_id=a,
                            stage="ta", reviewer="ben") is None  # fmt: skip
    assert queue_ids(workspace, "ben") == [a, b]  # back in the queue
    assert count(workspace, ScreeningDecision) == 3  # nothing deleted or updated
    with pytest.raises(ScreeningError, match="no decision on record .* to undo"):
        undo_decision(engine=workspace.engine, protocol=workspace.protocol, record_id=a,
                      stage="ta", reviewer="ben")  # fmt: skip


def test_next_record_is_a_cursor_that_wraps(workspace: Workspace) -> None:
    setup_review(workspace)
    ids = add_records(workspace, 5)
    sync_assignments(engine=workspace.engine, protocol=workspace.protocol, stage="ta")
    ben = get_reviewer(workspace.engine, workspace.protocol, "ben").id
    assert next_record(engine=workspace.engine, reviewer_id=ben, stage="ta") == ids[0]
    decide(workspace, ids[0], "ben", "include")
    assert next_record(engine=workspace.engine, reviewer_id=ben, stage="ta", after=ids[0]) == ids[1]
    # skipping ids[1]: the cursor moves on, and skipped records come back at the end
    assert next_record(engine=workspace.engine, reviewer_id=ben, stage="ta", after=ids[1]) == ids[2]
    for rid in ids[2:]:
        decide(workspace, rid, "ben", "exclude")
    assert next_record(engine=workspace.engine, reviewer_id=ben, stage="ta", after=ids[4]) == ids[1]
    decide(workspace, ids[1], "ben", "maybe")
    assert next_record(engine=workspace.engine, reviewer_id=ben, stage="ta", after=ids[1]) is None


# --- dedup clusters --------------------------------------------------------------------------


def test_one_record_per_dedup_cluster(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b, c = add_records(workspace, 3)
    with Session(workspace.engine) as s:  # b is a more complete duplicate of a: b is kept
        rec = s.get(Record, b)
        assert rec is not None
        rec.abstract, rec.doi = "Background: ...", "10.1/x"
        s.add(rec)
        s.add(DuplicateLink(record_a=a, record_b=b, decision="duplicate", method="reviewer"))
        s.commit()
    assert queue_ids(workspace, "ben") == [b, c]
    with pytest.raises(ScreeningError, match=f"record {a} is a duplicate of record {b}"):
        decide(workspace, a, "ben", "include")


def test_decide_on_a_new_cluster_member_points_to_the_kept_record(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b = add_records(workspace, 2)
    with Session(workspace.engine) as s:
        s.add(DuplicateLink(record_a=a, record_b=b, decision="duplicate", method="auto"))
        s.commit()
    with pytest.raises(ScreeningError, match=f"record {b} is a duplicate of record {a}"):
        decide(workspace, b, "ben", "include")
    decide(workspace, a, "ben", "include")  # the kept record enters screening on first use


# --- full text -------------------------------------------------------------------------------


def _include_at_ta(ws: Workspace, ids: Sequence[int]) -> None:
    for rid in ids:
        decide(ws, rid, "ben", "include")
        decide(ws, rid, "chloe", "include")


def test_fulltext_needs_ta_include_and_protocol_reasons(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b, c = add_records(workspace, 3)
    _include_at_ta(workspace, [a, b])
    with pytest.raises(ScreeningError, match="not at the full-text stage"):
        decide(workspace, c, "ben", "include", stage="ft")
    assert advance_to_fulltext(engine=workspace.engine, protocol=workspace.protocol) == 2
    assert queue_ids(workspace, "ben", "ft") == [a, b]
    with pytest.raises(ScreeningError, match="needs a reason .*wrong-design, wrong-population"):
        decide(workspace, a, "ben", "exclude", stage="ft")
    with pytest.raises(ScreeningError, match="unknown exclusion reason 'vibes'"):
        decide(workspace, a, "ben", "exclude", stage="ft", reason="vibes")
    assert count(workspace, ScreeningDecision) == 4  # the refused ones wrote nothing
    decide(workspace, a, "ben", "exclude", stage="ft", reason="Wrong population")  # by label
    decide(workspace, a, "chloe", "exclude", stage="ft", reason="wrong-design")
    found = list_conflicts(engine=workspace.engine, protocol=workspace.protocol, stage="ft",
                           viewer="ana")  # fmt: skip
    assert found[0].why.startswith("reasons differ")
    with pytest.raises(ScreeningError, match="needs a reason"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ft",
                reviewer="ana", decision="exclude")  # fmt: skip
    resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ft",
            reviewer="ana", decision="exclude", reason="wrong-design")  # fmt: skip
    out = set_fulltext(engine=workspace.engine, protocol=workspace.protocol, record_id=b,
                       pdf="pdfs/b.pdf", url="https://example.org/b")  # fmt: skip
    assert out["pdf_path"] == "pdfs/b.pdf"
    with pytest.raises(ScreeningError, match="not an http"):
        set_fulltext(engine=workspace.engine, protocol=workspace.protocol, record_id=b,
                     url="ftp://x")  # fmt: skip
    v = record_view(engine=workspace.engine, protocol=workspace.protocol, record_id=b,
                    stage="ft", viewer="ben")  # fmt: skip
    assert v.report is not None and v.report["url"] == "https://example.org/b"
    decide(workspace, b, "ben", "include", stage="ft")
    with pytest.raises(ScreeningError, match="already has full-text decisions"):
        mark_not_retrieved(engine=workspace.engine, protocol=workspace.protocol, record_id=b,
                           reason="paywall")  # fmt: skip


def test_reports_of_one_trial_link_to_one_study(workspace: Workspace) -> None:
    setup_review(workspace)
    a, b, c, d = add_records(workspace, 4)
    with Session(workspace.engine) as s:
        for rid, text in ((a, "Trial registration: NCT01140347."), (b, "follow-up of NCT01140347"),
                          (c, "ClinicalTrials.gov NCT02435433"),
                          (d, "pooled NCT01140347 and NCT02435433")):  # fmt: skip
            rec = s.get(Record, rid)
            assert rec is not None
            rec.abstract = text
            s.add(rec)
        s.commit()
    _include_at_ta(workspace, [a, b, c, d])
    out = link_reports_by_registry(engine=workspace.engine, protocol=workspace.protocol)
    assert (out.linked, out.studies_created) == (3, 2)
    assert out.ambiguous == [{"record_id": d, "registry_ids": ["NCT01140347", "NCT02435433"]}]
    sid = link_study(engine=workspace.engine, protocol=workspace.protocol, record_id=d,
                     registry_id="nct01140347")  # fmt: skip
    v = record_view(engine=workspace.engine, protocol=workspace.protocol, record_id=a,
                    stage="ft", viewer="ben")  # fmt: skip
    assert v.report is not None and v.report["study_id"] == sid


def test_registry_ids_are_found_and_normalised() -> None:
    text = "NCT01140347; ISRCTN12345678; EudraCT Number: 2010-020465-14; NCT01140347"
    assert registry_ids(text) == ["NCT01140347", "ISRCTN12345678", "EUDRACT-2010-020465-14"]


# --- bad input: a clear message and nothing half-written --------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"record_id": 999_999}, "no record with id 999999"),
        ({"reviewer": "zed"}, "'zed' is not in this review"),
        ({"decision": "perhaps"}, "include, exclude or maybe"),
        ({"stage": "xx"}, "stage must be 'ta'"),
        ({"stage": "ft", "decision": "exclude"}, "needs a reason"),
    ],
)
def test_bad_decisions_write_nothing(
    workspace: Workspace, kwargs: dict[str, object], message: str
) -> None:
    setup_review(workspace)
    (a,) = add_records(workspace, 1)
    args: dict[str, object] = {
        "record_id": a, "stage": "ta", "reviewer": "ben", "decision": "include",
    }  # fmt: skip
    args.update(kwargs)
    before = (count(workspace, ScreeningDecision), count(workspace, ScreeningAssignment))
    with pytest.raises(LsrError, match=message):
        record_decision(engine=workspace.engine, protocol=workspace.protocol, **args)  # type: ignore[arg-type]
    assert (count(workspace, ScreeningDecision), count(workspace, ScreeningAssignment)) == before


def test_resolve_without_conflict_and_unknown_record(workspace: Workspace) -> None:
    setup_review(workspace)
    (a,) = add_records(workspace, 1)
    with pytest.raises(ScreeningError, match="no open conflict .*not finished"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ta",
                reviewer="ana", decision="include")  # fmt: skip
    with pytest.raises(LsrError, match="no record with id 424242"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=424242,
                stage="ta", reviewer="ana", decision="include")  # fmt: skip
    with pytest.raises(ScreeningError, match="'include' or 'exclude'"):
        resolve(engine=workspace.engine, protocol=workspace.protocol, record_id=a, stage="ta",
                reviewer="ana", decision="maybe")  # fmt: skip
    assert count(workspace, Resolution) == 0

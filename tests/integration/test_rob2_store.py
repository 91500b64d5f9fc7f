"""RoB 2 in the store (SQLite file and PostgreSQL): partial and complete assessments checked by
the skip logic, justified overrides and the "several some concerns" decision, dual assessment
compared per question and per domain, the consensus as the final judgement, every version kept."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.extraction.service import add_study
from living_review.rob2.algorithm import Judgement, Override, OverrideError
from living_review.rob2.questions import AnswerError, RoB2Error
from living_review.rob2.service import (
    compare,
    current_assessment,
    final_judgments,
    history,
    list_status,
    progress,
    resolve,
    save_assessment,
)
from living_review.screening import UnknownReviewerError
from living_review.store.models import AuditEvent, RoB2Assessment
from living_review.workspace import Workspace
from tests.integration.test_extraction import hcc

# ben: every domain low. chloe: D3 and D5 some concerns (1.3 NI instead of N: D1 still low).
BEN = {
    "1.1": "Y", "1.2": "Y", "1.3": "N",
    "2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y",
    "3.1": "Y",
    "4.1": "N", "4.2": "N", "4.3": "N",
    "5.1": "Y", "5.2": "N", "5.3": "N",
}  # fmt: skip
CHLOE = {
    **BEN,
    "1.3": "NI",
    "2.3": "N",
    "3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "PN",
    "5.1": "NI",
}  # fmt: skip


def rows(ws: Workspace) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(RoB2Assessment)) or 0)


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    hcc(workspace)
    add_study(engine=workspace.engine, label="REACH-2", registry_id="NCT02435433", actor="ana")
    return workspace


def save(ws: Workspace, who: str, answers: dict[str, str], **kw: Any) -> Any:
    return save_assessment(
        engine=ws.engine,
        protocol=ws.protocol,
        study="REACH-2",
        outcome="OS",
        assessor=who,
        answers=answers,
        **kw,
    )


def status(ws: Workspace) -> str:
    (st,) = list_status(engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="os")
    return st.status


def test_partial_answers_follow_the_skip_logic_and_propose_live(ws: Workspace) -> None:
    assert status(ws) == "not_started"
    res = save(ws, "ben", {"1.1": "PY", "1.2": "Y", "1.3": "NI", "2.1": "N"})
    a = res.assessment
    assert (a.status, a.outcome, a.variant) == ("in_progress", "OS", "assignment")
    assert a.proposed["1"] == "low" and a.rules["1"] == "D1.3"
    assert a.proposed["2"] is None and a.overall is None
    assert res.next_question == "2.2"
    assert status(ws) == "in_progress"
    # 2.1 and 2.2 both N: 2.3 is not asked, so answering it is refused (nothing written).
    with pytest.raises(AnswerError, match=r"2\.3 must not be answered.*2\.1 is Y/PY/NI") as exc:
        save(ws, "ben", {"2.2": "PN", "2.3": "Y"})
    assert exc.value.question == "2.3"
    with pytest.raises(AnswerError, match="answer 'maybe' for 2.2"):
        save(ws, "ben", {"2.2": "maybe"})
    with pytest.raises(AnswerError, match="not a question of the RoB 2 assignment"):
        save(ws, "ben", {"9.9": "Y"})
    assert rows(ws) == 1
    res = save(ws, "ben", {"2.2": "PN"})
    assert res.next_question == "2.6"
    # Completing with required answers missing is a clear error naming the first one.
    with pytest.raises(AnswerError, match=r"question 2\.6 is required"):
        save(ws, "ben", {}, complete=True)
    assert rows(ws) == 2
    # Re-saving the same answers writes nothing.
    assert save(ws, "ben", {"2.2": "PN"}).unchanged


def test_changed_answer_drops_what_the_logic_no_longer_asks_and_keeps_old_version(
    ws: Workspace,
) -> None:
    first = save(ws, "ben", {"2.1": "Y", "2.2": "Y", "2.3": "Y", "2.4": "N"}).assessment
    assert first.answers["2.4"] == "N"
    second = save(ws, "ben", {"2.1": "N", "2.2": "N"}).assessment
    assert second.dropped == ["2.3", "2.4"]
    assert "2.3" not in second.answers and second.supersedes_id == first.id
    versions = history(engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS")
    assert [v["answers"].get("2.3") for v in versions] == ["Y", None]


def test_overrides_need_justification_and_several_some_concerns_asks(ws: Workspace) -> None:
    with pytest.raises(OverrideError, match="domain 3 from some_concerns to high needs"):
        save(ws, "chloe", CHLOE, complete=True, overrides={"3": Override(Judgement.HIGH)})
    # Two domains have some concerns, none high: completing needs the assessor's decision.
    with pytest.raises(OverrideError, match="2 domains have some concerns"):
        save(ws, "chloe", CHLOE, complete=True)
    assert rows(ws) == 0
    why = "missing data and an unregistered analysis plan together"
    res = save(
        ws,
        "chloe",
        CHLOE,
        complete=True,
        overrides={"overall": Override(Judgement.HIGH, why)},
    )
    a = res.assessment
    assert a.status == "complete"
    assert a.domains == {
        "1": "low",
        "2": "low",
        "3": "some_concerns",
        "4": "low",
        "5": "some_concerns",
    }  # noqa: E501
    assert a.proposed["overall"] == "some_concerns" and a.overall == "high"
    assert a.overridden == ["overall"]
    assert a.overrides["overall"]["justification"] == why
    assert a.overrides["overall"]["by"] == "chloe"
    # NA is stored for the questions the logic skipped, as the RoB 2 template does.
    assert a.answers["2.4"] == "NA" and a.answers["4.4"] == "NA"
    assert a.algorithm_version.startswith("rob2-irpg")
    # The override stays while its proposal stands; a note changes nothing else.
    again = save(ws, "chloe", {"4.1": "N"}, complete=True).assessment
    assert again.overall == "high" and again.id == a.id
    # A changed answer that changes the proposal leaves the old override behind.
    changed = save(ws, "chloe", {"3.1": "Y"}, complete=True).assessment
    assert changed.overall == "some_concerns" and "overall" not in changed.overrides
    assert changed.domains["3"] == "low" and changed.supersedes_id == a.id


def test_dual_assessment_compare_resolve_final(ws: Workspace) -> None:
    save(ws, "ben", BEN, complete=True)
    assert status(ws) == "in_progress"
    confirm = {"overall": Override(Judgement.SOME_CONCERNS, "")}
    save(ws, "chloe", CHLOE, complete=True, overrides=confirm)
    assert status(ws) == "dual_complete"
    cmp = compare(engine=ws.engine, protocol=ws.protocol, study="NCT02435433", outcome="OS")
    assert cmp["assessors"] == ["ben", "chloe"] and cmp["complete"]
    diffs = {r["question"]: r for r in cmp["question_discrepancies"]}
    assert set(diffs) == {"1.3", "3.1", "3.2", "3.3", "3.4", "5.1"}
    assert diffs["1.3"]["answers"] == {"ben": "N", "chloe": "NI"}
    assert diffs["3.2"]["status"] == "differ"  # ben was not asked 3.2 (stored NA)
    assert diffs["3.2"]["answers"]["ben"] == "NA"
    dd = {r["domain"]: r for r in cmp["domain_discrepancies"]}
    assert set(dd) == {"3", "5", "overall"}
    assert dd["3"]["judgements"] == {"ben": "low", "chloe": "some_concerns"}
    # Consensus: start from the agreed answers, settle the rest.
    with pytest.raises(AnswerError, match=r"question 1\.3 is required"):
        resolve(engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS",
                resolver="ana")  # fmt: skip
    assert final_judgments(ws.engine) == []
    res = resolve(
        engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS", resolver="ana",
        answers={"1.3": "N", "3.1": "PY", "5.1": "PY"},
    )  # fmt: skip
    assert res.assessment.role == "consensus" and res.assessment.overall == "low"
    assert status(ws) == "consensus"
    (final,) = final_judgments(ws.engine, outcome="os")
    assert (final.study, final.outcome, final.overall, final.resolver) == (
        "REACH-2", "OS", "low", "ana",
    )  # fmt: skip
    assert final.domains == dict.fromkeys("12345", "low")
    assert final.plot_row().category("overall") == "low"
    assert final_judgments(ws.engine, outcome="PFS") == []
    # A second consensus (taking chloe's, escalated) supersedes the first; both are kept.
    why = "the resolver agrees with chloe's reading"
    res2 = resolve(
        engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS", resolver="ana",
        use="chloe", overrides={"overall": Override(Judgement.HIGH, why)},
    )  # fmt: skip
    assert res2.assessment.supersedes_id == res.assessment.id
    (final,) = final_judgments(ws.engine)
    assert final.overall == "high" and final.overridden == ["overall"]
    assert rows(ws) == 4
    with Session(ws.engine) as s:
        actions = list(
            s.scalars(
                select(col(AuditEvent.action))
                .where(col(AuditEvent.entity) == "rob2")
                .order_by(col(AuditEvent.id))
            )
        )
    assert actions == ["rob2_assess", "rob2_assess", "rob2_consensus", "rob2_consensus"]
    mine = current_assessment(
        engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS", assessor="ben"
    )
    assert mine is not None and mine.overall == "low"


def test_variants_people_and_outcomes_are_checked(ws: Workspace) -> None:
    with pytest.raises(UnknownReviewerError):
        save(ws, "zed", {"1.1": "Y"})
    with pytest.raises(RoB2Error, match="outcome 'QOL' is not in the protocol"):
        save_assessment(engine=ws.engine, protocol=ws.protocol, study="REACH-2",
                        outcome="QOL", assessor="ben", answers={})  # fmt: skip
    with pytest.raises(LsrError, match="no study 'NOPE'"):
        save_assessment(engine=ws.engine, protocol=ws.protocol, study="NOPE",
                        outcome="OS", assessor="ben", answers={})  # fmt: skip
    # The adhering variant: 2.7 does not exist; deviations decide which of 2.3-2.5 are asked.
    with pytest.raises(AnswerError, match="2.7 exists only for the effect of assignment"):
        save(ws, "ben", {"2.7": "Y"}, variant="adhering")
    res = save(ws, "ben", {"2.1": "N", "2.2": "N", "2.5": "PY"}, variant="adhering",
               deviations=["non_adherence"])  # fmt: skip
    assert res.next_question == "1.1" and res.assessment.deviations == ["non_adherence"]
    res = save(ws, "ben", {"2.6": "Y"})
    assert res.assessment.proposed["2"] == "some_concerns"  # spec D2B.2
    # Switching variant drops the Domain 2 answers of the other variant (older version kept).
    res = save(ws, "ben", {}, variant="assignment")
    assert not any(k.startswith("2.") for k in res.assessment.answers)
    assert rows(ws) == 3
    with pytest.raises(RoB2Error, match="consensus needs two assessments"):
        resolve(engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS",
                resolver="ana")  # fmt: skip
    with pytest.raises(RoB2Error, match="not complete"):
        resolve(engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome="OS",
                resolver="ana", use="ben")  # fmt: skip


def test_progress_matches_the_spec_vectors() -> None:
    p = progress("assignment", {"4.1": "N", "4.2": "NI", "4.3": "N"})
    assert p.proposed["4"] == Judgement.SOME_CONCERNS and p.rules["4"] == "D4.3"
    assert p.next is not None and p.next.id == "1.1" and p.proposed_overall is None
    p = progress("assignment", CHLOE)
    assert p.complete and p.proposed_overall == Judgement.SOME_CONCERNS


def test_support_text_and_direction_of_bias_are_kept(ws: Workspace) -> None:
    res = save(
        ws, "ben", {"1.1": "Y"}, support={"1.1": "computer-generated list (p. 3)"},
        directions={"overall": "Towards null"},
    )  # fmt: skip
    a = res.assessment
    assert a.support == {"1.1": "computer-generated list (p. 3)"}
    assert a.directions == {"overall": "towards_null"}
    # Later saves keep them, add to them, and an empty text removes one.
    a = save(ws, "ben", {"1.2": "Y"}, support={"1": "central allocation"}).assessment
    assert a.support == {"1.1": "computer-generated list (p. 3)", "1": "central allocation"}
    a = save(ws, "ben", {}, support={"1": ""}).assessment
    assert a.support == {"1.1": "computer-generated list (p. 3)"}
    assert a.directions == {"overall": "towards_null"}
    with pytest.raises(RoB2Error, match="direction 'sideways' for 3 is not one of na"):
        save(ws, "ben", {}, directions={"3": "sideways"})
    with pytest.raises(RoB2Error, match="support for '2.7': not a question ID"):
        save(ws, "ben", {}, variant="adhering", support={"2.7": "x"})
    assert rows(ws) == 3

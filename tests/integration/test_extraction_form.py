"""The extraction form's core (SQLite file and PostgreSQL): rows from the protocol, checks
without writing, all-or-nothing saves, blinding between extractors, per-study counts and the
resolver's view, down to the final value the NMA reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from living_review.extraction.form import (
    DESIGN,
    StudyForm,
    check_texts,
    form_issues,
    reconcile_view,
    save_form,
    study_form,
    study_statuses,
)
from living_review.extraction.service import add_study, add_value, analysis_data, resolve
from living_review.extraction.validate import ExtractionError
from living_review.protocol import Protocol
from living_review.screening import UnknownReviewerError
from living_review.screening.reviewers import add_reviewer
from living_review.store.models import Extraction
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
OS_HR = "OS/contrast/ramucirumab vs placebo"
HR = {"estimate": "0.710", "lower": "0.531", "upper": "0.949"}


def hcc(ws: Workspace) -> Protocol:
    """The example review's protocol (treatments with aliases, outcomes, ana/ben/chloe)."""
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    return ws.protocol


def reach2(ws: Workspace, *, arms: bool = True) -> None:
    add_study(engine=ws.engine, label="REACH-2", registry_id="NCT02435433", actor="ana")
    if arms:
        for arm, n in (("ramucirumab", 197), ("placebo", 95)):
            add_value(
                engine=ws.engine, protocol=ws.protocol, study="REACH-2", kind="arm",
                values={"n": n}, extractor="ana", arm=arm, final=True,
            )  # fmt: skip


def form(ws: Workspace, outcome: str, viewer: str, **kw: object) -> StudyForm:
    return study_form(
        engine=ws.engine, protocol=ws.protocol, study="REACH-2", outcome=outcome, viewer=viewer,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def save(ws: Workspace, f: StudyForm, who: str, entries: dict, source: str = "p. 285") -> list:
    return save_form(
        engine=ws.engine, protocol=ws.protocol, form=f, entries=entries,
        sources=dict.fromkeys(entries, source), extractor=who,
    )  # fmt: skip


def versions(ws: Workspace) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Extraction)) or 0)


def test_rows_follow_the_protocol_measure_and_arms(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    design = form(workspace, DESIGN, "ben")
    assert [r.key for r in design.rows] == [
        "design/arm/placebo",
        "design/arm/ramucirumab",
        "design/total",
    ]
    assert design.arms == ["placebo", "ramucirumab"]  # the protocol's treatment order
    os_form = form(workspace, "OS", "ben")  # HR: a contrast vs the control; medians
    assert [(r.key, r.fields, r.analysed) for r in os_form.rows] == [
        ("OS/median/placebo", ("value", "lower", "upper"), False),
        ("OS/median/ramucirumab", ("value", "lower", "upper"), False),
        (OS_HR, ("estimate", "lower", "upper", "se"), True),
    ]
    assert os_form.row(OS_HR).fixed == {"measure": "HR"}
    orr = form(workspace, "orr", "ben")  # OR: arm-level events/n, percentages, a contrast
    assert orr.outcome == "ORR" and orr.measure == "OR"
    assert [r.key for r in orr.rows] == [
        "ORR/binary/placebo",
        "ORR/percent/placebo",
        "ORR/binary/ramucirumab",
        "ORR/percent/ramucirumab",
        "ORR/contrast/ramucirumab vs placebo",
    ]
    # An arm not stored yet, by an alias: mapped to the protocol's name, compared with placebo.
    three = form(workspace, "OS", "ben", extra_arms=["Stivarga"])
    assert three.arms == ["placebo", "ramucirumab", "regorafenib"]
    assert "OS/contrast/regorafenib vs placebo" in {r.key for r in three.rows}
    with pytest.raises(ExtractionError, match="treatment 'aspirin' is not in the protocol"):
        form(workspace, "OS", "ben", extra_arms=["aspirin"])
    with pytest.raises(ExtractionError, match="outcome 'QoL' is not in the protocol"):
        form(workspace, "QoL", "ben")
    with pytest.raises(UnknownReviewerError, match="reviewer .zoe. is not in this review"):
        form(workspace, "OS", "zoe")


def test_every_rule_speaks_as_the_reviewer_types(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    p = workspace.protocol

    def msgs(kind: str, outcome: str | None, texts: dict, **fixed: str) -> list[tuple[str, str]]:
        check = check_texts(
            p, kind=kind, outcome=outcome, texts=texts, where="REACH-2", fixed=fixed or None
        )
        return [(i.level, i.message) for i in check.issues]

    assert msgs("binary", "ORR", {}) == []  # nothing typed: nothing to say
    assert msgs("binary", "ORR", {"events": "12", "n": "10"}) == [
        ("error", "REACH-2: events = 12 exceed n = 10")
    ]
    assert msgs("binary", "ORR", {"events": "12"}) == [("error", "REACH-2: binary needs n")]
    assert msgs("binary", "ORR", {"events": "1O", "n": "10"}) == [
        ("error", "REACH-2: events = '1O' is not a number")
    ]
    assert msgs("contrast", "OS", {**HR, "upper": "0.69"}, measure="HR") == [
        ("error", "REACH-2: the CI [0.531, 0.69] does not contain 0.71")
    ]
    [(level, text)] = msgs("contrast", "OS", {**HR, "upper": "1.2"}, measure="HR")
    assert level == "warning" and "asymmetric around 0.71 on the log scale" in text
    assert msgs("contrast", "OS", {"estimate": "0.71", "se": "0"}, measure="HR") == [
        ("error", "REACH-2: se = 0 must be > 0")
    ]
    assert msgs("contrast", "OS", HR, measure="HR") == []
    # (this protocol has no MD outcome: the continuous arm is checked on its own)
    assert ("error", "REACH-2: give either sd or se for the arm mean (one)") in msgs(
        "continuous", None, {"mean": "3", "n": "20", "sd": "1", "se": "0.2"}
    )
    # Across rows: the arm sizes against the total randomised (as the store checks them).
    design = form(workspace, DESIGN, "ben")
    entries = {
        "design/arm/placebo": {"n": "95"},
        "design/arm/ramucirumab": {"n": "197"},
        "design/total": {"n": "290"},
    }
    checks = form_issues(p, design, entries)
    assert [i.message for i in checks["design/total"].issues] == [
        "REACH-2: arm sizes (placebo 95 + ramucirumab 197 = 292) exceed the total randomised 290"
    ]
    entries["design/total"] = {"n": "300"}
    [warning] = form_issues(p, design, entries)["design/total"].issues
    assert warning.level == "warning" and "below the total randomised 300" in warning.message
    entries["design/total"] = {"n": "292"}
    assert all(c.ok for c in form_issues(p, design, entries).values())


def test_save_is_all_or_nothing_and_appends(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    before = versions(workspace)
    f = form(workspace, "OS", "ben")
    bad = {OS_HR: HR, "OS/median/placebo": {"value": "7.3", "lower": "8", "upper": "9"}}
    with pytest.raises(ExtractionError, match=r"the CI \[8, 9\] does not contain 7.3"):
        save(workspace, f, "ben", bad)
    assert versions(workspace) == before  # the good row was not written either
    written = save(workspace, f, "ben", {OS_HR: HR, "OS/median/placebo": {"value": "7.3"}})
    assert [(r.key, r.status, r.unchanged) for r in written] == [
        ("OS/median/placebo", "draft", False),
        (OS_HR, "draft", False),
    ]
    assert versions(workspace) == before + 2
    f = form(workspace, "OS", "ben")
    assert f.row(OS_HR).mine == {"measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 0.949}
    assert f.row(OS_HR).my_source == "p. 285" and f.row(OS_HR).status == "mine"
    assert save(workspace, f, "ben", {OS_HR: HR}) == []  # unchanged: nothing new
    save(workspace, f, "ben", {OS_HR: {**HR, "upper": "0.95"}})  # a correction: a new version
    assert versions(workspace) == before + 3


def test_blinding_counts_reconcile_and_the_final_value(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    add_reviewer(engine=workspace.engine, protocol=workspace.protocol, name="dan")
    save(workspace, form(workspace, "OS", "ben"), "ben", {OS_HR: HR, "OS/median/placebo": {
        "value": "7.3"}})  # fmt: skip

    # chloe has not entered them: she sees that ben has, never what.
    row = form(workspace, "OS", "chloe").row(OS_HR)
    assert (row.status, row.entered_by, row.others, row.final) == ("hidden", ["ben"], None, None)
    [reach] = study_statuses(engine=workspace.engine, protocol=workspace.protocol, viewer="chloe")
    assert (reach.total.mine, reach.total.others, reach.total.differ) == (0, 2, 0)
    assert reach.by_outcome["OS"].others == 2 and reach.by_outcome[DESIGN].final == 2

    typo = {**HR, "upper": "0.994"}
    save(workspace, form(workspace, "OS", "chloe"), "chloe", {OS_HR: typo}, source="Fig 2")
    row = form(workspace, "OS", "chloe").row(OS_HR)  # both entered: she sees his value now
    assert row.status == "differ"
    hr = {"measure": "HR", "estimate": 0.71, "lower": 0.531}
    assert row.others == {"ben": {**hr, "upper": 0.949}}
    [reach] = study_statuses(engine=workspace.engine, protocol=workspace.protocol, viewer="chloe")
    assert (reach.total.mine, reach.total.others, reach.total.differ) == (1, 2, 1)

    # The resolver's view: chloe sees the item she entered, not the one only ben entered.
    view = reconcile_view(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", viewer="chloe"
    )
    items = {i.key: i for i in view.items}
    assert view.extractors == ["ben", "chloe"]
    assert items[OS_HR].visible and items[OS_HR].status == "differ"
    assert not items["OS/median/placebo"].visible
    assert items["OS/median/placebo"].values == {"ben": None, "chloe": None}
    # A third reviewer sees what two extractors entered (to settle it), not a lone value;
    # a lead sees every value.
    for viewer, lone_visible in (("dan", False), ("ana", True)):
        view = reconcile_view(
            engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", viewer=viewer
        )
        items = {i.key: i for i in view.items}
        assert items[OS_HR].visible and items[OS_HR].values["chloe"] == {**hr, "upper": 0.994}
        assert items["OS/median/placebo"].visible is lone_visible
        assert items["OS/median/placebo"].values["ben"] == (
            {"value": 7.3} if lone_visible else None
        )
        assert [i.key for i in view.discrepancies] == [OS_HR, "OS/median/placebo"]

    resolve(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", key=OS_HR,
        resolver="ana", use="ben",
    )  # fmt: skip
    view = reconcile_view(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", viewer="ana"
    )
    item = next(i for i in view.items if i.key == OS_HR)
    assert item.resolved and not item.open and item.final_by == "ana"
    assert form(workspace, "OS", "chloe").row(OS_HR).status == "resolved"
    [row_] = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS").rows[
        "contrast"
    ]
    assert (row_["reported_upper"], row_["source"]) == (0.949, "p. 285")
    # A later draft reopens the item (the final is older than a current value).
    save(workspace, form(workspace, "OS", "chloe"), "chloe", {OS_HR: {**HR, "upper": "0.95"}})
    view = reconcile_view(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", viewer="ana"
    )
    assert OS_HR in [i.key for i in view.discrepancies]

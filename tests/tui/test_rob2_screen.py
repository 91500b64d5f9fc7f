"""Pilot tests of the RoB 2 screen: two assessors complete RoB 2 for a study by key, one
question at a time, with the judgements proposed live; then a resolver settles the consensus
from the questions they disagree on. Each step is checked on screen and in the store."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from living_review.extraction.service import add_study
from living_review.rob2.service import current_assessment, final_judgments, list_status
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens.rob2 import ChoiceModal, RoB2Screen
from living_review_tui.screens.screening import NoteModal
from tests.integration.test_extraction import hcc
from tests.tui.test_app import SIZE, table_rows, widget_text
from tests.tui.test_screening import press, settle_all

# Keys in question order (1 Y, 2 PY, 3 PN, 4 N, 5 NI); see tests/integration/test_rob2_store.py.
# ben: 1.1 Y 1.2 Y 1.3 N | 2.1 Y 2.2 Y 2.3 N 2.6 Y | 3.1 Y | 4.1 N 4.2 N 4.3 N | 5.1 Y 5.2 N 5.3 N
BEN_KEYS = ("y", "1", "4", "1", "1", "4", "1", "1", "n", "4", "4", "1", "4", "4")
# chloe: 1.3 NI; 3.1 N 3.2 N 3.3 Y 3.4 PN; 5.1 NI -> D3 and D5 some concerns.
CHLOE_KEYS = ("1", "1", "5", "1", "1", "4", "1", "4", "4", "1", "3", "4", "4", "4", "5", "4", "4")


def setup(ws: Workspace) -> None:
    hcc(ws)
    add_study(engine=ws.engine, label="REACH-2", registry_id="NCT02435433")


async def open_rob2(app: LivingReviewApp, pilot: Pilot[None]) -> RoB2Screen:
    # The section key is r; the dashboard binds r to Refresh itself (a screen's binding wins),
    # so the test switches the mode as the key's action does.
    await app.switch_mode("rob2")
    await settle_all(app, pilot)
    screen = app.screen
    assert isinstance(screen, RoB2Screen)
    return screen


def text(app: LivingReviewApp, selector: str) -> str:
    return widget_text(app.screen.query_one(selector))


def judged(app: LivingReviewApp, prefix: str) -> str:
    """The line of the judgements panel that starts with ``prefix`` (``D1``, ``Overall``)."""
    for line in text(app, "#rob2-domains").splitlines():
        if line.strip("│ ").startswith(prefix):
            return line
    raise AssertionError(f"no {prefix} line")


async def assess_as(ws: Workspace, who: str, keys: tuple[str, ...]) -> LivingReviewApp:
    app = LivingReviewApp(ws, reviewer=who)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rob2(app, pilot)
        table = screen.query_one("#rob2-results")
        rows = table_rows(table)  # type: ignore[arg-type]
        if who == "ben":
            assert rows[0][:3] == ["REACH-2", "OS", "not started"]
        await press(app, pilot, "enter")
        assert "REACH-2 / OS" in text(app, "#rob2-title")
        assert "1.1  Allocation sequence random" in text(app, "#rob2-question")
        await press(app, pilot, *keys[:3])
        # Domain 1 is judged as soon as its three questions are answered; D2 is not yet.
        assert "Randomization +  Low" in judged(app, "D1")
        assert "not yet" in judged(app, "D2")
        # Back one question, answer it the same way again: nothing else changes.
        await press(app, pilot, "b")
        assert "1.3  Baseline imbalance" in text(app, "#rob2-question")
        await press(app, pilot, keys[2])
        assert "2.1  Participants aware" in text(app, "#rob2-question")
        await press(app, pilot, *keys[3:])
        assert "All asked questions answered" in text(app, "#rob2-question")
        if who == "chloe":
            assert "2 domains have some concerns" in text(app, "#rob2-question")
            await press(app, pilot, "x")
            assert isinstance(app.screen, ChoiceModal)
            await press(app, pilot, "down", "enter")  # escalate to high
            assert isinstance(app.screen, NoteModal) and isinstance(app.focused, Input)
            await pilot.press(*"missing data and no plan")
            await press(app, pilot, "enter")
        else:
            assert text(app, "#rob2-domains").count("+  Low") == 6  # 5 domains and overall
            await press(app, pilot, "x")
        assert isinstance(app.screen, RoB2Screen)
        assert table_rows(table)[0][2] == ("in progress" if who == "ben" else "dual complete")  # type: ignore[arg-type]
    return app


async def test_two_assessors_then_consensus(workspace: Workspace) -> None:
    setup(workspace)
    await assess_as(workspace, "ben", BEN_KEYS)
    ben = current_assessment(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", outcome="OS",
        assessor="ben",
    )  # fmt: skip
    assert ben is not None and ben.status == "complete" and ben.overall == "low"
    assert ben.answers["1.1"] == "Y" and ben.answers["4.1"] == "N"
    await assess_as(workspace, "chloe", CHLOE_KEYS)
    chloe = current_assessment(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", outcome="OS",
        assessor="chloe",
    )  # fmt: skip
    assert chloe is not None and chloe.overall == "high" and chloe.overridden == ["overall"]
    assert chloe.overrides["overall"]["justification"] == "missing data and no plan"
    assert chloe.domains["3"] == "some_concerns"

    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rob2(app, pilot)
        await press(app, pilot, "m")
        # The agreed answers are in; the first disagreement is asked, with both answers shown.
        question = text(app, "#rob2-question")
        assert "1.3" in question and "ben: N · chloe: NI" in question
        assert "consensus" in text(app, "#rob2-title")
        await press(app, pilot, "4")  # 1.3 N
        assert "3.1" in text(app, "#rob2-question")
        await press(app, pilot, "2")  # 3.1 PY: 3.2-3.4 are no longer asked
        assert "5.1" in text(app, "#rob2-question")
        await press(app, pilot, "1", "x")
        assert screen.opened is None
        rows = table_rows(screen.query_one("#rob2-results"))  # type: ignore[arg-type]
        assert rows[0][:4] == ["REACH-2", "OS", "consensus", "+  Low"]
    (final,) = final_judgments(workspace.engine, outcome="OS")
    assert final.resolver == "ana" and final.overall == "low"
    assert final.domains == dict.fromkeys("12345", "low")
    statuses = list_status(engine=workspace.engine, protocol=workspace.protocol)
    assert [s.status for s in statuses if s.outcome == "OS"] == ["consensus"]


async def test_override_needs_a_justification_and_escape_saves_progress(
    workspace: Workspace,
) -> None:
    setup(workspace)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rob2(app, pilot)
        await press(app, pilot, "enter", "1", "1", "4")  # D1 low
        # The Domain 2 variant switches the questions (2.3 asks about non-protocol
        # interventions for the effect of adhering), and back.
        await press(app, pilot, "v", "1", "1")
        assert "effect of adhering" in text(app, "#rob2-title")
        assert "2.3  Non-protocol interventions balanced" in text(app, "#rob2-question")
        await press(app, pilot, "v")
        assert "effect of assignment" in text(app, "#rob2-title")
        assert "2.1  Participants aware" in text(app, "#rob2-question")
        await press(app, pilot, "o")
        assert isinstance(app.screen, ChoiceModal)
        await press(app, pilot, "enter")  # D1
        await press(app, pilot, "down", "enter")  # some concerns
        assert isinstance(app.screen, NoteModal)
        await press(app, pilot, "enter")  # no justification: refused
        assert "needs a justification" in text(app, "#rob2-message")
        await press(app, pilot, "o", "enter", "down", "enter")
        assert isinstance(app.screen, NoteModal) and isinstance(app.focused, Input)
        await pilot.press(*"sequence generation unclear")
        await press(app, pilot, "enter")
        assert "overridden" in text(app, "#rob2-domains")
        await press(app, pilot, "escape")  # back to the list: saved in progress
        assert screen.opened is None
        assert table_rows(screen.query_one("#rob2-results"))[0][2] == "in progress"  # type: ignore[arg-type]
        await press(app, pilot, "m")  # no consensus before two complete assessments
        assert "a consensus needs two complete" in text(app, "#rob2-message")
    ben = current_assessment(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", outcome="OS",
        assessor="ben",
    )  # fmt: skip
    assert ben is not None and ben.status == "in_progress"
    assert ben.domains["1"] == "some_concerns" and ben.proposed["1"] == "low"
    assert ben.overrides["1"]["justification"] == "sequence generation unclear"

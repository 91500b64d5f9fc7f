"""Pilot tests of the extraction screens: two extractors fill in a form by keys, blinded to each
other until both have saved; a resolver settles their discrepancy side by side; the form's
messages appear as the reviewer types; arms are added by treatment name or alias.

Each test drives the app with key presses on a real workspace with the example review's
protocol (ana the lead, ben and chloe who extract), and checks what the screen shows and what
the store holds afterwards (append-only versions, the final value the NMA reads).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rich.text import Text
from sqlalchemy import select
from sqlmodel import Session, col
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from living_review.extraction.service import add_study, add_value, analysis_data, history
from living_review.store.models import Extraction
from living_review.workspace import Workspace
from living_review_tui.app import SECTIONS, LivingReviewApp
from living_review_tui.screens.extraction import (
    ExtractionScreen,
    FinalValueModal,
    FormRowWidget,
    ReconcileScreen,
)
from living_review_tui.screens.screening import NoteModal, ReviewerScreen
from tests.tui.test_app import SIZE, table_rows
from tests.tui.test_screening import press, settle_all

REPO = Path(__file__).resolve().parents[2]
OS_HR = "OS/contrast/ramucirumab vs placebo"


def hcc_review(ws: Workspace, *, arms: bool = True) -> None:
    """The example protocol and REACH-2 with its two arms (entered as final by ana)."""
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    add_study(engine=ws.engine, label="REACH-2", registry_id="NCT02435433", actor="ana")
    if arms:
        for arm, n in (("ramucirumab", 197), ("placebo", 95)):
            add_value(
                engine=ws.engine, protocol=ws.protocol, study="REACH-2", kind="arm",
                values={"n": n}, extractor="ana", arm=arm, final=True,
            )  # fmt: skip


def text_of(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


def row_widget(screen: ExtractionScreen, key: str) -> FormRowWidget:
    return next(w for w in screen.query(FormRowWidget) if w.row.key == key)


def row_notes(screen: ExtractionScreen, key: str) -> str:
    """What the row says under its fields: messages, then the others' and the final value."""
    w = row_widget(screen, key)
    return "\n".join(
        text_of(s) for s in w.query(".row-issues, .row-known").results(Static) if s.display
    )


def drafts(ws: Workspace, who: str) -> list[dict]:
    with Session(ws.engine) as s:
        rows = s.scalars(
            select(Extraction)
            .where(col(Extraction.extractor) == who, col(Extraction.status) == "draft")
            .order_by(col(Extraction.id))
        ).all()
        return [dict(r.values, _source=r.source) for r in rows]


async def open_extraction(app: LivingReviewApp, pilot: Pilot[None]) -> ExtractionScreen:
    await press(app, pilot, "e")
    screen = app.screen
    assert isinstance(screen, ExtractionScreen)
    return screen


async def type_os_hazard_ratio(app: LivingReviewApp, pilot: Pilot[None], upper: str) -> None:
    """Study, then OS, then into the form: past the two medians (4 fields each with the
    source) to the hazard ratio, typed with its source."""
    await press(app, pilot, "enter", "down", "enter")  # REACH-2 -> outcomes; OS -> first field
    await pilot.press(*["tab"] * 8, *"0.71", "tab", *"0.531", "tab", *upper, "tab", "tab", *"Fig 2")
    await settle_all(app, pilot)


async def test_two_extractors_blinded_then_a_resolver_settles(workspace: Workspace) -> None:
    hcc_review(workspace)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_extraction(app, pilot)
        assert screen.sub_title == "Extraction · ben"
        assert table_rows(screen.query_one("#ex-studies", DataTable)) == [
            ["REACH-2", "0", "0", "0", "2"]
        ]
        await type_os_hazard_ratio(app, pilot, "0.949")
        assert screen.form is not None and screen.form.outcome == "OS"
        assert "● not saved yet (ctrl+s)" in row_notes(screen, OS_HR)
        await press(app, pilot, "ctrl+s")
        assert "✓ 1 value(s) saved as ben's draft (REACH-2 · OS)" in text_of(
            screen.query_one("#ex-message", Static)
        )
        assert table_rows(screen.query_one("#ex-studies", DataTable))[0][1] == "1"
    hr = {"measure": "HR", "estimate": 0.71, "lower": 0.531}
    assert drafts(workspace, "ben") == [{**hr, "upper": 0.949, "_source": "Fig 2"}]

    app = LivingReviewApp(workspace, reviewer="chloe")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_extraction(app, pilot)
        await type_os_hazard_ratio(app, pilot, "0.994")
        notes = row_notes(screen, OS_HR)  # blinded: that ben entered it, never what
        assert "ben entered it · hidden until you save yours" in notes
        assert "0.949" not in notes
        await press(app, pilot, "ctrl+s")
        notes = row_notes(screen, OS_HR)  # both entered: she sees his value beside hers
        assert "ben: HR 0.71 [0.531, 0.949]  [Fig 2]" in notes
        assert "differs" in text_of(row_widget(screen, OS_HR).query_one(".row-label", Static))
        assert table_rows(screen.query_one("#ex-studies", DataTable))[0][1:4] == ["1", "1", "1"]
    assert drafts(workspace, "chloe") == [{**hr, "upper": 0.994, "_source": "Fig 2"}]

    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await open_extraction(app, pilot)
        await press(app, pilot, "x")
        rc = app.screen
        assert isinstance(rc, ReconcileScreen)
        assert table_rows(rc.query_one("#rc-items", DataTable)) == [
            [OS_HR, "differ", "HR 0.71 [0.531, 0.949]", "HR 0.71 [0.531, 0.994]", "—"]
        ]
        assert "source: Fig 2" in text_of(rc.query_one("#rc-x0", Static))
        await press(app, pilot, "v")  # type the final value: checked as typed, Esc cancels
        modal = app.screen
        assert isinstance(modal, FinalValueModal)
        assert modal.query_one("#f-upper", Input).value == "0.949"  # starts from ben's
        modal.query_one("#f-upper", Input).value = "0.6"
        await settle_all(app, pilot)
        assert "does not contain 0.71" in text_of(modal.query_one("#final-issues", Static))
        await press(app, pilot, "enter")  # refused while wrong
        assert isinstance(app.screen, FinalValueModal)
        await press(app, pilot, "escape")
        assert isinstance(app.screen, ReconcileScreen)
        await press(app, pilot, "1")  # ben's value (the CI in the report) becomes final
        assert rc.query_one("#rc-items", DataTable).row_count == 0
        assert "No open discrepancies in REACH-2" in text_of(rc.query_one("#rc-message", Static))
        await press(app, pilot, "escape")
        assert isinstance(app.screen, ExtractionScreen)

    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    [row] = data.rows["contrast"]
    assert (row["reported_upper"], row["source"]) == (0.949, "Fig 2")
    versions = history(engine=workspace.engine, study="REACH-2", key=OS_HR)
    assert [(v["extractor"], v["status"]) for v in versions] == [
        ("ben", "draft"),
        ("chloe", "draft"),
        ("ana", "final"),
    ]


async def test_the_form_checks_as_the_reviewer_types(workspace: Workspace) -> None:
    hcc_review(workspace)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_extraction(app, pilot)
        await press(app, pilot, "enter", "down", "down", "down", "enter")  # ORR (OR)
        assert screen.form is not None and screen.form.outcome == "ORR"
        key = "ORR/binary/placebo"
        await pilot.press(*"12", "tab", *"10")  # events, n
        await settle_all(app, pilot)
        assert "✗ REACH-2, ORR, placebo: events = 12 exceed n = 10" in row_notes(screen, key)
        assert row_widget(screen, key).query_one("#f-events", Input).has_class("-invalid")
        await press(app, pilot, "ctrl+s")
        assert "✗ 1 row(s) have errors (marked red): fix or clear them. Nothing was saved." in (
            text_of(screen.query_one("#ex-message", Static))
        )
        assert drafts(workspace, "ben") == []
        assert app.focused is row_widget(screen, key).query_one("#f-events", Input)
        await pilot.press("tab", "end", "0")  # n = 100: events 12 of 100 is fine
        await settle_all(app, pilot)
        assert "✗" not in row_notes(screen, key)
        assert not row_widget(screen, key).query_one("#f-events", Input).has_class("-invalid")
        await press(app, pilot, "ctrl+s")
        assert drafts(workspace, "ben") == [{"events": 12, "n": 100, "_source": None}]

        # OS: a CI that does not contain the estimate, then one asymmetric on the log scale.
        await press(app, pilot, "escape", "left_square_bracket", "left_square_bracket")
        assert screen.outcome == "OS"
        hr = row_widget(screen, OS_HR)
        hr.query_one("#f-estimate", Input).value = "0.71"
        hr.query_one("#f-lower", Input).value = "0.75"
        hr.query_one("#f-upper", Input).value = "0.949"
        await settle_all(app, pilot)
        where = "REACH-2, OS, ramucirumab vs placebo"
        assert f"✗ {where}: the CI [0.75, 0.949] does not contain 0.71" in row_notes(screen, OS_HR)
        hr.query_one("#f-lower", Input).value = "0.531"
        hr.query_one("#f-upper", Input).value = "1.5"
        await settle_all(app, pilot)
        notes = row_notes(screen, OS_HR)
        assert f"⚠ {where}: the CI [0.531, 1.5] is asymmetric around 0.71 on the log scale" in notes
        assert hr.has_class("-warning") and not hr.has_class("-error")
        await press(app, pilot, "escape", "right_square_bracket", "left_square_bracket")
        hr = row_widget(screen, OS_HR)  # a new form: the unsaved text came back with it
        assert hr.query_one("#f-upper", Input).value == "1.5"
        await press(app, pilot, "ctrl+s")  # a warning does not stop the save
    assert drafts(workspace, "ben")[1] == {
        "measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 1.5, "_source": None,
    }  # fmt: skip


async def test_arms_are_added_by_name_or_alias_and_sizes_checked(workspace: Workspace) -> None:
    hcc_review(workspace, arms=False)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_extraction(app, pilot)
        assert "REACH-2 has no arms yet: press a to add one" in text_of(
            screen.query_one("#ex-message", Static)
        )
        await press(app, pilot, "a")
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"aspirin", "enter")
        await settle_all(app, pilot)
        assert "✗ REACH-2: treatment 'aspirin' is not in the protocol" in text_of(
            screen.query_one("#ex-message", Static)
        )
        for name in ("Cyramza", "placebo"):
            await press(app, pilot, "a")
            await pilot.press(*name, "enter")
            await settle_all(app, pilot)
        assert screen.form is not None and screen.form.arms == ["placebo", "ramucirumab"]
        await press(app, pilot, "enter", "enter")  # the design form's first field
        await pilot.press(*"95", "tab", "tab", *"197", "tab", "tab", *"290")
        await settle_all(app, pilot)
        assert "exceed the total randomised 290" in row_notes(screen, "design/total")
        await pilot.press("backspace", "backspace", *"92")
        await settle_all(app, pilot)
        assert "✗" not in row_notes(screen, "design/total")
        await press(app, pilot, "ctrl+s")
        assert table_rows(screen.query_one("#ex-studies", DataTable))[0][1] == "3"
    assert [v["n"] for v in drafts(workspace, "ben")] == [95, 197, 292]


@pytest.mark.parametrize("screen", [ExtractionScreen, ReconcileScreen, FinalValueModal])
def test_no_key_of_the_screens_hides_a_section_key(screen: type[object]) -> None:
    # Screen bindings win over the app's: one on a section's key would trap the user here.
    section_keys = {s.key for s in SECTIONS} | {"question_mark", "q"}
    own = [b for b in vars(screen).get("BINDINGS", []) if b not in ReviewerScreen.BINDINGS]
    for binding in own:
        assert isinstance(binding, Binding)
        assert not set(binding.key.split(",")) & section_keys, binding

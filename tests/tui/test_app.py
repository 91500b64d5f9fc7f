"""Pilot tests of the Textual shell: dashboard, import, key help, quitting, error reporting.

Each test drives the app as a user would (keys and clicks) on a real workspace, waits for the
thread workers, and checks both what the screen shows and what the store holds.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, DirectoryTree, Input, Select, Static

from living_review.errors import LsrError
from living_review.importing import import_file
from living_review.intake import IntakeResult, import_export
from living_review.status import review_status
from living_review.workspace import Workspace
from living_review_tui import cli
from living_review_tui.app import SECTIONS, LivingReviewApp
from living_review_tui.messages import ImportFinished
from living_review_tui.modals.error import ErrorModal
from living_review_tui.modals.help import HelpModal
from living_review_tui.screens import dashboard
from living_review_tui.screens import import_ as import_screen
from living_review_tui.screens.dashboard import DashboardScreen
from living_review_tui.screens.import_ import ImportScreen

SIZE = (120, 40)

CSV_HEADER = "record_id,title,abstract,authors,year,journal,doi,pmid\n"
CSV_ROWS = (
    'r1,Regorafenib after sorafenib in HCC,,"Bruix J",2017,Lancet,10.1000/a1,28000001\n'
    'r2,Cabozantinib in advanced HCC,,"Abou-Alfa GK",2018,N Engl J Med,10.1000/a2,28000002\n'
    'r3,Ramucirumab after sorafenib,,"Zhu AX",2019,Lancet Oncol,10.1000/a3,28000003\n'
)


def write_csv(folder: Path, name: str = "pubmed-2024-05-01.csv") -> Path:
    """Write a three-record CSV export and return its path."""
    path = folder / name
    path.write_text(CSV_HEADER + CSV_ROWS, encoding="utf-8")
    return path


def widget_text(widget: Widget) -> str:
    """Return what a widget shows on screen, as plain text (lines joined by newlines)."""
    width, height = widget.outer_size
    lines = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text.rstrip() for strip in lines)


async def settle(app: LivingReviewApp, pilot: Pilot[None]) -> None:
    """Wait for the app's workers to end, then for the UI to process what they posted.

    A DirectoryTree keeps a loader worker alive for as long as it is mounted, so "every worker"
    would never complete: wait for the others.
    """
    ours = [w for w in app.workers if not isinstance(w.node, DirectoryTree)]
    # A failed worker is an outcome the tests check on screen, not an error of the test.
    await asyncio.gather(*(w.wait() for w in ours), return_exceptions=True)
    await pilot.pause()


def static_text(app: LivingReviewApp, selector: str) -> str:
    """Return the plain text a Static on the current screen was given (unwrapped)."""
    return str(app.screen.query_one(selector, Static).content)


def table_rows(table: DataTable[object]) -> list[list[str]]:
    """Return a DataTable's cells as plain strings, row by row."""
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_dashboard_shows_title_runs_and_prisma_counts(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_file(workspace.engine, write_csv(tmp_path), database="pubmed", fmt="csv")
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert app.title == workspace.protocol.review.title
        assert screen.sub_title == "Dashboard · ana"
        rows = table_rows(screen.query_one("#runs", DataTable))
        assert len(rows) == 1
        run_id, database, _date, file_name, in_file, new, linked = rows[0]
        assert (run_id, database, file_name) == ("1", "pubmed", "pubmed-2024-05-01.csv")
        assert (in_file, new, linked) == ("3", "3", "0")
        prisma = widget_text(screen.query_one("#identification"))
        assert "Records identified from:" in prisma
        assert "Databases (n = 3)" in prisma
        assert "pubmed (n = 3)" in prisma
        assert "Records removed before screening:" in prisma
        assert f"Duplicate records removed (n = {review_status(workspace).duplicates_removed})" in (
            prisma
        )
        assert "all databases  3" in widget_text(screen.query_one("#records"))
        steps = widget_text(screen.query_one("#next-steps"))
        assert "lsr dedup" in steps
        assert not screen.query_one("#no-runs").display


async def test_empty_workspace_says_how_to_start(workspace: Workspace) -> None:
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one("#runs", DataTable).row_count == 0
        assert app.screen.query_one("#no-runs").display
        assert "Databases (n = 0)" in widget_text(app.screen.query_one("#identification"))


async def test_import_screen_imports_a_csv_and_the_dashboard_follows(
    workspace: Workspace, tmp_path: Path
) -> None:
    export = write_csv(tmp_path)
    messages: list[Message] = []
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        await pilot.press(*str(export))  # the path field has focus on arrival
        await pilot.press("tab", "enter")  # open the database list ...
        await pilot.press("down", "enter")  # ... and pick its first entry, pubmed
        assert screen.query_one("#database", Select).value == "pubmed"
        await pilot.click("#import-button")
        await settle(app, pilot)

        status = review_status(workspace)
        assert status.records == 3
        assert [(r.database, r.file_name, r.new_records) for r in status.search_runs] == [
            ("pubmed", export.name, 3)
        ]
        # The hook sees a message at every node it reaches: the screen, then the app.
        finished = list({id(m): m for m in messages if isinstance(m, ImportFinished)}.values())
        assert len(finished) == 1 and finished[0].result.search_run_id == 1
        result = screen.query_one("#import-result")
        assert result.has_class("-success")
        shown = static_text(app, "#import-result")
        assert f"Imported {export.name} as search run 1" in shown
        assert "records in file 3 · new 3 · linked to existing 0" in shown

        await pilot.press("escape", "d")  # leave the form; d is a command again
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        rows = table_rows(app.screen.query_one("#runs", DataTable))
        assert [row[3] for row in rows] == [export.name]


async def test_the_ui_stays_live_during_an_import_and_runs_one_at_a_time(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = write_csv(tmp_path)
    started, release = threading.Event(), threading.Event()
    calls: list[Path] = []

    def slow_import(engine: Engine, path: Path, **kwargs: Any) -> IntakeResult:
        calls.append(path)
        kwargs["progress"](1, 0.25)
        started.set()
        assert release.wait(10), "the test never released the import"
        return import_export(engine, path, **kwargs)

    monkeypatch.setattr(import_screen, "import_export", slow_import)
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        screen = app.screen
        await pilot.press(*str(export))
        screen.query_one("#database", Select).value = "pubmed"
        await pilot.click("#import-button")
        for _ in range(100):
            if started.is_set():
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        assert screen.query_one("#import-button").disabled
        assert screen.query_one("#import-status").display
        assert "1 records read" in static_text(app, "#import-count")
        await pilot.press("ctrl+s")  # a second start while the first runs is refused
        await pilot.press("escape")
        await pilot.pause(0.2)  # a lone Escape is told from Alt+key by a short wait
        await pilot.press("d")  # the app answers keys while the import thread waits
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("i")
        release.set()
        await settle(app, pilot)
        assert len(calls) == 1
        assert "Imported" in static_text(app, "#import-result")
    assert len(review_status(workspace).search_runs) == 1


async def test_importing_the_same_file_twice_says_so(workspace: Workspace, tmp_path: Path) -> None:
    export = write_csv(tmp_path)
    import_file(workspace.engine, export, database="pubmed", fmt="csv")
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        screen = app.screen
        await pilot.press(*str(export))
        screen.query_one("#database", Select).value = "pubmed"
        await pilot.press("enter")  # Enter in the path field starts the import
        await settle(app, pilot)
        assert "Already imported" in static_text(app, "#import-result")
    assert len(review_status(workspace).search_runs) == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.csv", b""), ("garbage.csv", b"\x00\x9f\x92\x96\xff\xfe garbage \x00\x01")],
)
async def test_a_bad_file_shows_the_core_error_and_changes_nothing(
    workspace: Workspace, tmp_path: Path, name: str, content: bytes
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    messages: list[Message] = []
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await pilot.press("i")
        screen = app.screen
        await pilot.press(*str(bad))
        screen.query_one("#database", Select).value = "embase"
        await pilot.click("#import-button")
        await settle(app, pilot)
        result = screen.query_one("#import-result")
        assert result.has_class("-error")
        shown = static_text(app, "#import-result")
        assert "Import failed; the store is unchanged." in shown
        assert name in shown
        assert not screen.query_one("#import-button").disabled
        assert not [m for m in messages if isinstance(m, Notify)]  # shown in place: no toast
        assert app.is_running  # a user error never ends the app
    assert review_status(workspace).search_runs == []


async def test_import_asks_for_what_is_missing(workspace: Workspace, tmp_path: Path) -> None:
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await pilot.click("#import-button")
        await pilot.pause()
        assert "Choose the file" in static_text(app, "#import-result")
        await pilot.press(*str(write_csv(tmp_path)))
        await pilot.click("#import-button")
        await pilot.pause()
        assert "Choose the database" in static_text(app, "#import-result")
        assert not [w for w in app.workers if w.group == "import"]
    assert review_status(workspace).search_runs == []


async def test_picking_a_file_in_the_browser_fills_the_path(workspace: Workspace) -> None:
    export = write_csv(workspace.searches_dir)
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("i")
        await pilot.press("shift+tab")  # from the path field back to the file browser
        await pilot.pause()
        await pilot.press("down", "enter")  # the root is searches/; its only file is next
        await pilot.pause()
        assert app.screen.query_one("#path", Input).value == str(export)


async def test_help_lists_every_binding_and_q_quits(workspace: Workspace) -> None:
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        rows = table_rows(app.screen.query_one("#help-keys", DataTable))
        listed = {(key, action) for key, action, _tooltip in rows}
        for section in SECTIONS:
            assert (section.key, section.label) in listed
        assert {("?", "Help"), ("q", "Quit")} <= listed
        assert any(action == "Refresh" and "r" in key.lower() for key, action in listed)
        assert all(tooltip for _key, _action, tooltip in rows)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running
    assert app.return_code == 0


def _screen_keys(screen: type[Any]) -> set[str]:
    keys: set[str] = set()
    for binding in screen.BINDINGS:
        assert isinstance(binding, Binding)
        keys |= set(binding.key.split(","))
    return keys


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.mode)
def test_no_screen_traps_the_user(section: Any) -> None:
    # Screen bindings win over the app's. A stage may give a section's letter to its own
    # decision keys (screening: i include, e exclude, n note, as the issue specifies), but the
    # dashboard, help and quit are reachable from every screen, and from the dashboard every
    # section is one key away, so no section is ever more than two keys from anywhere.
    keys = _screen_keys(section.screen)
    assert not keys & {"d", "question_mark", "q"}, section.mode
    if section.mode == "dashboard":
        assert not keys & {s.key for s in SECTIONS}


async def test_every_section_is_a_mode_with_its_key(workspace: Workspace) -> None:
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        for section in reversed(SECTIONS):
            await pilot.press("escape", section.key)
            await pilot.pause()
            assert app.current_mode == section.mode
        await settle(app, pilot)


async def test_a_failing_worker_is_reported_not_fatal(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ws: Workspace) -> None:
        raise RuntimeError("status exploded")

    monkeypatch.setattr(dashboard, "review_status", broken)
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "RuntimeError: status exploded" in static_text(app, "#error-message")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert not app.screen.query_one("#runs").loading
        assert app.is_running


async def test_a_user_error_from_a_worker_is_a_notification(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_ws: Workspace) -> None:
        raise LsrError("the store is locked by another process [lsr]")  # no markup

    monkeypatch.setattr(dashboard, "review_status", refused)
    messages: list[Message] = []
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        notes = list({id(m): m.notification for m in messages if isinstance(m, Notify)}.values())
        assert [(n.message, n.severity) for n in notes] == [
            ("the store is locked by another process [lsr]", "error")
        ]


def test_tui_entry_point_runs_the_app(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[LivingReviewApp] = []
    monkeypatch.setattr(LivingReviewApp, "run", lambda self: ran.append(self))
    cli.tui(workspace, reviewer="ana")
    assert len(ran) == 1
    assert ran[0].workspace is workspace and ran[0].reviewer == "ana"

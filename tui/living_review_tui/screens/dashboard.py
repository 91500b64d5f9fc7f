"""Provides ``DashboardScreen``: search runs, records per database, PRISMA counts, next steps.

Everything shown comes from one call to the core's :func:`~living_review.status.review_status`,
the same function behind ``lsr status``, so the dashboard and the CLI always agree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from living_review.status import RunSummary, Status, review_status
from living_review_tui.messages import StatusLoaded
from living_review_tui.screens.base import ReviewScreen

RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "Run"),
    ("database", "Database"),
    ("date", "Date (UTC)"),
    ("file", "File"),
    ("in_file", "In file"),
    ("new", "New"),
    ("linked", "Linked"),
)


def _number(n: int) -> Text:
    """A count, right-aligned with thousands separators."""
    return Text(f"{n:,}", justify="right")


def _run_row(run: RunSummary) -> tuple[str | Text, ...]:
    """One search run as a table row."""
    return (
        Text(str(run.id), justify="right"),
        run.database,
        run.run_at[:16].replace("T", " "),
        run.file_name or f"({run.origin})",
        _number(run.records_in_file),
        _number(run.new_records),
        _number(run.linked_records),
    )


def identification_text(status: Status) -> Text:
    """The PRISMA 2020 'Identification' boxes, in the template's own words.

    Only what the core computes is shown (registers are not counted, so they are left out
    rather than shown as zero).
    """
    lines = [
        Text("Records identified from:"),
        Text(f"  Databases (n = {status.identified_total:,})"),
        *(
            Text(f"    {database} (n = {n:,})", style="dim")
            for database, n in sorted(status.identified_by_database.items())
        ),
        Text("Records removed before screening:"),
        Text(f"  Duplicate records removed (n = {status.duplicates_removed:,})"),
    ]
    if status.awaiting_dedup:
        lines.append(
            Text(f"    {status.awaiting_dedup:,} records not yet compared", style="yellow")
        )
    return Text("\n").join(lines)


def records_text(status: Status) -> Table:
    """Records held in the store per database, and in all."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column()
    grid.add_column(justify="right")
    for database, n in sorted(status.records_by_database.items()):
        grid.add_row(database, f"{n:,}")
    grid.add_row(Text("all databases", style="bold"), Text(f"{status.records:,}", style="bold"))
    return grid


def next_steps_text(status: Status) -> Text | Table:
    """The core's next steps as a bulleted list (wrapped lines stay indented)."""
    if not status.next_steps:
        return Text("Nothing pending.", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    grid.add_column(ratio=1)
    for step in status.next_steps:
        grid.add_row("•", step)
    return grid


class DashboardScreen(ReviewScreen):
    """The review at a glance; reloads when the store changes or on ``r``."""

    SECTION = "Dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="refresh",
                tooltip="Recompute the dashboard from the store"),
    ]  # fmt: skip

    _stale = False
    """Set when the store changed while another mode was on screen; reload on return."""

    def compose(self) -> ComposeResult:
        """Lay out the PRISMA, counts and next-steps panels above the table of search runs."""
        yield Header()
        with Vertical(id="dashboard"):
            with Grid(id="summary"):
                yield Static(id="identification", classes="panel")
                yield Static(id="records", classes="panel")
                yield Static(id="next-steps", classes="panel")
            table: DataTable[str | Text] = DataTable(
                id="runs", cursor_type="row", zebra_stripes=True
            )
            table.border_title = "Search runs"
            yield table
            yield Static(
                "No search runs yet: press i to import an export.", id="no-runs", classes="hint"
            )
        yield Footer()

    def on_mount(self) -> None:
        """Set up the panels, subscribe to store changes and load the first status."""
        for key, label in RUN_COLUMNS:
            self.query_one("#runs", DataTable).add_column(label, key=key)
        for widget_id, title in (
            ("identification", "PRISMA 2020 · Identification"),
            ("records", "Records in the store"),
            ("next-steps", "Next steps"),
        ):
            self.query_one(f"#{widget_id}").border_title = title
        self.query_one("#runs").loading = True
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.load_status()

    def _store_changed(self, _reason: str) -> None:
        """Reload now if visible, else on the next visit (no work for a hidden screen)."""
        if self.is_current:
            self.load_status()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        """Catch up with changes made while another mode was showing."""
        if self._stale:
            self._stale = False
            self.load_status()

    def action_reload(self) -> None:
        """Recompute the status on request."""
        self.load_status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="status",
          description="Loading the review's status")  # fmt: skip
    def load_status(self) -> None:
        """Compute the status in a thread (it queries the store) and post it to the screen."""
        status = review_status(self.review_app.open_store())
        self.post_message(StatusLoaded(status))

    @on(StatusLoaded)
    def show_status(self, message: StatusLoaded) -> None:
        """Fill every panel from one status."""
        status = message.status
        table = self.query_one("#runs", DataTable)
        table.loading = False
        table.clear()
        for run in status.search_runs:
            table.add_row(*_run_row(run), key=str(run.id))
        if status.search_runs:
            table.move_cursor(row=len(status.search_runs) - 1)
        self.query_one("#no-runs").display = not status.search_runs
        self.query_one("#identification", Static).update(identification_text(status))
        self.query_one("#records", Static).update(records_text(status))
        self.query_one("#next-steps", Static).update(next_steps_text(status))
        self.set_class(not status.search_runs, "-empty")

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Stop the loading indicator; the app reports the error itself."""
        self.query_one("#runs").loading = False
        return False

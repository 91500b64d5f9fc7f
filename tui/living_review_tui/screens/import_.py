"""Provides ``ImportScreen``: pick an export, name its database, import it without blocking.

The import itself is the core's :func:`~living_review.intake.import_export` (one transaction:
all records or none), run in a thread worker; this screen only gathers its arguments, shows
progress and reports what the core returned or raised.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    DirectoryTree,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState

from living_review.dedup.service import PassResult
from living_review.errors import LsrError
from living_review.importing import DATABASES, ImportResult
from living_review.intake import import_export
from living_review.sources.registry import FORMATS
from living_review_tui.messages import ImportFinished, ImportProgress
from living_review_tui.screens.base import ReviewScreen

#: Least time between two progress messages from the worker: smooth, without flooding the UI.
PROGRESS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ImportRequest:
    """What the form asks the core to import."""

    path: Path
    database: str
    fmt: str
    strategy: str | None


class ExportTree(DirectoryTree):
    """A directory tree without hidden files (exports never start with a dot)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Hide dotfiles and dot-folders."""
        return [path for path in paths if not path.name.startswith(".")]


def result_text(result: ImportResult, dedup: PassResult | None = None) -> Text:
    """Say what an import did, in the terms of the PRISMA counts it feeds."""
    name = result.file_name or "the file"
    if result.already_imported:
        return Text.assemble(
            ("Already imported. ", "bold"),
            f"{name} is search run {result.search_run_id} ({result.database}, "
            f"{result.records_in_file:,} records); the store is unchanged.",
        )
    return Text.assemble(
        ("✓ Imported ", "bold"),
        (name, "bold"),
        f" as search run {result.search_run_id} ({result.database}, {result.file_format})\n",
        f"  records in file {result.records_in_file:,} · new {result.new_records:,}"
        f" · linked to existing {result.linked_records:,}",
        *(
            [
                f"\n  duplicates: {dedup.merged_pairs:,} merged automatically, "
                f"{dedup.possible_pairs:,} pairs to review; "
                f"{dedup.counts.unique:,} unique records in the review"
            ]
            if dedup
            else []
        ),
    )


class ImportScreen(ReviewScreen):
    """A form over ``import_file``: file, database, format, query; then progress and result."""

    SECTION = "Import"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start_import", "Import", id="start-import",
                tooltip="Import the chosen file as a new search run"),
        Binding("escape", "leave_field", "Leave field", id="leave-field",
                tooltip="Stop typing, so the single-letter keys (d, i, q, ?) work again"),
    ]  # fmt: skip

    _importing = False
    """True from the start of an import until its worker ends, however it ends."""

    def compose(self) -> ComposeResult:
        """Lay out the file browser beside the form, progress and result."""
        yield Header()
        with Horizontal(id="import"):
            tree = ExportTree(self._browse_root(), id="files")
            tree.border_title = "Files"
            yield tree
            with VerticalScroll(id="import-form", can_focus=False) as form:
                form.border_title = "Import an export"
                yield Label("File", classes="field-label")
                yield Input(placeholder="path to the export (or pick it on the left)", id="path")
                yield Label("Database it was exported from", classes="field-label")
                yield Select(
                    [(name, name) for name in DATABASES], prompt="Choose a database", id="database"
                )
                yield Label("Format", classes="field-label")
                yield Select(
                    [("detect from content", "auto"), *((name, name) for name in FORMATS)],
                    value="auto",
                    allow_blank=False,
                    id="format",
                )
                yield Label("Search query (optional)", classes="field-label")
                yield Input(placeholder="the strategy as run, for the record", id="query")
                with Horizontal(id="import-actions"):
                    yield Button("Import", id="import-button", variant="primary")
                with Vertical(id="import-status"):
                    yield ProgressBar(id="import-progress", show_eta=False)
                    yield Static(id="import-count", classes="hint")
                yield Static(id="import-result")
        yield Footer()

    def _browse_root(self) -> Path:
        """Where the file browser starts: the workspace's searches/ folder, else the cwd."""
        searches = self.review_app.workspace.searches_dir
        return searches if searches.is_dir() else Path.cwd()

    def on_mount(self) -> None:
        """Start on the path field with the progress area hidden."""
        self.query_one("#import-status").display = False
        self.query_one("#path", Input).focus()

    def action_leave_field(self) -> None:
        """Take focus away from the form: letters typed into a field are not key commands."""
        self.set_focus(None)

    @on(DirectoryTree.FileSelected, "#files")
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        """Fill the path field from the browser and move on to the database."""
        self.query_one("#path", Input).value = str(event.path)
        self.query_one("#database", Select).focus()

    @on(Button.Pressed, "#import-button")
    @on(Input.Submitted)
    def action_start_import(self) -> None:
        """Check the form is complete, then start the import in a worker.

        One import at a time: a thread cannot be cancelled, so a second start would run beside
        the first rather than replace it.
        """
        if self._importing:
            self.notify("An import is already running.", severity="warning")
            return
        request = self._request()
        if request is None:
            return
        self._set_running(True)
        result = self.query_one("#import-result", Static)
        result.update("")
        result.remove_class("-error", "-success")
        self.run_import(request)

    def _request(self) -> ImportRequest | None:
        """Read the form; say what is missing instead of starting an import that cannot work."""
        path_text = self.query_one("#path", Input).value.strip()
        database = self.query_one("#database", Select).value
        if not path_text:
            self._show_error("Choose the file to import.")
            self.query_one("#path", Input).focus()
            return None
        if not isinstance(database, str):
            self._show_error("Choose the database this export came from.")
            self.query_one("#database", Select).focus()
            return None
        fmt = self.query_one("#format", Select).value
        query = self.query_one("#query", Input).value.strip()
        return ImportRequest(
            path=Path(path_text).expanduser(),
            database=database,
            fmt=fmt if isinstance(fmt, str) else "auto",
            strategy=query or None,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="import",
          description="Import")  # fmt: skip
    def run_import(self, request: ImportRequest) -> ImportResult:
        """Run the core's import in a thread, posting throttled progress and the result."""
        last = 0.0

        def progress(records_done: int, fraction: float | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL_S:
                last = now
                self.post_message(ImportProgress(records_done, fraction))

        intake = import_export(
            self.review_app.open_store().engine,
            request.path,
            database=request.database,
            fmt=request.fmt,
            strategy=request.strategy,
            actor=self.review_app.reviewer,
            progress=progress,
        )
        self.post_message(ImportFinished(intake.imported, intake.dedup))
        return intake.imported

    @on(ImportProgress)
    def _progress(self, message: ImportProgress) -> None:
        """Move the bar (or keep it indeterminate) and count records read."""
        bar = self.query_one("#import-progress", ProgressBar)
        if message.fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=100 * message.fraction)
        self.query_one("#import-count", Static).update(f"{message.records_done:,} records read")

    @on(ImportFinished)
    def _finished(self, message: ImportFinished) -> None:
        """Show what the core did; the message bubbles on to the app, which refreshes others."""
        self._set_running(False)
        result = self.query_one("#import-result", Static)
        result.update(result_text(message.result, message.dedup))
        result.set_class(True, "-success")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Re-enable the form when an import ends in any way other than success."""
        if event.worker.group == "import" and event.state is WorkerState.CANCELLED:
            self._set_running(False)

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Show the core's error under the form: it names the file and line to fix."""
        if worker.group != "import":
            return False
        self._set_running(False)
        if isinstance(error, LsrError):
            self._show_error(f"✗ Import failed; the store is unchanged.\n{error}")
        else:
            self._show_error(f"✗ Import failed unexpectedly: {type(error).__name__}: {error}")
        return True

    def _show_error(self, text: str) -> None:
        """Show ``text`` in the result area in the error style."""
        result = self.query_one("#import-result", Static)
        result.update(Text(text))
        result.remove_class("-success")
        result.add_class("-error")

    def _set_running(self, running: bool) -> None:
        """Lock the form and show progress while an import runs."""
        self._importing = running
        self.query_one("#import-button", Button).disabled = running
        self.query_one("#import-status").display = running
        if running:
            self.query_one("#import-progress", ProgressBar).update(total=None, progress=0)
            self.query_one("#import-count", Static).update("reading the file…")

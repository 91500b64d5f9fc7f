"""Provides ``LivingReviewApp``: the Textual shell that hosts one screen stack per review stage.

Each stage of the review (dashboard, import; later screening, dedup, extraction, RoB 2, NMA) is
a Textual *mode*: a named screen stack with its own history, reached by one key. Stages are
declared once in :data:`SECTIONS`, from which both ``MODES`` and the key bindings are derived,
so adding a stage is one line there.

The app holds no business rules: screens call the core's service functions in thread workers,
and every worker failure is reported through :meth:`LivingReviewApp.report_worker_error`.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from living_review.errors import LsrError
from living_review.workspace import Workspace
from living_review_tui.messages import ImportFinished
from living_review_tui.modals.error import ErrorModal
from living_review_tui.modals.help import HelpModal, KeyHelp
from living_review_tui.refits import AppRefits, RefitUpdate
from living_review_tui.screens.conflicts import ConflictsScreen
from living_review_tui.screens.dashboard import DashboardScreen
from living_review_tui.screens.dedup import DedupScreen
from living_review_tui.screens.extraction import ExtractionScreen
from living_review_tui.screens.import_ import ImportScreen
from living_review_tui.screens.km import KMScreen
from living_review_tui.screens.nma import NMAScreen
from living_review_tui.screens.rob2 import RoB2Screen
from living_review_tui.screens.screening import FullTextScreen, ScreeningScreen


@dataclass(frozen=True)
class Section:
    """One stage of the review: a mode, the key that opens it and its base screen."""

    mode: str
    """The mode's name, also the binding's ``id`` (so users can remap it by name)."""
    key: str
    """The key that switches to this mode."""
    label: str
    """Short name shown in the footer and the help."""
    tooltip: str
    """One sentence saying what the stage is for."""
    screen: Callable[[], Screen[Any]]
    """Builds the mode's base screen (a Screen class)."""

    def binding(self) -> Binding:
        """Return the global binding that switches to this section.

        In the footer the section keys share one compact group (``d i p s f c  Go to``), so a
        stage screen's own keys stay visible at 120 columns; the key help (``?``) still lists
        each section with its label and tooltip.
        """
        return Binding(
            self.key, f"switch_mode({self.mode!r})", self.label, id=self.mode,
            tooltip=self.tooltip, group=SECTION_KEYS,
        )  # fmt: skip


#: The footer's one group of section keys (see :meth:`Section.binding`).
SECTION_KEYS = Binding.Group("Go to")


#: The review's stages in footer order; one line per stage (screens for screening, dedup,
#: extraction, RoB 2 and NMA are added here when they exist).
SECTIONS: tuple[Section, ...] = (
    Section("dashboard", "d", "Dashboard", "Search runs, record counts, PRISMA identification", DashboardScreen),  # noqa: E501
    Section("import", "i", "Import", "Import a database export as a new search run", ImportScreen),  # noqa: E501
    Section("dedup", "p", "Duplicates", "Review possible duplicate pairs side by side; split merges", DedupScreen),  # noqa: E501
    Section("screening", "s", "Screen", "Title/abstract screening: your queue, one key per decision", ScreeningScreen),  # noqa: E501
    Section("fulltext", "f", "Full text", "Full-text screening: exclusions with the protocol's reasons", FullTextScreen),  # noqa: E501
    Section("conflicts", "c", "Conflicts", "Resolve screening conflicts (leads and third reviewers)", ConflictsScreen),  # noqa: E501
    Section("extraction", "e", "Extract", "Data extraction: a form per study and outcome, checked as you type; reconcile", ExtractionScreen),  # noqa: E501
    Section("rob2", "r", "RoB 2", "Risk of bias (RoB 2): one question at a time, judgements proposed live; consensus", RoB2Screen),  # noqa: E501
    Section("nma", "n", "NMA", "Network meta-analysis per outcome, refitted live; versions and what changed", NMAScreen),  # noqa: E501
    Section("km", "k", "KM", "Survival: digitised KM curves per arm, reconstructed IPD, RMST contrasts", KMScreen),  # noqa: E501
)  # fmt: skip


class LivingReviewApp(App[None]):
    """The living-review terminal app for one workspace and (optionally) one reviewer."""

    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        s.mode: s.screen for s in SECTIONS
    }
    DEFAULT_MODE: ClassVar[str] = SECTIONS[0].mode
    BINDINGS: ClassVar[list[BindingType]] = [
        *(s.binding() for s in SECTIONS),
        Binding("question_mark", "help", "Help", key_display="?", id="help",
                tooltip="List every key and what it does"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave living-review"),
    ]  # fmt: skip

    def __init__(self, workspace: Workspace, *, reviewer: str | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        """The review this app shows; screens reach the store only through the core."""
        self.reviewer = reviewer
        """Who is working, recorded by the core as the actor of imports and decisions."""
        self.store_changed: Signal[str] = Signal(self, "store-changed")
        """Published (with a reason) whenever a screen changed the store, so others reload."""
        self._store_lock = threading.Lock()
        self.refits = AppRefits(self)
        """The background NMA refits: app-wide, so they follow the store on every screen."""
        self.title = workspace.protocol.review.title
        self.sub_title = f"reviewer: {reviewer}" if reviewer else str(workspace.root)

    def open_store(self) -> Workspace:
        """Return the workspace with its store open; safe to call from several worker threads.

        Opening the store runs migrations; ``Workspace.engine`` opens lazily and is not guarded,
        so two workers starting together must not both open it.
        """
        with self._store_lock:
            self.workspace.engine  # noqa: B018 - opens and migrates the store once
        return self.workspace

    @on(ImportFinished)
    def _import_finished(self, message: ImportFinished) -> None:
        """Tell every screen showing the store that an import changed it."""
        if not message.result.already_imported:
            self.store_changed.publish("import")

    def on_mount(self) -> None:
        """Start following the store for refits (the worker process starts when needed)."""
        self.refits.start()

    def on_unmount(self) -> None:
        """Stop the refit worker process with the app."""
        self.refits.stop()

    @on(RefitUpdate)
    def _refit_update(self, message: RefitUpdate) -> None:
        self.refits.handle(message.event)

    def report_worker_error(self, worker: Worker[Any], *, shown_in_place: bool = False) -> None:
        """Show a failed worker's error: the one place where background failures surface.

        A user error (``LsrError``) is a message that says what to fix, shown as a notification
        unless the screen on view already shows it next to what caused it; anything else is a
        bug in living-review, shown in a modal with its traceback so it can be reported.
        """
        error = worker.error
        what = worker.description or worker.name or "background task"
        if isinstance(error, LsrError):
            if shown_in_place:
                return
            self.notify(
                str(error), title=f"{what} failed", severity="error", timeout=10, markup=False
            )
            return
        detail = "".join(traceback.format_exception(error)) if error else ""
        self.push_screen(
            ErrorModal(
                title=f"{what} failed unexpectedly",
                message=f"{type(error).__name__}: {error}",
                detail=detail,
            )
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report failures of workers the app itself owns."""
        if event.state is WorkerState.ERROR:
            self.report_worker_error(event.worker)

    def action_help(self) -> None:
        """Open the key help for the screen the user is on."""
        if isinstance(self.screen, HelpModal):
            return
        rows = [
            KeyHelp(
                key=self.get_key_display(active.binding),
                description=active.binding.description,
                tooltip=active.tooltip or active.binding.tooltip,
            )
            for active in self.screen.active_bindings.values()
            if active.binding.show and active.binding.description
        ]
        self.push_screen(HelpModal(rows))

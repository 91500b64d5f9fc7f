"""Provides the screening screens: one reviewer's title/abstract or full-text queue, by key.

A reviewer sees one record at a time (title, authors, journal and year, the abstract with the
protocol's include and exclude terms highlighted) and decides with one key: ``i`` include,
``e`` exclude (at full text through a picker of the protocol's exclusion reasons), ``m`` maybe,
``u`` undo, ``n`` note, ``space`` skip.

Speed. A decision must paint the next record within 50 ms. The screen therefore keeps the
*next* record ready: whenever a record is shown, the core's cursor query
(:func:`~living_review.screening.queue.next_record` with ``after=``) and its record view are
fetched in the background, so a key press swaps the prefetched record in at once while the
decision is written behind it. The whole queue is never reloaded on a key.

Order. Writes and reads go through one serial job queue drained by a thread worker, so a
decision is always committed before the undo that withdraws it and before the cursor query
that follows it; a key only ever decides the record on screen (no type-ahead onto records
the reviewer has not seen).

Blinding lives in the core: the screen shows another reviewer's decision only when the core's
:func:`~living_review.screening.queue.record_view` returns it (``others`` is not None).
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from sqlmodel import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from living_review.errors import LsrError
from living_review.protocol import ExclusionReason, Protocol
from living_review.screening import STAGE_LABELS
from living_review.screening.decisions import DecisionResult, record_decision, undo_decision
from living_review.screening.queue import (
    Progress,
    RecordView,
    next_record,
    progress,
    record_view,
    sync_assignments,
)
from living_review.screening.rerank import MIN_TRAINING, rerank_in_child
from living_review.screening.reviewers import ReviewerInfo, get_reviewer, reviewers
from living_review.screening.stopping import StoppingEstimate
from living_review.store.models import PriorityRanking
from living_review_tui.screens.base import ReviewScreen

#: Quiet time after the last write before the progress counts are recomputed by the core.
PROGRESS_DELAY_S = 0.3
#: Decisions saved on this screen between two retrains (an include retrains at once).
RERANK_EVERY = 10
#: Authors listed before "et al." (the full list is in the store; one line is enough to screen).
MAX_AUTHORS = 8


# --- term highlighting --------------------------------------------------------------------------


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """Compile the protocol's screening terms into one case-insensitive whole-word pattern.

    Whole words, so that "review" does not light up "reviewer"; a term ending in ``*`` is a
    stem ("randomi*" matches "randomised" and "randomization"), and the spaces of a phrase
    match any run of white space (abstracts are wrapped). Longer terms are tried first so a
    phrase wins over a word it contains. Returns None when there are no terms.
    """
    parts = []
    for term in sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True):
        stem = term.endswith("*")
        words = term.rstrip("*").split()
        if not words:
            continue
        body = r"\s+".join(re.escape(w) for w in words)
        parts.append(body + (r"\w*" if stem else ""))
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class TermHighlighter:
    """The protocol's include and exclude terms, compiled once per screen."""

    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None

    @classmethod
    def from_protocol(cls, protocol: Protocol) -> TermHighlighter:
        """Compile ``[eligibility] include_terms`` and ``exclude_terms``."""
        eligibility = protocol.eligibility
        return cls(term_pattern(eligibility.include_terms), term_pattern(eligibility.exclude_terms))

    def apply(self, text: Text, include_style: Style, exclude_style: Style) -> Text:
        """Style every include and exclude term in ``text`` (in place) and return it."""
        for pattern, style in ((self.include, include_style), (self.exclude, exclude_style)):
            if pattern is not None:
                for match in pattern.finditer(text.plain):
                    text.stylize(style, match.start(), match.end())
        return text


class TermText(Static):
    """A Static whose include/exclude highlight colours come from the stylesheet (themeable)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"term--include", "term--exclude"}
    DEFAULT_CSS = """
    TermText > .term--include {
        background: $success 40%;
        text-style: bold;
    }
    TermText > .term--exclude {
        background: $error 45%;
        text-style: bold underline;
    }
    """

    def show(self, text: str | None, highlighter: TermHighlighter, *, style: str = "") -> None:
        """Show ``text`` with the terms highlighted in the two colours (or a dim placeholder)."""
        if not text:
            self.update(Text("(none)", style="dim italic"))
            return
        include = self.get_component_rich_style("term--include", partial=True)
        exclude = self.get_component_rich_style("term--exclude", partial=True)
        self.update(highlighter.apply(Text(text, style=style), include, exclude))


def meta_text(fields: dict[str, Any]) -> Text:
    """Authors on one line; journal, year and the identifiers on the next."""
    authors = list(fields.get("authors") or [])
    shown = ", ".join(authors[:MAX_AUTHORS]) + (" et al." if len(authors) > MAX_AUTHORS else "")
    where = " ".join(
        str(v)
        for v in (fields.get("journal"), fields.get("year"))
        if v is not None and str(v).strip()
    )
    ids = [f"{label} {fields[key]}" for key, label in (("pmid", "PMID"), ("doi", "DOI"))
           if fields.get(key)]  # fmt: skip
    second = Text(where, style="bold")
    for ident in ids:
        second.append(" · " if second else "", style="dim").append(ident, style="dim")
    return Text("\n").join([Text(shown or "(no authors)", style="italic"), second])


def report_text(report: dict[str, Any] | None) -> Text:
    """Where the full text is (PDF path, URL), as the core's record view gives it."""
    if report is None or not (report.get("pdf_path") or report.get("url")):
        return Text("No full text linked (lsr fulltext link RECORD --pdf PATH | --url URL).",
                    style="dim")  # fmt: skip
    lines = []
    if report.get("pdf_path"):
        lines.append(Text.assemble(("PDF  ", "bold"), str(report["pdf_path"])))
    if report.get("url"):
        url = str(report["url"])
        lines.append(Text.assemble(("URL  ", "bold"), Text(url, style=f"link {url}")))
    if report.get("registry_id"):
        lines.append(Text.assemble(("Trial  ", "bold"), str(report["registry_id"])))
    return Text("\n").join(lines)


def status_text(view: RecordView, note: str | None) -> Text:
    """The viewer's own decision, their pending note, and others' only if the core shows them."""
    parts: list[Text] = []
    if view.own is not None:
        reason = f" ({view.own['reason']})" if view.own.get("reason") else ""
        parts.append(Text.assemble(("Your decision: ", "bold"), f"{view.own['decision']}{reason}"))
    if note:
        parts.append(Text.assemble(("Note: ", "bold"), note))
    if view.others is not None:  # None means blinded: nothing about the others is shown
        others = "; ".join(
            f"{o['reviewer']}: {o['decision']}" + (f" ({o['reason']})" if o.get("reason") else "")
            for o in view.others
        )
        parts.append(Text.assemble(("Others: ", "bold"), others or "none yet"))
        if view.status:
            parts.append(Text.assemble(("Record: ", "bold"), view.status))
    return Text("   ").join(parts)


# --- modals -----------------------------------------------------------------------------------


class PickerModal(ModalScreen[str | None]):
    """A titled list to pick one entry from by arrows and Enter (Esc cancels)."""

    DEFAULT_CSS = """
    PickerModal {
        align: center middle;
    }
    PickerModal OptionList {
        height: auto;
        max-height: 20;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel-pick",
                tooltip="Close, choosing nothing"),
    ]  # fmt: skip

    def __init__(self, title: str, options: Sequence[tuple[str, str | Text]], hint: str) -> None:
        super().__init__()
        self.picker_title = title
        """The dialog's border title: what is being chosen."""
        self.options = list(options)
        """``(value, label)`` pairs; the value is what the modal returns."""
        self.hint = hint
        """One line under the list saying what picking does."""

    def compose(self) -> ComposeResult:
        """A bordered dialog with the list and a hint."""
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.picker_title
            yield OptionList(*(Option(label, id=value) for value, label in self.options))
            yield Static(self.hint, classes="dialog-hint")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ReasonPicker(PickerModal):
    """The protocol's full-text exclusion reasons: PRISMA counts excluded reports by these."""

    def __init__(self, reasons: Sequence[ExclusionReason], *, title: str = "Exclude: why?") -> None:
        super().__init__(
            title,
            [(r.code, Text.assemble(r.label, (f"  {r.code}", "dim"))) for r in reasons],
            "Enter records the exclusion with this reason; Esc goes back without deciding.",
        )


class ReviewerPicker(PickerModal):
    """Who is working, asked once when ``lsr tui`` was started without ``--reviewer``."""

    def __init__(self, people: Sequence[ReviewerInfo]) -> None:
        super().__init__(
            "Who is screening?",
            [(p.name, Text.assemble(p.name, (f"  {p.role}", "dim"))) for p in people],
            "Decisions are recorded under this name (start with lsr tui --reviewer NAME to skip).",
        )


class NoteModal(ModalScreen[str | None]):
    """One line of free text (a note kept with a decision or a resolution)."""

    DEFAULT_CSS = """
    NoteModal {
        align: center middle;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel-note",
                tooltip="Close, keeping nothing"),
    ]  # fmt: skip

    def __init__(self, title: str, value: str = "", *, hint: str = "") -> None:
        super().__init__()
        self.note_title = title
        """The dialog's border title."""
        self.value = value
        """The text the field starts with (an earlier note, to edit)."""
        self.hint = hint or "Enter keeps the note; Esc cancels."
        """What Enter does here."""

    def compose(self) -> ComposeResult:
        """A bordered dialog with one input."""
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.note_title
            yield Input(self.value, placeholder="type here", id="note-input")
            yield Static(self.hint, classes="dialog-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())


# --- the job queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenJob:
    """Enter the stage: find the reviewer, assign new records (``sync_assignments``)."""

    job_id: int
    reviewer: str


@dataclass(frozen=True)
class DecideJob:
    """Record a decision on the record ``view`` shows."""

    job_id: int
    view: RecordView
    decision: str
    reason: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class UndoJob:
    """Withdraw the reviewer's current decision on the record ``view`` shows."""

    job_id: int
    view: RecordView


@dataclass(frozen=True)
class LoadJob:
    """Fetch a record view: ``record_id`` itself, or the next in the queue after ``after``."""

    job_id: int
    after: int | None = None
    record_id: int | None = None


Job = OpenJob | DecideJob | UndoJob | LoadJob


class Opened(Message):
    """The stage is open for this reviewer (records assigned)."""

    def __init__(self, job: OpenJob, reviewer: ReviewerInfo) -> None:
        super().__init__()
        self.job = job
        self.reviewer = reviewer


class Loaded(Message):
    """A record view was fetched (``view`` is None when the queue is empty)."""

    def __init__(self, job: LoadJob, view: RecordView | None) -> None:
        super().__init__()
        self.job = job
        self.view = view


class Saved(Message):
    """A decision or undo was committed."""

    def __init__(self, job: DecideJob | UndoJob, result: DecisionResult) -> None:
        super().__init__()
        self.job = job
        self.result = result


class JobFailed(Message):
    """The core refused a job (a user error: the message says why)."""

    def __init__(self, job: Job, error: LsrError) -> None:
        super().__init__()
        self.job = job
        self.error = error


class ProgressLoaded(Message):
    """The core's counts for this reviewer and stage."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class PriorityLoaded(Message):
    """The queue was re-ranked (or not yet: ``ranking`` None) and the stopping estimate."""

    def __init__(self, ranking: PriorityRanking | None, estimate: StoppingEstimate) -> None:
        super().__init__()
        self.ranking = ranking
        self.estimate = estimate


class ReviewersLoaded(Message):
    """The review's reviewers, to ask who is working."""

    def __init__(self, people: list[ReviewerInfo]) -> None:
        super().__init__()
        self.people = people


@dataclass
class JobQueue:
    """Jobs waiting for the one writer thread, and whether that thread is running."""

    pending: deque[Job] = field(default_factory=deque)
    running: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- choosing the reviewer ------------------------------------------------------------------------


class ReviewerScreen(ReviewScreen):
    """A stage screen that needs to know who is working, asking once if the app was not told.

    The choice is the app's (``LivingReviewApp.reviewer``), so every stage and the import's
    audit trail use it; a screen started for another name restarts for the new one when shown.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "choose_reviewer", "Reviewer", id="choose-reviewer", show=False,
                tooltip="Choose who is working (decisions are recorded under this name)"),
    ]  # fmt: skip

    _asking = False
    _asked = False
    started_for: str | None = None
    """The reviewer the screen's work was started for."""

    def ensure_reviewer(self) -> None:
        """Start the screen's work for the app's reviewer, or ask who is working (once).

        Called on mount and on every resume; starting again only when the reviewer changed.
        """
        name = self.review_app.reviewer
        if name:
            self.sub_title = f"{self.SECTION} · {name}"
            if self.started_for != name:
                self.started_for = name
                self.reviewer_ready(name)
        elif not self._asked:
            self._asked = True
            self.action_choose_reviewer()

    def action_choose_reviewer(self) -> None:
        """List the review's reviewers (from the core) to pick from."""
        if not self._asking:
            self._asking = True
            self.load_reviewers()

    @work(thread=True, exclusive=True, exit_on_error=False, group="reviewers",
          description="Listing the reviewers")  # fmt: skip
    def load_reviewers(self) -> None:
        """Read the reviewers (protocol and added ones) in a thread."""
        try:
            ws = self.review_app.open_store()
            self.post_message(ReviewersLoaded(list(reviewers(ws.engine, ws.protocol).values())))
        except BaseException:
            self._asking = False
            raise

    @on(ReviewersLoaded)
    def _reviewers_loaded(self, message: ReviewersLoaded) -> None:
        if not message.people:
            self._asking = False
            self.show_message(
                "This review has no reviewers yet: name them in protocol/review.toml "
                "([[reviewers]]) or run 'lsr reviewer add NAME'.",
                error=True,
            )
            return
        self.app.push_screen(ReviewerPicker(message.people), self._reviewer_picked)

    def _reviewer_picked(self, name: str | None) -> None:
        """Remember the choice app-wide, then start this screen's work for it."""
        self._asking = False
        if name:
            self.review_app.reviewer = name
            self.review_app.sub_title = f"reviewer: {name}"
            self.ensure_reviewer()
        elif not self.review_app.reviewer:
            self.show_message("No reviewer chosen: press w to choose who is working.")

    def reviewer_ready(self, name: str) -> None:
        """Hook: start the screen's work for ``name``."""

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Hook: say something in place (a hint, or a user error)."""


# --- the screening screen -------------------------------------------------------------------------


def priority_text(ranking: PriorityRanking | None, estimate: StoppingEstimate) -> Text:
    """What orders the queue, and the stopping rule's statement (the lead decides a stop)."""
    if ranking is None:
        order = Text(
            f"Order: record order until {MIN_TRAINING} reconciled decisions include both "
            "includes and excludes",
            style="dim",
        )
    else:
        order = Text(
            f"Order: predicted relevance ({ranking.model}, learnt from "
            f"{ranking.training_size:,} decisions, {ranking.n_includes:,} includes)"
        )
    if estimate.screened == 0:
        return order
    style = "bold green" if estimate.reached else "yellow"
    return Text.assemble(order, " · ", (estimate.sentence(), style))


class ScreeningScreen(ReviewerScreen):
    """One reviewer's queue at one stage (title/abstract here; full text in the subclass)."""

    SECTION = "Screening"
    STAGE: ClassVar[str] = "ta"
    """The stage this screen screens: "ta" (title/abstract) or "ft" (full text)."""
    CSS_PATH = "screening.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "decide('include')", "Include", id="include",
                tooltip="Include this record; the next one shows at once"),
        Binding("e", "decide('exclude')", "Exclude", id="exclude",
                tooltip="Exclude this record (at full text: pick the protocol's reason)"),
        Binding("m", "decide('maybe')", "Maybe", id="maybe",
                tooltip="Unsure: a conflict for a resolver, or an include, as the protocol says"),
        Binding("u", "undo", "Undo", id="undo",
                tooltip="Withdraw your last decision and show that record again"),
        Binding("n", "note", "Note", id="note",
                tooltip="A note kept with your decision on this record"),
        Binding("space", "skip", "Skip", id="skip",
                tooltip="Leave this record for later (it comes back at the end)"),
        Binding("down,j", "scroll('down')", "Scroll", show=False, id="scroll-down",
                tooltip="Scroll the abstract down"),
        Binding("up,k", "scroll('up')", "Scroll up", show=False, id="scroll-up",
                tooltip="Scroll the abstract up"),
        Binding("pagedown", "scroll('page_down')", "Page down", show=False, id="page-down",
                tooltip="Scroll the abstract a page down"),
        Binding("pageup", "scroll('page_up')", "Page up", show=False, id="page-up",
                tooltip="Scroll the abstract a page up"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.current: RecordView | None = None
        """The record on screen: the one every decision key applies to."""
        self.reviewer: ReviewerInfo | None = None
        """Who screens here, as the core knows them (set when the stage opens)."""
        self._jobs = JobQueue()
        self._ids = count(1)
        self._highlighter = TermHighlighter(None, None)
        self._prefetched: tuple[int, RecordView | None] | None = None
        """(record it follows, next view) once the prefetch for the current record is back."""
        self._prefetch_job: int | None = None
        self._refresh_job: int | None = None
        self._show_job: int | None = None
        """The load the screen waits for to show a record; keys are refused meanwhile."""
        self._history: list[tuple[RecordView, str]] = []
        """Records decided on this screen, newest last: what ``u`` brings back."""
        self._note: str | None = None
        self._writes_in_flight = 0
        self._tally: Counter[str] = Counter()
        self._progress: Progress | None = None
        self._progress_timer: Timer | None = None
        self._stale = False
        self._since_rank = 0

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """The record (title, meta, abstract), full text, own status, then progress."""
        yield Header()
        with Vertical(id="screening"):
            with VerticalScroll(id="record", can_focus=False) as record:
                record.border_title = STAGE_LABELS[self.STAGE].capitalize()
                yield TermText(id="record-title")
                yield Static(id="record-meta")
                yield TermText(id="abstract")
            fulltext = Static(id="fulltext", classes="panel")
            fulltext.border_title = "Full text"
            fulltext.display = self.STAGE == "ft"
            yield fulltext
            yield Static(id="record-status")
            with Horizontal(id="screening-progress"):
                yield ProgressBar(id="progress", show_eta=False)
                yield Static(id="counts")
            yield Static(id="priority", classes="hint")
            yield Static(id="screen-message", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Compile the highlighter, follow store changes, then open the stage for the reviewer."""
        self._highlighter = TermHighlighter.from_protocol(self.review_app.workspace.protocol)
        self.query_one("#record").display = False
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.ensure_reviewer()

    def reviewer_ready(self, name: str) -> None:
        """Open the stage for ``name``: assign new records, load the first, count progress.

        Starting over (another reviewer was chosen) forgets this screen's session: its undo
        history and tallies were another person's. ``reviewer`` is replaced by the open job, in
        order with the jobs queued before it.
        """
        self.current = None
        self._prefetched = None
        self._history.clear()
        self._tally.clear()
        self._progress = None
        self._stale = False
        self.query_one("#record").display = False
        self.show_message(f"Opening {STAGE_LABELS[self.STAGE]} screening for {name}…")
        self._show_job = self._enqueue(OpenJob(next(self._ids), name)).job_id

    # -- keys -------------------------------------------------------------------------------------

    def action_decide(self, decision: str) -> None:
        """Decide the record on screen; at full text an exclusion asks for its reason first."""
        view = self._ready()
        if view is None:
            return
        if decision == "exclude" and self.STAGE == "ft":
            reasons = self.review_app.workspace.protocol.exclusion_reasons
            self.app.push_screen(
                ReasonPicker(reasons),
                lambda code: self._decide(view, "exclude", code) if code else None,
            )
            return
        self._decide(view, decision, None)

    def _decide(self, view: RecordView, decision: str, reason: str | None) -> None:
        """Write the decision behind the scenes and show the next record now."""
        if view is not self.current:  # the record changed while a picker was open
            return
        self._writes_in_flight += 1
        self._enqueue(DecideJob(next(self._ids), view, decision, reason, self._note))
        self._tally[decision] += 1
        if view.own is None:  # it leaves the queue: count it now, the core recounts later
            self._count_decided(+1)
        self._history.append((view, decision))
        self._advance_from(view)

    def action_skip(self) -> None:
        """Move on without deciding (the core's cursor brings the record back at the end)."""
        view = self._ready()
        if view is not None:
            self._advance_from(view)

    def action_undo(self) -> None:
        """Withdraw the last decision made here and show that record again to decide anew."""
        if self._show_job is not None:
            self.app.bell()
            return
        if not self._history:
            self.app.bell()
            self.show_message("Nothing to undo on this screen.")
            return
        view, decision = self._history.pop()
        self._tally[decision] -= 1
        self._writes_in_flight += 1
        self._enqueue(UndoJob(next(self._ids), view))
        self._count_decided(-1)
        self._show(view)
        self.show_message(f"Decision on record {view.id} withdrawn: decide it again.")

    def action_note(self) -> None:
        """Ask for a note; it is stored with the next decision on this record."""
        view = self._ready()
        if view is None:
            return

        def keep(note: str | None) -> None:
            if note is not None and view is self.current:
                self._note = note or None
                self._paint_status()

        self.app.push_screen(
            NoteModal(f"Note on record {view.id}", self._note or "",
                      hint="Enter keeps the note; it is saved with your decision on this record."),
            keep,
        )  # fmt: skip

    def action_scroll(self, how: str) -> None:
        """Scroll the record (the screen keeps focus, so the decision keys always work)."""
        record = self.query_one("#record", VerticalScroll)
        {"down": record.scroll_down, "up": record.scroll_up, "page_down": record.scroll_page_down,
         "page_up": record.scroll_page_up}[how]()  # fmt: skip

    def _ready(self) -> RecordView | None:
        """The record a key applies to, or None (with a bell) while none is on screen."""
        if self.current is None or self._show_job is not None:
            self.app.bell()
            return None
        return self.current

    def _advance_from(self, view: RecordView) -> None:
        """Show the record after ``view``: the prefetched one at once, else load it."""
        ready = self._prefetched
        if ready is not None and ready[0] == view.id and ready[1] is not None:
            upcoming = ready[1]
            if upcoming.id != view.id:
                self._show(upcoming)
                # It was read when the previous record appeared: read it again behind the
                # scenes (a PDF linked or a lead unblinding meanwhile) and repaint if it changed.
                self._refresh_job = self._enqueue(
                    LoadJob(next(self._ids), record_id=upcoming.id)
                ).job_id
                return
        # The prefetch is not back, or ``view`` may be the last record: ask after the write.
        self.current = None
        self._show_job = self._enqueue(LoadJob(next(self._ids), after=view.id)).job_id

    # -- showing -----------------------------------------------------------------------------------

    def _show(self, view: RecordView | None) -> None:
        """Make ``view`` the record on screen (or the empty queue) and prefetch the next."""
        self.current = view
        self._note = None
        self._prefetched = None
        self._show_job = None
        self._refresh_job = None
        record = self.query_one("#record", VerticalScroll)
        if view is None:
            record.display = False
            self.query_one("#fulltext").display = False
            self.query_one("#record-status", Static).update("")
            who = self.reviewer.name if self.reviewer else "you"
            self.show_message(
                f"Nothing left to screen at {STAGE_LABELS[self.STAGE]} for {who}. "
                + ("Records reach full text once included at title/abstract." if self.STAGE == "ft"
                   else "New records arrive with the next import.")
            )  # fmt: skip
            return
        self._repaint(view)
        record.scroll_home(animate=False)
        self.show_message("")
        self._prefetch_job = self._enqueue(LoadJob(next(self._ids), after=view.id)).job_id

    def _repaint(self, view: RecordView) -> None:
        """Paint the record panel, the full-text panel and the status line from ``view``."""
        self.current = view
        fields = view.fields
        record = self.query_one("#record", VerticalScroll)
        record.display = True
        record.border_title = f"Record {view.id} · {STAGE_LABELS[self.STAGE]}"
        record.border_subtitle = " · ".join(
            str(v) for v in (fields.get("database"), fields.get("source_key")) if v
        )
        self.query_one("#record-title", TermText).show(
            fields.get("title") or "(no title)", self._highlighter, style="bold"
        )
        self.query_one("#record-meta", Static).update(meta_text(fields))
        self.query_one("#abstract", TermText).show(fields.get("abstract"), self._highlighter)
        fulltext = self.query_one("#fulltext", Static)
        fulltext.display = self.STAGE == "ft" or view.report is not None
        fulltext.update(report_text(view.report))
        self._paint_status()

    def _paint_status(self) -> None:
        if self.current is not None:
            self.query_one("#record-status", Static).update(status_text(self.current, self._note))

    def _count_decided(self, delta: int) -> None:
        """Move the counts with a key at once; the core's recount replaces them when writes pause.

        Counting the queue is a scan (about 0.1 s at 100,000 records), too slow for every key.
        """
        p = self._progress
        if p is not None:
            self._progress = Progress(p.assigned, min(p.assigned, max(0, p.decided + delta)))
            self._paint_progress()

    def _paint_progress(self) -> None:
        """The bar and the counts: the core's figures, plus what this screen did."""
        p = self._progress
        if p is None:
            return
        self.query_one("#progress", ProgressBar).update(
            total=max(p.assigned, 1), progress=p.decided
        )
        tally = " ".join(f"{d} {self._tally[d]}" for d in ("include", "exclude", "maybe"))
        self.query_one("#counts", Static).update(
            Text.assemble(
                (f"{p.decided:,} of {p.assigned:,} decided", "bold"),
                f" · {p.remaining:,} left · this session: {tally}",
            )
        )

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Say something under the record (a hint, or the core's refusal)."""
        message = self.query_one("#screen-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")

    # -- the job queue -----------------------------------------------------------------------------

    def _enqueue(self, job: Job) -> Job:
        """Queue a job for the writer thread, starting it when idle; returns the job."""
        with self._jobs.lock:
            self._jobs.pending.append(job)
            start = not self._jobs.running
            self._jobs.running = True
        if start:
            self._drain()
        return job

    @work(thread=True, exit_on_error=False, group="screening-jobs",
          description="Screening")  # fmt: skip
    def _drain(self) -> None:
        """Run queued jobs one after another until none is left, then end.

        The thread ends when the queue is empty (a later job starts a new one), so no worker
        outlives the work. A user error fails only its job; anything else ends the thread
        (the app reports it) and drops the jobs behind it, which were built on it.
        """
        try:
            while True:
                with self._jobs.lock:
                    if not self._jobs.pending:
                        self._jobs.running = False
                        return
                    job = self._jobs.pending.popleft()
                try:
                    self._run(job)
                except LsrError as error:
                    self.post_message(JobFailed(job, error))
        except BaseException:
            with self._jobs.lock:
                self._jobs.pending.clear()
                self._jobs.running = False
            raise

    def _run(self, job: Job) -> None:
        """Run one job against the core (in the writer thread) and post what it returned."""
        ws = self.review_app.open_store()
        engine, protocol, stage = ws.engine, ws.protocol, self.STAGE
        if isinstance(job, OpenJob):
            who = get_reviewer(engine, protocol, job.reviewer)
            sync_assignments(engine=engine, protocol=protocol, stage=stage)
            self.reviewer = who
            self.post_message(Opened(job, who))
            self._run(LoadJob(job.job_id))
        elif isinstance(job, DecideJob):
            result = record_decision(
                engine=engine, protocol=protocol, record_id=job.view.id, stage=stage,
                reviewer=job.view.viewer, decision=job.decision, reason=job.reason, note=job.note,
            )  # fmt: skip
            self.post_message(Saved(job, result))
        elif isinstance(job, UndoJob):
            result = undo_decision(
                engine=engine, protocol=protocol, record_id=job.view.id, stage=stage,
                reviewer=job.view.viewer,
            )  # fmt: skip
            self.post_message(Saved(job, result))
        elif self.reviewer is not None:  # a load queued behind a failed open has no reviewer
            rid = job.record_id
            if rid is None:
                rid = next_record(
                    engine=engine, reviewer_id=self.reviewer.id, stage=stage, after=job.after
                )
            view = None
            if rid is not None:
                view = record_view(
                    engine=engine, protocol=protocol, record_id=rid, stage=stage,
                    viewer=self.reviewer.name,
                )  # fmt: skip
            self.post_message(Loaded(job, view))

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        self.sub_title = f"{self.SECTION} · {message.reviewer.name}"
        self.load_progress()
        self.rerank()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        """Show a record the screen waits for, or keep the prefetched next one."""
        job_id = message.job.job_id
        if job_id == self._show_job:
            self._show(message.view)
        elif job_id == self._refresh_job:
            self._refresh_job = None
            if message.view is not None and self._is_update(message.view):
                self._repaint(message.view)
        elif job_id == self._prefetch_job and self.current is not None:
            self._prefetch_job = None
            self._prefetched = (self.current.id, message.view)

    def _is_update(self, view: RecordView) -> bool:
        """Whether ``view`` is a newer reading of the record on screen that differs from it."""
        return self.current is not None and view.id == self.current.id and view != self.current

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        """A write is committed: tell the other screens, and recount once writes pause."""
        self._writes_in_flight -= 1
        self.review_app.store_changed.publish(f"screening-{self.STAGE}")
        self._schedule_progress()
        self._since_rank += 1
        job = message.job
        if self._since_rank >= RERANK_EVERY or (
            isinstance(job, DecideJob) and job.decision == "include"
        ):
            self._since_rank = 0
            self.rerank()

    # -- prioritisation ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="prioritise",
          description="Re-ranking the queue")  # fmt: skip
    def rerank(self) -> None:
        """Retrain on the reconciled labels and store a new ranking, in a child process.

        The next record is already prefetched, so a reviewer never waits for this: the new
        order applies from the record after it. Title/abstract only. A child process, not
        this thread: training holds the GIL for seconds at 100,000 records
        (:mod:`living_review.screening.rerank`). A newer re-rank cancels this one.
        """
        if self.STAGE != "ta":
            return
        ws = self.review_app.open_store()
        worker = get_current_worker()
        who = self.reviewer.name if self.reviewer else None
        result = rerank_in_child(ws, self.STAGE, who, cancelled=lambda: worker.is_cancelled)
        if result is None:
            return
        ranking = None
        if result.ranking_id is not None:
            with Session(ws.engine) as session:
                ranking = session.get(PriorityRanking, result.ranking_id)
        self.post_message(PriorityLoaded(ranking, result.estimate))

    @on(PriorityLoaded)
    def _priority_loaded(self, message: PriorityLoaded) -> None:
        self.query_one("#priority", Static).update(priority_text(message.ranking, message.estimate))

    @on(JobFailed)
    def _failed(self, message: JobFailed) -> None:
        """Show the core's refusal; a refused decision puts its record back on screen."""
        job = message.job
        self.app.bell()
        if isinstance(job, DecideJob | UndoJob):
            self._writes_in_flight -= 1
            self._schedule_progress()
        if isinstance(job, DecideJob):
            if (job.view, job.decision) in self._history:  # not undone meanwhile
                self._history.remove((job.view, job.decision))
                self._tally[job.decision] -= 1
            self._show(job.view)
        elif isinstance(job, OpenJob) or job.job_id == self._show_job:
            self._show_job = None
            self.query_one("#record").display = False
        self.show_message(f"✗ {message.error}", error=True)

    # -- progress ----------------------------------------------------------------------------------

    def _schedule_progress(self) -> None:
        """Recount after the writes settle: the count scans the queue, so not on every key."""
        if self._progress_timer is not None:
            self._progress_timer.stop()
        self._progress_timer = self.set_timer(PROGRESS_DELAY_S, self._progress_due)

    def _progress_due(self) -> None:
        self._progress_timer = None
        if self._writes_in_flight > 0:
            self._schedule_progress()
        else:
            self.load_progress()

    @work(thread=True, exclusive=True, exit_on_error=False, group="screening-progress",
          description="Counting screening progress")  # fmt: skip
    def load_progress(self) -> None:
        """Ask the core how many records this reviewer was assigned and has decided."""
        if self.reviewer is None:
            return
        ws = self.review_app.open_store()
        self.post_message(
            ProgressLoaded(
                progress(engine=ws.engine, protocol=ws.protocol, reviewer=self.reviewer.name,
                         stage=self.STAGE)
            )
        )  # fmt: skip

    @on(ProgressLoaded)
    def _progress_loaded(self, message: ProgressLoaded) -> None:
        self._progress = message.progress
        self._paint_progress()

    # -- store changes -----------------------------------------------------------------------------

    def _store_changed(self, reason: str) -> None:
        """Another screen changed the store: new records may have entered this stage.

        Decisions made here are already reflected; anything else (an import, a resolution,
        decisions at the other stage) re-runs the stage's assignment when the screen is next
        shown, or now if the queue is empty on screen.
        """
        if self.is_current and reason == "screening":
            return
        self._stale = True
        if self.is_current and self.current is None and self._show_job is None:
            self._reopen()

    def on_screen_resume(self) -> None:
        """Catch up with changes made on other screens (or a reviewer chosen on one)."""
        if self.started_for != self.review_app.reviewer:
            self.ensure_reviewer()  # chosen on another screen, or another reviewer now
        elif self._stale and self.reviewer is not None and self._show_job is None:
            self._reopen()
        elif self.reviewer is not None:
            self.load_progress()

    def _reopen(self) -> None:
        self._stale = False
        if self.reviewer is None:
            return
        if self.current is None:
            self.show_message("Looking for new records…")
            self._show_job = self._enqueue(OpenJob(next(self._ids), self.reviewer.name)).job_id
        else:  # keep the record on screen; only assign what is new, then recount
            self._enqueue(OpenJob(next(self._ids), self.reviewer.name))

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """A bug in a job: the app shows it; the screen stops waiting for that job."""
        if worker.group == "screening-jobs":
            self._show_job = None
            self._writes_in_flight = 0
        return False


class FullTextScreen(ScreeningScreen):
    """The same queue at full text: exclusions need a protocol reason; the report is linked."""

    SECTION = "Full text"
    STAGE = "ft"

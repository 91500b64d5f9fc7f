"""Provides ``ConflictsScreen``: the open screening conflicts a resolver may settle, by key.

The list is the core's :func:`~living_review.screening.conflicts.list_conflicts` for the
working reviewer, which already leaves out what blinding hides (a screener does not see
conflicts on records they screened, unless they are a lead or the stage is unblinded); the
decisions shown are the ones it returns to that resolver. ``i`` / ``e`` resolve the
highlighted record through :func:`~living_review.screening.conflicts.resolve`, which records
who resolved it, how (third reviewer or consensus) and why; at full text an exclusion asks
for one of the protocol's reasons first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from living_review.errors import LsrError
from living_review.screening import STAGE_LABELS
from living_review.screening.conflicts import Conflict, ResolutionResult, list_conflicts, resolve
from living_review.screening.queue import RecordView, record_view
from living_review_tui.screens.screening import (
    NoteModal,
    ReasonPicker,
    ReviewerScreen,
    TermHighlighter,
    TermText,
    meta_text,
    report_text,
)

CONFLICT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("record", "Record"),
    ("why", "Why"),
    ("decisions", "Decisions"),
    ("title", "Title"),
)


def decisions_text(decisions: list[dict[str, Any]] | None, *, notes: bool = False) -> Text:
    """Each screener's decision (and reason), as the core returned them to the resolver."""
    if not decisions:
        return Text("hidden", style="dim")
    colours = {"include": "green", "exclude": "red", "maybe": "yellow"}
    parts = []
    for d in decisions:
        line = Text.assemble(
            (f"{d['reviewer']}: ", "bold"),
            (str(d["decision"]), colours.get(str(d["decision"]), "")),
            f" ({d['reason']})" if d.get("reason") else "",
        )
        if notes and d.get("note"):
            line.append(f" — {d['note']}", style="italic")
        parts.append(line)
    return Text("\n" if notes else " · ").join(parts)


class ConflictsLoaded(Message):
    """The conflicts the working reviewer may resolve at a stage."""

    def __init__(self, stage: str, conflicts: list[Conflict]) -> None:
        super().__init__()
        self.stage = stage
        self.conflicts = conflicts


class ConflictRecordLoaded(Message):
    """The highlighted conflict's record, as the core's record view shows it to the resolver."""

    def __init__(self, view: RecordView) -> None:
        super().__init__()
        self.view = view


class Resolved(Message):
    """A resolution was recorded."""

    def __init__(self, result: ResolutionResult) -> None:
        super().__init__()
        self.result = result


class ConflictsScreen(ReviewerScreen):
    """Open conflicts at one stage (``t`` switches), resolved with ``i`` / ``e``."""

    SECTION = "Conflicts"
    CSS_PATH = "screening.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "resolve('include')", "Include", id="resolve-include",
                tooltip="Settle the highlighted conflict as include"),
        Binding("e", "resolve('exclude')", "Exclude", id="resolve-exclude",
                tooltip="Settle it as exclude (at full text: with a reason)"),
        Binding("t", "toggle_stage", "Stage", id="conflicts-stage",
                tooltip="Switch between title/abstract and full-text conflicts"),
        Binding("ctrl+r", "reload", "Refresh", id="conflicts-refresh",
                tooltip="List the open conflicts again"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.stage = "ta"
        """The stage whose conflicts are listed."""
        self.conflicts: list[Conflict] = []
        """The open conflicts on screen, in the table's order."""
        self._highlighter = TermHighlighter(None, None)
        self._stale = False
        self._resolving = False

    def compose(self) -> ComposeResult:
        """The list of conflicts above the highlighted record and its decisions."""
        yield Header()
        with Vertical(id="conflicts"):
            table: DataTable[str | Text] = DataTable(
                id="conflict-list", cursor_type="row", zebra_stripes=True
            )
            yield table
            with VerticalScroll(id="conflict-detail", can_focus=False):
                yield Static(id="conflict-votes", classes="panel")
                yield TermText(id="conflict-title")
                yield Static(id="conflict-meta")
                yield TermText(id="conflict-abstract")
                yield Static(id="conflict-fulltext")
        yield Static(id="conflicts-message", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Set up the table, follow store changes, then list the conflicts for the reviewer."""
        self._highlighter = TermHighlighter.from_protocol(self.review_app.workspace.protocol)
        table = self.query_one("#conflict-list", DataTable)
        for key, label in CONFLICT_COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#conflict-votes").border_title = "Decisions"
        self.query_one("#conflict-detail").display = False
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self._set_titles()
        self.ensure_reviewer()

    def _set_titles(self) -> None:
        title = f"Open conflicts · {STAGE_LABELS[self.stage]}"
        self.query_one("#conflict-list").border_title = title

    def reviewer_ready(self, name: str) -> None:
        """List the conflicts ``name`` may resolve."""
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Catch up with a reviewer chosen elsewhere, or with decisions made meanwhile."""
        if self.started_for != self.review_app.reviewer:
            self.ensure_reviewer()
        elif self._stale:
            self.action_reload()

    def _store_changed(self, reason: str) -> None:
        """Decisions elsewhere may open or close conflicts: list again when next shown."""
        if not (self.is_current and reason == "resolution"):  # its own resolutions reload now
            self._stale = True

    # -- loading ------------------------------------------------------------------------------

    def action_reload(self) -> None:
        """List the open conflicts again (from the core)."""
        reviewer = self.review_app.reviewer
        if not reviewer:
            self.ensure_reviewer()
            return
        self._stale = False
        self.query_one("#conflict-list").loading = True
        self.load_conflicts(reviewer, self.stage)

    def action_toggle_stage(self) -> None:
        """Switch between title/abstract and full-text conflicts."""
        self.stage = "ft" if self.stage == "ta" else "ta"
        self._set_titles()
        self.action_reload()

    @work(thread=True, exclusive=True, exit_on_error=False, group="conflicts",
          description="Listing the conflicts")  # fmt: skip
    def load_conflicts(self, reviewer: str, stage: str) -> None:
        """Ask the core which conflicts ``reviewer`` may see at ``stage``."""
        ws = self.review_app.open_store()
        found = list_conflicts(engine=ws.engine, protocol=ws.protocol, stage=stage, viewer=reviewer)
        self.post_message(ConflictsLoaded(stage, found))

    @on(ConflictsLoaded)
    def _conflicts_loaded(self, message: ConflictsLoaded) -> None:
        if message.stage != self.stage:
            return
        table = self.query_one("#conflict-list", DataTable)
        table.loading = False
        previous = self._highlighted()
        self.conflicts = message.conflicts
        table.clear()
        for c in self.conflicts:
            table.add_row(
                Text(str(c.record_id), justify="right"),
                c.why,
                decisions_text(c.decisions),
                c.title or "(no title)",
                key=str(c.record_id),
            )
        if not self.conflicts:
            self.query_one("#conflict-detail").display = False
            self.show_message(
                f"No open conflicts at {STAGE_LABELS[self.stage]} for "
                f"{self.review_app.reviewer} to resolve. Conflicts on records you screened go "
                "to a lead or a third reviewer (blinding). Press t for the other stage."
            )
            return
        self.show_message(
            f"{len(self.conflicts)} open conflict(s). Resolve the highlighted one: "
            "i include, e exclude."
        )
        ids = [c.record_id for c in self.conflicts]
        row = 0
        if previous is not None:  # stay where the resolver was (the next one after it)
            row = next((n for n, rid in enumerate(ids) if rid >= previous.record_id), len(ids) - 1)
        table.move_cursor(row=row)
        table.focus()
        self._load_record(self.conflicts[row])

    def _highlighted(self) -> Conflict | None:
        table = self.query_one("#conflict-list", DataTable)
        if not self.conflicts or not 0 <= table.cursor_row < len(self.conflicts):
            return None
        return self.conflicts[table.cursor_row]

    @on(DataTable.RowHighlighted, "#conflict-list")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.conflicts):
            self._load_record(self.conflicts[event.cursor_row])

    def _load_record(self, conflict: Conflict) -> None:
        reviewer = self.review_app.reviewer
        if reviewer:
            self.load_record(conflict.record_id, conflict.stage, reviewer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="conflict-record",
          description="Loading the record")  # fmt: skip
    def load_record(self, record_id: int, stage: str, viewer: str) -> None:
        """Fetch the record as the core shows it to the resolver."""
        ws = self.review_app.open_store()
        view = record_view(
            engine=ws.engine, protocol=ws.protocol, record_id=record_id, stage=stage, viewer=viewer
        )
        self.post_message(ConflictRecordLoaded(view))

    @on(ConflictRecordLoaded)
    def _record_loaded(self, message: ConflictRecordLoaded) -> None:
        view = message.view
        conflict = self._highlighted()
        if conflict is None or conflict.record_id != view.id or view.stage != self.stage:
            return  # the resolver moved on meanwhile
        self.query_one("#conflict-detail").display = True
        votes = self.query_one("#conflict-votes", Static)
        votes.border_title = f"Record {view.id} · {conflict.why}"
        votes.update(decisions_text(conflict.decisions, notes=True))
        fields = view.fields
        self.query_one("#conflict-title", TermText).show(
            fields.get("title") or "(no title)", self._highlighter, style="bold"
        )
        self.query_one("#conflict-meta", Static).update(meta_text(fields))
        self.query_one("#conflict-abstract", TermText).show(
            fields.get("abstract"), self._highlighter
        )
        fulltext = self.query_one("#conflict-fulltext", Static)
        fulltext.display = self.stage == "ft"
        fulltext.update(report_text(view.report))
        self.query_one("#conflict-detail", VerticalScroll).scroll_home(animate=False)

    # -- resolving -------------------------------------------------------------------------------

    def action_resolve(self, decision: str) -> None:
        """Settle the highlighted conflict: a reason at full-text exclusion, then a note."""
        conflict = self._highlighted()
        if conflict is None or self._resolving:
            self.app.bell()
            return
        if decision == "exclude" and conflict.stage == "ft":
            self.app.push_screen(
                ReasonPicker(
                    self.review_app.workspace.protocol.exclusion_reasons,
                    title=f"Resolve record {conflict.record_id} as exclude: why?",
                ),
                lambda code: self._ask_note(conflict, decision, code) if code else None,
            )
        else:
            self._ask_note(conflict, decision, None)

    def _ask_note(self, conflict: Conflict, decision: str, reason: str | None) -> None:
        """Ask how the conflict was settled (optional; Enter on an empty line skips it)."""

        def done(note: str | None) -> None:
            if note is not None:
                self._resolve(conflict, decision, reason, note or None)

        self.app.push_screen(
            NoteModal(
                f"Resolve record {conflict.record_id}: {decision}"
                + (f" ({reason})" if reason else ""),
                hint="How was it settled? (optional) Enter records the resolution; Esc cancels.",
            ),
            done,
        )

    def _resolve(
        self, conflict: Conflict, decision: str, reason: str | None, note: str | None
    ) -> None:
        reviewer = self.review_app.reviewer
        if not reviewer:
            return
        self._resolving = True
        self.save_resolution(conflict, decision, reason, note, reviewer)

    @work(thread=True, exit_on_error=False, group="resolve", description="Resolving")
    def save_resolution(
        self, conflict: Conflict, decision: str, reason: str | None, note: str | None, who: str
    ) -> None:
        """Record the resolution through the core (it checks the conflict is still open)."""
        ws = self.review_app.open_store()
        result = resolve(
            engine=ws.engine, protocol=ws.protocol, record_id=conflict.record_id,
            stage=conflict.stage, reviewer=who, decision=decision, reason=reason, note=note,
        )  # fmt: skip
        self.post_message(Resolved(result))

    @on(Resolved)
    def _resolved(self, message: Resolved) -> None:
        """Say what was recorded, tell the other screens, and list what is left."""
        self._resolving = False
        r = message.result
        reason = f" ({r.reason})" if r.reason else ""
        self.notify(
            f"Record {r.record_id} resolved: {r.decision}{reason} by {r.reviewer} "
            f"({r.method.replace('_', ' ')})",
            title="Resolved",
        )
        self.review_app.store_changed.publish("resolution")
        self.action_reload()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Show the core's refusal under the list (e.g. the conflict was resolved meanwhile)."""
        if worker.group == "conflicts":
            self.query_one("#conflict-list").loading = False
        if worker.group == "resolve":
            self._resolving = False
        if isinstance(error, LsrError):
            self.show_message(f"✗ {error}", error=True)
            return True
        return False

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Say something under the list (a hint, or the core's refusal)."""
        message = self.query_one("#conflicts-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")

"""Provides the extraction screens: one extractor's form per study and outcome, and reconciling.

``ExtractionScreen`` lists the studies with what the working reviewer entered, what another
extractor entered (a count: their values stay hidden), open discrepancies and final values;
then the outcomes of the highlighted study; then the form of that study × outcome that
:func:`~living_review.extraction.form.study_form` builds from the protocol (per arm and per
contrast, by the outcome's effect measure; the design form holds the arm sizes and the total
randomised). Every keystroke re-checks the form with the store's own rules
(:func:`~living_review.extraction.form.form_issues`: events <= n, the CI contains the
estimate, CI asymmetry, SE > 0, arm sizes against the total) and shows the messages under the
row; ``ctrl+s`` saves the changed rows as the reviewer's new draft versions, all or nothing.

``ReconcileScreen`` (``x``) is the resolver's view of a study: each extractor's current value
side by side (:func:`~living_review.extraction.form.reconcile_view`, the statuses of ``lsr
extract compare``), discrepancies first; a digit takes that extractor's value as final, ``v``
types the final value, ``g`` makes every agreed item final (``lsr extract resolve``).

Blinding is the core's: the screens show another extractor's values, and the final value, only
where the core returns them (in the form: once the viewer saved their own value of the item; in
the reconcile view also to a lead, and to a third reviewer once two extractors entered it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from living_review.errors import LsrError
from living_review.extraction.form import (
    DESIGN,
    Counts,
    EntryCheck,
    FormRow,
    ReconcileItem,
    ReconcileView,
    StudyForm,
    StudyStatus,
    check_texts,
    form_issues,
    reconcile_view,
    save_form,
    study_form,
    study_statuses,
)
from living_review.extraction.service import ValueResult, resolve, resolve_agreed
from living_review.extraction.validate import check_treatment, errors
from living_review_tui.screens.base import ReviewScreen
from living_review_tui.screens.screening import NoteModal, ReviewerScreen

if TYPE_CHECKING:
    from living_review_tui.app import LivingReviewApp

#: Characters of a study's label shown in the list (the form's title shows it whole).
LABEL_WIDTH = 20
STATUS_STYLE = {
    "agree": "green",
    "resolved": "green",
    "final": "green",
    "differ": "bold yellow",
    "missing": "yellow",
    "hidden": "dim",
    "mine": "cyan",
    "single": "cyan",
}


def number_text(value: Any) -> str:
    """A stored number as people typed it (197 not 197.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def values_text(values: Mapping[str, Any] | None, fields: Sequence[str]) -> str:
    """One value compactly: ``HR 0.71 [0.531, 0.949]``, ``12/100``, ``mean 3.1 · sd 1.2 · n 40``."""
    if values is None:
        return "—"
    v = {k: number_text(x) for k, x in values.items()}
    if "estimate" in v:
        head = f"{v.get('measure', '')} {v['estimate']}".strip()
        if "lower" in v and "upper" in v:
            return f"{head} [{v['lower']}, {v['upper']}]"
        return f"{head}, SE {v['se']}" if "se" in v else head
    if set(fields) == {"events", "n"} and "events" in v:
        return f"{v['events']}/{v['n']}"
    if set(fields) == {"value", "n"} and "value" in v:  # a percentage
        return f"{v['value']}%" + (f" of {v['n']}" if "n" in v else "")
    if "value" in v:
        ci = f" [{v['lower']}, {v['upper']}]" if "lower" in v and "upper" in v else ""
        return f"{v['value']}{ci}"
    return " · ".join(f"{k} {v[k]}" for k in fields if k in v) or "(no fields)"


def issues_text(check: EntryCheck) -> Text:
    """The row's validation messages: errors (refused on save) red, warnings yellow."""
    lines = []
    for issue in check.issues:
        if issue.level == "error":
            lines.append(Text.assemble(("✗ ", "bold red"), (issue.message, "red")))
        else:
            lines.append(Text.assemble(("⚠ ", "bold yellow"), (issue.message, "yellow")))
    return Text("\n").join(lines)


def known_text(row: FormRow) -> Text:
    """What the viewer may see of the others' values and the final value (blinding: the core's)."""
    parts: list[Text] = []
    if row.others is None:
        if row.entered_by:
            parts.append(
                Text(
                    f"{', '.join(row.entered_by)} entered it · hidden until you save yours",
                    style="dim italic",
                )
            )
        if row.status == "final":
            parts.append(Text("a final value exists · shown once you save yours", style="dim"))
    else:
        style = STATUS_STYLE.get(row.status, "")
        for who, vals in row.others.items():
            src = (row.other_sources or {}).get(who)
            parts.append(
                Text.assemble(
                    (f"{who}: ", "bold"),
                    (values_text(vals, row.fields), style),
                    (f"  [{src}]" if src else "", "dim"),
                )
            )
    if row.final is not None:
        parts.append(
            Text.assemble(
                ("final: ", "bold green"),
                values_text(row.final, row.fields),
                (f"  [{row.final_source}]" if row.final_source else "", "dim"),
                (f" ({row.final_by})" if row.final_by else "", "dim"),
            )
        )
    return Text("   ").join(parts)


# --- messages ------------------------------------------------------------------------------------


class StatusesLoaded(Message):
    """The studies with the viewer's counts (from a worker)."""

    def __init__(self, statuses: list[StudyStatus]) -> None:
        super().__init__()
        self.statuses = statuses


class FormLoaded(Message):
    """The form of one study × outcome, as the core shows it to the viewer."""

    def __init__(self, form: StudyForm) -> None:
        super().__init__()
        self.form = form


class FormSaved(Message):
    """The changed rows were written as the viewer's drafts."""

    def __init__(self, form: StudyForm, results: list[ValueResult]) -> None:
        super().__init__()
        self.form = form
        self.results = results


class ReconcileLoaded(Message):
    """A study's items for the resolver."""

    def __init__(self, view: ReconcileView) -> None:
        super().__init__()
        self.view = view


class Resolved(Message):
    """Final values were written."""

    def __init__(self, results: list[ValueResult]) -> None:
        super().__init__()
        self.results = results


# --- the form ------------------------------------------------------------------------------------


class FormRowWidget(Vertical):
    """One row: what it is and its source, an input per field, then messages and what is known."""

    def __init__(self, row: FormRow, index: int, typed: tuple[dict[str, str], str] | None) -> None:
        super().__init__(id=f"row-{index}", classes="form-row")
        self.row = row
        """The core's row: its fields, the viewer's saved value, what blinding lets them see."""
        self.saved = {f: number_text(row.mine[f]) for f in row.fields if row.mine and f in row.mine}
        self.saved_source = row.my_source or ""
        self._start = typed or (self.saved, self.saved_source)

    def compose(self) -> ComposeResult:
        """What the row is, its fields, its source, then the messages and what is known.

        The source comes after the numbers, so tab goes through a row as one reads a table.
        """
        row = self.row
        yield Static(self._label(), classes="row-label")
        with Horizontal(classes="row-fields"):
            for name in row.fields:
                yield Static(name, classes="field-label")
                yield Input(
                    self._start[0].get(name, ""), compact=True, classes="num", id=f"f-{name}"
                )
        with Horizontal(classes="row-fields"):
            yield Static("source", classes="field-label")
            yield Input(
                self._start[1],
                placeholder="where it was read: report, page, table or figure",
                compact=True,
                classes="source",
                id="source",
            )
        yield Static(classes="row-issues")
        known = known_text(row)
        yield Static(known, classes="row-known").set_styles(display="block" if known else "none")

    def _label(self) -> Text:
        row = self.row
        text = Text(row.label, style="bold")
        if not row.analysed:
            text.stylize("not bold")
        badge = {
            "mine": ("saved", "cyan"),
            "agree": ("agrees", "green"),
            "differ": ("differs", "bold yellow"),
            "resolved": ("resolved", "green"),
            "hidden": ("other entered", "dim"),
            "final": ("final exists", "dim"),
        }.get(row.status)
        if badge:
            text.append(f"  {badge[0]}", style=badge[1])
        if row.matches_final is False:
            text.append("  ≠ final", style="bold yellow")
        return text

    def texts(self) -> dict[str, str]:
        """What is typed in each field."""
        return {f: self.query_one(f"#f-{f}", Input).value for f in self.row.fields}

    def source(self) -> str:
        """The typed source reference."""
        return self.query_one("#source", Input).value.strip()

    def dirty(self) -> bool:
        """Typed text differs from the saved value (or there is none and something is typed)."""
        typed = {k: v.strip() for k, v in self.texts().items() if v.strip()}
        return typed != self.saved or self.source() != self.saved_source

    def show_check(self, check: EntryCheck) -> None:
        """Mark the fields the rules object to and list the messages under the row."""
        bad = {i.field for i in check.issues if i.level == "error"}
        warn = {i.field for i in check.issues if i.level == "warning"}
        for name in self.row.fields:
            box = self.query_one(f"#f-{name}", Input)
            box.set_class(name in bad, "-invalid")
            box.set_class(name in warn and name not in bad, "-warning")
        notes = issues_text(check)
        if check.empty and self.saved:
            notes = Text(
                "cleared: your saved value stays (a value is replaced, never withdrawn)",
                style="yellow",
            )
        elif self.dirty() and not check.issues:
            notes = Text("● not saved yet (ctrl+s)", style="cyan")
        issues = self.query_one(".row-issues", Static)
        issues.update(notes)
        issues.display = bool(notes)
        self.set_class(bool(bad), "-error")
        self.set_class(bool(warn) and not bad, "-warning")
        self.set_class(self.dirty(), "-dirty")


class ExtractionScreen(ReviewerScreen):
    """The working reviewer's extraction: studies, outcomes, and the form of the two."""

    SECTION = "Extraction"
    CSS_PATH = "extraction.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="extract-save",
                tooltip="Save the changed rows as your values (new versions; nothing is lost)"),
        Binding("x", "reconcile", "Reconcile", id="extract-reconcile",
                tooltip="Compare the extractors' values of this study side by side and resolve"),
        Binding("a", "add_arm", "Add arm", id="extract-add-arm",
                tooltip="Add an arm (a protocol treatment or alias) to this study's forms"),
        Binding("right_square_bracket", "outcome(1)", "Outcome", key_display="[ ]",
                id="extract-next-outcome", tooltip="Show the next outcome's form"),
        Binding("left_square_bracket", "outcome(-1)", "Previous outcome", show=False,
                id="extract-previous-outcome", tooltip="Show the previous outcome's form"),
        Binding("ctrl+r", "reload", "Refresh", id="extract-refresh",
                tooltip="Read the studies and the form again from the store"),
        Binding("escape", "leave_field", "Leave field", id="extract-leave-field",
                tooltip="Leave the form (letters are key commands again)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[StudyStatus] = []
        """The studies as listed, in the table's order."""
        self.study_id: int | None = None
        """The study whose forms are shown."""
        self.outcome: str = DESIGN
        """The form shown: an outcome's name, or the design form (arms, total randomised)."""
        self.form: StudyForm | None = None
        """The form on screen, as the core built it."""
        self._typed: dict[tuple[int, str], dict[str, tuple[dict[str, str], str]]] = {}
        """Unsaved text per form and row, kept when the reviewer looks at another form."""
        self._extra_arms: dict[int, list[str]] = {}
        self._stale = False
        self._saving = False
        self._focus_pending = False
        self._keep_message = False

    def compose(self) -> ComposeResult:
        """Studies and outcomes on the left, the form on the right."""
        yield Header()
        with Horizontal(id="extraction"):
            with Vertical(id="ex-left"):
                studies: DataTable[str | Text] = DataTable(
                    id="ex-studies", cursor_type="row", zebra_stripes=True
                )
                yield studies
                yield OptionList(id="ex-outcomes")
            with Vertical(id="ex-main"):
                yield VerticalScroll(id="ex-form")
                yield Static(id="ex-message", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Set up the lists, follow store changes, then load for the reviewer."""
        table = self.query_one("#ex-studies", DataTable)
        for key, label in (("study", "Study"), ("me", "Me"), ("others", "Others"),
                           ("differ", "Δ"), ("final", "Final")):  # fmt: skip
            table.add_column(label, key=key)
        table.border_title = "Studies"
        self.query_one("#ex-outcomes").border_title = "Outcome"
        self.query_one("#ex-outcomes").border_subtitle = "Me  Others  Δ  Final"
        self.query_one("#ex-form").border_title = "Form"
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.ensure_reviewer()

    def reviewer_ready(self, name: str) -> None:
        """List the studies with ``name``'s counts."""
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Catch up with a reviewer chosen elsewhere, or with values resolved meanwhile."""
        if self.started_for != self.review_app.reviewer:
            self.ensure_reviewer()
        elif self._stale:
            self.action_reload()

    def _store_changed(self, reason: str) -> None:
        if not (self.is_current and reason == "extraction-form"):
            self._stale = True

    # -- loading -------------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Read the studies (and the form on screen) again."""
        reviewer = self.review_app.reviewer
        if not reviewer:
            self.ensure_reviewer()
            return
        self._stale = False
        self._remember()
        self.load_statuses(reviewer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ex-studies",
          description="Listing the studies")  # fmt: skip
    def load_statuses(self, viewer: str) -> None:
        """Ask the core for every study with the viewer's counts."""
        ws = self.review_app.open_store()
        self.post_message(
            StatusesLoaded(study_statuses(engine=ws.engine, protocol=ws.protocol, viewer=viewer))
        )

    @on(StatusesLoaded)
    def _statuses_loaded(self, message: StatusesLoaded) -> None:
        self.statuses = message.statuses
        table = self.query_one("#ex-studies", DataTable)
        table.clear()
        for s in self.statuses:
            label = s.label if len(s.label) <= LABEL_WIDTH else s.label[: LABEL_WIDTH - 1] + "…"
            c = s.total
            table.add_row(
                label,
                Text(str(c.mine), justify="right"),
                Text(str(c.others), justify="right"),
                Text(str(c.differ), justify="right", style="bold yellow" if c.differ else ""),
                Text(str(c.final), justify="right"),
                key=str(s.study_id),
            )
        if not self.statuses:
            self.query_one("#ex-form").border_title = "Form"
            self.show_message(
                "No studies yet. Studies come from full-text inclusion, or 'lsr extract study "
                "LABEL' (the example review: 'lsr extract load-example')."
            )
            return
        ids = [s.study_id for s in self.statuses]
        row = ids.index(self.study_id) if self.study_id in ids else 0
        self.study_id = ids[row]
        table.move_cursor(row=row)
        self._show_outcomes()
        self._load_form()

    def _status(self) -> StudyStatus | None:
        return next((s for s in self.statuses if s.study_id == self.study_id), None)

    def _outcome_names(self) -> list[str]:
        return [DESIGN, *(o.name for o in self.review_app.workspace.protocol.outcomes)]

    def _show_outcomes(self) -> None:
        """The outcome list with the highlighted study's counts per outcome (as the table's)."""
        status = self._status()
        outcomes = self.query_one("#ex-outcomes", OptionList)
        protocol = self.review_app.workspace.protocol
        options = []
        for name in self._outcome_names():
            out = protocol.outcome(name) if name != DESIGN else None
            c = status.by_outcome.get(name, Counts()) if status else Counts()
            options.append(
                Option(
                    Text.assemble(
                        (f"{name:<8}", "bold"),
                        (f"{out.measure if out else 'arms':<10}", "dim"),
                        f"{c.mine:>4}{c.others:>8}",
                        (f"{c.differ:>3}", "bold yellow" if c.differ else ""),
                        f"{c.final:>7}",
                    ),
                    id=name,
                )
            )
        outcomes.clear_options()
        outcomes.add_options(options)
        outcomes.highlighted = self._outcome_names().index(self.outcome)

    @on(DataTable.RowHighlighted, "#ex-studies")
    def _study_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one("#ex-studies", DataTable)
        if event.cursor_row != table.cursor_row or not 0 <= event.cursor_row < len(self.statuses):
            return  # a stale event from refilling the table
        sid = self.statuses[event.cursor_row].study_id
        if sid != self.study_id:
            self._remember()
            self.study_id = sid
            self._show_outcomes()
            self._load_form()

    @on(DataTable.RowSelected, "#ex-studies")
    def _study_selected(self, _event: DataTable.RowSelected) -> None:
        """Enter on a study: on to its outcomes."""
        self.query_one("#ex-outcomes").focus()

    @on(OptionList.OptionHighlighted, "#ex-outcomes")
    def _outcome_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != self.query_one("#ex-outcomes", OptionList).highlighted:
            return  # a stale event from refilling the list
        name = event.option.id
        if name and name != self.outcome:
            self._remember()
            self.outcome = name
            self._load_form()

    @on(OptionList.OptionSelected, "#ex-outcomes")
    def _outcome_selected(self, _event: OptionList.OptionSelected) -> None:
        """Enter on an outcome: into its form's first field."""
        self._focus_first_field()

    def action_outcome(self, step: int) -> None:
        """Show the next (or previous) outcome's form."""
        names = self._outcome_names()
        self.query_one("#ex-outcomes", OptionList).highlighted = (
            names.index(self.outcome) + step
        ) % len(names)

    def _load_form(self) -> None:
        reviewer = self.review_app.reviewer
        if reviewer and self.study_id is not None:
            self.query_one("#ex-form").loading = True
            extra = tuple(self._extra_arms.get(self.study_id, ()))
            self.load_form(reviewer, self.study_id, self.outcome, extra)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ex-form",
          description="Loading the form")  # fmt: skip
    def load_form(self, viewer: str, study_id: int, outcome: str, extra: tuple[str, ...]) -> None:
        """Ask the core for the form of the study × outcome, as the viewer may see it."""
        ws = self.review_app.open_store()
        form = study_form(
            engine=ws.engine, protocol=ws.protocol, study=study_id, outcome=outcome,
            viewer=viewer, extra_arms=extra,
        )  # fmt: skip
        self.post_message(FormLoaded(form))

    @on(FormLoaded)
    async def _form_loaded(self, message: FormLoaded) -> None:
        form = message.form
        if (form.study_id, form.outcome) != (self.study_id, self.outcome):
            return  # the reviewer moved on meanwhile
        container = self.query_one("#ex-form", VerticalScroll)
        had_focus = self.focused is not None and container in self.focused.ancestors
        self.form = form
        typed = self._typed.get((form.study_id, form.outcome), {})
        await container.remove_children()
        await container.mount_all(
            FormRowWidget(row, n, typed.get(row.key)) for n, row in enumerate(form.rows)
        )
        container.loading = False
        measure = f" ({form.measure})" if form.measure else ""
        container.border_title = f"{form.study} · {form.outcome}: {form.outcome_label}{measure}"
        container.border_subtitle = f"arms: {', '.join(form.arms) or 'none yet (a adds one)'}"
        self._check()
        if not form.arms:
            self.show_message(
                f"{form.study} has no arms yet: press a to add one (a protocol treatment)."
            )
        elif self._keep_message:
            self._keep_message = False
        elif not self._saving:
            self.show_message(
                "Type values with their source; messages appear as you type. ctrl+s saves your "
                "changed rows (the other extractor's values show once you have saved yours)."
            )
        if had_focus or self._focus_pending:
            self._focus_first_field()

    def _rows(self) -> list[FormRowWidget]:
        return list(self.query(FormRowWidget))

    def _remember(self) -> None:
        """Keep the unsaved text of the form on screen for when the reviewer comes back."""
        if self.form is None:
            return
        dirty = {w.row.key: (w.texts(), w.source()) for w in self._rows() if w.dirty()}
        key = (self.form.study_id, self.form.outcome)
        if dirty:
            self._typed[key] = dirty
        else:
            self._typed.pop(key, None)

    def _focus_first_field(self) -> None:
        """Into the form's first field; once it is loaded when a load is under way."""
        form = self.form
        if form is None or (form.study_id, form.outcome) != (self.study_id, self.outcome):
            self._focus_pending = True
            return
        self._focus_pending = False
        boxes = self.query("#ex-form .num").results(Input)
        first = next(boxes, None)
        if first is not None:
            first.focus()

    # -- checking as the reviewer types ----------------------------------------------------------

    def _entries(self) -> tuple[dict[str, dict[str, str]], dict[str, str | None]]:
        rows = self._rows()
        return {w.row.key: w.texts() for w in rows}, {w.row.key: w.source() or None for w in rows}

    def _check(self) -> dict[str, EntryCheck]:
        """Check every row with the core's rules (no store access: fast enough per keystroke)."""
        if self.form is None:
            return {}
        entries, _sources = self._entries()
        checks = form_issues(self.review_app.workspace.protocol, self.form, entries)
        for w in self._rows():
            w.show_check(checks[w.row.key])
        return checks

    @on(Input.Changed, "#ex-form Input")
    def _typed_in_form(self, _event: Input.Changed) -> None:
        self._check()

    @on(Input.Submitted, "#ex-form Input")
    def _next_field(self, _event: Input.Submitted) -> None:
        """Enter moves on to the next field, as tab does."""
        self.focus_next()

    def action_leave_field(self) -> None:
        """Leave the form for the outcome list (letters are key commands again)."""
        if self.focused is not None and isinstance(self.focused, Input):
            self.query_one("#ex-outcomes").focus()
        else:
            self.query_one("#ex-studies").focus()

    # -- saving ----------------------------------------------------------------------------------

    def action_save(self) -> None:
        """Save the changed rows through the core (refused as a whole while a row has errors)."""
        reviewer = self.review_app.reviewer
        if self.form is None or self._saving or not reviewer:
            self.app.bell()
            return
        checks = self._check()
        bad = [w for w in self._rows() if errors(checks[w.row.key].issues)]
        if bad:
            self.show_message(
                f"✗ {len(bad)} row(s) have errors (marked red): fix or clear them. Nothing was "
                "saved.",
                error=True,
            )
            first = next(iter(bad[0].query(".-invalid").results(Input)), None)
            if first is not None:
                first.focus()
            return
        if not any(w.dirty() for w in self._rows()):
            self.show_message("Nothing changed to save.")
            return
        entries, sources = self._entries()
        self._saving = True
        self.save(self.form, entries, sources, reviewer)

    @work(thread=True, exit_on_error=False, group="ex-save", description="Saving the values")
    def save(
        self,
        form: StudyForm,
        entries: dict[str, dict[str, str]],
        sources: dict[str, str | None],
        who: str,
    ) -> None:
        """Write the changed rows as new draft versions (all or nothing)."""
        ws = self.review_app.open_store()
        results = save_form(
            engine=ws.engine, protocol=ws.protocol, form=form, entries=entries,
            sources=sources, extractor=who,
        )  # fmt: skip
        self.post_message(FormSaved(form, results))

    @on(FormSaved)
    def _saved(self, message: FormSaved) -> None:
        self._saving = False
        form = message.form
        self._typed.pop((form.study_id, form.outcome), None)
        written = [r for r in message.results if not r.unchanged]
        warnings = [w for r in message.results for w in r.warnings]
        self.show_message(
            f"✓ {len(written)} value(s) saved as {self.review_app.reviewer}'s draft "
            f"({form.study} · {form.outcome})"
            + (f"; warnings: {'; '.join(warnings)}" if warnings else "")
        )
        if self.form is not None and self.form.study_id == form.study_id:
            self.form = None  # the text on screen was saved: nothing to remember
        self._keep_message = True
        self.review_app.store_changed.publish("extraction-form")
        self._stale = False
        if self.review_app.reviewer:
            self.load_statuses(self.review_app.reviewer)

    # -- arms and reconciling ----------------------------------------------------------------------

    def action_add_arm(self) -> None:
        """Ask for a treatment (name or alias) and add its arm to this study's forms."""
        status = self._status()
        if status is None:
            self.app.bell()
            return

        def added(name: str | None) -> None:
            if not name:
                return
            protocol = self.review_app.workspace.protocol
            canonical, issues = check_treatment(protocol, name, where=status.label)
            if canonical is None:
                self.show_message(f"✗ {issues[0].message}", error=True)
                return
            self._remember()
            self._extra_arms.setdefault(status.study_id, []).append(canonical)
            self._load_form()

        self.app.push_screen(
            NoteModal(
                f"Add an arm to {status.label}",
                hint="A treatment name or alias from the protocol (e.g. Cyramza). The arm is "
                "stored with its first saved value. Esc cancels.",
            ),
            added,
        )

    def action_reconcile(self) -> None:
        """Open the side-by-side view of this study's extractors for resolving."""
        status = self._status()
        if status is None or not self.review_app.reviewer:
            self.app.bell()
            return
        self._remember()
        self.app.push_screen(ReconcileScreen(status.study_id, status.label))

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Show the core's refusal under the form (e.g. a value the store does not accept)."""
        if worker.group == "ex-save":
            self._saving = False
        if worker.group == "ex-form":
            self.query_one("#ex-form").loading = False
            extra = self._extra_arms.get(self.study_id or 0)
            if extra:  # an arm the core refused: forget it
                extra.pop()
        if isinstance(error, LsrError):
            self.show_message(f"✗ {error}", error=True)
            return True
        return False

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Say something under the form (a hint, or the core's refusal)."""
        message = self.query_one("#ex-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")


# --- reconciling ---------------------------------------------------------------------------------


class FinalValueModal(ModalScreen[tuple[dict[str, Any], str | None] | None]):
    """Type an item's final value (checked as typed, as in the form); Enter resolves."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel-final",
                tooltip="Close, resolving nothing"),
        Binding("ctrl+s", "submit", "Resolve", id="submit-final",
                tooltip="Record the typed value as final"),
    ]  # fmt: skip

    def __init__(self, study: str, item: ReconcileItem, start: Mapping[str, Any] | None) -> None:
        super().__init__()
        self.study = study
        self.item = item
        self.start = {k: number_text(v) for k, v in (start or {}).items()}
        self.check = EntryCheck(None, [], True)

    def compose(self) -> ComposeResult:
        """The item's fields, the source, and the messages."""
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = f"Final value: {self.study} · {self.item.key}"
            with Horizontal(classes="row-fields"):
                for name in self.item.fields:
                    yield Static(name, classes="field-label")
                    yield Input(self.start.get(name, ""), compact=True, classes="num",
                                id=f"f-{name}")  # fmt: skip
            with Horizontal(classes="row-fields"):
                yield Static("source", classes="field-label")
                yield Input(compact=True, classes="source", id="source")
            yield Static(id="final-issues")
            yield Static(
                "Enter or ctrl+s records it as final (every earlier version is kept); Esc cancels.",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        """Check what starts in the fields."""
        self._recheck()

    def _texts(self) -> dict[str, str]:
        return {f: self.query_one(f"#f-{f}", Input).value for f in self.item.fields}

    @on(Input.Changed)
    def _recheck(self) -> None:
        self.check = check_texts(
            cast("LivingReviewApp", self.app).workspace.protocol,
            kind=self.item.kind,
            outcome=self.item.outcome,
            texts=self._texts(),
            where=f"{self.study}, {self.item.key}",
            fixed=self.item.fixed,
        )
        for name in self.item.fields:
            bad = any(i.field == name and i.level == "error" for i in self.check.issues)
            self.query_one(f"#f-{name}", Input).set_class(bad, "-invalid")
        self.query_one("#final-issues", Static).update(issues_text(self.check))

    @on(Input.Submitted)
    def action_submit(self) -> None:
        """Return the checked values (refused, with the messages shown, while wrong)."""
        if not self.check.ok or self.check.values is None:
            self.app.bell()
            return
        source = self.query_one("#source", Input).value.strip() or None
        self.dismiss((self.check.values, source))


ITEM_COLUMNS = (("item", "Item"), ("status", "Status"))


class ReconcileScreen(ReviewScreen):
    """One study's items with each extractor's value side by side; resolve by key."""

    SECTION = "Reconcile"
    CSS_PATH = "extraction.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "take(0)", "Take 1st", key_display="1 2", id="take-1",
                tooltip="Make the first extractor's value final"),
        Binding("2", "take(1)", "Take 2nd", show=False, id="take-2",
                tooltip="Make the second extractor's value final"),
        Binding("3", "take(2)", "Take 3rd", show=False, id="take-3",
                tooltip="Make the third extractor's value final"),
        Binding("v", "type_final", "Type final", id="type-final",
                tooltip="Type the final value yourself (e.g. re-read from the source)"),
        Binding("g", "agreed", "Finalise agreed", id="finalise-agreed",
                tooltip="Make every item the extractors agree on final"),
        Binding("t", "toggle_all", "All items", id="reconcile-all",
                tooltip="Show every item, or only the open discrepancies"),
        Binding("ctrl+r", "reload", "Refresh", id="reconcile-refresh",
                tooltip="Read the values again"),
        Binding("escape", "back", "Back", id="reconcile-back",
                tooltip="Back to the extraction form"),
    ]  # fmt: skip

    def __init__(self, study_id: int, label: str) -> None:
        super().__init__()
        self.study_id = study_id
        self.label = label
        self.view: ReconcileView | None = None
        self.items: list[ReconcileItem] = []
        """The items in the table's order."""
        self.show_all = False
        self._busy = False

    def compose(self) -> ComposeResult:
        """The items above the highlighted item's values side by side."""
        yield Header()
        with Vertical(id="reconcile"):
            items: DataTable[str | Text] = DataTable(
                id="rc-items", cursor_type="row", zebra_stripes=True
            )
            yield items
            yield Horizontal(id="rc-detail")
        yield Static(id="rc-message", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the study's items for the working reviewer."""
        self.action_reload()

    def action_back(self) -> None:
        """Back to the extraction screen."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the items again (from the core)."""
        viewer = self.review_app.reviewer
        if viewer:
            self.query_one("#rc-items").loading = True
            self.load(viewer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rc-load",
          description="Comparing the extractors")  # fmt: skip
    def load(self, viewer: str) -> None:
        """Ask the core for the study's items as the viewer may see them."""
        ws = self.review_app.open_store()
        view = reconcile_view(engine=ws.engine, protocol=ws.protocol, study=self.study_id,
                              viewer=viewer)  # fmt: skip
        self.post_message(ReconcileLoaded(view))

    @on(ReconcileLoaded)
    async def _loaded(self, message: ReconcileLoaded) -> None:
        view = self.view = message.view
        table = self.query_one("#rc-items", DataTable)
        table.loading = False
        previous = self._highlighted()
        table.clear(columns=True)
        for key, label in ITEM_COLUMNS:
            table.add_column(label, key=key)
        for n, who in enumerate(view.extractors, 1):
            table.add_column(f"{n} {who}", key=f"x-{who}")
        table.add_column("Final", key="final")
        self.items = view.items if self.show_all else view.discrepancies
        for item in self.items:
            table.add_row(*self._cells(item), key=item.key)
        detail = self.query_one("#rc-detail", Horizontal)
        await detail.remove_children()
        panels = [
            Static(classes="panel rc-value", id=f"rc-x{n}") for n in range(len(view.extractors))
        ]
        await detail.mount_all([*panels, Static(classes="panel rc-value", id="rc-final")])
        table.border_title = (
            f"{view.study} · {'all items' if self.show_all else 'open discrepancies'} "
            f"({len(view.discrepancies)} open of {len(view.items)})"
        )
        if not self.items:
            detail.display = False
            self.show_message(
                f"No open discrepancies in {view.study}. t lists every item; g makes the agreed "
                "ones final."
                if not self.show_all
                else f"{view.study} has no extracted items yet."
            )
            return
        detail.display = True
        keys = [i.key for i in self.items]
        row = keys.index(previous.key) if previous and previous.key in keys else 0
        table.move_cursor(row=row)
        table.focus()
        self._show_item(self.items[row])
        self.show_message(
            "1/2 takes that extractor's value as final, v types it, g finalises agreed items; "
            "every version is kept."
        )

    def _cells(self, item: ReconcileItem) -> list[str | Text]:
        assert self.view is not None
        style = STATUS_STYLE.get(item.status, "")
        status = Text("resolved", style="green") if item.resolved else Text(item.status, style)
        cells: list[str | Text] = [item.key, status]
        for who in self.view.extractors:
            vals = item.values.get(who)
            if not item.visible and who != self.view.viewer:
                cells.append(Text("hidden", style="dim"))
            else:
                cells.append(values_text(vals, item.fields))
        cells.append(values_text(item.final, item.fields) if item.final else "—")
        return cells

    def _highlighted(self) -> ReconcileItem | None:
        table = self.query_one("#rc-items", DataTable)
        if not self.items or not 0 <= table.cursor_row < len(self.items):
            return None
        return self.items[table.cursor_row]

    @on(DataTable.RowHighlighted, "#rc-items")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.items):
            self._show_item(self.items[event.cursor_row])

    def _show_item(self, item: ReconcileItem) -> None:
        """Each extractor's value and source side by side, and the final value."""
        assert self.view is not None
        for n, who in enumerate(self.view.extractors):
            panel = self.query_one(f"#rc-x{n}", Static)
            panel.border_title = f"{n + 1} · {who}"
            if not item.visible and who != self.view.viewer:
                panel.update(Text("hidden until you enter your own value", style="dim"))
                continue
            vals = item.values.get(who)
            src = item.sources.get(who)
            panel.update(
                Text.assemble(
                    (values_text(vals, item.fields), "bold") if vals else ("not entered", "dim"),
                    ("\n" + (f"source: {src}" if src else "no source"), "dim"),
                )
            )
        final = self.query_one("#rc-final", Static)
        final.border_title = "final"
        if item.final is None:
            final.update(Text("none yet" if item.visible else "hidden", style="dim"))
        else:
            final.update(
                Text.assemble(
                    (values_text(item.final, item.fields), "bold green"),
                    (f"\nsource: {item.final_source or 'none'} · by {item.final_by}", "dim"),
                    (
                        "" if item.resolved else "\nolder than a current value: resolve again",
                        "yellow",
                    ),
                )
            )

    def action_toggle_all(self) -> None:
        """Every item, or only the open discrepancies."""
        self.show_all = not self.show_all
        self.action_reload()

    def action_take(self, index: int) -> None:
        """Make extractor ``index``'s value of the highlighted item final."""
        item = self._highlighted()
        viewer = self.review_app.reviewer
        if item is None or self.view is None or self._busy or not viewer:
            self.app.bell()
            return
        if index >= len(self.view.extractors):
            self.show_message(f"✗ there is no extractor {index + 1}", error=True)
            return
        who = self.view.extractors[index]
        if not item.visible:
            self.show_message("✗ hidden: enter your own value of this item first", error=True)
            return
        if item.values.get(who) is None:
            self.show_message(f"✗ {who} has not entered {item.key}", error=True)
            return
        self._busy = True
        self.resolve_item(item.key, viewer, use=who)

    def action_type_final(self) -> None:
        """Type the final value of the highlighted item."""
        item = self._highlighted()
        viewer = self.review_app.reviewer
        if item is None or self.view is None or self._busy or not viewer:
            self.app.bell()
            return
        if not item.visible:
            self.show_message("✗ hidden: enter your own value of this item first", error=True)
            return
        start = item.final or next((v for v in item.values.values() if v), None)

        def typed(result: tuple[dict[str, Any], str | None] | None) -> None:
            if result is not None:
                self._busy = True
                self.resolve_item(item.key, viewer, values=result[0], source=result[1])

        self.app.push_screen(FinalValueModal(self.label, item, start), typed)

    def action_agreed(self) -> None:
        """Make every agreed item final."""
        viewer = self.review_app.reviewer
        if self._busy or not viewer:
            self.app.bell()
            return
        self._busy = True
        self.resolve_agreed(viewer)

    @work(thread=True, exit_on_error=False, group="rc-resolve", description="Resolving")
    def resolve_item(
        self,
        key: str,
        who: str,
        *,
        use: str | None = None,
        values: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> None:
        """Write the final version through the core (it keeps every earlier one)."""
        ws = self.review_app.open_store()
        res = resolve(
            engine=ws.engine, protocol=ws.protocol, study=self.study_id, key=key, resolver=who,
            use=use, values=values, source=source,
        )  # fmt: skip
        self.post_message(Resolved([res]))

    @work(thread=True, exit_on_error=False, group="rc-resolve", description="Finalising")
    def resolve_agreed(self, who: str) -> None:
        """Make every agreed item final through the core."""
        ws = self.review_app.open_store()
        done = resolve_agreed(
            engine=ws.engine, protocol=ws.protocol, study=self.study_id, resolver=who
        )
        self.post_message(Resolved(done))

    @on(Resolved)
    def _resolved(self, message: Resolved) -> None:
        self._busy = False
        written = [r for r in message.results if not r.unchanged]
        keys = ", ".join(r.key for r in written) or "nothing new"
        self.notify(f"{len(written)} final value(s): {keys}", title="Resolved", markup=False)
        self.review_app.store_changed.publish("extraction")
        self.action_reload()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Show the core's refusal under the items."""
        if worker.group == "rc-resolve":
            self._busy = False
        if worker.group == "rc-load":
            self.query_one("#rc-items").loading = False
        if isinstance(error, LsrError):
            self.show_message(f"✗ {error}", error=True)
            return True
        return False

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Say something under the items (a hint, or the core's refusal)."""
        message = self.query_one("#rc-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")

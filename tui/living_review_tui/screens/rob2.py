"""Provides ``RoB2Screen``: RoB 2 per study × outcome, one signalling question at a time.

The list shows every study × protocol outcome with its RoB 2 status (the core's
:func:`~living_review.rob2.service.list_status`). ``enter`` opens the working reviewer's own
assessment of the highlighted result; ``m`` opens the consensus of a result two assessors have
completed, starting from the answers they agree on and showing each assessor's answer to the
questions left to settle.

In the form, the next question the skip logic asks is shown with our short label (the RoB 2
wording is licensed and not shipped); keys ``1``-``5`` (or ``y`` / ``n``) answer it and the
proposed domain and overall judgements update live (the core's
:func:`~living_review.rob2.service.preview`). ``b`` goes back a question, ``o`` overrides a
judgement with a justification, ``v`` switches the Domain 2 variant, ``ctrl+s`` saves the
assessment in progress and ``x`` completes it, asking the "several some concerns" question
when it arises. Saving runs in a thread worker; nothing here decides a judgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from living_review.errors import LsrError
from living_review.rob2.algorithm import OVERALL, Judgement, Override
from living_review.rob2.questions import DEVIATIONS, DOMAINS, WORDING_URL, describe, question
from living_review.rob2.service import (
    AssessmentView,
    Preview,
    ResultStatus,
    SaveResult,
    agreed_answers,
    compare,
    current_assessment,
    list_status,
    preview,
    resolve,
    save_assessment,
)
from living_review_tui.screens.screening import NoteModal, ReviewerScreen

#: Answer keys: the template's order Y, PY, PN, N, NI (``y`` and ``n`` as mnemonics).
ANSWER_KEYS: dict[str, str] = {"1": "Y", "2": "PY", "3": "PN", "4": "N", "5": "NI"}
STATUS_LABELS = {
    "not_started": "not started",
    "in_progress": "in progress",
    "dual_complete": "dual complete",
    "consensus": "consensus",
}
JUDGEMENT_STYLE = {"low": "green", "some_concerns": "yellow", "high": "red"}


def judgement_text(value: str | None) -> Text:
    """A judgement with its symbol (never colour alone), or a dim dash before it exists."""
    if value is None:
        return Text("·  not yet", style="dim")
    j = Judgement(value)
    return Text(f"{j.symbol}  {j.label}", style=JUDGEMENT_STYLE[value])


class ChoiceModal(ModalScreen[str | None]):
    """Pick one of a few options (an override's target or judgement, the overall decision)."""

    DEFAULT_CSS = """
    ChoiceModal {
        align: center middle;
    }
    ChoiceModal OptionList {
        height: auto;
        max-height: 12;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel-choice",
                tooltip="Close, choosing nothing"),
    ]  # fmt: skip

    def __init__(self, title: str, options: list[tuple[str, str]], *, hint: str = "") -> None:
        super().__init__()
        self.choice_title = title
        self.options = options
        """(id, label) pairs."""
        self.hint = hint or "Enter chooses; Esc cancels."

    def compose(self) -> ComposeResult:
        """A bordered dialog with the options."""
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.choice_title
            yield OptionList(*(Option(label, id=oid) for oid, label in self.options))
            yield Static(self.hint, classes="dialog-hint")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ResultsLoaded(Message):
    """The study × outcome statuses, from the core."""

    def __init__(self, results: list[ResultStatus]) -> None:
        super().__init__()
        self.results = results


@dataclass(frozen=True)
class Opened:
    """What the form starts from: the stored version (if any) and, for consensus, the compare."""

    result: ResultStatus
    mode: str  # "assessor" | "consensus"
    view: AssessmentView | None
    variant: str
    answers: dict[str, str]
    others: dict[str, dict[str, str]]  # consensus: each assessor's answers


class FormOpened(Message):
    """An assessment was loaded for the form."""

    def __init__(self, opened: Opened) -> None:
        super().__init__()
        self.opened = opened


class Saved(Message):
    """The core recorded a version."""

    def __init__(self, result: SaveResult, then_close: bool) -> None:
        super().__init__()
        self.result = result
        self.then_close = then_close


class RoB2Screen(ReviewerScreen):
    """RoB 2: pick a study × outcome, answer the signalling questions, see the judgements."""

    SECTION = "RoB 2"
    DEFAULT_CSS = """
    #rob2 { height: 1fr; }
    #rob2-results { width: 46; height: 1fr; border: round $primary-darken-1; }
    #rob2-form { width: 1fr; height: 1fr; padding: 0 1; }
    #rob2-question { border: round $primary; padding: 0 1; height: auto; min-height: 7; }
    #rob2-domains { border: round $primary-darken-1; padding: 0 1; height: auto; }
    #rob2-message { height: auto; }
    #rob2-message.-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "open('consensus')", "Consensus", id="rob2-consensus",
                tooltip="Settle the consensus of a result two assessors completed"),
        *(Binding(k, f"answer({code!r})", code, id=f"rob2-answer-{k}", show=k == "1",
                  key_display="1-5" if k == "1" else None,
                  tooltip=f"Answer {code}") for k, code in ANSWER_KEYS.items()),
        Binding("y", "answer('Y')", "Y", id="rob2-answer-y", show=False, tooltip="Answer Y"),
        Binding("n", "answer('N')", "N", id="rob2-answer-n", show=False, tooltip="Answer N"),
        Binding("b", "back", "Back", id="rob2-back", tooltip="Go back to the previous question"),
        Binding("o", "override", "Override", id="rob2-override",
                tooltip="Override a proposed judgement (a justification is required)"),
        Binding("v", "variant", "Variant", id="rob2-variant",
                tooltip="Switch the Domain 2 variant (effect of assignment / of adhering)"),
        Binding("ctrl+s", "save", "Save", id="rob2-save", tooltip="Save the assessment so far"),
        Binding("x", "finish", "Complete", id="rob2-finish",
                tooltip="Complete the assessment (every asked question answered)"),
        Binding("escape", "close", "List", id="rob2-close",
                tooltip="Back to the list (unsaved answers are saved in progress)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.results: list[ResultStatus] = []
        self.opened: Opened | None = None
        """The result being assessed (None: the list has focus)."""
        self.variant = "assignment"
        self.deviations: list[str] | None = None
        self.answers: dict[str, str] = {}
        self.overrides: dict[str, Override] = {}
        """Overrides given in this form (stored ones are carried by the core)."""
        self.revisit: str | None = None
        """A question the assessor went back to (None: ask the next unanswered one)."""
        self.dirty = False
        self.state: Preview | None = None
        self._saving = False

    def compose(self) -> ComposeResult:
        """The results on the left; the question and the live judgements on the right."""
        yield Header()
        with Horizontal(id="rob2"):
            yield DataTable(id="rob2-results", cursor_type="row", zebra_stripes=True)
            with Vertical(id="rob2-form"):
                yield Static(id="rob2-title")
                yield Static(id="rob2-question")
                yield Static(id="rob2-domains")
                yield Static(id="rob2-message", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Set up the list, then load it for the working reviewer."""
        table = self.query_one("#rob2-results", DataTable)
        table.border_title = "Studies × outcomes"
        for key, label in (("study", "Study"), ("outcome", "Outcome"), ("status", "Status"),
                           ("final", "Final")):  # fmt: skip
            table.add_column(label, key=key)
        self.query_one("#rob2-question").border_title = "Question"
        self.query_one("#rob2-domains").border_title = "Judgements (proposed live)"
        self._show_form(False)
        self.ensure_reviewer()

    def reviewer_ready(self, name: str) -> None:
        """List the results."""
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Catch up with a reviewer chosen elsewhere."""
        if self.started_for != self.review_app.reviewer:
            self.ensure_reviewer()

    # -- the list -----------------------------------------------------------------------------

    def action_reload(self) -> None:
        """List every study × outcome with its status (from the core)."""
        self.load_results()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rob2-list",
          description="Listing RoB 2 results")  # fmt: skip
    def load_results(self) -> None:
        """Ask the core for the statuses."""
        ws = self.review_app.open_store()
        self.post_message(ResultsLoaded(list_status(engine=ws.engine, protocol=ws.protocol)))

    @on(ResultsLoaded)
    def _results_loaded(self, message: ResultsLoaded) -> None:
        table = self.query_one("#rob2-results", DataTable)
        row = table.cursor_row
        self.results = message.results
        table.clear()
        for r in self.results:
            final = r.consensus["overall"] if r.consensus else None
            table.add_row(
                r.study, r.outcome, STATUS_LABELS[r.status],
                judgement_text(final) if final else Text("—", style="dim"),
                key=f"{r.study_id}:{r.outcome}",
            )  # fmt: skip
        if not self.results:
            self.show_message("No studies yet: studies come from screening or 'lsr extract study'.")
            return
        table.move_cursor(row=min(max(row, 0), len(self.results) - 1))
        if self.opened is None:
            table.focus()
            self.show_message(
                "enter: assess the highlighted result · m: consensus of a dual-complete result"
            )

    @on(DataTable.RowSelected, "#rob2-results")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a result opens the working reviewer's own assessment of it."""
        self.action_open("assessor")

    def _highlighted(self) -> ResultStatus | None:
        table = self.query_one("#rob2-results", DataTable)
        if not self.results or not 0 <= table.cursor_row < len(self.results):
            return None
        return self.results[table.cursor_row]

    # -- opening a form -----------------------------------------------------------------------

    def action_open(self, mode: str) -> None:
        """Open the reviewer's assessment (or the consensus) of the highlighted result."""
        result = self._highlighted()
        who = self.review_app.reviewer
        if result is None or who is None or self.opened is not None:
            self.app.bell()
            return
        if mode == "consensus" and result.status not in ("dual_complete", "consensus"):
            self.show_message(
                f"{result.study} / {result.outcome} is {STATUS_LABELS[result.status]}: "
                "a consensus needs two complete assessments.",
                error=True,
            )
            return
        self.open_form(result, mode, who)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rob2-open",
          description="Opening the assessment")  # fmt: skip
    def open_form(self, result: ResultStatus, mode: str, who: str) -> None:
        """Load the stored version (and, for a consensus, what the assessors answered)."""
        ws = self.review_app.open_store()
        kw: dict[str, Any] = {"engine": ws.engine, "protocol": ws.protocol,
                              "study": result.study_id, "outcome": result.outcome}  # fmt: skip
        view = current_assessment(**kw, assessor=who, role=mode)
        others: dict[str, dict[str, str]] = {}
        if mode == "consensus":
            cmp = compare(**kw)
            others = {w: a["answers"] for w, a in cmp["assessments"].items()}
            variants = set(cmp["variants"].values())
            variant = view.variant if view else (variants.pop() if len(variants) == 1 else "")
            answers = view.answers if view else agreed_answers(cmp)
        else:
            variant = view.variant if view else "assignment"
            answers = view.answers if view else {}
        answers = {k: v for k, v in answers.items() if v != "NA"}
        self.post_message(
            FormOpened(Opened(result, mode, view, variant or "assignment", answers, others))
        )

    @on(FormOpened)
    def _form_opened(self, message: FormOpened) -> None:
        o = message.opened
        self.opened = o
        self.variant = o.variant
        self.deviations = o.view.deviations if o.view else None
        if self.variant == "adhering" and self.deviations is None:
            self.deviations = list(DEVIATIONS)
        self.answers = dict(o.answers)
        self.overrides = {}
        self.revisit = None
        self.dirty = False
        self._show_form(True)
        self.refresh_form()

    def _show_form(self, shown: bool) -> None:
        for wid in ("#rob2-question", "#rob2-domains"):
            self.query_one(wid).display = shown
        if not shown:
            self.query_one("#rob2-title", Static).update(
                Text.assemble(("RoB 2", "bold"), " · pick a study and outcome on the left")
            )

    # -- the form -----------------------------------------------------------------------------

    def refresh_form(self) -> None:
        """Recompute the proposals (the core's preview) and redraw the question and panel."""
        o = self.opened
        if o is None:
            return
        stored = o.view.overrides if o.view else {}
        try:
            self.state = preview(
                self.variant, self.answers, self.deviations, overrides=self.overrides,
                stored_overrides=stored, who=self.review_app.reviewer or "",
            )  # fmt: skip
        except LsrError as exc:
            self.show_message(f"✗ {exc}", error=True)
            return
        aim = "effect of assignment" if self.variant == "assignment" else "effect of adhering"
        who = "consensus" if o.mode == "consensus" else "your assessment"
        self.query_one("#rob2-title", Static).update(
            Text.assemble(
                (f"{o.result.study} / {o.result.outcome}", "bold"),
                f" · {who} · {aim}",
                (" · unsaved" if self.dirty else "", "italic"),
            )
        )
        self._draw_question()
        self._draw_domains()

    def _current_question(self) -> str | None:
        if self.state is None:
            return None
        if self.revisit is not None:
            return self.revisit
        nxt = self.state.progress.next
        return nxt.id if nxt is not None else None

    def _draw_question(self) -> None:
        panel = self.query_one("#rob2-question", Static)
        qid = self._current_question()
        if qid is None:
            panel.border_title = "All asked questions answered"
            text = Text("x completes the assessment · b goes back · o overrides a judgement")
            if self.state is not None and self.state.prompt:
                text.append("\n\n" + self.state.prompt, style="yellow")
            panel.update(text)
            return
        q = question(self.variant, qid)  # type: ignore[arg-type]
        panel.border_title = f"Question {q.id} · D{q.domain} {DOMAINS[q.domain].short}"
        text = Text.assemble((f"{q.id}  {q.label}", "bold"), "\n")
        if q.condition is not None:
            text.append(f"asked because {describe(q.condition)}\n", style="dim")
        if qid in self.answers:
            text.append(f"current answer: {self.answers[qid]}\n", style="italic")
        if self.opened is not None and self.opened.others:
            said = " · ".join(f"{w}: {a.get(qid, '—')}" for w, a in self.opened.others.items())
            text.append(f"assessors: {said}\n", style="cyan")
        keys = "  ".join(f"{k} {c}" for k, c in ANSWER_KEYS.items() if c in q.answers)
        text.append(f"\n{keys}", style="bold")
        text.append(f"\nfull wording and guidance: {WORDING_URL}", style="dim")
        panel.update(text)

    def _draw_domains(self) -> None:
        state = self.state
        if state is None:
            return
        lines = Text()
        for d, dom in DOMAINS.items():
            answered = " ".join(
                f"{k}={v}" for k, v in state.progress.answers.items() if k.split(".")[0] == d
            )
            lines.append(f"D{d} {dom.short:<14}")
            lines.append_text(judgement_text(state.domains[d]))
            if d in state.overrides and state.overrides[d]["judgement"] != state.proposed[d]:
                lines.append(f"  (proposed {state.proposed[d]}; overridden)", style="italic")
            lines.append(f"   {answered}\n", style="dim")
        lines.append(f"{'Overall':<17}")
        lines.append_text(judgement_text(state.overall))
        if state.overall is not None and state.overall != state.proposed[OVERALL]:
            lines.append(f"  (proposed {state.proposed[OVERALL]}; overridden)", style="italic")
        self.query_one("#rob2-domains", Static).update(lines)

    def action_answer(self, code: str) -> None:
        """Answer the question on view; the next asked question follows."""
        qid = self._current_question()
        if self.opened is None or qid is None:
            self.app.bell()
            return
        q = question(self.variant, qid)  # type: ignore[arg-type]
        if code not in q.answers:
            self.show_message(
                f"{qid} cannot be answered {code} ({'/'.join(q.answers)})", error=True
            )
            return
        self.answers[qid] = code
        self.revisit = None
        self.dirty = True
        self.refresh_form()
        if self.state is not None:  # keep only answers the skip logic still asks for
            self.answers = dict(self.state.progress.answers)
        self.show_message(f"{qid} = {code}")

    def action_back(self) -> None:
        """Show the question before the one on view, to change its answer."""
        if self.opened is None or self.state is None:
            return
        asked = [q.id for q in self.state.progress.asked()]
        here = self._current_question()
        pos = asked.index(here) if here in asked else len(asked)
        if pos == 0:
            self.app.bell()
            return
        self.revisit = asked[pos - 1]
        self.refresh_form()

    def action_variant(self) -> None:
        """Switch between the effect of assignment and of adhering (Domain 2 answers reset)."""
        if self.opened is None:
            return
        self.variant = "adhering" if self.variant == "assignment" else "assignment"
        self.deviations = list(DEVIATIONS) if self.variant == "adhering" else None
        self.answers = {k: v for k, v in self.answers.items() if not k.startswith("2.")}
        self.revisit = None
        self.dirty = True
        self.refresh_form()

    # -- overrides ------------------------------------------------------------------------------

    def action_override(self) -> None:
        """Choose a judged domain (or the overall), then the judgement, then why."""
        state = self.state
        if self.opened is None or state is None:
            return
        targets = [(d, f"D{d} {DOMAINS[d].short} (proposed {state.proposed[d]})")
                   for d in DOMAINS if state.proposed[d] is not None]  # fmt: skip
        if state.overall is not None:
            targets.append((OVERALL, f"Overall (proposed {state.proposed[OVERALL]})"))
        if not targets:
            self.show_message("Nothing is judged yet: answer a domain's questions first.")
            return
        self.app.push_screen(ChoiceModal("Override which judgement?", targets), self._pick_target)

    def _pick_target(self, key: str | None) -> None:
        if key is None:
            return
        options = [(j.value, f"{j.symbol} {j.label}") for j in Judgement]
        self.app.push_screen(
            ChoiceModal(f"Final judgement for {key}", options),
            lambda j: self._ask_why(key, j) if j else None,
        )

    def _ask_why(self, key: str, judgement: str, then_finish: bool = False) -> None:
        state = self.state
        proposed = state.proposed.get(key) if state else None

        def done(why: str | None) -> None:
            if why is None:
                return
            if judgement != proposed and not why.strip():
                self.show_message("An override needs a justification.", error=True)
                return
            self.overrides[key] = Override(Judgement(judgement), why)
            self.dirty = True
            self.refresh_form()
            if then_finish:
                self.action_finish()

        self.app.push_screen(
            NoteModal(
                f"{'Overall' if key == OVERALL else 'D' + key}: {proposed} → {judgement}",
                hint="Why? (required when it differs from the proposal) Enter keeps it.",
            ),
            done,
        )

    # -- saving -----------------------------------------------------------------------------

    def action_save(self, *, complete: bool = False, then_close: bool = False) -> None:
        """Save the working answers through the core, in a worker."""
        o = self.opened
        who = self.review_app.reviewer
        if o is None or who is None or self._saving:
            return
        if o.mode == "consensus" and not complete:
            self.show_message("A consensus is saved once complete: press x.")
            return
        self._saving = True
        self.save_form(o, who, dict(self.answers), self.variant, self.deviations,
                       dict(self.overrides), complete, then_close)  # fmt: skip

    def action_finish(self) -> None:
        """Complete: every asked question answered, and the overall decided when RoB 2 asks."""
        state = self.state
        if self.opened is None or state is None:
            return
        if not state.progress.complete:
            nxt = state.progress.next
            self.show_message(f"Question {nxt.id if nxt else '?'} is still to answer.", error=True)
            return
        if state.prompt:
            self.app.push_screen(
                ChoiceModal(
                    "Several domains have some concerns",
                    [
                        ("some_concerns", "Keep the overall at some concerns"),
                        ("high", "Escalate the overall to high (justify)"),
                    ],  # fmt: skip
                    hint=state.prompt,
                ),
                self._overall_decided,
            )
            return
        self.action_save(complete=True)

    def _overall_decided(self, choice: str | None) -> None:
        if choice == "some_concerns":
            self.overrides[OVERALL] = Override(Judgement.SOME_CONCERNS, "")
            self.refresh_form()
            self.action_finish()
        elif choice == "high":
            self._ask_why(OVERALL, "high", then_finish=True)

    @work(thread=True, exit_on_error=False, group="rob2-save", description="Saving RoB 2")
    def save_form(
        self, o: Opened, who: str, answers: dict[str, str], variant: str,
        deviations: list[str] | None, overrides: dict[str, Override], complete: bool,
        then_close: bool,
    ) -> None:  # fmt: skip
        """Record a version (or the consensus) through the core."""
        ws = self.review_app.open_store()
        kw: dict[str, Any] = {"engine": ws.engine, "protocol": ws.protocol,
                              "study": o.result.study_id, "outcome": o.result.outcome,
                              "answers": answers, "variant": variant,
                              "deviations": deviations, "overrides": overrides}  # fmt: skip
        if o.mode == "consensus":
            res = resolve(**kw, resolver=who)
        else:
            res = save_assessment(**kw, assessor=who, complete=complete)
        self.post_message(Saved(res, then_close))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self._saving = False
        v = message.result.assessment
        self.review_app.store_changed.publish("rob2")
        what = "consensus" if v.role == "consensus" else v.status.replace("_", " ")
        overall = f", overall {v.overall}" if v.overall else ""
        self.notify(f"{v.study} / {v.outcome}: saved ({what}{overall})", title="RoB 2")
        if self.opened is not None:
            self.opened = Opened(self.opened.result, self.opened.mode, v, v.variant,
                                 self.answers, self.opened.others)  # fmt: skip
            self.overrides = {}
            self.dirty = False
        if message.then_close or v.status == "complete":
            self._close()
        else:
            self.refresh_form()
        self.action_reload()

    def action_close(self) -> None:
        """Back to the list, saving unsaved answers in progress first."""
        if self.opened is None:
            return
        if self.dirty and self.opened.mode == "assessor":
            self.action_save(then_close=True)
            return
        self._close()

    def _close(self) -> None:
        self.opened = None
        self.state = None
        self._show_form(False)
        self.query_one("#rob2-results").focus()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Show the core's refusal under the form (e.g. a missing justification)."""
        if worker.group == "rob2-save":
            self._saving = False
        if isinstance(error, LsrError):
            self.show_message(f"✗ {error}", error=True)
            return True
        return False

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Say something under the form."""
        message = self.query_one("#rob2-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")

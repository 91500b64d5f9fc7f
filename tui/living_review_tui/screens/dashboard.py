"""Provides ``DashboardScreen``: search runs, records per database, PRISMA counts, next steps.

Everything shown comes from the core, computed in one thread worker: the status from
:func:`~living_review.status.review_status` (behind ``lsr status``), the PRISMA 2020 screening
boxes from :func:`~living_review.prisma.prisma_counts` in the words of
:func:`~living_review.prisma.diagram_text` (behind ``lsr prisma``), and Cohen's kappa per stage
from :func:`~living_review.agreement.stage_agreement` (behind ``lsr agreement``), so the
dashboard and the CLI always agree. The screening panel follows the store while reviewers
screen: every ``store_changed`` reloads it, at most once per :data:`RELOAD_INTERVAL_S`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from living_review.agreement import KappaStats, stage_agreement
from living_review.prisma import diagram_text, prisma_counts
from living_review.screening import STAGE_LABELS
from living_review.screening.stopping import StoppingEstimate, stage_estimate
from living_review.status import RunSummary, Status, review_status
from living_review_tui.messages import StatusLoaded
from living_review_tui.screens.base import ReviewScreen

#: Store changes reload the dashboard at most this often (a decision is a change; a reviewer
#: screening fast must not make the dashboard recount the whole review at every key).
RELOAD_INTERVAL_S = 1.0

#: The PRISMA 2020 boxes of the screening panel, top-down as (main box, box to its right).
FLOW_ROWS: tuple[tuple[str, str | None], ...] = (
    ("screened", "excluded"),
    ("sought", "not_retrieved"),
    ("assessed", "reports_excluded"),
)

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


@dataclass(frozen=True)
class Screening:
    """What the screening panel shows, as the core computed it."""

    counts: dict[str, Any]
    """PRISMA 2020 boxes as :func:`living_review.prisma.prisma_counts` returned them."""
    agreement: dict[str, KappaStats]
    """Pooled Cohen's kappa per stage (``"ta"``, ``"ft"``), from ``stage_agreement``."""
    stopping: StoppingEstimate | None = None
    """The stopping rule's estimate at title/abstract (``stage_estimate``), if any labels."""


class ScreeningLoaded(Message):
    """The screening panel's counts were computed by the core (sent from a worker thread)."""

    def __init__(self, screening: Screening, generation: int) -> None:
        super().__init__()
        self.screening = screening
        self.generation = generation
        """Which load computed it: an older load finishing late must not overwrite a newer."""


def _box(text: str) -> Text:
    """One PRISMA box on one line: the template's words without the diagram's line breaks.

    The asterisks mark the diagram's footnotes, which the panel does not repeat.
    """
    return Text(" ".join(line.strip() for line in text.replace("*", "").split("\n") if line))


def flow_text(counts: dict[str, Any]) -> Text:
    """The PRISMA 2020 screening and included boxes, in the template's own words.

    Each box is followed by the box its exclusions go to (the diagram's arrow to the right);
    records and reports still awaiting a decision come last (the core counts them so that the
    boxes add up at every moment, not only once screening is done).
    """
    boxes = diagram_text(counts)
    lines: list[Text] = []
    for main, side in FLOW_ROWS:
        lines.append(_box(boxes[main]))
        if side is None:
            continue
        if side == "reports_excluded":  # "Reports excluded:", then one line per reason
            first, *reasons = boxes[side].split("\n")
            lines.append(Text("  → ") + _box(first))
            lines.extend(Text(f"      {reason}", style="dim") for reason in reasons)
        else:
            lines.append(Text("  → ") + _box(boxes[side]))
    for key in ("included", "total"):
        if key in boxes:
            parts = boxes[key].split("\n")
            lines.extend(
                Text(f"{title} {n}", style="bold")
                for title, n in zip(parts[::2], parts[1::2], strict=False)
            )
    waiting = (
        (counts["records_awaiting_screening"], "record", "title/abstract screening"),
        (counts["reports_awaiting_assessment"], "report", "full-text assessment"),
    )
    lines.extend(
        Text(f"{n:,} {noun}{'' if n == 1 else 's'} awaiting {what}", style="yellow")
        for n, noun, what in waiting
        if n
    )
    return Text("\n").join(lines)


def agreement_text(agreement: dict[str, KappaStats]) -> Text:
    """Cohen's kappa with its 95% CI and percent agreement, per screening stage.

    Kappa is undefined (the core returns None) with no double-screened records, or when both
    reviewers used one and the same category throughout: the stage says there is not enough
    data. ``n`` counts pairs of decisions by two reviewers on the same record.
    """
    lines: list[Text] = []
    for stage, stats in agreement.items():
        label = STAGE_LABELS[stage].capitalize()
        if stats.kappa is None or stats.ci is None:
            lines.append(Text.assemble(f"{label}: ", ("not enough data", "dim")))
            lines.append(Text(f"  n = {stats.n:,} paired decisions", style="dim"))
            continue
        low, high = stats.ci
        lines.append(
            Text.assemble(
                f"{label}: ",
                (f"κ = {stats.kappa:.2f}", "bold"),
                f" (95% CI {low:.2f} to {high:.2f})",
            )
        )
        percent = "" if stats.p_o is None else f"{100 * stats.p_o:.1f}% agreement · "
        lines.append(Text(f"  {percent}n = {stats.n:,} paired decisions", style="dim"))
    return Text("\n").join(lines)


def stopping_text(est: StoppingEstimate | None) -> Text:
    """The stopping rule's statement under the kappa (Callaghan & Müller-Hansen 2020).

    Shown once a title/abstract label exists; it informs the lead, who alone records a stop
    (``lsr stop``): screening never stops by itself.
    """
    if est is None or est.screened == 0:
        return Text("")
    style = "bold green" if est.reached else "yellow"
    return Text.assemble(
        "\n\nStopping · title/abstract\n",
        (est.sentence(), style),
        (f"\n  {est.includes:,} includes so far · p = {est.p_value:.3f}", "dim"),
    )


class DashboardScreen(ReviewScreen):
    """The review at a glance; reloads when the store changes or on ``r``."""

    SECTION = "Dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "reload", "Refresh", id="refresh",
                tooltip="Recompute the dashboard from the store"),
    ]  # fmt: skip

    _stale = False
    """Set when the store changed while another mode was on screen; reload on return."""
    _last_load = float("-inf")
    """When (``time.monotonic``) the last load started: store changes wait a second after it."""
    _reload_timer: Timer | None = None
    """The reload a store change scheduled, not yet started (one at a time)."""
    _generation = 0
    """Counts the loads started; the panel shows only the newest load's result."""
    _shown_generation = 0

    def compose(self) -> ComposeResult:
        """Lay out the PRISMA, counts and next-steps panels above the table of search runs."""
        yield Header()
        with Vertical(id="dashboard"):
            with Grid(id="summary"):
                yield Static(id="identification", classes="panel")
                yield Static(id="records", classes="panel")
                yield Static(id="next-steps", classes="panel")
            with Grid(id="screening-summary"):
                yield Static(id="screening-flow", classes="panel")
                yield Static(id="agreement", classes="panel")
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
            ("screening-flow", "PRISMA 2020 · Screening"),
            ("agreement", "Agreement · Cohen's κ"),
        ):
            self.query_one(f"#{widget_id}").border_title = title
        self.query_one("#runs").loading = True
        self.query_one("#screening-flow").loading = True
        self.review_app.store_changed.subscribe(self, self._store_changed)
        self.load_status()

    def _store_changed(self, _reason: str) -> None:
        """Reload if visible (at most once a second), else on the next visit.

        A hidden screen does no work; while visible, a burst of changes (decisions made one
        key at a time) costs one reload a second: the first at once, the rest in one more.
        """
        if not self.is_current:
            self._stale = True
        elif self._reload_timer is None:
            wait = self._last_load + RELOAD_INTERVAL_S - time.monotonic()
            if wait <= 0:
                self.load_status()
            else:
                self._reload_timer = self.set_timer(wait, self._reload_due)

    def _reload_due(self) -> None:
        self._reload_timer = None
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

    def load_status(self) -> None:
        """Recompute everything the dashboard shows, in a thread worker."""
        self._last_load = time.monotonic()
        self._generation += 1
        self._load(self._generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="status",
          description="Loading the review's status")  # fmt: skip
    def _load(self, generation: int) -> None:
        """Compute the status, then the screening counts, in a thread (they query the store).

        The status comes first, posted as soon as it is known; the PRISMA counts and kappa
        take longer on a large review (about a second at 100,000 records).
        """
        ws = self.review_app.open_store()
        self.post_message(StatusLoaded(review_status(ws)))
        screening = Screening(
            counts=prisma_counts(engine=ws.engine, protocol=ws.protocol),
            agreement={
                stage: stage_agreement(engine=ws.engine, stage=stage).stats
                for stage in STAGE_LABELS
            },
            stopping=stage_estimate(engine=ws.engine, protocol=ws.protocol, stage="ta"),
        )
        self.post_message(ScreeningLoaded(screening, generation))

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

    @on(ScreeningLoaded)
    def show_screening(self, message: ScreeningLoaded) -> None:
        """Fill the screening panel, unless a newer load already did."""
        if message.generation < self._shown_generation:
            return
        self._shown_generation = message.generation
        flow = self.query_one("#screening-flow", Static)
        flow.loading = False
        flow.update(flow_text(message.screening.counts))
        self.query_one("#agreement", Static).update(
            agreement_text(message.screening.agreement) + stopping_text(message.screening.stopping)
        )

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Stop the loading indicators; the app reports the error itself."""
        self.query_one("#runs").loading = False
        self.query_one("#screening-flow").loading = False
        return False

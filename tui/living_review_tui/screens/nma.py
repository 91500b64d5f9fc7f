"""Provides ``NMAScreen``: one outcome's network meta-analysis, kept current by the living loop.

What it shows, for the outcome chosen at the top (all from the core's stored analysis runs,
:mod:`living_review.living`):

* the league table (row treatment vs column comparator, natural scale for ratio measures),
  intervals that exclude the null in bold;
* SUCRA (Bayesian) or P-scores (frequentist) as bars;
* the evidence network drawn in the terminal (:mod:`living_review.nma.terminal`: numbered
  nodes, heavier lines for more trials) with its legend and the edge list (trials per
  comparison);
* diagnostics (R-hat, ESS, divergences); a Bayesian run that did not converge is shown as
  NOT CONVERGED with its reasons, never with its estimates as conclusions: the frequentist
  estimate stays on screen instead, labelled as such;
* the version history with each run's diff against its comparison base.

The numbers are the frequentist run's until a Bayesian run of the same input (same data and
settings hashes) exists: the instant estimate first, replaced when the refit in the
background ends; the progress bar follows it. Refits belong to the app
(:class:`~living_review_tui.refits.AppRefits`): they run, and notify, whichever screen is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, ProgressBar, Select, Static

from living_review.living import RunRecord, current_input, diff_runs, history
from living_review.nma.result import NMAResult, Summary
from living_review.nma.terminal import legend, network_drawing, stored_network
from living_review.refit import RefitEvent
from living_review_tui.refits import ENGINE_LABELS
from living_review_tui.screens.base import ReviewScreen

#: Runs listed in the history table (newest first).
HISTORY_ROWS = 20
#: Width of a SUCRA bar in cells.
BAR_WIDTH = 24


# --- what the screen shows, computed by the core in a worker --------------------------------------


@dataclass(frozen=True)
class NMAView:
    """One outcome's runs as the screen shows them."""

    outcome: str
    label: str
    has_data: bool
    shown: RunRecord | None
    """The run whose numbers are on screen (see :func:`choose_shown`)."""
    frequentist: RunRecord | None
    bayes: RunRecord | None
    note: str
    """Why the shown run is the one shown (e.g. the Bayesian refit is running)."""
    up_to_date: dict[str, bool] = field(default_factory=dict)
    """Engine -> whether its latest run matches the current input."""
    history: list[tuple[RunRecord, str]] = field(default_factory=list)
    """(run, its diff summary), newest first."""


def choose_shown(freq: RunRecord | None, bayes: RunRecord | None) -> tuple[RunRecord | None, str]:
    """The run to show and why: Bayesian once it matches the newest input and converged.

    A Bayesian run of an older input is not shown over a newer frequentist one (the refit is
    still running), and one that did not converge is never shown as a conclusion.
    """
    if bayes is None:
        return freq, "Bayesian fit not yet available: showing the frequentist estimate"
    same_input = freq is None or (
        bayes.data_hash == freq.data_hash and bayes.created_at >= freq.created_at
    )
    if not same_input:
        return freq, (
            f"Bayesian v{bayes.version} is of earlier data: showing the frequentist estimate "
            "until a Bayesian fit of the current data is stored"
        )
    if not bayes.converged:
        why = "; ".join(bayes.diagnostics.get("messages", [])) or "diagnostics failed"
        return freq, (
            f"Bayesian v{bayes.version} NOT CONVERGED ({why}): not a conclusion; "
            "showing the frequentist estimate"
        )
    return bayes, "Bayesian fit of the current data"


def load_view(ws: Any, outcome: str) -> NMAView:
    """Read the outcome's runs, their diffs and its network from the store (worker thread)."""
    out = ws.protocol.outcome(outcome)
    runs = history(ws, outcome)
    inp = current_input(ws, outcome)
    latest = {e: next((r for r in reversed(runs) if r.engine == e), None)
              for e in ("frequentist", "bayes")}  # fmt: skip
    shown, note = choose_shown(latest["frequentist"], latest["bayes"])
    up_to_date = {
        e: r is not None and r.data_hash == inp.data_hash and r.settings_hash == inp.settings_hash
        for e, r in latest.items()
    }
    recent = runs[-HISTORY_ROWS:][::-1]
    return NMAView(
        outcome=outcome,
        label=out.label if out is not None else outcome,
        has_data=bool(inp.studies),
        shown=shown,
        frequentist=latest["frequentist"],
        bayes=latest["bayes"],
        note=note,
        up_to_date=up_to_date,
        history=[(r, diff_runs(comparison_base(runs, r), r).summary()) for r in recent],
    )


def comparison_base(runs: list[RunRecord], run: RunRecord) -> RunRecord | None:
    """As :func:`living_review.living.comparison_base`, from runs already read (oldest first):
    the newest earlier converged run of the same engine (one query for the whole history)."""
    earlier = [r for r in runs if r.engine == run.engine and r.id < run.id and r.converged]
    return earlier[-1] if earlier else None


# --- rendering (pure functions of the core's results) -------------------------------------------


def effect_text(s: Summary, log_scale: bool) -> str:
    """``0.82 (0.70, 0.96)`` on the natural scale (median for log measures)."""

    def f(v: float) -> str:
        x = math.exp(v) if log_scale else v
        return f"{x + 0.0:.2f}"

    mid = s.q50 if log_scale and s.q50 is not None else s.mean
    if s.q2_5 is None or s.q97_5 is None:
        return f(mid)
    return f"{f(mid)} ({f(s.q2_5)}, {f(s.q97_5)})"


def excludes_null(s: Summary) -> bool:
    """Whether the 95% interval excludes no difference (0 on the analysis scale)."""
    return s.q2_5 is not None and s.q97_5 is not None and (s.q2_5 > 0 or s.q97_5 < 0)


def sucra_text(res: NMAResult) -> Text:
    """One bar per treatment, best first (SUCRA or P-score, 0..1)."""
    width = max(len(t) for t in res.treatments)
    lines = []
    for r in sorted(res.ranking, key=lambda r: -r.sucra):
        filled = round(r.sucra * BAR_WIDTH)
        lines.append(
            Text.assemble(
                f"{r.treatment:<{width}} ",
                ("█" * filled, "green"),
                ("░" * (BAR_WIDTH - filled), "dim"),
                f" {r.sucra:.2f}",
            )
        )
    direction = "higher" if res.higher_is_better else "lower"
    lines.append(Text(f"{res.ranking_method}; {direction} is better", style="dim"))
    return Text("\n").join(lines)


def network_text(treatments: tuple[str, ...], edges: dict[tuple[str, str], int]) -> Text:
    """The network drawn (numbered nodes, a legend) and its edge list (trials per comparison)."""
    lines = [Text(f"{len(treatments)} treatments, {len(edges)} direct comparisons", style="bold")]
    lines += [network_drawing(treatments, edges), legend(treatments), Text("")]
    code = {t: i + 1 for i, t in enumerate(treatments)}
    for (a, b), n in sorted(edges.items(), key=lambda kv: (-kv[1], kv[0])):
        trials = f"{n} trial{'s' if n > 1 else ''}"
        lines.append(
            Text.assemble((f"{code[a]}–{code[b]} ", "dim"), f"{a} vs {b}  ", (trials, "dim"))
        )
    return Text("\n").join(lines)


def diagnostics_text(run: RunRecord) -> Text:
    """R-hat, ESS and divergences of a Bayesian run; what a frequentist run has instead."""
    d = run.diagnostics
    if run.engine != "bayes":
        tau = run.result.get("tau")
        tau_text = "" if not tau else f"; τ = {float(tau.get('q50') or tau['mean']):.3f}"
        return Text(f"Frequentist ({run.result.get('engine', 'REML')}){tau_text}.\n"
                    "No sampling: no MCMC diagnostics.", style="dim")  # fmt: skip
    status = (
        Text("converged", style="bold green")
        if run.converged
        else Text("NOT CONVERGED", style="bold red")
    )
    lines = [Text.assemble(f"{run.label()}: ", status)]
    if "max_rhat" in d:
        lines.append(
            Text(
                f"max R-hat {d['max_rhat']:.3f} · min ESS bulk {d['min_ess_bulk']:.0f}"
                f" / tail {d['min_ess_tail']:.0f} · divergences {d['divergences']}"
            )
        )
    lines += [Text(f"• {m}", style="red") for m in d.get("messages", [])]
    tau = run.result.get("tau")
    if tau:
        lines.append(Text(f"τ median {tau['q50']:.3f} (95% CrI {tau['q2.5']:.3f}, "
                          f"{tau['q97.5']:.3f})"))  # fmt: skip
    seconds = run.result.get("timing_seconds", {}).get("total")
    if seconds:
        lines.append(Text(f"fit took {seconds:.1f} s", style="dim"))
    return Text("\n").join(lines)


def status_text(view: NMAView) -> Text:
    """Which run is on screen and whether each engine is up to date."""
    if not view.has_data:
        return Text(f"{view.label}: no analysable final data in the analysis set.", style="dim")
    if view.shown is None:
        return Text(f"{view.label}: no run yet; the first refit is on its way.", style="yellow")
    run = view.shown
    res = run.result
    when = run.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = Text.assemble(
        (f"{run.label()}", "bold"),
        f" · {res.get('engine', run.engine)} · {len(run.studies)} studies · {when}",
    )
    stale = [ENGINE_LABELS[e] for e, ok in view.up_to_date.items() if not ok]
    tail = Text(view.note, style="yellow" if run.engine != "bayes" else "green")
    if stale:
        tail.append(f" · {' and '.join(stale)} not yet refitted to the current data",
                    style="yellow")  # fmt: skip
    lines = [head, tail]
    if view.history:
        lines.append(Text.assemble(("Latest change: ", "bold"), view.history[0][1]))
    return Text("\n").join(lines)


# --- the screen -------------------------------------------------------------------------------


class ViewLoaded(Message):
    """The outcome's runs were read by the core (sent from a worker thread)."""

    def __init__(self, view: NMAView) -> None:
        super().__init__()
        self.view = view


class NMAScreen(ReviewScreen):
    """One outcome's NMA: league table, SUCRA, network, diagnostics and version history."""

    SECTION = "NMA"
    CSS_PATH = "nma.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "next_outcome", "Outcome", id="nma-outcome",
                tooltip="Show the next outcome of the protocol"),
        Binding("u", "refit", "Refit", id="nma-refit",
                tooltip="Refit this outcome now (frequentist, then Bayesian)"),
        Binding("x", "cancel_refit", "Stop refit", id="nma-cancel",
                tooltip="Stop the refit running in the background"),
    ]  # fmt: skip

    view: NMAView | None = None
    """What is on screen (None until the first load)."""
    _stale = False

    def compose(self) -> ComposeResult:
        """Outcome picker and status above the league table and the side panels."""
        outcomes = self.review_app.workspace.protocol.outcomes
        primary = next((o.name for o in outcomes if o.primary), outcomes[0].name)
        yield Header()
        with Vertical(id="nma"):
            with Horizontal(id="nma-top"):
                yield Select(
                    [(f"{o.label} ({o.name})", o.name) for o in outcomes],
                    value=primary, allow_blank=False, id="outcome",
                )  # fmt: skip
                yield Static(id="nma-status")
            with Horizontal(id="refit-bar"):
                yield Static(id="refit-label")
                yield ProgressBar(total=100, show_eta=False, id="refit-progress")
            with Horizontal(id="nma-body"):
                with Vertical(id="nma-main"):
                    league: DataTable[str | Text] = DataTable(id="league", zebra_stripes=True)
                    league.border_title = "League table"
                    yield league
                    runs: DataTable[str | Text] = DataTable(
                        id="history", cursor_type="row", zebra_stripes=True
                    )
                    runs.border_title = "Versions (newest first) · what changed"
                    yield runs
                with VerticalScroll(id="nma-side"):
                    yield Static(id="sucra", classes="panel")
                    yield Static(id="network", classes="panel")
                    yield Static(id="diagnostics", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        """Titles, the history's columns, then follow the refits and load the outcome."""
        super().on_mount()
        for wid, title in (("sucra", "Ranking"), ("network", "Network"),
                           ("diagnostics", "Diagnostics")):  # fmt: skip
            self.query_one(f"#{wid}").border_title = title
        table = self.query_one("#history", DataTable)
        for key, label in (
            ("version", "Version"),
            ("when", "When (UTC)"),
            ("trigger", "Trigger"),
            ("n", "Studies"),
            ("diff", "What changed"),
        ):
            table.add_column(label, key=key)  # fmt: skip
        self.review_app.refits.changed.subscribe(self, self._refit_changed)
        self._paint_progress()
        self.load()

    @property
    def outcome(self) -> str:
        """The outcome chosen at the top."""
        return str(self.query_one("#outcome", Select).value)

    # -- actions -----------------------------------------------------------------------------------

    def action_next_outcome(self) -> None:
        """Show the next outcome (wrapping around)."""
        names = [o.name for o in self.review_app.workspace.protocol.outcomes]
        select = self.query_one("#outcome", Select)
        select.value = names[(names.index(self.outcome) + 1) % len(names)]

    def action_refit(self) -> None:
        """Refit this outcome now, even if it is up to date."""
        self.review_app.refits.refit(self.outcome)

    def action_cancel_refit(self) -> None:
        """Stop the background refit (its worker process is terminated)."""
        if not self.review_app.refits.cancel():
            self.notify("No refit is running.", timeout=3)

    @on(Select.Changed, "#outcome")
    def _outcome_changed(self) -> None:
        self.load()

    # -- loading -----------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the chosen outcome's runs in a thread worker."""
        self._stale = False
        self._load(self.outcome)

    @work(thread=True, exclusive=True, exit_on_error=False, group="nma",
          description="Loading the analysis runs")  # fmt: skip
    def _load(self, outcome: str) -> None:
        ws = self.review_app.open_store()
        self.post_message(ViewLoaded(load_view(ws, outcome)))

    def _refit_changed(self, event: RefitEvent) -> None:
        """Follow the refit: progress now, a reload when a run of this outcome was stored."""
        self._paint_progress()
        if event.kind == "result" and event.outcome == self.outcome:
            if self.is_current:
                self.load()
            else:
                self._stale = True

    def on_screen_resume(self) -> None:
        """Catch up with runs stored while another screen was shown."""
        self._paint_progress()
        if self._stale:
            self.load()

    # -- painting ------------------------------------------------------------------------------

    def _paint_progress(self) -> None:
        """The running fit (any outcome): its stage and progress, or hidden when idle."""
        state = self.review_app.refits.state
        bar = self.query_one("#refit-bar")
        running = state.running
        bar.display = running is not None
        if running is None:
            return
        label = Text.assemble(
            ("Refitting ", "bold"),
            f"{running.outcome} ({ENGINE_LABELS[running.engine]}): {running.message}",
            (f" · {running.elapsed:.0f} s" if running.elapsed else "", "dim"),
        )
        self.query_one("#refit-label", Static).update(label)
        progress = self.query_one("#refit-progress", ProgressBar)
        if running.fraction is None:
            progress.update(total=None)
        else:
            progress.update(total=100, progress=100 * running.fraction)

    @on(ViewLoaded)
    def _show(self, message: ViewLoaded) -> None:
        view = message.view
        if view.outcome != self.outcome:
            return  # an older load of another outcome
        self.view = view
        self.query_one("#nma-status", Static).update(status_text(view))
        self._paint_league(view)
        self._paint_history(view)
        run = view.shown
        res = run.nma_result() if run is not None else None
        self.query_one("#sucra", Static).update(
            sucra_text(res) if res is not None else Text("No run yet.", style="dim")
        )
        self.query_one("#network", Static).update(
            network_text(*net)
            if run is not None and (net := stored_network(run.result)) is not None
            else Text("No network yet.", style="dim")
        )
        diag = [diagnostics_text(r) for r in (view.bayes, view.frequentist) if r is not None]
        self.query_one("#diagnostics", Static).update(
            Text("\n\n").join(diag) if diag else Text("No run yet.", style="dim")
        )

    def _paint_league(self, view: NMAView) -> None:
        table = self.query_one("#league", DataTable)
        table.clear(columns=True)
        run = view.shown
        if run is None:
            table.border_subtitle = ""
            return
        res = run.nma_result()
        scale = f"{res.measure}, natural scale" if res.log_scale else res.measure
        interval = "95% CrI" if run.engine == "bayes" else "95% CI"
        table.border_title = f"League table · {run.label()}"
        table.border_subtitle = f"row vs column · {scale} · {interval} · bold: excludes the null"
        trts = res.treatments
        table.add_column("", key="_row")
        for t in trts:
            table.add_column(t, key=t)
        cells = {(e.treatment, e.comparator): e.summary for e in res.league_table}
        for t in trts:
            row: list[str | Text] = [Text(t, style="bold")]
            for u in trts:
                if t == u:
                    row.append(Text("—", style="dim", justify="center"))
                    continue
                s = cells[(t, u)]
                row.append(Text(effect_text(s, res.log_scale),
                                style="bold" if excludes_null(s) else ""))  # fmt: skip
            table.add_row(*row, key=t)

    def _paint_history(self, view: NMAView) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        for run, summary in view.history:
            version = Text(run.label())
            if run.engine == "bayes" and not run.converged:
                version.append(" NOT CONVERGED", style="bold red")
            table.add_row(
                version,
                run.created_at.astimezone(UTC).strftime("%m-%d %H:%M:%S"),
                run.trigger,
                str(len(run.studies)),
                Text(summary.removeprefix(run.label()).lstrip(", :")),
                key=str(run.id),
            )

"""Provides ``AppRefits``: the app-wide owner of the background NMA refits (the living loop).

The app owns the refits, not the NMA screen, so that an inclusion made on the full-text screen
refits the network while the NMA screen is not even open. Every ``store_changed`` is passed to
the core's :class:`~living_review.refit.RefitRunner`, which checks (in its own thread, at most
twice a second) whether an outcome's analysis set or data changed and, if so, refits it in a
child process: the frequentist estimate first, then the Bayesian fit. Its events come back from
the runner's thread as :class:`RefitUpdate` messages, so every widget update and notification
happens on the UI thread; screens follow them through the :attr:`AppRefits.changed` signal.

Only a living review (``[review] living = true``, the default) refits by itself; the worker
process starts with the first refit, so a review without extracted data never starts one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message
from textual.signal import Signal

from living_review.refit import ENGINES, EngineName, RefitEvent, RefitRunner, WorkerOptions

if TYPE_CHECKING:
    from living_review_tui.app import LivingReviewApp

ENGINE_LABELS = {"frequentist": "frequentist", "bayes": "Bayesian"}


class RefitUpdate(Message):
    """The refit runner reported a step (sent from the runner's thread to the app)."""

    def __init__(self, event: RefitEvent) -> None:
        super().__init__()
        self.event = event


#: Store changes that cannot move any outcome's analysis set or data, so they schedule no
#: staleness check (which reads every study's final data): records arriving or merging,
#: title/abstract decisions (only full-text inclusion admits a study) and extraction drafts
#: (only final values are analysed). Without this, screening at title/abstract ran a check
#: twice a second beside the reviewer's keys, for nothing.
ANALYSIS_NEUTRAL = frozenset({"import", "dedup", "screening-ta", "extraction-form"})


@dataclass
class FitProgress:
    """The fit running now, as the NMA screen shows it."""

    outcome: str
    engine: EngineName
    message: str = "starting"
    fraction: float | None = None
    elapsed: float = 0.0


@dataclass
class RefitState:
    """What the app knows about the refits (read by the NMA screen on the UI thread)."""

    running: FitProgress | None = None
    queued: list[str] = field(default_factory=list)
    """Outcomes of the running job (the ones still to come included)."""
    last: dict[str, RefitEvent] = field(default_factory=dict)
    """Outcome -> the last result or error event."""


class AppRefits:
    """Connects the store's changes to the refit runner and the runner's events to the UI."""

    def __init__(self, app: LivingReviewApp) -> None:
        self.app = app
        self.engines: tuple[EngineName, ...] = ENGINES
        """What a refit fits (tests set frequentist only, to stay fast)."""
        self.options = WorkerOptions()
        self.auto = app.workspace.protocol.review.living
        """Refit when the store changes (a living review), or only on request."""
        self.state = RefitState()
        self.changed: Signal[RefitEvent] = Signal(app, "refit-changed")
        """Published (on the UI thread) with every runner event the screens may show."""
        self.runner: RefitRunner | None = None

    def start(self) -> None:
        """Create the runner and check once for outcomes already stale (app mount)."""
        self.runner = RefitRunner(
            self.app.workspace,
            self._post,
            engines=self.engines,
            options=self.options,
        )
        if self.auto:
            self.app.store_changed.subscribe(self.app, self._store_changed)
            self.runner.schedule("start-up")

    def _post(self, event: RefitEvent) -> None:
        """Hand a runner event (from its thread) to the UI thread."""
        self.app.post_message(RefitUpdate(event))

    def stop(self) -> None:
        """End the worker process (the app is closing)."""
        if self.runner is not None:
            self.runner.close()

    def _store_changed(self, reason: str) -> None:
        if self.runner is not None and reason not in ANALYSIS_NEUTRAL:
            self.runner.schedule(reason)

    def refit(self, outcome: str | None) -> None:
        """Refit one outcome (or all) now, even if up to date: the user asked."""
        if self.runner is not None:
            self.runner.refit(None if outcome is None else [outcome], trigger="refit (TUI)")

    def cancel(self) -> bool:
        """Stop the running refit; False if none ran."""
        return self.runner is not None and self.runner.cancel()

    def handle(self, event: RefitEvent) -> None:
        """Keep the state, tell the user what happened, and tell the screens (UI thread)."""
        state = self.state
        notify = self.app.notify
        if event.kind == "started":
            state.queued = list(event.payload.get("outcomes", []))
            engines = " then ".join(ENGINE_LABELS[e] for e in event.payload.get("engines", []))
            notify(f"Refitting {', '.join(state.queued)} ({engines})…", title="Refit started",
                   timeout=4)  # fmt: skip
        elif event.kind in ("fit_started", "progress") and event.outcome and event.engine:
            running = state.running
            if running is None or (running.outcome, running.engine) != (
                event.outcome,
                event.engine,
            ):
                running = state.running = FitProgress(event.outcome, event.engine)
            running.message = event.message or running.message
            running.fraction = event.payload.get("fraction", running.fraction)
            running.elapsed = float(event.payload.get("elapsed", running.elapsed))
        elif event.kind == "result" and event.outcome:
            state.running = None
            state.last[event.outcome] = event
            p = event.payload
            converged = p.get("converged", True)
            notify(
                str(p.get("summary", "")),
                title=f"{p.get('label', event.outcome)} ready",
                severity="information" if converged else "warning",
                timeout=12 if event.engine == "bayes" else 6,
                markup=False,
            )
        elif event.kind == "error":
            state.running = None
            if event.outcome:
                state.last[event.outcome] = event
            where = f"{event.outcome} ({ENGINE_LABELS.get(event.engine or '', '')})" if (
                event.outcome) else "refit"  # fmt: skip
            notify(event.message, title=f"Refit of {where} failed", severity="error",
                   timeout=12, markup=False)  # fmt: skip
        elif event.kind in ("finished", "skipped", "abandoned", "cancelled"):
            state.running = None
            state.queued = []
            if event.kind == "finished":
                fits = event.payload.get("fits", [])
                if fits and any(f.get("engine") == "bayes" for f in fits):
                    notify(f"{len(fits)} fit(s) recorded.", title="Refit finished", timeout=4)
            elif event.kind == "cancelled":
                notify("The running refit was stopped.", title="Refit cancelled", timeout=4)
        self.changed.publish(event)

"""Provides :class:`RefitRunner`: background refits of stale outcomes in a child process.

Why a child process. A Bayesian refit is seconds of CPU-bound sampling (nutpie, PyMC): in a
thread of the TUI it would compete with the UI for the GIL, and it cannot be stopped half-way.
In a process it is *cancellable* (terminate), runs at a lower priority (``nice``) and cannot
take the app down; its output goes to a log, never over the app's terminal.

Why long-lived workers, not a process per refit. Measured on the example review's OS
network (2 shared cores): importing PyMC/nutpie costs ~4 s and nutpie's compilation 10-28 s per
model shape, while sampling takes 2-4 s. A process spawned per refit pays both every time
(15-35 s); a worker that stays up keeps the compiled models (:mod:`living_review.nma.bayes`
caches them per shape), so a refit of an unchanged shape costs only the sampling. Including or
excluding a trial changes the shape (one contrast more or less), so after each Bayesian fit the
idle worker also compiles the shapes of "one two-arm trial more" and "one trial fewer"
(:func:`neighbour_networks`): the next inclusion or exclusion finds its model compiled.
Frequentist fits have a worker of their own (no PyMC, milliseconds per fit), so the instant
estimate of a new change never waits behind a Bayesian fit of an older one.

Order. A job fits every stale outcome with the frequentist engine first (milliseconds: the
numbers appear at once), then with the Bayesian engine. Each fit goes through
:func:`living_review.living.fit_and_record_full`, which stores an immutable analysis run; the
worker adds the run's diff against its comparison base and reports every step as a
:class:`RefitEvent`.

Scheduling. :meth:`RefitRunner.schedule` may be called on every store change: the first change
is checked at once, later ones at most every ``debounce_s`` seconds; the check compares each
outcome's current input with its latest run (:func:`living_review.living.compare_input`) and
starts a job only for inputs not already being fitted. A job arriving while another runs waits
(merged with any other waiting one); the running job skips the fits it has not started yet, so
the new data's frequentist numbers come first. :meth:`RefitRunner.cancel` stops the running job
at once by terminating the worker (a fresh one starts for the next job).

No Textual here (this is core): the TUI passes a callback, called from a reader thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from living_review.errors import LsrError

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.queues import Queue
    from multiprocessing.sharedctypes import Synchronized

    from living_review.nma.data import Network
    from living_review.nma.spec import FitSpec
    from living_review.workspace import Workspace

EngineName = Literal["frequentist", "bayes"]
#: Fit order within a job: the instant estimate first.
ENGINES: tuple[EngineName, ...] = ("frequentist", "bayes")

EventKind = Literal[
    "ready",  # the worker is up and has imported the Bayesian stack (when warm)
    "started",  # a job started: payload["outcomes"]
    "fit_started",  # one fit of (outcome, engine) started: payload["expected_seconds"]
    "progress",  # a fit advanced: message, payload["fraction"] (None: unknown)
    "result",  # one fit ended and was recorded: payload (see _Worker.fit)
    "error",  # one fit (or the whole job) failed: message, payload["traceback"] if a bug
    "finished",  # the job ended (also after errors in single fits): payload["fits"]
    "skipped",  # nothing to refit: every outcome is up to date
    "abandoned",  # a newer request superseded the job before it ended
    "cancelled",  # cancel() terminated the job
    "warmed",  # the idle worker compiled the models of the neighbouring network shapes
]

#: A fit's input as the runner tracks it: (outcome, engine, data hash, settings hash).
Target = tuple[str, EngineName, str, str]

#: Seconds between progress reports of a running fit.
HEARTBEAT_S = 0.5


@dataclass(frozen=True)
class RefitRequest:
    """What one job refits: the given outcomes, or (``None``) every outcome with data.

    Without ``force`` a fit runs only when the outcome is stale for that engine (checked again
    in the worker, just before the fit), so a request can never refit twice for nothing.
    """

    job_id: int
    outcomes: tuple[str, ...] | None = None
    engines: tuple[EngineName, ...] = ENGINES
    trigger: str = "store change"
    """Why the refit runs, stored with the analysis run (e.g. ``"screening"``)."""
    force: bool = False
    """Fit even when up to date (a refit the user asked for)."""
    targets: frozenset[Target] = frozenset()
    """The stale inputs that made the runner ask (so the same ones do not ask again)."""

    def merged(self, newer: RefitRequest) -> RefitRequest:
        """One request that covers both (the newer one's id and trigger)."""
        outcomes: tuple[str, ...] | None = None
        if self.outcomes is not None and newer.outcomes is not None:
            outcomes = tuple(dict.fromkeys(self.outcomes + newer.outcomes))
        return replace(
            newer,
            outcomes=outcomes,
            engines=tuple(e for e in ENGINES if e in self.engines or e in newer.engines),
            force=self.force or newer.force,
            targets=self.targets | newer.targets,
        )


@dataclass(frozen=True)
class RefitEvent:
    """One step of a job, as the worker (or the runner) reported it; picklable, plain data."""

    kind: EventKind
    job_id: int | None = None
    outcome: str | None = None
    engine: EngineName | None = None
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def is_bug(self) -> bool:
        """An error that is a bug in living-review (it carries a traceback), not bad data."""
        return self.kind == "error" and "traceback" in self.payload


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker process runs."""

    nice: int = 10
    """Added niceness: sampling yields the CPU to the app the user is typing in."""
    warm: bool = True
    """Import the Bayesian stack as soon as the worker starts (in a thread, so a frequentist
    fit asked meanwhile does not wait for it)."""
    prewarm: bool = True
    """After a Bayesian fit, compile the shapes of one trial more and one fewer (see module)."""
    log_path: str | None = None
    """Where the worker's stdout/stderr go (PyMC warnings); default: discarded, so they never
    draw over the terminal the app owns."""


# --------------------------------------------------------------------------- the worker
class _Superseded(Exception):
    """A newer request arrived: stop before the next fit."""


def _worker_main(
    root: str,
    requests: Queue[RefitRequest | None],
    events: Queue[RefitEvent],
    latest: Synchronized[int],
    options: WorkerOptions,
    engine: EngineName,
) -> None:
    """The worker process: open the workspace, then run jobs until told to stop (``None``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the worker ends
    target = os.open(options.log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    if options.nice:
        with contextlib.suppress(OSError):
            os.nice(options.nice)
    from living_review.workspace import Workspace

    ws = Workspace(Path(root))
    if options.warm:
        threading.Thread(target=_import_bayes_stack, name="warm", daemon=True).start()
    events.put(RefitEvent("ready", engine=engine, payload={"pid": os.getpid()}))
    worker = _Worker(ws, events, latest)
    while True:
        request = requests.get()
        if request is None:
            break
        worker.run(request)
        if options.prewarm:
            worker.prewarm(requests)
    ws.close()


def _import_bayes_stack() -> None:
    """Import PyMC and nutpie now (seconds), so the first Bayesian refit does not pay it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nutpie  # type: ignore[import-untyped]  # noqa: F401
        import pymc  # noqa: F401


class _Worker:
    """Runs jobs in the worker process and reports each step."""

    def __init__(self, ws: Workspace, events: Queue[RefitEvent], latest: Synchronized[int]) -> None:
        self.ws = ws
        self.events = events
        self.latest = latest
        self.durations: dict[tuple[str, str], float] = {}
        """Seconds the last fit of (outcome, engine) took: the progress estimate of the next."""
        self.to_prewarm: dict[str, tuple[Network, FitSpec]] = {}
        """Outcome -> network and spec of its last Bayesian fit, whose neighbours to compile."""

    def emit(self, kind: EventKind, request: RefitRequest, **kw: Any) -> None:
        self.events.put(RefitEvent(kind, request.job_id, **kw))

    def run(self, request: RefitRequest) -> None:
        """Fit every requested outcome that needs it: all frequentist fits, then Bayesian."""
        from living_review import living

        fits: list[dict[str, Any]] = []
        try:
            if request.targets and not request.force:
                # The runner found these stale a moment ago: no second check (each check
                # reads every outcome's data), so the instant estimate stays instant.
                todo = list(dict.fromkeys((t[0], t[1]) for t in sorted(request.targets)))
            else:
                outcomes = request.outcomes
                if outcomes is None:
                    outcomes = tuple(s.outcome for s in living.stale_outcomes(self.ws))
                todo = [
                    (outcome, engine)
                    for engine in request.engines
                    for outcome in outcomes
                    if request.force or living.staleness(self.ws, outcome, engine=engine).stale
                ]
            if not todo:
                self.emit("skipped", request, message="every outcome is up to date")
                return
            outcomes_todo = list(dict.fromkeys(o for o, _ in todo))
            engines = list(request.engines)
            self.emit("started", request, payload={"outcomes": outcomes_todo, "engines": engines})
            failed: set[str] = set()
            for outcome, engine in todo:
                if outcome in failed:
                    continue
                if self.latest.value > request.job_id:
                    raise _Superseded
                fit = self.fit(request, outcome, engine)
                if fit is None:
                    failed.add(outcome)  # no Bayesian fit of data the frequentist one refused
                else:
                    fits.append(fit)
        except _Superseded:
            self.emit("abandoned", request, message="superseded by a newer change",
                      payload={"fits": fits})  # fmt: skip
            return
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker lives on
            self.emit("error", request, **_error_fields(exc))
        self.emit("finished", request, payload={"fits": fits})

    def fit(self, request: RefitRequest, outcome: str, engine: EngineName) -> dict[str, Any] | None:
        """One fit of one outcome, recorded as an analysis run; its summary, None if it failed."""
        from living_review import living

        expected = self.durations.get((outcome, engine))
        self.emit("fit_started", request, outcome=outcome, engine=engine,
                  payload={"expected_seconds": expected})  # fmt: skip
        stage: dict[str, Any] = {"message": "starting", "fraction": 0.0}
        done = threading.Event()

        def progress(message: str, fraction: float) -> None:
            stage.update(message=message, fraction=fraction)
            self.emit("progress", request, outcome=outcome, engine=engine, message=message,
                      payload={"fraction": fraction, "expected_seconds": expected})  # fmt: skip

        def heartbeat() -> None:
            """Between the core's few progress calls, say how long the fit has run."""
            t0 = time.perf_counter()
            while not done.wait(HEARTBEAT_S):
                elapsed = time.perf_counter() - t0
                frac = None
                if expected:
                    frac = min(0.95, max(float(stage["fraction"]), elapsed / expected))
                self.emit("progress", request, outcome=outcome, engine=engine,
                          message=str(stage["message"]),
                          payload={"fraction": frac, "elapsed": elapsed,
                                   "expected_seconds": expected})  # fmt: skip

        beat = threading.Thread(target=heartbeat, name="heartbeat", daemon=True)
        beat.start()
        t0 = time.perf_counter()
        try:
            rec, net, res = living.fit_and_record_full(
                self.ws, outcome, engine=engine, trigger=request.trigger, progress=progress
            )
            diff = living.diff_latest(self.ws, rec)
        except Exception as exc:  # noqa: BLE001 - one outcome's failure is reported, not fatal
            self.emit("error", request, outcome=outcome, engine=engine, **_error_fields(exc))
            return None
        finally:
            done.set()
            beat.join()
        seconds = time.perf_counter() - t0
        self.durations[(outcome, engine)] = seconds
        payload = {
            "run_id": rec.id,
            "version": rec.version,
            "label": rec.label(),
            "converged": rec.converged,
            "studies": list(rec.studies),
            "summary": diff.summary(),
            "diff": diff.as_json(),
            "seconds": seconds,
        }
        self.emit("result", request, outcome=outcome, engine=engine, payload=payload)
        if engine == "bayes" and "spec" in res.extra:
            self.to_prewarm[outcome] = (net, _spec_from_dict(res.extra["spec"]))
        return {"outcome": outcome, "engine": engine, **payload}

    def prewarm(self, requests: Queue[RefitRequest | None]) -> None:
        """Compile the neighbouring shapes of the last Bayesian fits while nothing waits.

        A compile cannot be interrupted; a job arriving meanwhile waits for that one compile
        (the check between compiles lets it go first otherwise).
        """
        from living_review.nma.bayes import fit_bayes, uses_mcmc

        compiled = 0
        t0 = time.perf_counter()
        while self.to_prewarm:
            _outcome, (net, spec) = self.to_prewarm.popitem()
            # The compiled model is keyed by model, priors and shapes, not by draws or chains.
            tiny = replace(spec, chains=1, tune=10, draws=10, extensions=0)
            if not uses_mcmc(net, tiny):  # exact draws: nothing to compile
                continue
            for variant in neighbour_networks(net):
                if not requests.empty():
                    return
                try:
                    fit_bayes(variant, tiny)
                except Exception:  # noqa: BLE001, S112 - best effort: the real fit compiles
                    continue
                compiled += 1
        if compiled:
            self.events.put(
                RefitEvent("warmed", payload={"models": compiled,
                                              "seconds": time.perf_counter() - t0})
            )  # fmt: skip


def _spec_from_dict(obj: dict[str, Any]) -> FitSpec:
    """Rebuild a :class:`FitSpec` from ``FitSpec.as_dict()`` (as stored with a result)."""
    from living_review.nma.spec import FitSpec, Priors, Thresholds

    return FitSpec(
        **{
            **obj,
            "priors": Priors(**obj["priors"]),
            "thresholds": Thresholds(**obj["thresholds"]),
        }
    )


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """A user error is its message; anything else is a bug: its traceback goes along."""
    if isinstance(exc, LsrError):
        return {"message": str(exc)}
    return {
        "message": f"{type(exc).__name__}: {exc}",
        "payload": {"traceback": "".join(traceback.format_exception(exc))},
    }


def neighbour_networks(net: Network) -> list[Network]:
    """Networks shaped like ``net`` with one two-arm trial more, and with one trial fewer.

    Only their shapes matter (the compiled model is reused with the real data swapped in), so
    the extra trial is a copy of an existing two-arm trial under another id.
    """
    out: list[Network] = []
    arm2 = [s for s in net.arm_studies if len(s.arms) == 2]
    con2 = [s for s in net.contrast_studies if len(s.treatments) == 2]
    if arm2 and len(arm2) >= len(con2):
        extra_arm = replace(arm2[-1], study="__shape__")
        out.append(replace(net, arm_studies=(*net.arm_studies, extra_arm)))
    elif con2:
        extra_con = replace(con2[-1], study="__shape__")
        out.append(replace(net, contrast_studies=(*net.contrast_studies, extra_con)))
    if net.n_studies > 2:
        if net.contrast_studies:
            out.append(replace(net, contrast_studies=net.contrast_studies[:-1]))
        else:
            out.append(replace(net, arm_studies=net.arm_studies[:-1]))
    return out


# --------------------------------------------------------------------------- the runner
def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    The tracker passes ``sys.stderr.fileno()`` to its process; under a TUI that captures
    stderr (Textual) the stand-in's fileno is -1 and starting it fails ("bad value(s) in
    fds_to_keep"), so the interpreter's own stderr is used while it starts.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        try:
            usable = saved is not None and saved.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            usable = False
        if not usable and sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


@dataclass
class _Generation:
    """One worker process and its queues (a terminated worker's queues are not reused)."""

    process: SpawnProcess
    requests: Queue[RefitRequest | None]
    events: Queue[RefitEvent]
    retired: bool = False


@dataclass
class _Lane:
    """The jobs of one engine: its worker, the job it runs and the one waiting."""

    engine: EngineName
    options: WorkerOptions
    gen: _Generation | None = None
    running: RefitRequest | None = None
    pending: RefitRequest | None = None

    def add(self, request: RefitRequest) -> None:
        self.pending = request if self.pending is None else self.pending.merged(request)


def stale_targets(ws: Workspace, engines: Sequence[EngineName] = ENGINES) -> set[Target]:
    """The (outcome, engine, data hash, settings hash) of every stale fit, per the core.

    One :func:`~living_review.living.current_input` per outcome serves every engine.
    """
    from living_review import living

    out: set[Target] = set()
    for o in ws.protocol.outcomes:
        inp = living.current_input(ws, o.name)
        if not inp.studies:
            continue
        for engine in engines:
            if living.compare_input(inp, living.latest_run(ws, o.name, engine)):
                out.add((o.name, engine, inp.data_hash, inp.settings_hash))
    return out


class RefitRunner:
    """Runs refits in long-lived worker processes; thread-safe; reports through ``on_event``.

    Two lanes, one worker each: the frequentist lane (light: no PyMC) and the Bayesian lane
    (PyMC warm, models compiled). A job's frequentist part runs first; its Bayesian part starts
    when the frequentist lane is idle. So the instant estimate of a new change is never stuck
    behind a Bayesian fit of an older one, and the two never compete for the two cores for
    more than the milliseconds a frequentist fit takes.

    ``on_event`` is called from the runner's threads (never the caller's): a UI must hand the
    event over to its own thread (in Textual: ``post_message``).
    """

    def __init__(
        self,
        workspace: Workspace,
        on_event: Callable[[RefitEvent], None],
        *,
        debounce_s: float = 0.5,
        engines: Sequence[EngineName] = ENGINES,
        options: WorkerOptions | None = None,
    ) -> None:
        self.workspace = workspace
        self.on_event = on_event
        self.debounce_s = debounce_s
        """Store changes are checked for staleness at most this often (the first at once)."""
        self.engines: tuple[EngineName, ...] = tuple(engines)
        self.options = options or WorkerOptions()
        """The Bayesian worker's options (the frequentist one never imports PyMC)."""
        self._ctx = mp.get_context("spawn")  # fork would copy the app's threads and locks
        _start_resource_tracker()
        self._latest: Synchronized[int] = self._ctx.Value("q", 0)
        self._lock = threading.RLock()
        light = replace(self.options, warm=False, prewarm=False)
        self._lanes: dict[EngineName, _Lane] = {
            "frequentist": _Lane("frequentist", light),
            "bayes": _Lane("bayes", self.options),
        }
        self._ids = 0
        self._timer: threading.Timer | None = None
        self._checking = False
        self._last_check = float("-inf")
        self._reasons: list[str] = []
        self._closed = False

    # -- state -------------------------------------------------------------------------------
    @property
    def running(self) -> RefitRequest | None:
        """The job a worker is running (the Bayesian one if both run), if any."""
        return self._lanes["bayes"].running or self._lanes["frequentist"].running

    @property
    def busy(self) -> bool:
        """Whether a job runs or waits, or a staleness check is due or running."""
        return (
            any(lane.running or lane.pending for lane in self._lanes.values())
            or self._timer is not None
            or self._checking
        )

    # -- requests ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the Bayesian worker now, so it warms up while the user works (optional)."""
        with self._lock:
            if not self._closed and "bayes" in self.engines:
                self._ensure_worker(self._lanes["bayes"])

    def schedule(self, reason: str = "store change") -> None:
        """Refit whatever a store change made stale; cheap enough to call on every change.

        The check runs in a timer thread: at once after a quiet spell, else at most once per
        ``debounce_s`` (a reviewer screening fast makes one check a second, not one a key).
        """
        with self._lock:
            if self._closed:
                return
            self._reasons.append(reason)
            if self._timer is not None:
                return  # a check is due; it will see this change too
            wait = max(0.0, self._last_check + self.debounce_s - time.monotonic())
            self._timer = threading.Timer(wait, self._check)
            self._timer.daemon = True
            self._timer.start()

    def _check(self) -> None:
        with self._lock:
            self._timer = None
            self._checking = True
            self._last_check = time.monotonic()
            reasons, self._reasons = self._reasons, []
        try:
            targets = stale_targets(self.workspace, self.engines)
        except Exception as exc:  # noqa: BLE001 - reported like a failed job
            self.on_event(RefitEvent("error", **_error_fields(exc)))
            targets = set()
        with self._lock:
            self._checking = False
            covered: set[Target] = set()
            for lane in self._lanes.values():
                for job in (lane.running, lane.pending):
                    if job is not None:
                        covered |= job.targets
            new = targets - covered
            if new and not self._closed:
                trigger = ", ".join(dict.fromkeys(reasons)) or "store change"
                engines = tuple(e for e in self.engines if any(t[1] == e for t in new))
                self._submit(None, trigger=trigger, engines=engines, force=False,
                             targets=frozenset(new))  # fmt: skip

    def refit(
        self,
        outcomes: Sequence[str] | None = None,
        *,
        trigger: str = "refit",
        engines: Sequence[EngineName] | None = None,
        force: bool = True,
    ) -> int:
        """Queue a job now (no staleness check first); returns its id.

        ``outcomes`` None: every outcome with data. ``force`` fits even what is up to date.
        """
        with self._lock:
            return self._submit(
                None if outcomes is None else tuple(outcomes),
                trigger=trigger, engines=tuple(engines or self.engines), force=force,
                targets=frozenset(),
            )  # fmt: skip

    def _submit(
        self,
        outcomes: tuple[str, ...] | None,
        *,
        trigger: str,
        engines: tuple[EngineName, ...],
        force: bool,
        targets: frozenset[Target],
    ) -> int:
        """Queue a request (lock held): it supersedes the running jobs' remaining fits."""
        self._ids += 1
        self._latest.value = self._ids
        for engine in engines:
            mine = frozenset(t for t in targets if t[1] == engine)
            self._lanes[engine].add(
                RefitRequest(self._ids, outcomes, (engine,), trigger, force, mine)
            )
        self._dispatch()
        return self._ids

    def _dispatch(self) -> None:
        """Send each lane its waiting request if idle (lock held); Bayesian after frequentist."""
        if self._closed:
            return
        freq = self._lanes["frequentist"]
        for lane in self._lanes.values():
            if lane.running is not None or lane.pending is None:
                continue
            if lane is not freq and (freq.running is not None or freq.pending is not None):
                continue  # the instant estimate first
            gen = self._ensure_worker(lane)
            lane.running, lane.pending = lane.pending, None
            gen.requests.put(lane.running)

    def cancel(self) -> bool:
        """Stop the running jobs now (terminates their workers); False if none was running.

        Waiting jobs are dropped too; a fresh worker starts with the next request.
        """
        with self._lock:
            jobs = []
            for lane in self._lanes.values():
                lane.pending = None
                if lane.running is not None:
                    jobs.append(lane.running.job_id)
                    lane.running = None
                    self._stop_worker(lane, terminate=True)
        for job_id in dict.fromkeys(jobs):
            self.on_event(RefitEvent("cancelled", job_id, message="refit cancelled"))
        return bool(jobs)

    def close(self) -> None:
        """Stop the timer and the workers (terminating running jobs); the runner is done."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for lane in self._lanes.values():
                lane.pending = None
                self._stop_worker(lane, terminate=lane.running is not None)
                lane.running = None

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job runs, waits or is being checked (scripts, benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.busy:
                return True
            time.sleep(0.02)
        return not self.busy

    # -- the workers -------------------------------------------------------------------------
    def _ensure_worker(self, lane: _Lane) -> _Generation:
        gen = lane.gen
        if gen is not None and gen.process.is_alive():
            return gen
        if gen is not None:
            gen.retired = True
        requests: Queue[RefitRequest | None] = self._ctx.Queue()
        events: Queue[RefitEvent] = self._ctx.Queue()
        process = self._ctx.Process(
            target=_worker_main,
            args=(
                str(self.workspace.root),
                requests,
                events,
                self._latest,
                lane.options,
                lane.engine,
            ),
            name=f"lsr-refit-{lane.engine}",
            daemon=True,
        )
        process.start()
        gen = _Generation(process, requests, events)
        threading.Thread(
            target=self._read, args=(lane, gen), name=f"lsr-refit-{lane.engine}", daemon=True
        ).start()
        lane.gen = gen
        return gen

    def _stop_worker(self, lane: _Lane, *, terminate: bool) -> None:
        """End a lane's worker (lock held): at once, or after its current job."""
        gen, lane.gen = lane.gen, None
        if gen is None:
            return
        gen.retired = True
        if terminate:
            gen.process.terminate()
        else:
            with contextlib.suppress(Exception):
                gen.requests.put(None)
        gen.process.join(timeout=5)
        if gen.process.is_alive():
            gen.process.kill()
            gen.process.join(timeout=5)

    def _read(self, lane: _Lane, gen: _Generation) -> None:
        """Forward a worker's events until it is retired or dies."""
        while True:
            try:
                event = gen.events.get(timeout=0.2)
            except queue.Empty:
                if gen.retired:
                    return
                if not gen.process.is_alive():
                    self._worker_died(lane, gen)
                    return
                continue
            except (EOFError, OSError):  # the pipe closed with a terminated worker
                return
            if gen.retired:
                return
            self._handle(lane, event)

    def _handle(self, lane: _Lane, event: RefitEvent) -> None:
        self.on_event(event)
        if event.kind in ("finished", "skipped", "abandoned"):
            with self._lock:
                if lane.running is not None and lane.running.job_id == event.job_id:
                    lane.running = None
                self._dispatch()

    def _worker_died(self, lane: _Lane, gen: _Generation) -> None:
        """A worker ended without being told (killed, out of memory): fail its job."""
        with self._lock:
            job = lane.running
            lane.running = None
            if lane.gen is gen:
                lane.gen = None
            gen.retired = True
        code = gen.process.exitcode
        self.on_event(
            RefitEvent("error", None if job is None else job.job_id, engine=lane.engine,
                       message=f"the refit worker stopped unexpectedly (exit code {code})")
        )  # fmt: skip
        with self._lock:
            self._dispatch()


@contextlib.contextmanager
def running(
    workspace: Workspace, on_event: Callable[[RefitEvent], None], **kw: Any
) -> Iterator[RefitRunner]:
    """A started runner, closed on exit (for scripts, tests and benchmarks)."""
    runner = RefitRunner(workspace, on_event, **kw)
    runner.start()
    try:
        yield runner
    finally:
        runner.close()

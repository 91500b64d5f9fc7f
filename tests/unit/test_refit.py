"""The background refit runner: a child process, frequentist first, cancellable, honest errors.

Real parts throughout: a real workspace (SQLite file, or PostgreSQL when LSR_TEST_PG_URL is
set) holding the example review's verified trial data, a real spawned worker process running
the core's ``fit_and_record``, and real PyMC/nutpie for the Bayesian fits (tiny settings).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from living_review import living
from living_review.extraction.example import load_example
from living_review.refit import RefitEvent, RefitRunner, WorkerOptions, running
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

#: Bayesian settings small enough for a test (the protocol requires tune, draws >= 100).
#: NUTS is forced: the example's hazard-ratio outcomes would otherwise be drawn exactly in
#: milliseconds, and the runner's cancellation needs a fit that lasts (binary outcomes).
TINY_NMA = (
    '[nma]\nreference = "placebo"\nmodel = "re"\nchains = 2\ntune = 100\ndraws = 100\n'
    'sampler = "nutpie"\n'
)


def example_review(ws: Workspace, shared: Path) -> Workspace:
    """The example review's protocol (tiny sampler settings) and its verified trial data."""
    text = (REPO / "protocol" / "review.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[nma]")
    tail = rest[rest.index("\n[") :] if "\n[" in rest else ""
    ws.protocol_path.write_text(head + TINY_NMA + tail, encoding="utf-8")
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")
    return ws


class Events:
    """Collects a runner's events (from its threads) and waits for them."""

    def __init__(self) -> None:
        self.items: list[RefitEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: RefitEvent) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait(self, pred: Callable[[RefitEvent], bool], timeout: float = 120) -> RefitEvent:
        """The first event matching ``pred`` (waiting for it), else fail with what came."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((e for e in self.items if pred(e)), None)
                if found is not None:
                    return found
                left = end - time.monotonic()
                if left <= 0:
                    kinds = [(e.kind, e.outcome, e.engine, e.message) for e in self.items]
                    raise AssertionError(f"no such event within {timeout} s; got {kinds}")
                self._cond.wait(left)

    def kinds(self) -> list[tuple[str, str | None, str | None]]:
        with self._cond:
            return [(e.kind, e.outcome, e.engine) for e in self.items if e.kind != "progress"]


@pytest.fixture
def review(workspace: Workspace, shared: Path) -> Workspace:
    return example_review(workspace, shared)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def quick(review: Workspace, events: Events) -> Iterator[RefitRunner]:
    """A runner whose worker does not import the Bayesian stack (frequentist tests)."""
    with running(review, events, engines=("frequentist",), debounce_s=0.2,
                 options=WorkerOptions(warm=False, prewarm=False)) as runner:  # fmt: skip
        yield runner


def test_schedule_refits_stale_outcomes_once_then_nothing(
    review: Workspace, events: Events, quick: RefitRunner
) -> None:
    for _ in range(5):  # a burst of store changes: one check, one job
        quick.schedule("screening")
    events.wait(lambda e: e.kind == "finished")
    assert quick.wait_idle(30)
    started = [e for e in events.items if e.kind == "started"]
    assert len(started) == 1
    assert started[0].payload["outcomes"] == ["OS", "PFS"]  # outcomes with HR data
    results = [e for e in events.items if e.kind == "result"]
    assert [(e.outcome, e.engine) for e in results] == [("OS", "frequentist"),
                                                        ("PFS", "frequentist")]  # fmt: skip
    assert results[0].payload["studies"] == sorted(living.current_input(review, "OS").studies)
    assert living.latest_run(review, "OS", "frequentist") is not None
    assert "(first run)" in results[0].payload["summary"]

    quick.schedule("screening")  # nothing changed: nothing is refitted
    time.sleep(0.5)
    assert quick.wait_idle(30)
    assert len([e for e in events.items if e.kind == "started"]) == 1


def test_a_user_error_in_the_child_is_reported_and_the_job_goes_on(
    review: Workspace, events: Events, quick: RefitRunner
) -> None:
    quick.refit(["ORR", "OS"], engines=["frequentist"])  # ORR: percentages only, no data
    done = events.wait(lambda e: e.kind == "finished")
    error = events.wait(lambda e: e.kind == "error")
    assert error.outcome == "ORR"
    assert "ORR" in error.message and "no analysable" in error.message
    assert not error.is_bug  # a message for the user, no traceback
    assert [f["outcome"] for f in done.payload["fits"]] == ["OS"]


def test_a_worker_that_dies_fails_its_job_and_a_new_one_takes_over(
    review: Workspace, events: Events, quick: RefitRunner
) -> None:
    quick.refit(["OS"])
    ready = events.wait(lambda e: e.kind == "ready", timeout=60)
    events.wait(lambda e: e.kind == "result")
    os.kill(ready.payload["pid"], signal.SIGKILL)
    died = events.wait(lambda e: e.kind == "error" and "unexpectedly" in e.message, timeout=30)
    assert "exit code -9" in died.message
    quick.refit(["PFS"])  # a fresh worker serves the next job
    assert events.wait(lambda e: e.kind == "result" and e.outcome == "PFS").engine == "frequentist"


@pytest.mark.slow
def test_frequentist_first_then_bayes_and_cancel_terminates(
    review: Workspace, events: Events
) -> None:
    if review.engine.dialect.name != "sqlite":  # refits on PostgreSQL: the tests above
        pytest.skip("the sampler does not depend on the store's engine")
    with running(review, events, options=WorkerOptions(prewarm=False)) as runner:
        runner.refit(["OS", "PFS"])
        bayes_started = events.wait(lambda e: e.kind == "fit_started" and e.engine == "bayes")
        # Both frequentist estimates were recorded before any Bayesian fit began.
        kinds = events.kinds()
        first_bayes = kinds.index(("fit_started", "OS", "bayes"))
        assert ("result", "OS", "frequentist") in kinds[:first_bayes]
        assert ("result", "PFS", "frequentist") in kinds[:first_bayes]
        assert bayes_started.outcome == "OS"
        # The Bayesian lane's worker (the frequentist one is idle and stays up).
        pid = events.wait(lambda e: e.kind == "ready" and e.engine == "bayes").payload["pid"]

        assert runner.cancel()
        assert events.wait(lambda e: e.kind == "cancelled").job_id == bayes_started.job_id
        with pytest.raises(ProcessLookupError):  # the worker was terminated
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        assert not runner.busy
        assert living.latest_run(review, "OS", "bayes") is None  # nothing half-written
        assert not runner.cancel()  # nothing left to cancel

        # The next job runs in a new worker, to the end: a Bayesian run is stored.
        runner.refit(["OS"], engines=["bayes"])
        result = events.wait(lambda e: e.kind == "result" and e.engine == "bayes", timeout=240)
        run = living.get_run(review, result.payload["run_id"])
        assert (run.engine, run.outcome, run.version) == ("bayes", "OS", 1)
        assert result.payload["converged"] == run.converged

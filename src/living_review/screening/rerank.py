"""Provides ``rerank_stage`` (retrain, store a ranking, re-estimate recall) and
``rerank_in_child``: the same in a spawned child process, cancellable.

Why a child process. With 100,000 records a retrain is seconds of CPU in Python and in
NumPy/SciPy/scikit-learn code that holds the GIL (the stage's labels, TF-IDF, the SVM). Run in
a thread of the TUI it starved the event loop: measured with ``benchmarks/screening_tui.py``,
key to next record took 3.0 s (median) at 100,000 records while the screen re-ranked every ten
decisions. A child has its own interpreter and runs at a lower priority (``nice``), so the
screen's keys never wait for it. The price is the child's start-up (about 2 s of imports),
paid in the background, once per re-rank.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from living_review.errors import LsrError
from living_review.screening.stopping import StoppingEstimate
from living_review.workspace import Workspace

#: Reconciled decisions (with at least one include and one exclude) before a model ranks.
MIN_TRAINING = 10

#: Niceness added in the child: the reviewer's keys come first.
NICE = 10


@dataclass(frozen=True)
class RerankResult:
    """What a re-rank produced: the stored ranking's id (None: too few labels) and the
    stopping rule's estimate on the labels so far."""

    ranking_id: int | None
    estimate: StoppingEstimate
    labels: int


def rerank_stage(ws: Workspace, stage: str, actor: str | None) -> RerankResult:
    """Retrain on the stage's reconciled labels, store the ranking, and estimate recall."""
    from living_review.screening.prioritise import compute_ranking, stage_labels
    from living_review.screening.stopping import stage_estimate

    with Session(ws.engine) as session:
        labels = [y for _, y in stage_labels(session, ws.protocol, stage)]
    ranking_id = None
    if len(labels) >= MIN_TRAINING and 0 < sum(labels) < len(labels):
        ranking = compute_ranking(engine=ws.engine, protocol=ws.protocol, stage=stage, actor=actor)
        ranking_id = ranking.id
    estimate = stage_estimate(engine=ws.engine, protocol=ws.protocol, stage=stage)
    return RerankResult(ranking_id, estimate, len(labels))


def _child_main(root: str, stage: str, actor: str | None, out: Any) -> None:
    """The child: quiet (it shares the app's terminal), low priority, one re-rank."""
    target = os.open(os.devnull, os.O_WRONLY)
    os.dup2(target, 1)
    os.dup2(target, 2)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    ws = Workspace(Path(root))
    try:
        out.put(("ok", rerank_stage(ws, stage, actor)))
    except LsrError as exc:
        out.put(("error", str(exc)))
    except Exception as exc:  # a bug: say what it was rather than die silently
        out.put(("error", f"re-ranking failed: {type(exc).__name__}: {exc}"))
    finally:
        ws.close()


def rerank_in_child(
    ws: Workspace,
    stage: str,
    actor: str | None,
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> RerankResult | None:
    """:func:`rerank_stage` in a spawned child; None if ``cancelled()`` turned true first
    (the child is then terminated: a half-done ranking is never stored, as it is written in
    one transaction at the end). Raises LsrError if the child failed."""
    ctx = multiprocessing.get_context("spawn")
    out: Any = ctx.Queue()
    child = ctx.Process(
        target=_child_main, args=(str(ws.root), stage, actor, out), name="lsr-rerank", daemon=True
    )
    child.start()
    answered = False
    try:
        while True:
            try:
                kind, payload = out.get(timeout=0.1)
            except queue.Empty:
                if cancelled():
                    return None
                if not child.is_alive():
                    raise LsrError(
                        f"the re-ranking process stopped unexpectedly (exit code {child.exitcode})"
                    ) from None
                continue
            answered = True
            if kind == "error":
                raise LsrError(str(payload))
            return payload  # type: ignore[no-any-return]
    finally:
        child.join(2 if answered else 0)  # an answered child is closing its store: let it
        if child.is_alive():
            child.terminate()
            child.join(5)
        out.close()

"""Provides dual, blinded screening: reviewers, queues, decisions, conflicts, full text.

The flow, per stage (``"ta"`` title/abstract, then ``"ft"`` full text):

1. A record enters a stage as one *screening unit* per dedup cluster (the kept record) and is
   assigned to one or two reviewers as the protocol's ``[screening]`` says
   (:mod:`~living_review.screening.queue`).
2. Each assigned reviewer decides independently; decisions are append-only events, a changed
   mind or an undo is a new event (:mod:`~living_review.screening.decisions`).
3. Blinding lives here, not in the UI: a reviewer's queue and record view never carry another
   reviewer's decision until the record is reconciled or a lead unblinds the stage.
4. Disagreements (and maybes, per protocol) are conflicts; a third reviewer or the screeners by
   consensus resolve them (:mod:`~living_review.screening.conflicts`).
5. Records included at title/abstract move to full text, where exclusions need a protocol
   reason and reports are linked to their trial (:mod:`~living_review.screening.fulltext`).

This module holds only the names every submodule shares (stages, decisions, errors), so that
importing it stays cheap and free of cycles.
"""

from __future__ import annotations

from typing import Literal, get_args

from living_review.errors import LsrError, NotFoundError

Stage = Literal["ta", "ft"]
DecisionValue = Literal["include", "exclude", "maybe"]
ResolutionValue = Literal["include", "exclude"]

STAGES: tuple[str, ...] = get_args(Stage)
DECISIONS: tuple[str, ...] = get_args(DecisionValue)
STAGE_LABELS = {"ta": "title/abstract", "ft": "full text"}

#: The event that withdraws a reviewer's current decision (the record returns to their queue).
UNDO = "undo"


class ScreeningError(LsrError):
    """A screening action that cannot be carried out as asked (the message says why)."""


class UnknownReviewerError(NotFoundError):
    """The reviewer is neither in the protocol nor added with ``lsr reviewer add``."""


class UnknownRecordError(NotFoundError):
    """No record with that id is in the store."""


class NotLeadError(ScreeningError):
    """The action is reserved to a lead reviewer (unblinding, publishing a version)."""


def check_stage(stage: str) -> Stage:
    """Return ``stage`` if it is "ta" or "ft"; raise a clear error otherwise."""
    if stage not in STAGES:
        raise ScreeningError(
            f"stage must be 'ta' (title/abstract) or 'ft' (full text), not {stage!r}"
        )
    return stage  # type: ignore[return-value]


__all__ = [
    "DECISIONS",
    "STAGES",
    "STAGE_LABELS",
    "UNDO",
    "DecisionValue",
    "NotLeadError",
    "ResolutionValue",
    "ScreeningError",
    "Stage",
    "UnknownRecordError",
    "UnknownReviewerError",
    "check_stage",
]

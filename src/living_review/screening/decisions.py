"""Provides screening decisions as append-only events: decide, supersede, undo, current.

Nothing is updated or deleted. A reviewer's second decision on a record is a new event that
names the one it supersedes; an undo is an event with decision ``"undo"`` that names the
decision it withdraws, and puts the record back in the reviewer's queue. A reviewer's current
decision is therefore their newest event (none after an undo), which is how every other
module reads them (:func:`living_review.screening.conflicts.load_stage`).

Every check (stage, decision, reviewer in the review, record exists and is a screening unit,
reviewer assigned to it, a full-text exclusion's reason) runs before the write and inside the
same transaction, so a refused decision leaves the store exactly as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.access import check_eligibility
from living_review.protocol import Protocol
from living_review.screening import (
    DECISIONS,
    STAGE_LABELS,
    UNDO,
    ScreeningError,
    check_stage,
)
from living_review.screening.conflicts import Vote, check_reason, check_record
from living_review.screening.queue import ensure_assigned
from living_review.screening.reviewers import get_reviewer, reviewers
from living_review.store.engine import retry_write, write_session
from living_review.store.models import ScreeningDecision


@dataclass(frozen=True)
class DecisionResult:
    """The event a decision (or undo) wrote."""

    event_id: int
    record_id: int
    stage: str
    reviewer: str
    decision: str
    reason: str | None
    note: str | None
    supersedes_id: int | None

    def as_json(self) -> dict[str, Any]:
        """Return the event as plain data."""
        return asdict(self)


def _latest(
    session: Session, record_id: int, stage: str, reviewer_id: int
) -> ScreeningDecision | None:
    return session.scalar(
        select(ScreeningDecision)
        .where(
            col(ScreeningDecision.reviewer_id) == reviewer_id,
            col(ScreeningDecision.stage) == stage,
            col(ScreeningDecision.record_id) == record_id,
        )
        .order_by(col(ScreeningDecision.id).desc())
        .limit(1)
    )


def record_decision(
    *,
    engine: Engine,
    protocol: Protocol,
    record_id: int,
    stage: str,
    reviewer: str,
    decision: str,
    reason: str | None = None,
    note: str | None = None,
) -> DecisionResult:
    """Record ``reviewer``'s include / exclude / maybe on a record at a stage (``lsr decide``).

    The record enters the stage (is assigned) on first use if it may. A reviewer who is not
    assigned the record is refused, so a record never collects a third screener by accident.
    A decision equal to the reviewer's current one is still written (it is what they did).
    """
    check_stage(stage)
    if decision not in DECISIONS:
        raise ScreeningError(f"decision must be include, exclude or maybe, not {decision!r}")
    who = get_reviewer(engine, protocol, reviewer)
    stored_reason = check_reason(protocol, stage, decision, reason)
    check_eligibility(engine, protocol)  # rules edited since a lead approved them: refused
    people = reviewers(engine, protocol)

    def write() -> DecisionResult:
        with write_session(engine) as session:
            check_record(session, record_id)
            screeners = ensure_assigned(
                session, protocol=protocol, people=people, record_id=record_id, stage=stage
            )
            if who.id not in screeners:
                names = {p.id: p.name for p in people.values()}
                listed = ", ".join(sorted(names.get(r, str(r)) for r in screeners))
                raise ScreeningError(
                    f"{who.name} is not assigned record {record_id} at {STAGE_LABELS[stage]} "
                    f"(its screeners: {listed})"
                )
            previous = _latest(session, record_id, stage, who.id)
            row = ScreeningDecision(
                record_id=record_id,
                stage=stage,
                reviewer_id=who.id,
                decision=decision,
                reason=stored_reason,
                note=(note or "").strip() or None,
                supersedes_id=previous.id
                if previous is not None and previous.decision != UNDO
                else None,
            )
            session.add(row)
            session.flush()
            return DecisionResult(
                int(row.id or 0), record_id, stage, who.name, decision, row.reason, row.note,
                row.supersedes_id,
            )  # fmt: skip

    # Two reviewers' first decisions on a record may both assign it (PostgreSQL: a unique
    # violation on the assignment); the loser re-runs and finds the assignment made.
    return retry_write(write)


def undo_decision(
    *, engine: Engine, protocol: Protocol, record_id: int, stage: str, reviewer: str
) -> DecisionResult:
    """Withdraw ``reviewer``'s current decision on a record (a new "undo" event).

    The record returns to the reviewer's queue. Refused when they have no current decision.
    """
    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    with write_session(engine) as session:
        check_record(session, record_id)
        previous = _latest(session, record_id, stage, who.id)
        if previous is None or previous.decision == UNDO:
            raise ScreeningError(
                f"{who.name} has no decision on record {record_id} at {STAGE_LABELS[stage]} to undo"
            )
        row = ScreeningDecision(
            record_id=record_id,
            stage=stage,
            reviewer_id=who.id,
            decision=UNDO,
            supersedes_id=previous.id,
        )
        session.add(row)
        session.flush()
        return DecisionResult(
            int(row.id or 0), record_id, stage, who.name, UNDO, None, None, previous.id
        )


def current_decision(
    *, engine: Engine, protocol: Protocol, record_id: int, stage: str, reviewer: str
) -> Vote | None:
    """Return ``reviewer``'s own current decision on a record (None if none, or undone)."""
    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    with Session(engine) as session:
        check_record(session, record_id)
        latest = _latest(session, record_id, stage, who.id)
    if latest is None or latest.decision == UNDO:
        return None
    return Vote(who.id, latest.decision, latest.reason, latest.note, int(latest.id or 0))


def own_history(
    *, engine: Engine, protocol: Protocol, record_id: int, stage: str, reviewer: str
) -> list[dict[str, Any]]:
    """Return ``reviewer``'s own events on a record, oldest first (never anyone else's)."""
    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    with Session(engine) as session:
        rows = session.scalars(
            select(ScreeningDecision)
            .where(
                col(ScreeningDecision.reviewer_id) == who.id,
                col(ScreeningDecision.stage) == stage,
                col(ScreeningDecision.record_id) == record_id,
            )
            .order_by(col(ScreeningDecision.id))
        ).all()
        return [
            {"event_id": r.id, "decision": r.decision, "reason": r.reason, "note": r.note,
             "supersedes_id": r.supersedes_id, "at": r.created_at.isoformat(timespec="seconds")}
            for r in rows
        ]  # fmt: skip

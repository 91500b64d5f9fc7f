"""Provides the audit trail: who changed what, and when, as one timeline (``lsr audit``).

Two kinds of rows make the trail. Most changes write an :class:`AuditEvent` (imports, dedup
passes and verdicts, reviewers added, reports and studies, extractions). Screening decisions,
resolutions, unblindings and published versions are *themselves* append-only event tables,
so they are not copied into ``audit_event`` (two copies could disagree); the timeline reads
them where they are. Each entry names its origin (``table:id``) so it can be traced back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.store.models import (
    AuditEvent,
    Resolution,
    Reviewer,
    ReviewVersion,
    ScreeningDecision,
    Unblinding,
)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the timeline."""

    at: datetime
    actor: str | None
    action: str
    entity: str | None
    entity_id: str | None
    origin: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return plain data (the time as UTC ISO 8601)."""
        return {
            "at": _utc(self.at).isoformat(timespec="microseconds"),
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "origin": self.origin,
            "detail": self.detail,
        }


def _utc(at: datetime) -> datetime:
    # SQLite returns naive datetimes (the models store UTC); PostgreSQL aware ones.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_since(value: str) -> datetime:
    """Parse ``--since`` (ISO date or date-time; UTC when no offset is given)."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LsrError(
            f"--since {value!r} is not a date or date-time (use e.g. 2026-11-21 or "
            "2026-11-21T14:00)"
        ) from None
    return _utc(at)


def write_event(
    session: Session,
    actor: str | None,
    action: str,
    entity: str | None = None,
    entity_id: Any = None,
    **detail: Any,
) -> None:
    """Add an audit event to the caller's transaction (it commits or rolls back with it)."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            detail=detail,
        )
    )


# --- sources of the timeline -----------------------------------------------------------------

_Row = Any
#: A SELECT over one event table (typed loosely: SQLAlchemy 2.1 types rows per column).
_Query = Any
_Source = tuple[Callable[[datetime | None], _Query], Callable[[_Row], AuditEntry], Any]


def _audit_rows(since: datetime | None) -> _Query:
    q = select(AuditEvent)
    return q.where(col(AuditEvent.at) >= since) if since else q


def _audit_entry(row: _Row) -> AuditEntry:
    ev: AuditEvent = row[0]
    return AuditEntry(
        ev.at, ev.actor, ev.action, ev.entity, ev.entity_id, f"audit_event:{ev.id}",
        dict(ev.detail or {}),
    )  # fmt: skip


def _decision_rows(since: datetime | None) -> _Query:
    q = select(ScreeningDecision, col(Reviewer.name)).join(
        Reviewer, col(Reviewer.id) == col(ScreeningDecision.reviewer_id)
    )
    return q.where(col(ScreeningDecision.created_at) >= since) if since else q


def _decision_entry(row: _Row) -> AuditEntry:
    d: ScreeningDecision = row[0]
    detail: dict[str, Any] = {
        "stage": d.stage, "decision": d.decision, "reason": d.reason, "note": d.note,
    }  # fmt: skip
    if d.supersedes_id is not None:
        detail["supersedes"] = d.supersedes_id
    action = "screening_undo" if d.decision == "undo" else "screening_decision"
    return AuditEntry(
        d.created_at, row[1], action, "record", str(d.record_id),
        f"screening_decision:{d.id}", detail,
    )  # fmt: skip


def _resolution_rows(since: datetime | None) -> _Query:
    q = select(Resolution, col(Reviewer.name)).join(
        Reviewer, col(Reviewer.id) == col(Resolution.reviewer_id)
    )
    return q.where(col(Resolution.created_at) >= since) if since else q


def _resolution_entry(row: _Row) -> AuditEntry:
    r: Resolution = row[0]
    detail = {"stage": r.stage, "decision": r.decision, "reason": r.reason, "method": r.method}
    return AuditEntry(
        r.created_at, row[1], "conflict_resolve", "record", str(r.record_id),
        f"resolution:{r.id}", detail,
    )  # fmt: skip


def _unblinding_rows(since: datetime | None) -> _Query:
    q = select(Unblinding, col(Reviewer.name)).join(
        Reviewer, col(Reviewer.id) == col(Unblinding.reviewer_id)
    )
    return q.where(col(Unblinding.created_at) >= since) if since else q


def _unblinding_entry(row: _Row) -> AuditEntry:
    u: Unblinding = row[0]
    return AuditEntry(
        u.created_at, row[1], "unblind", "stage", u.stage, f"unblinding:{u.id}",
        {"reason": u.reason},
    )  # fmt: skip


def _version_rows(since: datetime | None) -> _Query:
    q = select(ReviewVersion, col(Reviewer.name)).outerjoin(
        Reviewer, col(Reviewer.id) == col(ReviewVersion.reviewer_id)
    )
    return q.where(col(ReviewVersion.cutoff) >= since) if since else q


def _version_entry(row: _Row) -> AuditEntry:
    v: ReviewVersion = row[0]
    return AuditEntry(
        v.cutoff, row[1], "version_publish", "review_version", v.label,
        f"review_version:{v.id}", {"note": v.note},
    )  # fmt: skip


#: (query, row -> entry, actor column). Event tables that do not write an AuditEvent for
#: themselves; anything else belongs in ``audit_event`` and is listed from there.
SOURCES: tuple[_Source, ...] = (
    (_audit_rows, _audit_entry, col(AuditEvent.actor)),
    (_decision_rows, _decision_entry, col(Reviewer.name)),
    (_resolution_rows, _resolution_entry, col(Reviewer.name)),
    (_unblinding_rows, _unblinding_entry, col(Reviewer.name)),
    (_version_rows, _version_entry, col(Reviewer.name)),
)


#: How each table's changes reach the timeline. A table holding rows that is not listed here
#: is a change nobody can trace (see :func:`unaudited_tables`, which a test runs).
AUDIT_COVERAGE: dict[str, str] = {
    "audit_event": "the trail itself",
    "search_run": "audit 'import'",
    "record": "audit 'import'",
    "record_source": "audit 'import'",
    "duplicate_link": "audit 'dedup_pass', 'dedup_decide', 'dedup_split'",
    "dedup_key": "audit 'dedup_pass' (derived keys)",
    "dedup_seen": "audit 'dedup_pass'",
    "reviewer": "audit 'reviewer_add'; the protocol's people come from the protocol file",
    "screening_assignment": "derived: the protocol's allocation rule applied to each record",
    "screening_decision": "event table (read directly)",
    "resolution": "event table (read directly)",
    "unblinding": "event table (read directly)",
    "review_version": "event table (read directly)",
    "study": "audit 'study_add', 'study_relabel', 'report_study'",
    "report": "audit 'report_fulltext', 'report_not_retrieved', 'report_study'",
    "extraction_report": "audit 'extraction_report_add', 'study_add'",
    "study_arm": "audit 'extraction_value' (an arm is created with its first value)",
    "extraction": "audit 'extraction_value', 'extraction_resolve'",
    "rob2_assessment": "audit 'rob2_assess', 'rob2_consensus'",
    "analysis_run": "audit 'analysis_run'",
    "priority_ranking": "audit 'prioritise.rank'",
    "screening_stop": "audit 'screening.stop'",
    "km_curve": "audit 'km_curve_attach', 'km_curve_withdraw'",
}


def unaudited_tables(engine: Engine) -> list[str]:
    """Tables that hold rows but have no declared way onto the audit timeline."""
    from living_review.store.models import metadata

    out = []
    with Session(engine) as session:
        for table in metadata.sorted_tables:
            if table.name in AUDIT_COVERAGE:
                continue
            if session.execute(select(table).limit(1)).first() is not None:
                out.append(table.name)
    return out


def timeline(
    engine: Engine,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Return the audit timeline, oldest first: every change, whichever table holds it.

    ``since`` keeps entries at or after that time; ``actor`` keeps one person's (or one
    process's, e.g. "dedup") entries; ``limit`` keeps the newest ``limit`` entries.
    """
    entries: list[AuditEntry] = []
    with Session(engine) as session:
        for query, to_entry, actor_col in SOURCES:
            q = query(since)
            if actor is not None:
                q = q.where(actor_col == actor)
            entries.extend(to_entry(row) for row in session.execute(q))
    entries.sort(key=_order)
    return entries[-limit:] if limit else entries


def _order(e: AuditEntry) -> tuple[datetime, str, int]:
    table, _, rid = e.origin.partition(":")
    return (_utc(e.at), table, int(rid or 0))


def timeline_json(entries: Iterable[AuditEntry]) -> dict[str, Any]:
    """Return the ``lsr audit --json`` object."""
    items = [e.as_json() for e in entries]
    return {"events": items, "count": len(items)}

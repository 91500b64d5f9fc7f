"""Provides the review's status: search runs, record counts and what the review needs next.

Every number here is derived from the store when asked (never stored twice), so the CLI's
``lsr status`` and the TUI dashboard always agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from living_review.store.models import (
    DedupSeen,
    Record,
    ScreeningDecision,
    SearchRun,
)
from living_review.workspace import Workspace


@dataclass(frozen=True)
class RunSummary:
    """One search run as the dashboard lists it."""

    id: int
    database: str
    run_at: str
    file_name: str | None
    file_format: str | None
    file_sha256: str | None
    records_in_file: int
    new_records: int
    linked_records: int
    origin: str


@dataclass(frozen=True)
class Status:
    """The review at a glance; ``as_json`` is the ``lsr status --json`` contract."""

    review: str
    records: int
    records_by_database: dict[str, int]
    identified_by_database: dict[str, int]
    identified_total: int
    duplicates_removed: int = 0
    unique_records: int = 0
    awaiting_dedup: int = 0
    possible_duplicates: int = 0
    search_runs: list[RunSummary] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON object scripts rely on (keys never renamed)."""
        return asdict(self)


def search_runs(engine: Engine) -> list[RunSummary]:
    """Return every search run, oldest first."""
    with Session(engine) as session:
        runs = session.scalars(select(SearchRun).order_by(SearchRun.id)).all()  # type: ignore[arg-type]
        return [
            RunSummary(
                id=r.id or 0,
                database=r.database,
                run_at=r.run_at.isoformat(timespec="seconds"),
                file_name=r.file_name,
                file_format=r.file_format,
                file_sha256=r.file_sha256,
                records_in_file=r.records_in_file,
                new_records=r.new_records,
                linked_records=r.linked_records,
                origin=r.origin,
            )
            for r in runs
        ]


def record_counts(engine: Engine) -> dict[str, int]:
    """Return the number of stored records per database."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(Record.database), func.count()).group_by(col(Record.database))
        )
        return {db: int(n) for db, n in rows}


def awaiting_dedup(engine: Engine) -> int:
    """Return how many records no deduplication pass has compared with the store yet."""
    with Session(engine) as session:
        seen = select(col(DedupSeen.record_id))
        return int(session.scalar(select(func.count()).where(col(Record.id).not_in(seen))) or 0)


def screened_records(engine: Engine, stage: str) -> int:
    """Return how many records have at least one screening event at ``stage``."""
    with Session(engine) as session:
        n = session.scalar(
            select(func.count(func.distinct(col(ScreeningDecision.record_id)))).where(
                col(ScreeningDecision.stage) == stage
            )
        )
        return int(n or 0)


def review_status(ws: Workspace) -> Status:
    """Compute the workspace's status from the store and the protocol."""
    from living_review.dedup.service import duplicate_counts, possible_pairs

    runs = search_runs(ws.engine)
    by_db = record_counts(ws.engine)
    dup = duplicate_counts(ws.engine)
    pending = awaiting_dedup(ws.engine)
    possible = len(possible_pairs(ws.engine))
    identified: dict[str, int] = {}
    for r in runs:
        identified[r.database] = identified.get(r.database, 0) + r.records_in_file
    steps: list[str] = []
    databases = ws.protocol.search.databases
    missing = [d for d in databases if d not in identified]
    if missing:
        steps.append(
            "run or import the saved searches for: "
            + ", ".join(missing)
            + " ('lsr search run DATABASE' or 'lsr import FILE --database DATABASE')"
        )
    if pending:
        steps.append(f"remove duplicates: {pending:,} records not yet compared ('lsr dedup')")
    if possible:
        steps.append(f"review {possible:,} possible duplicate pairs ('lsr dedup review')")
    untouched = max(dup.unique - screened_records(ws.engine, "ta"), 0)
    if untouched and not pending:
        steps.append(
            f"screen titles and abstracts: {untouched:,} of {dup.unique:,} unique records have "
            "no decision yet ('lsr queue --reviewer NAME --stage ta', or the TUI)"
        )
    if not runs:
        steps.append("import the saved exports in searches/ ('lsr search load')")
    return Status(
        review=ws.protocol.review.title,
        records=sum(by_db.values()),
        records_by_database=by_db,
        identified_by_database=identified,
        identified_total=sum(identified.values()),
        duplicates_removed=dup.removed,
        unique_records=dup.unique,
        awaiting_dedup=pending,
        possible_duplicates=possible,
        search_runs=runs,
        next_steps=steps,
    )

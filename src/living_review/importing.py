"""Provides ``import_file`` and ``import_records``: one export (or live run) -> one SearchRun.

An import is one transaction: either every record of the file is stored and linked to its run,
or (on any error) the store is exactly as it was. A record the store already holds under the
same database and accession is *linked* to the new run, not copied; matching across databases
is deduplication's decision, never the importer's (conference abstracts can share a DOI).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlmodel import Session, col

from living_review.errors import InputFileError, LsrError
from living_review.sources.base import ParsedRecord
from living_review.sources.registry import parse_file
from living_review.store.engine import write_session
from living_review.store.models import (
    AuditEvent,
    Record,
    SearchRun,
    metadata,
    utcnow,
)

DATABASES = ("pubmed", "embase", "cochrane", "wos", "scopus", "other")
#: Records per INSERT batch. Measured on 20,000 PubMed records (13.6 kB each): 2,000 -> peak
#: 235 MB, 1,000 -> 156 MB, 500 -> 117 MB, with CPU time the same within noise; a batch's
#: records (raw XML, extra) dominate memory, per-batch statements do not dominate time.
BATCH = 1000

#: Called as ``progress(records_done, fraction_done)``; fraction is ``None`` when unknown.
Progress = Callable[[int, float | None], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did; ``as_json`` is the ``lsr import --json`` contract."""

    search_run_id: int
    database: str
    file_name: str | None
    file_format: str | None
    file_sha256: str | None
    records_in_file: int
    new_records: int
    linked_records: int
    already_imported: bool = False

    def as_json(self) -> dict[str, Any]:
        """Return the JSON object scripts rely on (keys never renamed)."""
        return asdict(self)


@dataclass(frozen=True)
class RunInfo:
    """The facts of a search run other than its records."""

    database: str
    strategy: str | None = None
    file_name: str | None = None
    file_sha256: str | None = None
    file_format: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    origin: str = "file"
    run_at: datetime | None = None
    actor: str | None = None


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in chunks (exports can be hundreds of MB)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def count_lines(path: Path) -> int:
    """Return the number of lines of a file (for an honest progress fraction)."""
    n = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return max(n, 1)


def check_database(database: str) -> str:
    """Return the database name, or raise naming the accepted ones."""
    if database not in DATABASES:
        raise LsrError(f"unknown database {database!r} (one of: {', '.join(DATABASES)})")
    return database


def import_file(
    engine: Engine,
    path: Path,
    *,
    database: str,
    fmt: str = "auto",
    strategy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    actor: str | None = None,
    run_at: datetime | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one export file as one search run, in one transaction.

    Importing a file whose SHA-256 is already recorded for the same database changes nothing
    and returns the earlier run with ``already_imported=True``.
    """
    check_database(database)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file" if not path.exists() else "not a regular file")
    sha = file_sha256(path)
    with Session(engine) as session:
        prior = _prior_run(session, database, sha)
        if prior is not None:
            return prior
    used_fmt, records = parse_file(path, fmt)
    total_lines = count_lines(path) if progress else 1

    def _progress(done: int, rec: ParsedRecord) -> None:
        if progress is not None:
            progress(done, min(1.0, (rec.line or 0) / total_lines) if rec.line else None)

    info = RunInfo(
        database=database,
        strategy=strategy,
        file_name=path.name,
        file_sha256=sha,
        file_format=used_fmt,
        date_from=date_from,
        date_to=date_to,
        actor=actor,
        run_at=run_at,
    )
    return import_records(engine, records, info, on_record=_progress)


def _prior_run(session: Session, database: str, sha: str) -> ImportResult | None:
    """Return the earlier run of this exact file (same database and SHA-256), if any."""
    run = session.scalars(
        select(SearchRun)
        .where(col(SearchRun.database) == database, col(SearchRun.file_sha256) == sha)
        .order_by(col(SearchRun.id))
    ).first()
    if run is None or run.id is None:
        return None
    return ImportResult(
        search_run_id=run.id,
        database=database,
        file_name=run.file_name,
        file_format=run.file_format,
        file_sha256=sha,
        records_in_file=run.records_in_file,
        new_records=0,
        linked_records=0,
        already_imported=True,
    )


def _key(database: str, rec: ParsedRecord) -> str | None:
    """The record's source key in ``database``: its PMID for PubMed, else its accession."""
    if database == "pubmed" and rec.pmid:
        return rec.pmid
    return rec.source_key


_RECORD_FIELDS = (
    "title", "abstract", "authors", "year", "journal", "journal_abbrev", "volume", "issue",
    "pages", "doi", "pmid", "accession", "publication_types", "keywords", "language", "flags",
    "extra", "raw",
)  # fmt: skip


# Core tables, not the ORM entities: the ORM's bulk path groups rows by which fields are empty
# and, with RETURNING on SQLite, falls back to one INSERT per row (profiled: 7x slower).
_RECORD_TABLE: Table = metadata.tables["record"]
_SOURCE_TABLE: Table = metadata.tables["record_source"]


def _reserve_ids(session: Session, n: int) -> list[int]:
    """Reserve ``n`` record ids, so one multi-row INSERT can run without RETURNING.

    PostgreSQL hands them out from the column's sequence (safe with concurrent importers).
    On SQLite the import holds the database's write lock from its first statement
    (BEGIN IMMEDIATE), so the ids after the current maximum cannot be taken by anyone else.
    """
    if session.get_bind().dialect.name == "postgresql":
        seq = text(
            "SELECT nextval(pg_get_serial_sequence('record', 'id')) FROM generate_series(1, :n)"
        )
        return [int(i) for i in session.execute(seq, {"n": n}).scalars()]
    start = int(session.scalar(select(func.max(col(Record.id)))) or 0)
    return list(range(start + 1, start + 1 + n))


def _insert_new(
    session: Session,
    new: list[tuple[int, str | None, ParsedRecord]],
    database: str,
    run_id: int,
) -> None:
    """INSERT the new records ``(id, source_key, record)`` as one Core executemany."""
    session.execute(
        insert(_RECORD_TABLE),
        [
            {
                **{f: getattr(rec, f) for f in _RECORD_FIELDS},
                "id": rid,
                "database": database,
                "source_key": key,
                "first_run_id": run_id,
                "created_at": utcnow(),
            }
            for rid, key, rec in new
        ],
    )


def _batches(it: Iterator[ParsedRecord], size: int) -> Iterator[list[ParsedRecord]]:
    while batch := list(islice(it, size)):
        yield batch


def import_records(
    engine: Engine,
    records: Iterable[ParsedRecord],
    info: RunInfo,
    *,
    on_record: Callable[[int, ParsedRecord], None] | None = None,
) -> ImportResult:
    """Store ``records`` as one new search run, in one transaction (all or nothing)."""
    check_database(info.database)
    database = info.database
    n_in = n_new = n_linked = 0
    # Keys seen earlier in this same run: a file listing one accession twice is one record.
    seen: dict[str, int] = {}
    with write_session(engine) as session:
        if info.file_sha256 is not None:
            # Checked again under the write lock: two people importing the same export at
            # once must not create two runs (import_file's earlier check only saves a parse).
            prior = _prior_run(session, database, info.file_sha256)
            if prior is not None:
                return prior
        run = SearchRun(
            database=database,
            strategy=info.strategy,
            run_at=info.run_at or utcnow(),
            date_from=info.date_from,
            date_to=info.date_to,
            file_name=info.file_name,
            file_sha256=info.file_sha256,
            file_format=info.file_format,
            origin=info.origin,
            actor=info.actor,
        )
        session.add(run)
        session.flush()
        run_id = run.id
        assert run_id is not None
        for batch in _batches(iter(records), BATCH):
            keys = {k for r in batch if (k := _key(database, r)) is not None and k not in seen}
            existing: dict[str, tuple[int, str]] = {}
            if keys:
                # database = ? AND source_key IN (...) searches the unique index on
                # (database, source_key); the row-value form (database, source_key) IN (...)
                # made SQLite scan the whole record table once per batch (EXPLAIN QUERY PLAN:
                # "SCAN record"), so imports slowed as the store grew (100,000 records: 63 s
                # CPU before, 49 s after). Same rows; one expanding parameter, compiled once.
                rows = session.execute(
                    select(Record.id, Record.source_key, Record.raw).where(  # type: ignore[call-overload]
                        Record.database == database,
                        col(Record.source_key).in_(list(keys)),
                    )
                )
                existing = {sk: (rid, raw) for rid, sk, raw in rows}
            new: list[tuple[str | None, ParsedRecord]] = []
            new_pos: list[int] = []
            links: list[dict[str, Any]] = []
            for rec in batch:
                n_in += 1
                key = _key(database, rec)
                if key is not None and key in seen:
                    n_linked += 1  # repeated within the file: already linked to this run
                elif key is not None and key in existing:
                    rid, raw = existing[key]
                    links.append(
                        {
                            "record_id": rid,
                            "search_run_id": run_id,
                            "position": n_in,
                            "raw": rec.raw if rec.raw != raw else None,
                        }
                    )
                    seen[key] = rid
                    n_linked += 1
                else:
                    new.append((key, rec))
                    new_pos.append(n_in)
                    if key is not None:
                        seen[key] = -1
                if on_record is not None:
                    on_record(n_in, rec)
            if new:
                ids = _reserve_ids(session, len(new))
                for rid, (key, _rec), pos in zip(ids, new, new_pos, strict=True):
                    if key is not None:
                        seen[key] = rid
                    links.append(
                        {"record_id": rid, "search_run_id": run_id, "position": pos, "raw": None}
                    )
                _insert_new(
                    session,
                    [(rid, key, rec) for rid, (key, rec) in zip(ids, new, strict=True)],
                    database,
                    run_id,
                )
                n_new += len(new)
            if links:
                session.execute(insert(_SOURCE_TABLE), links)
        run.records_in_file = n_in
        run.new_records = n_new
        run.linked_records = n_linked
        session.add(run)
        session.add(
            AuditEvent(
                actor=info.actor,
                action="import",
                entity="search_run",
                entity_id=str(run_id),
                detail={
                    "database": database,
                    "file": info.file_name,
                    "sha256": info.file_sha256,
                    "origin": info.origin,
                    "records_in_file": n_in,
                    "new_records": n_new,
                    "linked_records": n_linked,
                },
            )
        )
    return ImportResult(
        search_run_id=run_id,
        database=database,
        file_name=info.file_name,
        file_format=info.file_format,
        file_sha256=info.file_sha256,
        records_in_file=n_in,
        new_records=n_new,
        linked_records=n_linked,
    )

"""Provides the lossless export of a whole review and its import into an empty workspace.

``lsr export DIR`` writes every table of the store (CSV for people and spreadsheets, JSON for
machines) plus ``manifest.json`` naming the schema revision, each table's row count and the
SHA-256 of each file and of the table's canonical content. ``lsr import-review DIR`` reads the
JSON back into an *empty* workspace on the same schema revision, in one transaction, so the
copy has the same ids, timestamps, JSON columns and raw text as the original.

The export is generic over the SQLModel metadata (tables in foreign-key order): a table
added by a later feature is exported and imported without touching this module. No library
does a dialect-neutral, id-preserving dump/restore of a SQLAlchemy schema (``pg_dump`` and
SQLite's ``.dump`` are each tied to one engine), hence this hand-written one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Engine, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

from living_review.errors import LsrError
from living_review.store import migrate
from living_review.store.engine import write_session
from living_review.store.models import metadata

FORMAT = "living-review-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows per INSERT batch on import (keeps memory flat and statements short on both engines).
BATCH = 1000


class ExportError(LsrError):
    """An export folder cannot be written, or cannot be imported as asked (the message says why)."""


@dataclass(frozen=True)
class TableSummary:
    """One table's entry in the manifest."""

    rows: int
    content_sha256: str
    json_file: str
    json_sha256: str
    csv_file: str
    csv_sha256: str
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    """What ``export_review`` or ``import_review`` did; ``as_json`` is ``--json``'s object."""

    directory: str
    schema_revision: str | None
    tables: dict[str, int]

    @property
    def total_rows(self) -> int:
        """All rows of all tables."""
        return sum(self.tables.values())

    def as_json(self) -> dict[str, Any]:
        """Return plain data for ``--json``."""
        return {**asdict(self), "total_rows": self.total_rows}


# --- canonical values (the same text on SQLite and PostgreSQL) --------------------------------


def _to_plain(value: Any, coltype: TypeEngine[Any]) -> Any:
    """Return a JSON-ready value that reads back to the same stored value on either engine.

    Timestamps are UTC ISO 8601 with microseconds: SQLite hands back naive datetimes (stored
    in UTC by the models), PostgreSQL aware ones; both become the same text.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN/inf; the column type restores them
    return value


def _from_plain(value: Any, coltype: TypeEngine[Any]) -> Any:
    if value is None or isinstance(coltype, JSON):
        return value
    if isinstance(coltype, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(coltype, Date):
        return date.fromisoformat(value)
    if isinstance(value, str) and value in {"nan", "inf", "-inf"} and not _is_text(coltype):
        return float(value)
    return value


def _is_text(coltype: TypeEngine[Any]) -> bool:
    try:
        return coltype.python_type is str
    except NotImplementedError:
        return False


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tables() -> list[Table]:
    """Every table of the store, parents before children (foreign-key order)."""
    return list(metadata.sorted_tables)


def _pk_order(table: Table) -> list[Column[Any]]:
    return list(table.primary_key.columns) or list(table.columns)


def iter_rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    """Yield a table's rows as canonical plain dicts, in primary-key order (streamed)."""
    result = session.execute(
        select(table).order_by(*_pk_order(table)).execution_options(yield_per=BATCH)
    )
    cols = list(table.columns)
    for row in result:
        yield {c.name: _to_plain(v, c.type) for c, v in zip(cols, row, strict=True)}


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    """Return each table's ``(row count, SHA-256 of its canonical rows)``.

    Equal digests mean equal content, whichever engine holds it: the round-trip and crash
    tests compare stores with this.
    """
    out: dict[str, tuple[int, str]] = {}
    with Session(engine) as session:
        for table in tables():
            h = hashlib.sha256()
            n = 0
            for row in iter_rows(session, table):
                h.update(_canonical(row).encode("utf-8"))
                h.update(b"\n")
                n += 1
            out[table.name] = (n, h.hexdigest())
    return out


# --- export ---------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _export_table(session: Session, table: Table, dest: Path) -> TableSummary:
    cols = [c.name for c in table.columns]
    json_path = dest / f"{table.name}.json"
    csv_path = dest / f"{table.name}.csv"
    content = hashlib.sha256()
    n = 0
    with (
        json_path.open("w", encoding="utf-8", newline="\n") as jf,
        csv_path.open("w", encoding="utf-8", newline="") as cf,
    ):
        writer = csv.writer(cf)
        writer.writerow(cols)
        jf.write("[")
        for row in iter_rows(session, table):
            line = _canonical(row)
            content.update(line.encode("utf-8"))
            content.update(b"\n")
            jf.write(("\n" if n == 0 else ",\n") + line)
            writer.writerow([_csv_cell(row[c]) for c in cols])
            n += 1
        jf.write("\n]\n")
    return TableSummary(
        rows=n,
        content_sha256=content.hexdigest(),
        json_file=json_path.name,
        json_sha256=_sha256_file(json_path),
        csv_file=csv_path.name,
        csv_sha256=_sha256_file(csv_path),
        columns=cols,
    )


def export_review(engine: Engine, dest: Path, *, protocol_path: Path | None = None) -> ExportResult:
    """Write every table as CSV + JSON and a manifest into ``dest`` (new or empty folder).

    All tables are read in one transaction, so the export is one consistent snapshot even
    while reviewers keep screening. The protocol file, when given, is copied alongside.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest}: export folder must be new or empty")
    dest.mkdir(parents=True, exist_ok=True)
    revision = migrate.current_revision(engine)
    summaries: dict[str, TableSummary] = {}
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        for table in tables():
            summaries[table.name] = _export_table(session, table, dest)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_revision": revision,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_dialect": engine.dialect.name,
        "table_order": [t.name for t in tables()],
        "tables": {name: asdict(s) for name, s in summaries.items()},
    }
    if protocol_path is not None and protocol_path.is_file():
        (dest / "review.toml").write_bytes(protocol_path.read_bytes())
        manifest["protocol"] = {
            "file": "review.toml",
            "sha256": _sha256_file(dest / "review.toml"),
        }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportResult(str(dest), revision, {k: s.rows for k, s in summaries.items()})


# --- import into an empty workspace -----------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    """Read and check an export's manifest; raise ExportError naming what is wrong."""
    path = Path(src) / MANIFEST
    if not path.is_file():
        raise ExportError(f"{src}: not a living-review export (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not a living-review export manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{path}: export format version {manifest.get('format_version')!r} is not "
            f"supported (this lsr reads version {FORMAT_VERSION})"
        )
    if not isinstance(manifest.get("tables"), dict):
        raise ExportError(f"{path}: manifest has no table list")
    return manifest


def _load_table(src: Path, table: Table, entry: dict[str, Any]) -> list[dict[str, Any]]:
    path = src / str(entry.get("json_file", f"{table.name}.json"))
    if not path.is_file():
        raise ExportError(f"{path}: missing (the manifest lists table {table.name!r})")
    if _sha256_file(path) != entry.get("json_sha256"):
        raise ExportError(f"{path}: SHA-256 differs from the manifest (file changed or damaged)")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(rows, list) or len(rows) != entry.get("rows"):
        raise ExportError(f"{path}: row count differs from the manifest")
    names = {c.name for c in table.columns}
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or set(row) != names:
            raise ExportError(f"{path}: row {i} does not have the columns of {table.name!r}")
    return rows


def _non_empty_tables(session: Session) -> list[str]:
    return [t.name for t in tables() if session.scalar(select(func.count()).select_from(t)) or 0]


def _fix_sequences(session: Session) -> None:
    """Move PostgreSQL's id sequences past the explicit ids just inserted.

    Otherwise the next ``INSERT`` without an id would be handed id 1 and collide.
    """
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not pk[0].autoincrement or pk[0].foreign_keys:
            continue
        seq = session.scalar(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}
        )
        if seq is None:
            continue
        top = session.scalar(select(func.max(pk[0])))
        # setval(seq, n, is_called): the next id is n + 1, or 1 for an empty table.
        session.execute(
            text("SELECT setval(:seq, :n, :called)"),
            {"seq": seq, "n": top if top is not None else 1, "called": top is not None},
        )


def import_review(engine: Engine, src: Path) -> ExportResult:
    """Load an export into this (empty) store, exactly, in one transaction.

    Refuses a store that holds any row, and an export made on another schema revision (the
    columns would not line up); every file is checked against the manifest's SHA-256 before
    anything is written, and any failure rolls the whole load back.
    """
    src = Path(src)
    manifest = read_manifest(src)
    revision = migrate.current_revision(engine)
    if manifest.get("schema_revision") != revision:
        raise ExportError(
            f"{src}: export is at schema revision {manifest.get('schema_revision')!r} but this "
            f"workspace is at {revision!r}; import it with the lsr version that wrote it, or "
            "upgrade that workspace and export again"
        )
    listed = manifest["tables"]
    known = {t.name for t in tables()}
    unknown = sorted(set(listed) - known)
    if unknown:
        raise ExportError(f"{src}: export has tables this schema lacks: {', '.join(unknown)}")
    missing = sorted(known - set(listed))
    if missing:
        raise ExportError(f"{src}: export lacks tables of this schema: {', '.join(missing)}")
    counts: dict[str, int] = {}
    with write_session(engine) as session:
        busy = _non_empty_tables(session)
        if busy:
            raise ExportError(
                "the target workspace is not empty (rows in: "
                f"{', '.join(busy)}); import a review only into a new workspace ('lsr init')"
            )
        for table in tables():
            rows = _load_table(src, table, listed[table.name])
            types = {c.name: c.type for c in table.columns}
            for start in range(0, len(rows), BATCH):
                try:
                    chunk = [
                        {k: _from_plain(v, types[k]) for k, v in row.items()}
                        for row in rows[start : start + BATCH]
                    ]
                    session.execute(insert(table), chunk)
                except (ValueError, TypeError, DBAPIError) as exc:
                    # Nothing is kept: the session rolls back when this leaves it.
                    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                    raise ExportError(
                        f"{src / listed[table.name]['json_file']}: rows {start + 1}.."
                        f"{min(start + BATCH, len(rows))} of {table.name!r} cannot be "
                        f"loaded ({reason}); nothing was written"
                    ) from None
            counts[table.name] = len(rows)
        if engine.dialect.name == "postgresql":
            _fix_sequences(session)
    return ExportResult(str(src), revision, counts)


def restore_protocol(src: Path, protocol_path: Path) -> bool:
    """Copy the export's protocol over ``protocol_path``; False when the export has none.

    Checked against the manifest first, so a damaged file never replaces a protocol.
    """
    manifest = read_manifest(src)
    entry = manifest.get("protocol")
    if not entry:
        return False
    path = Path(src) / str(entry["file"])
    if not path.is_file() or _sha256_file(path) != entry.get("sha256"):
        raise ExportError(f"{path}: missing, or its SHA-256 differs from the manifest")
    protocol_path.write_bytes(path.read_bytes())
    return True

"""Lossless export: ``export_review`` then ``import_review`` into an empty store is the identity.

Compared by content digests of every table (ids, timestamps, JSON columns, raw text), on
SQLite, on PostgreSQL, and across the two engines in both directions.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlmodel import Session, col

from living_review.export import ExportError, export_review, import_review, table_digests
from living_review.store import migrate
from living_review.store.engine import make_engine, sqlite_url, write_session
from living_review.store.models import AuditEvent, Record, ScreeningDecision
from living_review.workspace import Workspace
from tests.integration.team_data import populate

PG = os.environ.get("LSR_TEST_PG_URL")


@contextmanager
def fresh_store(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A new, migrated, empty store on ``kind`` (its own file or PostgreSQL schema)."""
    if kind == "sqlite":
        engine = make_engine(sqlite_url(tmp_path / f"copy-{uuid.uuid4().hex[:6]}.sqlite"))
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not PG:
        pytest.skip("PostgreSQL tests need LSR_TEST_PG_URL")
    schema = f"x_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG else "?"
    engine = make_engine(f"{PG}{sep}options=-csearch_path%3D{schema}")
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _nonzero(d: dict[str, tuple[int, str]]) -> dict[str, int]:
    return {k: n for k, (n, _) in d.items() if n}


def test_export_writes_every_table_as_csv_json_and_manifest(
    workspace: Workspace, tmp_path: Path
) -> None:
    populate(workspace)
    out = tmp_path / "export"
    result = export_review(workspace.engine, out, protocol_path=workspace.protocol_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_revision"] == migrate.current_revision(workspace.engine)
    digests = table_digests(workspace.engine)
    assert set(manifest["tables"]) == set(digests)  # every table of the metadata
    for name, (n, sha) in digests.items():
        entry = manifest["tables"][name]
        assert entry["rows"] == n == result.tables[name]
        assert entry["content_sha256"] == sha
        with (out / entry["csv_file"]).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == n
        assert len(json.loads((out / entry["json_file"]).read_text())) == n
    # Parents come before children (a loader can insert in this order).
    order = manifest["table_order"]
    assert order.index("record") < order.index("screening_decision")
    assert order.index("reviewer") < order.index("screening_decision")
    assert {"record", "screening_decision", "resolution", "unblinding", "study"} <= set(
        _nonzero(digests)
    )
    assert (out / "review.toml").read_bytes() == workspace.protocol_path.read_bytes()
    with pytest.raises(ExportError, match="new or empty"):
        export_review(workspace.engine, out)


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
def test_round_trip_reproduces_the_store_exactly(
    workspace: Workspace, tmp_path: Path, target: str
) -> None:
    populate(workspace)
    before = table_digests(workspace.engine)
    export_review(workspace.engine, tmp_path / "export")
    with fresh_store(target, tmp_path) as engine:
        result = import_review(engine, tmp_path / "export")
        assert result.tables == {k: n for k, (n, _) in before.items()}
        assert table_digests(engine) == before  # ids, timestamps, JSON, raw text: all equal
        with Session(workspace.engine) as a, Session(engine) as b:
            raw_a = a.execute(select(Record.id, Record.raw, Record.extra).order_by(Record.id)).all()  # type: ignore[call-overload]
            raw_b = b.execute(select(Record.id, Record.raw, Record.extra).order_by(Record.id)).all()  # type: ignore[call-overload]
            assert raw_a == raw_b
            assert "ünïcode" in raw_b[0][1]
        # Ids continue after the imported ones (PostgreSQL's sequences were moved on).
        with write_session(engine) as s:
            ev = AuditEvent(actor="t", action="after_import")
            s.add(ev)
            s.flush()
            assert ev.id == before["audit_event"][0] + 1


def test_import_refuses_a_non_empty_store_and_changes_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    populate(workspace)
    export_review(workspace.engine, tmp_path / "export")
    before = table_digests(workspace.engine)
    with pytest.raises(ExportError, match="not empty"):
        import_review(workspace.engine, tmp_path / "export")
    assert table_digests(workspace.engine) == before


def test_import_refuses_another_schema_revision_or_a_changed_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    populate(workspace)
    src = tmp_path / "export"
    export_review(workspace.engine, src)
    manifest_path = src / "manifest.json"
    original = manifest_path.read_text()
    with fresh_store("sqlite", tmp_path) as engine:
        m = json.loads(original)
        m["schema_revision"] = "0001"
        manifest_path.write_text(json.dumps(m))
        with pytest.raises(ExportError, match="schema revision '0001'"):
            import_review(engine, src)
        manifest_path.write_text(original)
        path = src / "record.json"
        path.write_text(path.read_text().replace("ünïcode", "unicode"))
        with pytest.raises(ExportError, match="SHA-256 differs"):
            import_review(engine, src)
        assert _nonzero(table_digests(engine)) == {}


def test_a_failure_late_in_the_load_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """A decision naming a record that is not there fails at the database: all rolled back."""
    populate(workspace)
    src = tmp_path / "export"
    export_review(workspace.engine, src)
    path = src / "screening_decision.json"
    rows = json.loads(path.read_text())
    rows[-1]["record_id"] = 999_999
    path.write_text(json.dumps(rows))
    m = json.loads((src / "manifest.json").read_text())
    import hashlib

    m["tables"]["screening_decision"]["json_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (src / "manifest.json").write_text(json.dumps(m))
    kind = "postgresql" if workspace.engine.dialect.name == "postgresql" else "sqlite"
    with fresh_store(kind, tmp_path) as engine:
        with pytest.raises(ExportError, match="screening_decision.*nothing was written"):
            import_review(engine, src)
        assert _nonzero(table_digests(engine)) == {}
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(ScreeningDecision)) == 0
            assert s.scalar(select(func.max(col(Record.id)))) is None

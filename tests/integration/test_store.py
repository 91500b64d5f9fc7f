"""The store: migrations equal the models; SQLite runs in WAL with foreign keys enforced."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from living_review.store import migrate
from living_review.store.engine import write_session
from living_review.store.models import RecordSource, metadata
from living_review.workspace import Workspace


def test_migrated_schema_matches_models(workspace: Workspace) -> None:
    engine = workspace.engine  # opening the store applies every migration
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_fast_revision_checks_agree_with_alembic(workspace: Workspace) -> None:
    # Opening a store reads the head from file names and the current revision with one query
    # (no Alembic start-up); both must give Alembic's own answers.
    assert migrate.head_revision() == migrate.alembic_head_revision()
    with workspace.engine.connect() as conn:
        assert migrate.current_revision(workspace.engine) == (
            MigrationContext.configure(conn).get_current_revision()
        )


def test_upgrade_is_idempotent(workspace: Workspace) -> None:
    migrate.upgrade(workspace.engine)
    migrate.upgrade(workspace.engine)
    assert migrate.current_revision(workspace.engine) == migrate.head_revision()


def test_sqlite_file_is_wal_with_foreign_keys(workspace: Workspace) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-specific pragmas")
    with workspace.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    assert (workspace.root / "db" / "review.sqlite").is_file()


def test_foreign_keys_are_enforced(workspace: Workspace) -> None:
    with pytest.raises(IntegrityError), write_session(workspace.engine) as session:
        session.add(RecordSource(record_id=999, search_run_id=999, position=1))

"""Shared fixtures: workspaces on a real SQLite file (or PostgreSQL), and the shared data dir."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from living_review.init import init_workspace
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def shared_dir() -> Path | None:
    """Return ``../shared`` (or ``$LSR_SHARED``) when present, else None."""
    path = Path(os.environ.get("LSR_SHARED", REPO.parent / "shared"))
    return path if path.is_dir() else None


@pytest.fixture
def shared() -> Path:
    """The read-only shared folder; tests needing it skip with a reason when it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared is not present (set LSR_SHARED to its location)")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def workspace(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A fresh workspace with its own store, once per engine.

    "sqlite" is a real SQLite file (WAL). "postgresql" runs when ``LSR_TEST_PG_URL`` is set
    (CI sets it) and gives each test its own fresh schema on that server; it skips otherwise.
    """
    pg = os.environ.get("LSR_TEST_PG_URL") if request.param == "postgresql" else None
    if request.param == "postgresql" and not pg:
        pytest.skip("PostgreSQL tests need LSR_TEST_PG_URL (e.g. postgresql+psycopg://...)")
    root = init_workspace(tmp_path / "review")
    monkeypatch.delenv("LSR_WORKSPACE", raising=False)
    schema = None
    if pg:
        from sqlalchemy import create_engine, text

        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(pg)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in pg else "?"
        monkeypatch.setenv("LSR_DATABASE_URL", f"{pg}{sep}options=-csearch_path%3D{schema}")
    else:
        monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    ws = Workspace(root)
    yield ws
    ws.close()
    if pg and schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

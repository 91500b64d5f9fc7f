"""Provides engine set-up for SQLite (one machine) and PostgreSQL (a team across machines).

The same code runs on both: SQLite gets WAL, foreign keys and a busy timeout so that several
reviewers' processes can share one file; PostgreSQL is chosen by ``LSR_DATABASE_URL``. Opening
a store always applies pending Alembic migrations, so a workspace never runs on an old schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from living_review.errors import WorkspaceError

#: How long a writer waits for another process's lock before SQLite gives up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is turned off (isolation_level=None) so that BEGIN is
    # ours: BEGIN IMMEDIATE on write transactions avoids lock-upgrade deadlocks under WAL.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _on_sqlite_begin(conn: Any) -> None:
    write = conn.get_execution_options().get("lsr_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the settings its backend needs."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # the URL itself is user input; never echo credentials
        raise WorkspaceError(
            f"LSR_DATABASE_URL is not a valid database URL ({type(exc).__name__})"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def database_url(default_sqlite: Path) -> str:
    """Return ``LSR_DATABASE_URL`` if set, else the workspace's SQLite file."""
    return os.environ.get("LSR_DATABASE_URL") or sqlite_url(default_sqlite)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """Open a session whose transaction takes the write lock at once (SQLite) and commits on exit.

    Anything raised inside rolls the whole transaction back: a failed import leaves the store
    exactly as it was.
    """
    with Session(engine.execution_options(lsr_write=True)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

"""Provides engine set-up for SQLite (one machine) and PostgreSQL (a team across machines).

The same code runs on both: SQLite gets WAL, foreign keys and a busy timeout so that several
reviewers' processes can share one file; PostgreSQL is chosen by ``LSR_DATABASE_URL``. Opening
a store always applies pending Alembic migrations, so a workspace never runs on an old schema.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable
from sqlmodel import Session

from living_review.errors import WorkspaceError

try:  # POSIX only; elsewhere SQLite's own busy handler alone arbitrates writers
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")

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


def _take_write_lock(conn: Any, lock_path: Path) -> None:
    """Queue for the write lock on a lock file beside the database (POSIX ``flock``).

    Why: SQLite's busy handler sleeps up to 100 ms between tries, so under steady load from
    several reviewers one process can wait for many seconds while others keep winning (seen
    in the concurrency benchmark: one of four screeners starved). Polling ``flock`` every
    few milliseconds shares the lock fairly; the kernel drops it when a process dies, so a
    killed writer never leaves it held. After SQLite's own timeout we stop queueing here and
    let SQLite's handler decide, so this can only ever shorten a wait.
    """
    if fcntl is None:
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.004)
    conn.info["lsr_write_lock"] = fd


def _release_write_lock(conn: Any) -> None:
    fd = conn.info.pop("lsr_write_lock", None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def _sqlite_begin(lock_path: Path | None) -> Callable[[Any], None]:
    def on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("lsr_write", False)
        if write and lock_path is not None:
            _take_write_lock(conn, lock_path)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
        except BaseException:
            _release_write_lock(conn)
            raise

    return on_begin


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
        db = parsed.database
        lock_path = Path(f"{db}-writelock") if db and db != ":memory:" else None
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin(lock_path))
        event.listen(engine, "commit", _release_write_lock)
        event.listen(engine, "rollback", _release_write_lock)
        return engine
    return create_engine(url, pool_pre_ping=True)


def database_url(default_sqlite: Path) -> str:
    """Return ``LSR_DATABASE_URL``, else the URL in ``LSR_DATABASE_URL_FILE``, else SQLite.

    A team's server password belongs in the environment or in a file only its owner can read
    (e.g. a Docker/Kubernetes secret), never in the repository; the file holds one URL.
    """
    url = os.environ.get("LSR_DATABASE_URL")
    if url:
        return url
    file = os.environ.get("LSR_DATABASE_URL_FILE")
    if file:
        try:
            url = Path(file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise WorkspaceError(
                f"LSR_DATABASE_URL_FILE {file}: cannot read it ({exc.strerror})"
            ) from None
        if not url:
            raise WorkspaceError(f"LSR_DATABASE_URL_FILE {file}: the file is empty")
        return url
    return sqlite_url(default_sqlite)


def uses_server() -> bool:
    """Whether the store is a database server chosen by the environment (not the SQLite file)."""
    return bool(os.environ.get("LSR_DATABASE_URL") or os.environ.get("LSR_DATABASE_URL_FILE"))


def redact(message: str, url: str) -> str:
    """Return ``message`` with the URL's password (and the URL itself) masked.

    Drivers may quote the connection string in their errors; a message shown to a user or
    written to a log must never carry the password.
    """
    try:
        parsed = make_url(url)
    except Exception:
        return message.replace(url, "***")
    out = message.replace(url, parsed.render_as_string(hide_password=True))
    if parsed.password:
        out = out.replace(str(parsed.password), "***")
    return out


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


#: SQLSTATEs of a write that lost a race and may simply be run again: serialization failure,
#: deadlock, and a unique violation from two transactions inserting the same derived row
#: (e.g. two reviewers' first decisions assigning one record at the same moment).
RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505"})
RETRY_ATTEMPTS = 6


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost race (retry) rather than a real error (report)."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in RETRY_SQLSTATES:
        return True
    text = str(orig or exc).lower()
    return "database is locked" in text or "database table is locked" in text


def retry_write(fn: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
    """Run the write transaction ``fn`` again when it lost a race with another process.

    ``fn`` must open its own transaction (``write_session``) and re-read what it checks, so
    a re-run decides afresh on the committed state; the failed attempt was rolled back whole.
    A persistent failure is raised after ``attempts`` tries, never swallowed.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def plain_rows(conn: Connection, statement: Executable) -> list[tuple[Any, ...]]:
    """Run ``statement`` and return its rows as plain tuples, straight from the DBAPI cursor.

    Why: SQLAlchemy builds a ``Row`` per result row (about 1 µs each even with its compiled
    extension), which was a quarter of PRISMA's time at 100,000 records. SQLAlchemy still
    compiles the statement and binds its parameters; only the row objects are skipped. Use it
    only for columns the driver already returns as Python values (integers, text): no
    SQLAlchemy result type processing is applied.
    """
    result = conn.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()

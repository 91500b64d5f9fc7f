"""Provides ``exclusive``: one run at a time of a job (``lsr update``) on one review.

Two ``lsr update`` runs at once (a cron job and a lead at the keyboard) would each import the
same new exports' search runs and refit the same outcomes. The store stays correct either way
(imports are idempotent under the write lock, run versions are numbered in one transaction),
but the work is done twice and the reports interleave. So the job takes a lock and a second run
says what is going on and exits non-zero.

SQLite: ``flock`` on a file beside the database (the kernel drops it when a process dies, so
a killed run never leaves the review locked). PostgreSQL: a session advisory lock keyed by the
schema, so reviewers' machines exclude each other too, and likewise released on disconnect.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from sqlalchemy import text

from living_review.errors import BusyError
from living_review.store.engine import uses_server
from living_review.workspace import DB_PATH, Workspace


def _busy(job: str) -> BusyError:
    return BusyError(
        f"another 'lsr {job}' is running on this review; nothing was done "
        "(try again when it has finished)"
    )


@contextlib.contextmanager
def exclusive(ws: Workspace, job: str) -> Iterator[None]:
    """Hold the review's lock for ``job`` for the duration; raise BusyError if it is taken."""
    if uses_server():
        key = f"lsr:{job}"
        with ws.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # hold no transaction
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(hashtext(current_schema() || :k))"), {"k": key}
            ).scalar()
            if not got:
                raise _busy(job)
            try:
                yield
            finally:
                conn.execute(
                    text("SELECT pg_advisory_unlock(hashtext(current_schema() || :k))"), {"k": key}
                )
        return
    path = ws.root / DB_PATH.parent / f".{job}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(job) from None
        yield
    finally:
        os.close(fd)  # releases the flock

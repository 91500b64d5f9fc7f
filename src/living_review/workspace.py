"""Provides the workspace: one review's folder, its protocol and its store.

A workspace is found by ``--workspace``, then ``$LSR_WORKSPACE``, then by walking up from the
current directory to the first folder holding ``protocol/review.toml`` (as git finds ``.git``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from living_review.errors import WorkspaceError
from living_review.protocol import PROTOCOL_PATH, Protocol, load_protocol
from living_review.store import migrate
from living_review.store.engine import database_url, make_engine, redact, uses_server

DB_PATH = Path("db") / "review.sqlite"


@dataclass
class Workspace:
    """A review workspace rooted at ``root``; the store opens (and migrates) on first use."""

    root: Path
    _engine: Engine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def protocol_path(self) -> Path:
        """Where the protocol lives."""
        return self.root / PROTOCOL_PATH

    @property
    def searches_dir(self) -> Path:
        """Where saved strategies and the exports each run produced live."""
        return self.root / "searches"

    @cached_property
    def protocol(self) -> Protocol:
        """The validated protocol (raises ProtocolError naming key and line)."""
        return load_protocol(self.protocol_path)

    @property
    def url(self) -> str:
        """The database URL: ``LSR_DATABASE_URL`` or ``db/review.sqlite``."""
        return database_url(self.root / DB_PATH)

    @property
    def engine(self) -> Engine:
        """The store's engine, migrated to the newest schema."""
        with self._lock:  # the TUI opens the store from worker threads
            if self._engine is None:
                if not uses_server():
                    (self.root / DB_PATH).parent.mkdir(parents=True, exist_ok=True)
                url = self.url
                engine = make_engine(url)
                try:
                    migrate.upgrade(engine)
                except OperationalError as exc:
                    engine.dispose()
                    # The driver's message may quote the URL: never show its password.
                    shown = make_url(url).render_as_string(hide_password=True)
                    reason = redact(str(exc.orig or exc).strip().splitlines()[0], url)
                    raise WorkspaceError(f"cannot open the store at {shown}: {reason}") from None
                self._engine = engine
            return self._engine

    def close(self) -> None:
        """Release the store's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def find_workspace(explicit: Path | str | None = None, *, start: Path | None = None) -> Workspace:
    """Locate the workspace: explicit path, ``$LSR_WORKSPACE``, else walk up from ``start``."""
    given = explicit or os.environ.get("LSR_WORKSPACE")
    if given:
        root = Path(given).expanduser().resolve()
        if not (root / PROTOCOL_PATH).is_file():
            raise WorkspaceError(f"{root}: not a workspace (no {PROTOCOL_PATH})")
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROTOCOL_PATH).is_file():
            return Workspace(folder)
    raise WorkspaceError(
        f"no workspace found from {here} upwards (no {PROTOCOL_PATH}); "
        "use --workspace DIR, set LSR_WORKSPACE, or create one with 'lsr init DIR'"
    )

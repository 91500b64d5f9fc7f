"""Provides schema migration on open: every store is upgraded to the newest schema first.

Alembic is driven programmatically (no alembic.ini) so that an installed ``lsr`` can migrate a
workspace's database without any files outside the package.

Opening a store that is already current must cost one query, not an Alembic start-up: every
``lsr`` command opens the store, and importing Alembic and parsing every migration script took
a large share of a command's start-up. So the current check reads ``alembic_version`` with plain
SQLAlchemy and takes the head from the migration file names (``NNNN_name.py``, linear by
house rule; a test holds :func:`head_revision` equal to Alembic's own answer). Alembic is
imported only when there is something to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    """Return the newest migration's revision id (from the file names; see the module doc)."""
    revs = [
        m.group(1)
        for p in (MIGRATIONS_DIR / "versions").iterdir()
        if (m := _REVISION_FILE.match(p.name))
    ]
    return max(revs) if revs else None


def alembic_head_revision() -> str | None:
    """Alembic's own answer for the head (slow: parses every script); tests compare the two."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply pending migrations; a no-op (one cheap query) when the store is current."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

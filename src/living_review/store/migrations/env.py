"""Alembic environment: runs on the connection handed over by ``living_review.store.migrate``."""

from __future__ import annotations

from alembic import context

from living_review.store import models

config = context.config
target_metadata = models.metadata


def run_migrations_online() -> None:
    """Run migrations on the connection in ``config.attributes['connection']``."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

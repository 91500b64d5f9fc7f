"""Alembic migrations, shipped inside the package so an installed ``lsr`` can upgrade a store."""

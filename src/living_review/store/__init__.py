"""Provides the store: SQLModel tables, the engine set-up and the migrations."""

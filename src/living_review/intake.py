"""Provides ``import_export``: one export into the store, then the incremental dedup pass.

The CLI's ``lsr import`` and the TUI's import screen both call this, so a record imported
either way is compared with the store at once (each record is compared only once; see
``living_review.dedup.service``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from living_review.dedup.service import PassResult, run_dedup
from living_review.importing import ImportResult, Progress, import_file


@dataclass(frozen=True)
class IntakeResult:
    """What an import did, and what the dedup pass after it found (None if nothing new)."""

    imported: ImportResult
    dedup: PassResult | None

    def as_json(self) -> dict[str, Any]:
        """The ``lsr import --json`` object: the import's keys plus ``dedup``."""
        out = self.imported.as_json()
        out["dedup"] = self.dedup.as_json() if self.dedup else None
        return out


def import_export(
    engine: Engine,
    path: Path,
    *,
    database: str,
    fmt: str = "auto",
    strategy: str | None = None,
    actor: str | None = None,
    progress: Progress | None = None,
) -> IntakeResult:
    """Import ``path`` as one search run, then compare its new records with the store."""
    imported = import_file(
        engine, path, database=database, fmt=fmt, strategy=strategy, actor=actor,
        progress=progress,
    )  # fmt: skip
    dedup = None if imported.already_imported else run_dedup(engine)
    return IntakeResult(imported=imported, dedup=dedup)

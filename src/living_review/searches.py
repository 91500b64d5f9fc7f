"""Provides the saved searches: strategies and exports in ``searches/``, and live runs.

Layout: ``searches/<database>/strategy.txt`` holds the saved strategy; every other file in
``searches/<database>/`` is an export that a run of it produced, named
``<database>-YYYY-MM-DD.<ext>`` (the date the search was run). ``load_saved_exports`` imports
each export once (re-loading changes nothing: runs are matched by the file's SHA-256).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from living_review.dedup.service import PassResult, run_dedup
from living_review.errors import LsrError
from living_review.importing import DATABASES, ImportResult, import_file
from living_review.workspace import Workspace

STRATEGY_FILE = "strategy.txt"
_DATED = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class SearchOutcome:
    """What ``lsr search run`` did (or, for databases without an API, what to do by hand)."""

    database: str
    message: str
    imported: ImportResult | None = None
    details: dict[str, Any] = field(default_factory=dict)
    dedup: PassResult | None = None
    """The incremental dedup pass run on what the search brought in (None if nothing new)."""

    def as_json(self) -> dict[str, Any]:
        """Return the outcome as one JSON object."""
        out = asdict(self)
        out["imported"] = self.imported.as_json() if self.imported else None
        out["dedup"] = self.dedup.as_json() if self.dedup else None
        return out


@dataclass(frozen=True)
class LoadResult:
    """What ``load_saved_exports`` did: one import per saved export, then one dedup pass."""

    imports: list[ImportResult]
    dedup: PassResult

    def as_json(self) -> dict[str, Any]:
        """Return the result as one JSON object."""
        return {"imports": [r.as_json() for r in self.imports], "dedup": self.dedup.as_json()}


def strategy_path(ws: Workspace, database: str) -> Path:
    """Return where the saved strategy for ``database`` lives."""
    return ws.searches_dir / database / STRATEGY_FILE


def read_strategy(ws: Workspace, database: str) -> str:
    """Return the saved strategy text for ``database`` (comments, '#' lines, removed)."""
    path = strategy_path(ws, database)
    if not path.is_file():
        raise LsrError(f"{path}: no saved strategy for {database}")
    lines = [ln for ln in path.read_text("utf-8").splitlines() if not ln.lstrip().startswith("#")]
    text = " ".join(ln.strip() for ln in lines if ln.strip())
    if not text:
        raise LsrError(f"{path}: the saved strategy is empty")
    return text


def saved_exports(ws: Workspace) -> list[tuple[str, Path]]:
    """Return ``(database, file)`` for every saved export, oldest first within a database."""
    found: list[tuple[str, Path]] = []
    if not ws.searches_dir.is_dir():
        return found
    for folder in sorted(p for p in ws.searches_dir.iterdir() if p.is_dir()):
        if folder.name not in DATABASES:
            continue
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.name != STRATEGY_FILE and not f.name.startswith((".", "README")):
                found.append((folder.name, f))
    return found


def run_date(path: Path) -> datetime | None:
    """Return the run date carried in an export's name (``embase-2026-11-21.ris``), if any."""
    m = _DATED.search(path.name)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d").replace(tzinfo=UTC)


def load_saved_exports(ws: Workspace, *, actor: str | None = None) -> LoadResult:
    """Import each saved export not yet in the store (each file its own transaction), then
    compare every new record with the store (the incremental dedup pass)."""
    results = []
    for database, path in saved_exports(ws):
        strategy = None
        if strategy_path(ws, database).is_file():
            strategy = read_strategy(ws, database)
        results.append(
            import_file(
                ws.engine,
                path,
                database=database,
                strategy=strategy,
                actor=actor,
                run_at=run_date(path),
            )
        )
    return LoadResult(imports=results, dedup=run_dedup(ws.engine))


EMBASE_HOWTO = """\
Embase has no open API: run the saved strategy by hand and import its export.
  1. Open searches/embase/strategy.txt and paste it into Embase.com (or Ovid Embase).
  2. Limit the records to those added since {since} (Embase.com: 'Date of entry'
     ({since} to today); Ovid: limit to 'em={since_ovid}-current' / use the 'dd' field).
  3. Export all results as RIS (Embase.com: 'RIS format', full record with abstract;
     Ovid: 'RIS' or 'Citavi/Complete Reference').
  4. Save it as searches/embase/embase-{today}.ris and run:
       lsr import searches/embase/embase-{today}.ris --database embase
     (or 'lsr search load' to import every saved export not yet imported)."""


def run_saved_search(ws: Workspace, database: str) -> SearchOutcome:
    """Run ``database``'s saved strategy: live for PubMed, instructions for the others."""
    if database == "pubmed":
        from living_review.sources.eutils import run_pubmed_search

        outcome = run_pubmed_search(ws)
        if outcome.imported is None or outcome.imported.new_records == 0:
            return outcome
        return replace(outcome, dedup=run_dedup(ws.engine))
    if database not in DATABASES:
        raise LsrError(f"unknown database {database!r} (one of: {', '.join(DATABASES)})")
    since = last_run_date(ws, database)
    today = datetime.now(UTC).date().isoformat()
    since_txt = since.date().isoformat() if since else "(first run: no date limit)"
    msg = EMBASE_HOWTO.format(
        since=since_txt, since_ovid=since_txt.replace("-", ""), today=today
    ).replace("Embase", "Embase" if database == "embase" else database)
    return SearchOutcome(database=database, message=msg, details={"since": since_txt})


def last_run_date(ws: Workspace, database: str) -> datetime | None:
    """Return when ``database`` was last searched (the newest run), if ever."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from living_review.store.models import SearchRun

    with Session(ws.engine) as session:
        value = session.scalar(
            select(func.max(SearchRun.run_at)).where(SearchRun.database == database)  # type: ignore[arg-type]
        )
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value

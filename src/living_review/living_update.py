"""Provides :func:`run_update`: one turn of the living cycle (``lsr update``).

Searches -> import -> dedup -> what awaits screening -> refit of every stale outcome, each
with its conclusions diff. Why one function: cron, the CLI and the TUI run the same cycle.

Safe to run unattended:

* **Idempotent.** Saved exports are imported once (matched by SHA-256), the live PubMed run asks
  only for what was entered since its last run, and only outcomes whose input changed are
  refitted (staleness is derived, :mod:`living_review.living`), so a second run in a row fits
  nothing and imports nothing.
* **No partial writes.** Each step is its own transaction (a failed PubMed download stores
  nothing; a run is stored whole or not at all). A failing step is recorded in ``errors`` and
  the remaining steps still run, so one unreachable database does not stop the refits; the
  CLI then exits 1 with the messages.
* **No prompts.** Databases without an API (Embase, ...) get instructions: which strategy to
  run, from which date (the last run of that database), and where to save the export, which
  the next ``lsr update`` imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from living_review.errors import LsrError
from living_review.living import (
    Progress,
    RunRecord,
    Staleness,
    diff_latest,
    fit_and_record,
    stale_outcomes,
)
from living_review.store.exclusive import exclusive
from living_review.workspace import Workspace


@dataclass
class UpdateResult:
    """What one ``lsr update`` did."""

    searches: list[dict[str, Any]] = field(default_factory=list)
    imports: list[dict[str, Any]] = field(default_factory=list)
    new_records: int = 0
    dedup: dict[str, Any] | None = None
    awaiting_screening: int = 0
    stale: list[dict[str, Any]] = field(default_factory=list)
    refits: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        """One JSON object (``lsr update --json``)."""
        return {
            "ok": self.ok,
            "searches": self.searches,
            "imports": self.imports,
            "new_records": self.new_records,
            "dedup": self.dedup,
            "awaiting_screening": self.awaiting_screening,
            "stale": self.stale,
            "refits": self.refits,
            "errors": self.errors,
        }

    def lines(self) -> list[str]:
        """The human report."""
        out = []
        for s in self.searches:
            if s.get("instructions"):
                out.append(f"{s['database']} (no API):\n{s['instructions']}")
            else:
                out.append(f"{s['database']}: {s['message']}")
        for i in self.imports:
            out.append(f"imported {i['file']}: {i['new_records']} new records")
        out.append(f"{self.new_records} new records; {self.awaiting_screening} await screening")
        if not self.refits:
            out.append("no outcome is stale: nothing to refit")
        for r in self.refits:
            why = ", ".join(r["reasons"])
            out.append(f"refitted {r['outcome']} ({why}): {r['summary']}")
        out += [f"error: {e}" for e in self.errors]
        return out


def _searches(ws: Workspace, result: UpdateResult, progress: Progress) -> None:
    from living_review.searches import run_saved_search

    for database in ws.protocol.search.databases:
        progress(f"searching {database}", 0.05)
        try:
            outcome = run_saved_search(ws, database)
        except LsrError as exc:
            result.errors.append(f"search {database}: {exc}")
            continue
        new = outcome.imported.new_records if outcome.imported else 0
        result.new_records += new
        entry: dict[str, Any] = {
            "database": database,
            "live": outcome.imported is not None,
            "new_records": new,
            "message": outcome.message if outcome.imported else _howto_line(outcome.details),
        }
        if outcome.imported is None:
            entry["instructions"] = outcome.message
            entry["since"] = outcome.details.get("since")
        result.searches.append(entry)


def _howto_line(details: dict[str, Any]) -> str:
    since = details.get("since", "the first run")
    return (
        f"no API: run the saved strategy by hand for records added since {since}, save the "
        "export in searches/<database>/ and run 'lsr update' again (see 'instructions')"
    )


def _imports(ws: Workspace, result: UpdateResult) -> None:
    from living_review.searches import load_saved_exports, saved_exports

    if not saved_exports(ws):
        return
    try:
        loaded = load_saved_exports(ws, actor="lsr update")
    except LsrError as exc:
        result.errors.append(f"import: {exc}")
        return
    for imp in loaded.imports:
        if imp.already_imported:
            continue
        data = imp.as_json()
        result.imports.append({"file": data["file_name"], **_counts(data)})
        result.new_records += int(data["new_records"])
    result.dedup = loaded.dedup.as_json()


def _counts(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("records_in_file", "new_records", "linked_records", "search_run_id")
    return {k: data.get(k) for k in keys}


def _awaiting_screening(ws: Workspace) -> int:
    from living_review.dedup.service import duplicate_counts
    from living_review.status import screened_records

    unique = duplicate_counts(ws.engine).unique
    return max(unique - screened_records(ws.engine, "ta"), 0)


def _refit(
    ws: Workspace, s: Staleness, engine: str, result: UpdateResult, progress: Progress
) -> RunRecord | None:
    progress(f"refitting {s.outcome} ({engine})", 0.5)
    try:
        run = fit_and_record(ws, s.outcome, engine=engine, trigger="update", actor="lsr update")
    except LsrError as exc:
        result.errors.append(f"refit {s.outcome}: {exc}")
        return None
    diff = diff_latest(ws, run)
    result.refits.append(
        {
            "outcome": s.outcome,
            "reasons": s.reasons,
            "run_id": run.id,
            "version": run.version,
            "engine": run.engine,
            "converged": run.converged,
            "summary": diff.summary(),
            "diff": diff.as_json(),
        }
    )
    return run


def run_update(
    ws: Workspace | Path,
    *,
    search: bool = True,
    refit: bool = True,
    engine: str = "bayes",
    progress: Progress | None = None,
) -> UpdateResult:
    """Run the living cycle once; see the module docstring. Never raises for a failed step
    (it is listed in ``errors``); raises LsrError only for a bad request (unknown engine) and
    BusyError when another update of this review is running (one at a time: cron-safe)."""
    w = ws if isinstance(ws, Workspace) else Workspace(Path(ws))
    if engine not in ("bayes", "frequentist"):
        raise LsrError(f"--engine must be bayes or frequentist, not {engine!r}")
    with exclusive(w, "update"):
        return _cycle(w, search=search, refit=refit, engine=engine, progress=progress)


def _cycle(
    w: Workspace, *, search: bool, refit: bool, engine: str, progress: Progress | None
) -> UpdateResult:
    """One pass of the cycle (under the update lock)."""
    report = progress or (lambda _m, _f: None)
    result = UpdateResult()
    if search:
        # saved exports first: a live run then asks only for what is newer than them
        _imports(w, result)
        _searches(w, result, report)
    result.awaiting_screening = _awaiting_screening(w)
    if refit:
        report("checking which outcomes are stale", 0.4)
        try:
            stale = [s for s in stale_outcomes(w, engine=engine) if s.stale]
        except LsrError as exc:
            result.errors.append(f"staleness: {exc}")
            stale = []
        result.stale = [s.as_json() for s in stale]
        for s in stale:
            _refit(w, s, engine, result, report)
    report("done", 1.0)
    return result

"""Provides ``lsr update``: the living cycle from the command line (and from cron).

``lsr update [--json] [--no-search] [--no-refit] [--engine bayes|frequentist]``

Runs :func:`living_review.living_update.run_update`: the saved searches (live PubMed; for
Embase and other databases without an API, instructions naming the strategy, the date window
and where to save the export), import of every saved export not yet imported, dedup, how many
records await screening, and a refit of every stale outcome with its conclusions diff.
No prompts; exit 0 when every step succeeded, else 1 with one ``lsr: error:`` line per failed
step on stderr (``--json`` still prints the one JSON object, with ``ok`` false and ``errors``).
"""

from __future__ import annotations

import json
import sys

import typer

from living_review.cli_base import open_workspace


def update(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    no_search: bool = typer.Option(False, "--no-search", help="Skip searches and imports."),
    no_refit: bool = typer.Option(False, "--no-refit", help="Do not refit stale outcomes."),
    engine: str = typer.Option("bayes", "--engine", help="bayes | frequentist"),
) -> None:
    """Run the living cycle: searches, import, dedup, then refit every stale outcome."""
    from living_review.living_update import run_update

    ws = open_workspace()

    def progress(message: str, _fraction: float) -> None:
        if not as_json and sys.stderr.isatty():
            typer.echo(f"… {message}", err=True)

    res = run_update(ws, search=not no_search, refit=not no_refit, engine=engine, progress=progress)
    if as_json:
        typer.echo(json.dumps(res.as_json(), indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo("\n".join(line for line in res.lines() if not line.startswith("error: ")))
    if not res.ok:
        for err in res.errors:
            typer.echo(f"lsr: error: {err}", err=True)
        raise typer.Exit(1)

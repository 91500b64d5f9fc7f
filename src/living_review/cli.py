"""Provides the ``lsr`` command (Typer): a thin shell over the core's service functions.

Exit codes: 0 success, 1 user error (the message names the file and line or record), 2 usage.
Every reporting command takes ``--json`` and then prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import typer
import typer.core

from living_review.cli_base import WORKSPACE, emit_json, fail, open_workspace
from living_review.cli_dedup import dedup_app, dedup_summary
from living_review.cli_report import register as register_report
from living_review.cli_screening import register as register_screening
from living_review.cli_simulate import register as register_simulate
from living_review.cli_team import register as register_team
from living_review.cli_update import update as update_cmd
from living_review.errors import LsrError

#: Command groups whose modules are imported only when the group is used: ``lsr decide`` should
#: not pay for NumPy and the NMA, RoB 2 and survival modules at start-up (every command's wall
#: time counts: ``lsr prisma`` has a 1 s budget at 100,000 records).
_LAZY_GROUPS: dict[str, tuple[str, str]] = {
    "extract": ("living_review.cli_extract", "extract_app"),
    "km": ("living_review.cli_km", "km_app"),
    "nma": ("living_review.cli_nma", "nma_app"),
    "rob2": ("living_review.cli_rob2", "rob2_app"),
}


class _Group(typer.core.TyperGroup):
    """Turns user errors (LsrError) from any command into one line on stderr and exit 1.

    It also mounts the :data:`_LAZY_GROUPS` on first use (click's documented lazy-loading
    pattern: ``list_commands`` names them, ``get_command`` imports and converts them).
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_GROUPS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in _LAZY_GROUPS:
            module, attr = _LAZY_GROUPS[cmd_name]
            cmd = typer.main.get_group(getattr(import_module(module), attr))
            cmd.name = cmd_name
            self.add_command(cmd, cmd_name)
        return cmd

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context type is private
        # The workspace option belongs to this one invocation (tests run many in one process).
        token = WORKSPACE.set(ctx.params.get("workspace"))
        try:
            return super().invoke(ctx)
        except LsrError as exc:
            typer.echo(f"lsr: error: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            WORKSPACE.reset(token)


app = typer.Typer(
    cls=_Group,
    name="lsr",
    help="living-review: living systematic reviews with network meta-analysis, in the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
search_app = typer.Typer(help="Saved searches: run them live or load their exports.")
app.add_typer(search_app, name="search")
app.add_typer(dedup_app, name="dedup")
app.command("update")(update_cmd)


@app.callback()
def _main(
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="The review's folder (default: $LSRWORKSPACE, else "
        "the nearest folder upwards holding protocol/review.toml).",
    ),
) -> None:
    """Options that apply to every command (read by ``open_workspace``)."""


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Folder for the new, empty review."),
    title: str = typer.Option("A new living review", help="The review's title."),
) -> None:
    """Create a new, empty workspace (protocol template, searches/, db/)."""
    from living_review.init import init_workspace

    root = init_workspace(directory, title=title)
    typer.echo(f"created a workspace in {root}")
    typer.echo(f"next: edit {root / 'protocol' / 'review.toml'}, then import your searches")


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="The export file (PubMed XML/.nbib, RIS, Ovid, WoS, CSV)."
    ),
    database: str = typer.Option(
        ..., "--database", "-d", help="pubmed|embase|cochrane|wos|scopus|other"
    ),
    fmt: str = typer.Option(
        "auto", "--format", "-f", help="auto|pubmed-xml|medline|ris|ovid|wos|csv"
    ),
    query: str | None = typer.Option(
        None, "--query", help="The search strategy that produced the file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Import a search export as one search run (all or nothing)."""
    from living_review.intake import import_export

    ws = open_workspace()
    progress = None if as_json or not sys.stderr.isatty() else _progress_bar(file.name)
    try:
        intake = import_export(
            ws.engine, file, database=database, fmt=fmt, strategy=query, progress=progress
        )
    finally:
        if progress is not None:
            typer.echo("", err=True)
    result, dedup = intake.imported, intake.dedup
    if as_json:
        emit_json(intake.as_json())
        return
    if result.already_imported:
        typer.echo(
            f"{file}: already imported as search run {result.search_run_id} "
            f"({result.records_in_file} records); nothing changed"
        )
        return
    typer.echo(
        f"{file}: {result.records_in_file} records ({result.file_format}) -> search run "
        f"{result.search_run_id}: {result.new_records} new, {result.linked_records} already "
        f"in the store from {database} (linked)"
    )
    if dedup is not None:
        typer.echo(dedup_summary(dedup))


def _progress_bar(label: str) -> Callable[[int, float | None], None]:
    last = [-1]

    def show(done: int, fraction: float | None) -> None:
        pct = int((fraction or 0) * 100)
        if pct == last[0] and done % 5000:
            return
        last[0] = pct
        bar = "#" * (pct // 4)
        typer.echo(f"\r{label} [{bar:<25}] {pct:3d}%  {done:,} records", err=True, nl=False)

    return show


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Search runs, record counts and what the review needs next."""
    from living_review.status import review_status

    st = review_status(open_workspace())
    if as_json:
        emit_json(st.as_json())
        return
    typer.echo(st.review)
    typer.echo(
        f"records identified: {st.identified_total:,}; in the store: {st.records:,}; "
        f"duplicates removed: {st.duplicates_removed:,}; unique: {st.unique_records:,}"
    )
    if st.search_runs:
        typer.echo("search runs:")
        for r in st.search_runs:
            typer.echo(
                f"  #{r.id:<3} {r.database:<8} {r.run_at[:10]}  {r.records_in_file:>7,} "
                f"records  {r.new_records:>7,} new  {r.file_name or r.origin}"
            )
    for step in st.next_steps:
        typer.echo(f"next: {step}")


@search_app.command("run")
def search_run(
    database: str = typer.Argument(..., help="pubmed (live E-utilities) or embase (instructions)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run the saved strategy live; only records new since the last run are imported."""
    from living_review.searches import run_saved_search

    outcome = run_saved_search(open_workspace(), database)
    if as_json:
        emit_json(outcome.as_json())
        return
    typer.echo(outcome.message)
    if outcome.dedup is not None:
        typer.echo(dedup_summary(outcome.dedup))


@search_app.command("load")
def search_load(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Import every saved export in searches/ that the store does not hold yet."""
    from living_review.searches import load_saved_exports

    loaded = load_saved_exports(open_workspace())
    if as_json:
        emit_json(loaded.as_json())
        return
    if not loaded.imports:
        typer.echo("no saved exports in searches/")
    for r in loaded.imports:
        state_ = "already imported" if r.already_imported else f"{r.new_records} new"
        typer.echo(f"searches/{r.database}/{r.file_name}: {r.records_in_file} records, {state_}")
    typer.echo(dedup_summary(loaded.dedup))


@app.command()
def tui(
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help="Who is working."),
) -> None:
    """Open the Textual app on the workspace (the main job)."""
    # The core must not import the TUI package: it is found through its entry point and loaded
    # only when this command runs.
    found = entry_points(group="living_review.commands", name="tui")
    if not found:
        fail("the TUI package (living_review_tui) is not installed")
    ws = open_workspace()
    ws.protocol  # noqa: B018 - a bad protocol is reported here, before the screen opens
    next(iter(found)).load()(ws, reviewer=reviewer)


register_screening(app)
register_simulate(app)
register_report(app)
register_team(app)


def main() -> None:
    """Entry point of the ``lsr`` command."""
    app()

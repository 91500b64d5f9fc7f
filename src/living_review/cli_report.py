"""Provides ``lsr report``: the review report as Markdown (with figures) or one HTML file.

``lsr report [--format md|html] [--out DIR] [--json]``. ``--json`` prints one object: the
file written (``path``), the figure files (``figures``; HTML embeds them) and a summary of
every section (``sections``: PRISMA counts, studies, RoB 2 per outcome, each outcome's
analysis source, staleness and convergence, history lengths).
"""

from __future__ import annotations

from pathlib import Path

import typer

from living_review.cli_base import emit_json, open_workspace


def report(
    fmt: str = typer.Option("html", "--format", "-f", help="md | html"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for the report (default: <workspace>/report)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write the review report: PRISMA, studies, RoB 2, NMA per outcome, version history."""
    from living_review.report import write_report

    written = write_report(open_workspace(), fmt=fmt, out=out)
    if as_json:
        emit_json(written.as_json())
        return
    s = written.data.summary()
    typer.echo(f"report written to {written.path}")
    if written.figures:
        typer.echo(f"figures: {len(written.figures)} in {written.figures[0].parent}")
    elif written.embedded:
        typer.echo(f"figures: {written.embedded} embedded")
    p = s["prisma"]
    typer.echo(
        f"PRISMA: {p['identified']} records identified, {p['records_screened']} screened, "
        f"{p['studies_included']} studies included; {s['studies']} studies in the "
        "characteristics table"
    )
    for name, a in s["analyses"].items():
        if a["source"] == "no_data":
            typer.echo(f"{name}: no network meta-analysis (no analysable data)")
            continue
        where = f"stored run v{a['run_version']}" if a["source"] == "stored" else "fitted now"
        flags = []
        if a["converged"] is False:
            flags.append("NOT CONVERGED")
        if a["stale"]:
            flags.append("STALE")
        extra = f" [{', '.join(flags)}]" if flags else ""
        typer.echo(f"{name}: {a['engine']}, {where}, {a['n_studies']} studies{extra}")


def register(app: typer.Typer) -> None:
    """Add ``lsr report`` to the ``lsr`` app."""
    app.command("report")(report)

"""Provides the team commands: ``lsr audit``, ``export``, ``import-review``, ``eligibility``.

A thin shell over :mod:`living_review.audit`, :mod:`living_review.export` and
:mod:`living_review.access`; registered on the main app with one line in ``cli.py``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from living_review.cli_base import emit_json, open_workspace

eligibility_app = typer.Typer(help="The protocol's eligibility rules: status and lead approval.")


def audit(
    since: str | None = typer.Option(None, "--since", help="Only events at or after (ISO date)."),
    actor: str | None = typer.Option(None, "--actor", help="Only this person's (or process's)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N events."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The audit trail: every change, who made it and when, oldest first."""
    from living_review.audit import parse_since, timeline, timeline_json

    at = parse_since(since) if since else None
    entries = timeline(open_workspace().engine, since=at, actor=actor, limit=limit)
    if as_json:
        emit_json(timeline_json(entries))
        return
    if not entries:
        typer.echo("no events")
        return
    for e in entries:
        row = e.as_json()
        what = f"{e.entity} {e.entity_id}" if e.entity_id else (e.entity or "")
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items() if v not in (None, "", []))
        typer.echo(
            f"{row['at'][:19]}Z  {e.actor or '-':<12} {e.action:<20} {what}"
            + (f"  ({detail})" if detail else "")
        )


def export(
    directory: Path = typer.Argument(..., help="New or empty folder for the export."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write the whole review (every table as CSV + JSON, and a manifest) into DIRECTORY."""
    from living_review.export import export_review

    ws = open_workspace()
    result = export_review(ws.engine, directory, protocol_path=ws.protocol_path)
    if as_json:
        emit_json(result.as_json())
        return
    typer.echo(
        f"exported {result.total_rows} rows from {len(result.tables)} tables "
        f"(schema {result.schema_revision}) to {directory}"
    )


def import_review(
    directory: Path = typer.Argument(..., help="A folder written by 'lsr export'."),
    with_protocol: bool = typer.Option(
        False, "--with-protocol", help="Also replace protocol/review.toml with the export's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Load an export into this workspace, which must be empty (all or nothing)."""
    from living_review.export import import_review as load
    from living_review.export import restore_protocol

    ws = open_workspace()
    result = load(ws.engine, directory)
    restored = restore_protocol(directory, ws.protocol_path) if with_protocol else False
    if as_json:
        emit_json({**result.as_json(), "protocol_restored": restored})
        return
    typer.echo(f"imported {result.total_rows} rows into {len(result.tables)} tables")
    if restored:
        typer.echo(f"protocol restored to {ws.protocol_path}")


@eligibility_app.command("status")
def eligibility_status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Whether the protocol's eligibility rules are the ones a lead last approved."""
    from living_review.access import eligibility_status as status

    ws = open_workspace()
    st = status(ws.engine, ws.protocol)
    if as_json:
        emit_json(st.as_json())
        return
    if st.approved_fingerprint is None:
        typer.echo("eligibility rules: never approved by a lead")
    elif st.changed:
        typer.echo(f"eligibility rules: CHANGED since {st.approved_by} approved them")
    else:
        typer.echo(f"eligibility rules: as approved by {st.approved_by}")


@eligibility_app.command("approve")
def eligibility_approve(
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="The lead approving them."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Approve the protocol's current eligibility rules (a lead only)."""
    from living_review.access import approve_eligibility

    ws = open_workspace()
    st = approve_eligibility(ws.engine, ws.protocol, reviewer)
    if as_json:
        emit_json(st.as_json())
        return
    typer.echo(f"eligibility rules approved by {reviewer} ({st.fingerprint[:12]})")


def register(app: typer.Typer) -> None:
    """Add the team commands to the main ``lsr`` app (one line in ``cli.py``)."""
    app.command("audit")(audit)
    app.command("export")(export)
    app.command("import-review")(import_review)
    app.add_typer(eligibility_app, name="eligibility")

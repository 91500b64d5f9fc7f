"""Provides the screening commands of ``lsr``: reviewers, decide, queue, resolve, agreement, PRISMA.

``cli.py`` wires them with one line, ``register(app)``. This module imports
``living_review.cli`` only inside functions, so that import is not circular, and the core
modules only inside commands, so ``lsr --help`` stays fast.

* ``lsr reviewer add NAME [--role lead|reviewer]`` / ``lsr reviewer list [--json]``
* ``lsr decide RECORD --reviewer NAME --stage ta|ft include|exclude|maybe [--reason TEXT]``
* ``lsr undo RECORD --reviewer NAME --stage ta|ft``
* ``lsr queue --reviewer NAME --stage ta|ft [--json]`` (a list of records, each with ``id``)
* ``lsr conflicts --reviewer NAME --stage ta|ft [--json]``
* ``lsr resolve RECORD --stage ta|ft --reviewer NAME include|exclude [--reason TEXT]``
* ``lsr unblind --stage ta|ft --reviewer LEAD``
* ``lsr agreement [--stage ta|ft] [--json]`` (``kappa``, ``ci``, ``percent_agreement``, ``n``,
  ``pairs``)
* ``lsr prisma [--json] [--svg FILE] [--png FILE] [--csv FILE] [--previous LABEL]``
* ``lsr publish LABEL --reviewer LEAD`` (marks a version: the previous-version column)
* ``lsr fulltext advance | link RECORD | missing RECORD | study RECORD | link-trials``
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from living_review.cli_base import emit_json, open_workspace

if TYPE_CHECKING:
    from living_review.agreement import AgreementResult

STAGE_HELP = "ta (title/abstract) or ft (full text)."

reviewer_app = typer.Typer(help="The review's reviewers (the protocol's, plus any added here).")
fulltext_app = typer.Typer(help="The full-text stage: move records on, link PDFs and trials.")


# --- reviewers --------------------------------------------------------------------------------


@reviewer_app.command("add")
def reviewer_add(
    name: str = typer.Argument(..., help="The reviewer's name (letters, digits, . _ @ -)."),
    role: str = typer.Option("reviewer", "--role", help="lead or reviewer."),
) -> None:
    """Add a reviewer to the review."""
    from living_review.screening.reviewers import add_reviewer

    ws = open_workspace()
    info = add_reviewer(engine=ws.engine, protocol=ws.protocol, name=name, role=role)
    typer.echo(f"added reviewer {info.name} ({info.role})")


@reviewer_app.command("list")
def reviewer_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the reviewers and their roles."""
    from living_review.screening.reviewers import reviewers

    ws = open_workspace()
    people = reviewers(ws.engine, ws.protocol)
    if as_json:
        emit_json([p.as_json() for p in people.values()])
        return
    for p in people.values():
        where = "protocol" if p.in_protocol else "added"
        typer.echo(f"{p.name:<20} {p.role:<9} ({where})")


# --- decisions --------------------------------------------------------------------------------


def decide(
    record: int = typer.Argument(..., help="The record's id."),
    decision: str = typer.Argument(..., help="include, exclude or maybe."),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who decides."),
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    reason: str | None = typer.Option(
        None, "--reason", help="Exclusion reason (a protocol code; required at full text)."
    ),
    note: str | None = typer.Option(None, "--note", help="A note kept with the decision."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Record a screening decision (a second decision supersedes the first)."""
    from living_review.screening.decisions import record_decision

    ws = open_workspace()
    result = record_decision(
        engine=ws.engine, protocol=ws.protocol, record_id=record, stage=stage,
        reviewer=reviewer, decision=decision, reason=reason, note=note,
    )  # fmt: skip
    if as_json:
        emit_json(result.as_json())
        return
    more = f" ({result.reason})" if result.reason else ""
    again = " (supersedes the earlier decision)" if result.supersedes_id else ""
    typer.echo(f"record {record} [{stage}]: {reviewer} {decision}{more}{again}")


def undo(
    record: int = typer.Argument(..., help="The record's id."),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Whose decision to withdraw."),
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
) -> None:
    """Withdraw a reviewer's decision (a new event; the record returns to their queue)."""
    from living_review.screening.decisions import undo_decision

    ws = open_workspace()
    undo_decision(
        engine=ws.engine, protocol=ws.protocol, record_id=record, stage=stage, reviewer=reviewer
    )
    typer.echo(f"record {record} [{stage}]: {reviewer}'s decision withdrawn")


def queue(
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Whose queue."),
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of records."),
) -> None:
    """What a reviewer has left to screen, in order (no one else's decisions)."""
    from living_review.screening.queue import queue as reviewer_queue

    ws = open_workspace()
    items = reviewer_queue(
        engine=ws.engine, protocol=ws.protocol, reviewer=reviewer, stage=stage, limit=limit
    )
    if as_json:
        emit_json([i.as_json() for i in items])
        return
    if not items:
        typer.echo(f"{reviewer} has nothing left to screen at {stage}")
    for i in items:
        typer.echo(f"{i.id:>8}  {i.year or '':<4}  {(i.title or '(no title)')[:100]}")


def conflicts(
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who resolves."),
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Open conflicts this reviewer may resolve (none they screened, unless lead/unblinded)."""
    from living_review.screening.conflicts import list_conflicts

    ws = open_workspace()
    found = list_conflicts(engine=ws.engine, protocol=ws.protocol, stage=stage, viewer=reviewer)
    if as_json:
        emit_json([c.as_json() for c in found])
        return
    if not found:
        typer.echo(f"no open conflicts at {stage} for {reviewer}")
    for c in found:
        votes = ", ".join(f"{d['reviewer']}: {d['decision']}" for d in c.decisions or [])
        typer.echo(f"{c.record_id:>8}  {c.why:<22} {votes}  {(c.title or '')[:70]}")


def resolve(
    record: int = typer.Argument(..., help="The record's id."),
    decision: str = typer.Argument(..., help="include or exclude."),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="Who resolves."),
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (a protocol exclusion code when excluding at full text)."
    ),
    note: str | None = typer.Option(None, "--note", help="How the conflict was settled."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Resolve a screening conflict; who resolved it and why are recorded."""
    from living_review.screening.conflicts import resolve as resolve_conflict

    ws = open_workspace()
    result = resolve_conflict(
        engine=ws.engine, protocol=ws.protocol, record_id=record, stage=stage,
        reviewer=reviewer, decision=decision, reason=reason, note=note,
    )  # fmt: skip
    if as_json:
        emit_json(result.as_json())
        return
    typer.echo(
        f"record {record} [{stage}] resolved: {decision} by {result.reviewer} ({result.method})"
    )


def unblind(
    stage: str = typer.Option(..., "--stage", "-s", help=STAGE_HELP),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="The lead who unblinds."),
    reason: str | None = typer.Option(None, "--reason", help="Why."),
) -> None:
    """Lift blinding for a stage (leads only): everyone then sees every decision."""
    from living_review.screening.conflicts import unblind_stage

    ws = open_workspace()
    unblind_stage(
        engine=ws.engine, protocol=ws.protocol, stage=stage, reviewer=reviewer, reason=reason
    )
    typer.echo(f"{stage} stage unblinded by {reviewer}")


# --- agreement and PRISMA ---------------------------------------------------------------------


def _fmt(v: float | None, digits: int = 3) -> str:
    return "NA" if v is None else f"{v:.{digits}f}"


def _agreement_text(result: AgreementResult, title: str) -> list[str]:
    from living_review.agreement import CATEGORIES

    s = result.stats
    ci = f"[{_fmt(s.ci[0])}, {_fmt(s.ci[1])}]" if s.ci else "NA"
    pct = "NA" if s.p_o is None else f"{100 * s.p_o:.1f}%"
    lines = [f"{title}: kappa {_fmt(s.kappa)} (95% CI {ci}), agreement {pct}, n = {s.n}"]
    lines.append("    " + " " * 10 + "".join(f"{c:>9}" for c in CATEGORIES))
    for i, c in enumerate(CATEGORIES):
        lines.append(f"    {c:<10}" + "".join(f"{v:>9}" for v in result.table[i]))
    return lines


def agreement(
    stage: str = typer.Option("ta", "--stage", "-s", help=STAGE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Cohen's kappa (95% CI), percent agreement and tables, overall and per reviewer pair."""
    from living_review.agreement import stage_agreement

    result = stage_agreement(engine=open_workspace().engine, stage=stage)
    if as_json:
        emit_json(result.as_json(stage))
        return
    for line in _agreement_text(result, f"{stage} overall"):
        typer.echo(line)
    for pair in result.pairs:
        assert pair.reviewers is not None
        for line in _agreement_text(pair, " vs ".join(pair.reviewers)):
            typer.echo(line)


def prisma(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    svg: Path | None = typer.Option(None, "--svg", help="Write the flow diagram as SVG."),
    png: Path | None = typer.Option(None, "--png", help="Write the flow diagram as PNG."),
    csv_file: Path | None = typer.Option(
        None, "--csv", help="Write the counts in the PRISMA2020 R package's CSV format."
    ),
    previous: str | None = typer.Option(
        None, "--previous", help="The version whose counts fill 'previous' (default: latest)."
    ),
) -> None:
    """PRISMA 2020 counts from the store, and the flow diagram."""
    from living_review.prisma import check_invariants, prisma_counts, prisma_csv_rows
    from living_review.prisma import render_diagram as draw

    ws = open_workspace()
    counts = prisma_counts(engine=ws.engine, protocol=ws.protocol, previous=previous)
    written = [draw(counts, p, fmt=f) for p, f in ((svg, "svg"), (png, "png")) if p is not None]
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["data", "n"])
            w.writerows(prisma_csv_rows(counts))
        written.append(csv_file)
    if as_json:
        emit_json(counts)
        return
    c = counts
    typer.echo(
        f"identified {c['identified']:,} (databases {c['database_results']:,}, registers "
        f"{c['register_results']:,}); duplicates removed {c['duplicates']:,}"
    )
    typer.echo(
        f"screened {c['records_screened']:,}; excluded {c['records_excluded']:,}; awaiting "
        f"{c['records_awaiting_screening']:,}"
    )
    typer.echo(
        f"reports sought {c['dbr_sought_reports']:,}; not retrieved "
        f"{c['dbr_notretrieved_reports']:,}; assessed {c['dbr_assessed']:,}; excluded "
        f"{c['dbr_excluded_total']:,}; awaiting {c['reports_awaiting_assessment']:,}"
    )
    for code, n in c["dbr_excluded"].items():
        typer.echo(f"  {c['exclusion_reason_labels'].get(code, code)}: {n:,}")
    typer.echo(
        f"included: {c['total_studies']:,} studies in {c['total_reports']:,} reports"
        + (f" ({c['new_studies']:,} new studies)" if c["template"] == "updated" else "")
    )
    for problem in check_invariants(counts):
        typer.echo(f"warning: PRISMA invariant broken: {problem}", err=True)
    for p in written:
        typer.echo(f"wrote {p}")


def publish(
    label: str = typer.Argument(..., help="The version's label, e.g. v1 or 2026-11."),
    reviewer: str = typer.Option(..., "--reviewer", "-r", help="The lead who publishes."),
    note: str | None = typer.Option(None, "--note", help="A note on the version."),
) -> None:
    """Mark the review as published now: PRISMA's previous-version column starts here."""
    from living_review.prisma import publish_version

    ws = open_workspace()
    v = publish_version(
        engine=ws.engine, protocol=ws.protocol, label=label, reviewer=reviewer, note=note
    )
    typer.echo(f"version {v.label} published (cut-off {v.cutoff.isoformat(timespec='seconds')})")


# --- full text --------------------------------------------------------------------------------


@fulltext_app.command("advance")
def fulltext_advance() -> None:
    """Move every record included at title/abstract to full text."""
    from living_review.screening.fulltext import advance_to_fulltext

    ws = open_workspace()
    n = advance_to_fulltext(engine=ws.engine, protocol=ws.protocol)
    typer.echo(f"{n} record(s) moved to full text")


@fulltext_app.command("link")
def fulltext_link(
    record: int = typer.Argument(..., help="The record's id."),
    pdf: str | None = typer.Option(None, "--pdf", help="Path of the PDF."),
    url: str | None = typer.Option(None, "--url", help="URL of the full text."),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help="Who links it."),
) -> None:
    """Link a report's full text (PDF path and/or URL)."""
    from living_review.screening.fulltext import set_fulltext

    ws = open_workspace()
    set_fulltext(
        engine=ws.engine, protocol=ws.protocol, record_id=record, pdf=pdf, url=url, actor=reviewer
    )
    typer.echo(f"record {record}: full text linked")


@fulltext_app.command("missing")
def fulltext_missing(
    record: int = typer.Argument(..., help="The record's id."),
    reason: str = typer.Option(..., "--reason", help="Why it could not be retrieved."),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help="Who marks it."),
) -> None:
    """Mark a report as not retrieved (PRISMA "Reports not retrieved")."""
    from living_review.screening.fulltext import mark_not_retrieved

    ws = open_workspace()
    mark_not_retrieved(
        engine=ws.engine, protocol=ws.protocol, record_id=record, reason=reason, actor=reviewer
    )
    typer.echo(f"record {record}: marked not retrieved")


@fulltext_app.command("study")
def fulltext_study(
    record: int = typer.Argument(..., help="The record's id."),
    registry: str | None = typer.Option(None, "--registry", help="Trial registry id (NCT...)."),
    study: int | None = typer.Option(None, "--study", help="An existing study's id."),
    label: str | None = typer.Option(None, "--label", help="A new study's label."),
    reviewer: str | None = typer.Option(None, "--reviewer", "-r", help="Who links it."),
) -> None:
    """Link a report to its trial (study), by registry id or study id."""
    from living_review.screening.fulltext import link_study

    ws = open_workspace()
    sid = link_study(
        engine=ws.engine, protocol=ws.protocol, record_id=record, registry_id=registry,
        study_id=study, label=label, actor=reviewer,
    )  # fmt: skip
    typer.echo(f"record {record}: linked to study {sid}")


@fulltext_app.command("link-trials")
def fulltext_link_trials(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Link unlinked full-text reports to studies by the registry id each cites."""
    from living_review.screening.fulltext import link_reports_by_registry

    ws = open_workspace()
    out = link_reports_by_registry(engine=ws.engine, protocol=ws.protocol)
    if as_json:
        emit_json(out.as_json())
        return
    typer.echo(f"{out.linked} report(s) linked; {out.studies_created} new stud(y/ies)")
    for a in out.ambiguous:
        typer.echo(
            f"  record {a['record_id']} cites several trials: {', '.join(a['registry_ids'])}"
        )


def register(app: typer.Typer) -> None:
    """Add every screening command to the main ``lsr`` app (one line in ``cli.py``)."""
    app.add_typer(reviewer_app, name="reviewer")
    app.add_typer(fulltext_app, name="fulltext")
    for name, fn in (
        ("decide", decide),
        ("undo", undo),
        ("queue", queue),
        ("conflicts", conflicts),
        ("resolve", resolve),
        ("unblind", unblind),
        ("agreement", agreement),
        ("prisma", prisma),
        ("publish", publish),
    ):
        app.command(name)(fn)

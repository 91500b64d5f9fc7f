"""Provides ``extract_app``: the ``lsr extract`` commands (Typer), a thin shell over the core.

* ``lsr extract load-example [--from DIR] [--json]`` — the example review's trials (idempotent)
* ``lsr extract study LABEL [--registry ID] [--subgroup-of TRIAL | --overlaps TRIAL]`` — add a
  trial, or attach a subgroup / overlapping report to its trial
* ``lsr extract studies [--json]``
* ``lsr extract add STUDY KIND FIELD=VALUE... --extractor NAME [--outcome O] [--arm T]
  [--vs T] [--report LABEL] [--name FIELD] [--source REF] [--final]`` — one value per call,
  e.g. ``lsr extract add REACH-2 contrast --outcome OS --arm ramucirumab --vs placebo
  measure=HR estimate=0.71 lower=0.531 upper=0.949 --source "Lancet Oncol 2019, p. 285"
  --extractor ben``
* ``lsr extract compare STUDY [--json]`` — each item per extractor; ``discrepancies``
* ``lsr extract resolve STUDY KEY --resolver NAME (--use EXTRACTOR | FIELD=VALUE...)`` or
  ``lsr extract resolve STUDY --agreed --resolver NAME``
* ``lsr extract history STUDY KEY [--json]`` — every version of one item
* ``lsr extract show [--outcome NAME] [--json]`` — the final analysis data

``cli.py`` wires it with ``app.add_typer(extract_app, name="extract")``. Core modules are
imported inside commands so that ``lsr --help`` stays fast; the shared workspace and output
helpers come from :mod:`living_review.cli_base`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from living_review.cli_base import emit_json, open_workspace, warn

if TYPE_CHECKING:
    from living_review.extraction.service import AnalysisData
    from living_review.workspace import Workspace

extract_app = typer.Typer(
    help="Data extraction: studies, arms, values; dual extraction, compare, resolve.",
    no_args_is_help=True,
)

KIND_HELP = "arm | total | binary | continuous | contrast | median | percent | estimate | extra"


def _pairs(items: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` arguments as a dict (a clear error for anything else)."""
    from living_review.extraction.validate import ExtractionError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExtractionError(f"{item!r}: give values as FIELD=VALUE (e.g. events=12 n=100)")
        out[key.strip()] = value.strip()
    return out


def _example_dir(ws: Workspace, given: Path | None) -> Path:
    if given is not None:
        return given
    shared = os.environ.get("LSR_SHARED")
    base = Path(shared) if shared else ws.root.parent / "shared"
    return base / "example-hcc"


@extract_app.command("load-example")
def load_example_cmd(
    folder: Path | None = typer.Option(
        None, "--from", help="The example-hcc folder (default: ../shared/example-hcc)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Load the example review's trials (numbers and identifiers, with sources); idempotent."""
    from living_review.extraction.example import load_example

    ws = open_workspace()
    res = load_example(engine=ws.engine, protocol=ws.protocol, folder=_example_dir(ws, folder))
    if as_json:
        emit_json(res.as_json())
        return
    typer.echo(
        f"{len(res.trials)} trials, {len(res.secondary_reports)} subgroup/overlap reports, "
        f"{res.arms} arms; {res.values_written} values written, {res.values_unchanged} unchanged"
    )
    for r in res.secondary_reports:
        typer.echo(f"  {r['report']}: {r['role']} of {r['parent']} (never analysed as a trial)")
    for note in res.notes:
        typer.echo(f"note: {note}")
    warn(res.warnings)


@extract_app.command("study")
def study_cmd(
    label: str = typer.Argument(..., help="The trial's (or report's) label, e.g. REACH-2."),
    registry: str | None = typer.Option(None, "--registry", help="Registry id (NCT...)."),
    subgroup_of: str | None = typer.Option(
        None, "--subgroup-of", help="Attach as a subgroup report of this trial."
    ),
    overlaps: str | None = typer.Option(
        None, "--overlaps", help="Attach as a report overlapping this trial (e.g. an extension)."
    ),
    pmid: str | None = typer.Option(None, "--pmid"),
    doi: str | None = typer.Option(None, "--doi"),
    author: str | None = typer.Option(None, "--author", help="First author."),
    year: int | None = typer.Option(None, "--year"),
    actor: str | None = typer.Option(None, "--actor", help="Who adds it (audit trail)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Add a trial, or attach a subgroup/overlap report to its trial (never another trial)."""
    from living_review.extraction.service import add_study
    from living_review.extraction.validate import ExtractionError

    if subgroup_of and overlaps:
        raise ExtractionError("give --subgroup-of or --overlaps, not both")
    parent = subgroup_of or overlaps
    role = "subgroup" if subgroup_of else ("overlap" if overlaps else None)
    res = add_study(
        engine=open_workspace().engine,
        label=label,
        registry_id=registry,
        parent=parent,
        role=role,
        pmid=pmid,
        doi=doi,
        first_author=author,
        year=year,
        actor=actor,
    )
    if as_json:
        emit_json(res.as_json())
    else:
        what = f"{role} report of {parent}" if parent else "study"
        state = "added" if res.created else "exists"
        typer.echo(f"{what} {label!r}: {state} (study #{res.study_id}, report #{res.report_id})")
    warn(res.warnings)


@extract_app.command("studies")
def studies_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List studies with their reports (primary, subgroup, overlap) and arms."""
    from sqlmodel import Session

    from living_review.extraction.service import list_studies, registry_warnings

    ws = open_workspace()
    rows = list_studies(engine=ws.engine)
    with Session(ws.engine) as session:
        warnings = registry_warnings(session)
    if as_json:
        emit_json({"studies": rows, "warnings": warnings})
        return
    for s in rows:
        typer.echo(f"#{s['id']:<4} {s['label']}  {s['registry_id'] or ''}  ({s['values']} values)")
        for r in s["reports"]:
            typer.echo(f"       {r['role']:<9} {r['label']}: {', '.join(r['arms']) or 'no arms'}")
    warn(warnings)


@extract_app.command("add")
def add_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    kind: str = typer.Argument(..., help=KIND_HELP),
    values: list[str] = typer.Argument(  # noqa: B008 - Typer's declaration style
        None, help="FIELD=VALUE pairs, e.g. events=12 n=100, or measure=HR estimate=0.71 ..."
    ),
    extractor: str = typer.Option(..., "--extractor", "-e", help="Who extracted the value."),
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="A protocol outcome."),
    arm: str | None = typer.Option(None, "--arm", help="The arm (treatment name or alias)."),
    vs: str | None = typer.Option(None, "--vs", help="The comparator arm of a contrast."),
    report: str | None = typer.Option(
        None, "--report", help="A subgroup/overlap report's label (default: the primary)."
    ),
    name: str = typer.Option("", "--name", help="The field name of an extra value."),
    source: str | None = typer.Option(None, "--source", help="Where the value was read."),
    note: str | None = typer.Option(None, "--note"),
    final: bool = typer.Option(False, "--final", help="Single extraction: write it as final."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Enter one value as an extractor (a draft unless --final)."""
    from living_review.extraction.service import add_value

    ws = open_workspace()
    res = add_value(
        engine=ws.engine,
        protocol=ws.protocol,
        study=study,
        kind=kind,
        values=_pairs(values or []),
        extractor=extractor,
        outcome=outcome,
        arm=arm,
        vs=vs,
        report=report,
        name=name,
        source=source,
        note=note,
        final=final,
    )
    if as_json:
        emit_json(res.as_json())
    else:
        state = "unchanged" if res.unchanged else "recorded"
        typer.echo(f"{res.key}: {state} ({res.status} #{res.id})")
    warn(res.warnings)


def _values_text(values: dict[str, Any] | None) -> str:
    if values is None:
        return "(none)"
    return " ".join(f"{k}={v}" for k, v in values.items()) or "(no fields)"


@extract_app.command("compare")
def compare_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    extractor: list[str] = typer.Option(  # noqa: B008
        None, "--extractor", "-e", help="Compare these extractors (default: all)."
    ),
    show_all: bool = typer.Option(False, "--all", help="List agreeing items too."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the items where extractors' current values differ (or one is missing)."""
    from living_review.extraction.service import compare

    res = compare(engine=open_workspace().engine, study=study, extractors=extractor or None)
    if as_json:
        emit_json(res)
        return
    who = res["extractors"]
    typer.echo(
        f"{res['study']}: extractors {', '.join(who) or 'none'}; {len(res['items'])} items, "
        f"{len(res['discrepancies'])} discrepancies"
    )
    for item in res["items"] if show_all else res["discrepancies"]:
        fin = " [final]" if item["final_matches"] else ""
        typer.echo(f"  {item['status']:<8} {item['key']}{fin}")
        for w in who:
            typer.echo(f"           {w}: {_values_text(item['values'][w])}")


@extract_app.command("resolve")
def resolve_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    key: str | None = typer.Argument(
        None, help="The item, as compare prints it (e.g. 'OS/contrast/ramucirumab vs placebo')."
    ),
    values: list[str] = typer.Argument(None, help="The final FIELD=VALUE pairs."),  # noqa: B008
    resolver: str = typer.Option(..., "--resolver", "-r", help="Who resolves."),
    use: str | None = typer.Option(None, "--use", help="Take this extractor's value."),
    agreed: bool = typer.Option(False, "--agreed", help="Finalise every agreed item."),
    source: str | None = typer.Option(None, "--source", help="Source of the final values."),
    note: str | None = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Set final values: an extractor's (--use), new ones (FIELD=VALUE), or all agreed."""
    from living_review.extraction.service import resolve, resolve_agreed
    from living_review.extraction.validate import ExtractionError

    ws = open_workspace()
    if agreed:
        if key or values or use:
            raise ExtractionError("--agreed takes no item, values or --use")
        done = resolve_agreed(
            engine=ws.engine, protocol=ws.protocol, study=study, resolver=resolver
        )
        if as_json:
            emit_json({"resolved": [r.as_json() for r in done]})
            return
        typer.echo(f"{len(done)} agreed items made final")
        for r in done:
            typer.echo(f"  {r.key} (final #{r.id})")
        return
    if not key:
        raise ExtractionError("name the item to resolve (as 'lsr extract compare' prints it)")
    res = resolve(
        engine=ws.engine,
        protocol=ws.protocol,
        study=study,
        key=key,
        resolver=resolver,
        use=use,
        values=_pairs(values) if values else None,
        source=source,
        note=note,
    )
    if as_json:
        emit_json(res.as_json())
    else:
        state = "unchanged" if res.unchanged else "final"
        typer.echo(f"{res.key}: {state} (#{res.id})")
    warn(res.warnings)


@extract_app.command("history")
def history_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    key: str = typer.Argument(..., help="The item, as compare prints it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every version of one item, oldest first (nothing is ever overwritten)."""
    from living_review.extraction.service import history

    rows = history(engine=open_workspace().engine, study=study, key=key)
    if as_json:
        emit_json({"versions": rows})
        return
    for r in rows:
        sup = f" supersedes #{r['supersedes_id']}" if r["supersedes_id"] else ""
        typer.echo(
            f"#{r['id']:<5} {r['status']:<5} {r['extractor']:<20} {_values_text(r['values'])}"
            f"  [{r['source'] or 'no source'}]{sup}"
        )


def _show_lines(d: AnalysisData) -> list[str]:
    lines = [f"{d.outcome} ({d.measure}): {d.n_studies} trials with final analysable data"]
    for fmt, rows in d.rows.items():
        lines.append(f"  {fmt}:")
        for r in rows:
            if fmt == "contrast":
                rep = r.get("reported_estimate")
                ci = (
                    f" ({r['reported_lower']}-{r['reported_upper']})"
                    if "reported_lower" in r
                    else ""
                )
                scale = "ln" if d.measure in ("HR", "OR", "RR") else ""
                lines.append(
                    f"    {r['study_label']}: {r['treat1']} vs {r['treat2']}  "
                    f"{d.measure} {rep}{ci} -> {scale}TE {r['TE']:.4f}, SE {r['seTE']:.4f}  "
                    f"[{r['source']}]"
                )
            elif fmt == "arm-binary":
                lines.append(
                    f"    {r['study_label']}: {r['treatment']} {r['events']}/{r['n']}  "
                    f"[{r['source']}]"
                )
            else:
                lines.append(
                    f"    {r['study_label']}: {r['treatment']} mean {r['mean']} sd "
                    f"{r['sd']:.4g} n {r['n']}  [{r['source']}]"
                )
    if d.descriptive:
        lines.append(f"  descriptive only: {len(d.descriptive)} values (medians, percentages...)")
    for r in d.not_analysed:
        if "/contrast/" in r["key"] or "/binary/" in r["key"]:
            lines.append(f"  not analysed: {r['key']} ({r['role']} of {r['study']})")
    for r in d.pending:
        lines.append(f"  pending (no final value): {r['study']}: {r['key']}")
    return lines


@extract_app.command("show")
def show_cmd(
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="One protocol outcome."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The final analysis data per outcome (what the NMA reads), and what is left out."""
    from living_review.extraction.service import analysis_data

    ws = open_workspace()
    names = [outcome] if outcome else [o.name for o in ws.protocol.outcomes]
    data = [analysis_data(engine=ws.engine, protocol=ws.protocol, outcome=n) for n in names]
    if as_json:
        if outcome:
            emit_json(_finite(data[0].as_json()))
        else:
            emit_json({"outcomes": {d.outcome: _finite(d.as_json()) for d in data}})
        return
    warnings: list[str] = []
    for d in data:
        typer.echo("\n".join(_show_lines(d)))
        warnings += [w for w in d.warnings if w not in warnings]
    warn(warnings)


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: such numbers become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj

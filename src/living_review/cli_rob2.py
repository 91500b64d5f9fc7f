"""Provides ``lsr rob2``: judge a set of RoB 2 answers, and draw robvis-style plots.

Both commands work on files and need no workspace, so an assessor (or a script, or a test)
can check answers before studies exist in the store. A workspace-backed form of
``lsr rob2 plot`` (reading the stored RoB2Assessment rows of the review's studies) will be
added when the store holds studies; the file form stays for ad-hoc use.

Errors are :class:`~living_review.errors.LsrError` subclasses naming the file (and the entry
of a plot file); the ``lsr`` command turns them into one line and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from living_review.errors import InputFileError
from living_review.rob2.algorithm import Assessment, assessment_from_json
from living_review.rob2.questions import DOMAINS, RoB2Error

rob2_app = typer.Typer(
    help="RoB 2 risk of bias: judge answers to the signalling questions, draw robvis plots.",
    no_args_is_help=True,
)

_PLOT_ENTRY_KEYS = ("study", "outcome", "weight")


def _read_json(path: Path) -> Any:
    """Read a JSON file, reporting unreadable files and bad JSON with the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def _describe(assessment: Assessment) -> list[str]:
    """The judge result as text lines: one per domain, the overall, and any prompt."""
    aim = "effect of assignment" if assessment.variant == "assignment" else "effect of adhering"
    lines = [f"RoB 2 ({aim}), rules {assessment.algorithm_version}"]
    for d, result in assessment.proposed.items():
        final = assessment.domains[d]
        line = f"  D{d} {DOMAINS[d].short:<14} {final.symbol} {final.label:<14} rule {result.rule}"
        if final != result.judgement:
            why = assessment.overrides[d].justification
            line += f"  (proposed {result.judgement.label.lower()}; override: {why})"
        lines.append(line)
    overall = assessment.overall
    line = f"  Overall           {overall.symbol} {overall.label}"
    if overall != assessment.proposed_overall:
        why = assessment.overrides["overall"].justification
        line += f"  (proposed {assessment.proposed_overall.label.lower()}; override: {why})"
    lines.append(line)
    if assessment.prompt:
        lines.append(f"note: {assessment.prompt}")
    return lines


@rob2_app.command("judge")
def judge(
    answers_file: Path = typer.Argument(
        ...,
        metavar="ANSWERS.json",
        help='{"variant": "assignment"|"adhering", "answers": {"1.1": "Y", ...}} '
        "(optional: deviations_addressed, overrides).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Judge one set of answers: each domain's proposed judgement and the overall.

    Questions the skip logic leaves out may be absent (or NA). A missing required answer, or
    an answer the skip logic forbids, is an error naming the question.
    """
    obj = _read_json(answers_file)
    try:
        assessment = assessment_from_json(obj, extra_keys=_PLOT_ENTRY_KEYS)
    except RoB2Error as exc:
        raise InputFileError(answers_file, str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(assessment.as_json(), indent=2, ensure_ascii=False))
        return
    for line in _describe(assessment):
        typer.echo(line)


def _plot_rows(path: Path, data: Any, *, weighted: bool) -> tuple[list[Any], str | None]:
    """Judge every entry of a plot file; return plot rows and the title (one outcome)."""
    from living_review.rob2.plots import PlotRow

    if not isinstance(data, list) or not data:
        raise InputFileError(path, "expected a non-empty JSON list of assessments")
    judged: list[tuple[str, str | None, float, Assessment]] = []
    for n, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise InputFileError(path, "each entry must be a JSON object", record=n)
        study = entry.get("study")
        if not isinstance(study, str) or not study.strip():
            raise InputFileError(path, "study is required (the row label)", record=n)
        outcome = entry.get("outcome")
        if outcome is not None and not isinstance(outcome, str):
            raise InputFileError(path, f"{study}: outcome must be text", record=n)
        weight = entry.get("weight", 1.0)
        if weighted and "weight" not in entry:
            raise InputFileError(path, f"{study}: weight is required with --weights", record=n)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise InputFileError(
                path, f"{study}: weight {weight!r} must be a positive number", record=n
            )
        try:
            assessment = assessment_from_json(entry, extra_keys=_PLOT_ENTRY_KEYS)
        except RoB2Error as exc:
            raise InputFileError(path, f"{study}: {exc}", record=n) from exc
        judged.append((study, outcome, float(weight), assessment))
    outcomes = {outcome for _, outcome, _, _ in judged if outcome}
    several = len(outcomes) > 1
    rows = [
        PlotRow.from_assessment(f"{s} \u2014 {o}" if several and o else s, a, w)
        for s, o, w, a in judged
    ]
    title = f"Risk of bias (RoB 2): {outcomes.pop()}" if len(outcomes) == 1 else None
    return rows, title


@rob2_app.command("plot")
def plot(
    assessments_file: Path = typer.Argument(
        ...,
        metavar="ASSESSMENTS.json",
        help='A list of {"study", "outcome"?, "weight"?, "variant", "answers", "overrides"?}.',
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Traffic-light plot file (.png or .svg)."),
    summary: Path | None = typer.Option(
        None, "--summary", help="Also draw the summary (bar) plot to this .png or .svg file."
    ),
    weights: bool = typer.Option(
        False, "--weights", help="Weight the summary by each entry's weight (e.g. sample size)."
    ),
    palette: str = typer.Option("cochrane", "--palette", help="cochrane|colourblind"),
) -> None:
    """Draw the robvis-style traffic-light plot (and optionally the summary plot).

    Reads assessments from a file for now; the workspace-backed form, plotting the stored
    assessments of the review's studies, comes once studies exist in the store.
    """
    from living_review.rob2.plots import FORMATS, PALETTES, summary_plot, traffic_light_plot

    if weights and summary is None:
        raise typer.BadParameter(
            "weights apply to the summary plot; add --summary FILE", param_hint="--weights"
        )
    if palette not in PALETTES:
        raise typer.BadParameter(f"must be one of {', '.join(PALETTES)}", param_hint="--palette")
    for target, hint in ((out, "--out"), (summary, "--summary")):
        if target is not None and target.suffix.lower() not in FORMATS:
            raise typer.BadParameter(f"{target} must end in .png or .svg", param_hint=hint)
    rows, title = _plot_rows(assessments_file, _read_json(assessments_file), weighted=weights)
    traffic_light_plot(rows, out, palette=palette, title=title)
    typer.echo(f"wrote the traffic-light plot of {len(rows)} results to {out}")
    if summary is not None:
        summary_plot(rows, summary, weighted=weights, palette=palette)
        kind = "weighted summary" if weights else "summary"
        typer.echo(f"wrote the {kind} plot to {summary}")

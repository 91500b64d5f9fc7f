"""Provides ``lsr rob2``: judge answers, assess in the workspace, compare, resolve, plot.

* ``lsr rob2 judge ANSWERS.json [--json]`` and ``lsr rob2 plot ASSESSMENTS.json --out FILE``
  work on files and need no workspace, so answers can be checked before studies exist.
* ``lsr rob2 assess STUDY --outcome O --assessor NAME [--variant V] (--answers FILE.json |
  --answer 1.1=Y ...) [--override '3=high:why'] [--complete]`` appends a version of one
  assessor's assessment (partial while in progress);
  ``lsr rob2 compare STUDY --outcome O [--json]`` lists the discrepancies;
  ``lsr rob2 resolve STUDY --outcome O --resolver NAME [--use NAME] [--answer ...]`` writes
  the consensus (final) assessment; ``lsr rob2 show [STUDY] [--json]`` and ``lsr rob2
  history`` report; ``lsr rob2 plot [--outcome O] --out DIR`` plots the consensus judgements.

Errors are :class:`~living_review.errors.LsrError` subclasses naming the file (and the entry
of a plot file); the ``lsr`` command turns them into one line and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from living_review.cli_base import emit_json, open_workspace
from living_review.errors import InputFileError
from living_review.rob2.algorithm import (
    Assessment,
    Override,
    assessment_from_json,
    parse_judgement,
)
from living_review.rob2.questions import DOMAINS, RoB2Error

if TYPE_CHECKING:
    from living_review.rob2.service import SaveResult
    from living_review.workspace import Workspace

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
    assessments_file: Path | None = typer.Argument(
        None,
        metavar="[ASSESSMENTS.json]",
        help='A list of {"study", "outcome"?, "weight"?, "variant", "answers", "overrides"?}; '
        "without it, the workspace's consensus assessments are plotted.",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="With a file: the traffic-light plot (.png or .svg). From the workspace: a folder.",
    ),
    outcome: str | None = typer.Option(
        None, "--outcome", help="Workspace mode: one protocol outcome (default: each outcome)."
    ),
    summary: Path | None = typer.Option(
        None, "--summary", help="Also draw the summary (bar) plot to this .png or .svg file."
    ),
    weights: bool = typer.Option(
        False, "--weights", help="Weight the summary by each entry's weight (e.g. sample size)."
    ),
    palette: str = typer.Option("cochrane", "--palette", help="cochrane|colourblind"),
    as_json: bool = typer.Option(False, "--json", help="Workspace mode: print one JSON object."),
) -> None:
    """Draw the robvis-style traffic-light plot (and the summary plot).

    From a file of answers (ad hoc), or, without a file, from the workspace's final
    (consensus) assessments: per outcome a traffic-light and a summary plot, as PNG and SVG,
    in the ``--out`` folder.
    """
    from living_review.rob2.plots import FORMATS, PALETTES, summary_plot, traffic_light_plot

    if palette not in PALETTES:
        raise typer.BadParameter(f"must be one of {', '.join(PALETTES)}", param_hint="--palette")
    if assessments_file is None:
        if summary is not None or weights:
            raise typer.BadParameter(
                "from the workspace both plots are drawn into --out; --summary/--weights "
                "apply to file input",
                param_hint="--summary",
            )
        _plot_workspace(out, outcome, palette, as_json)
        return
    if weights and summary is None:
        raise typer.BadParameter(
            "weights apply to the summary plot; add --summary FILE", param_hint="--weights"
        )
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


def _plot_workspace(folder: Path, outcome: str | None, palette: str, as_json: bool) -> None:
    """Plot each outcome's consensus judgements into ``folder`` (PNG and SVG)."""
    from living_review.rob2.plots import summary_plot, traffic_light_plot
    from living_review.rob2.service import final_judgments

    ws = open_workspace()
    names = [_outcome_name(ws, outcome)] if outcome else [o.name for o in ws.protocol.outcomes]
    if folder.exists() and not folder.is_dir():
        raise RoB2Error(f"{folder} is a file; --out names a folder when plotting the workspace")
    written: dict[str, list[str]] = {}
    skipped: list[str] = []
    for name in names:
        finals = final_judgments(ws.engine, outcome=name)
        if not finals:
            skipped.append(name)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        rows = [f.plot_row() for f in finals]
        files = []
        for ext in (".png", ".svg"):
            tl = folder / f"rob2-{name}-traffic-light{ext}"
            sm = folder / f"rob2-{name}-summary{ext}"
            traffic_light_plot(rows, tl, palette=palette, title=f"Risk of bias (RoB 2): {name}")
            summary_plot(rows, sm, palette=palette)
            files += [str(tl), str(sm)]
        written[name] = files
    if outcome and skipped:
        raise RoB2Error(f"{outcome}: no consensus RoB 2 assessments to plot yet")
    if not written:
        raise RoB2Error("no consensus RoB 2 assessments to plot yet ('lsr rob2 show' lists them)")
    if as_json:
        emit_json({"outcomes": written, "skipped": skipped})
        return
    for name, files in written.items():
        typer.echo(f"{name}: wrote {', '.join(files)}")
    for name in skipped:
        typer.echo(f"{name}: no consensus assessments yet, not plotted")


# --- the workspace commands: assess, compare, resolve, show, history --------------------------


def _outcome_name(ws: Workspace, outcome: str) -> str:
    found = ws.protocol.outcome(outcome)
    if found is None:
        known = ", ".join(o.name for o in ws.protocol.outcomes)
        raise RoB2Error(f"outcome {outcome!r} is not in the protocol (outcomes: {known})")
    return found.name


def _answer_pairs(items: list[str]) -> dict[str, str]:
    """``1.1=Y`` arguments as a dict (a clear error for anything else)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise RoB2Error(f"{item!r}: give answers as QUESTION=CODE (e.g. --answer 1.1=Y)")
        out[key.strip()] = value.strip()
    return out


def _override_pairs(items: list[str]) -> dict[str, Override]:
    """``3=high:why`` / ``overall=some_concerns`` arguments as overrides."""
    out: dict[str, Override] = {}
    for item in items:
        key, sep, rest = item.partition("=")
        judgement, _, why = rest.partition(":")
        if not sep or not key.strip() or not judgement.strip():
            raise RoB2Error(
                f"{item!r}: give overrides as KEY=JUDGEMENT[:JUSTIFICATION], e.g. "
                "--override '3=high:outcome data missing for 30%' or --override "
                "overall=some_concerns"
            )
        key = key.strip().lower().removeprefix("d")
        out[key] = Override(parse_judgement(judgement.strip().lower(), f"override {key}"), why)
    return out


def _answers_file(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Answers from a file: either ``{"1.1": "Y", ...}`` or the judge input format."""
    if path is None:
        return {}, {}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputFileError(path, 'expected a JSON object such as {"1.1": "Y"}')
    if "answers" in data:
        extra = {k: data[k] for k in ("variant", "deviations_addressed", "overrides") if k in data}
        if not isinstance(data["answers"], dict):
            raise InputFileError(path, "answers must be an object")
        return dict(data["answers"]), extra
    return dict(data), {}


def _gather(
    answers_file: Path | None, answer: list[str] | None, override: list[str] | None
) -> tuple[dict[str, Any], dict[str, Override], str | None, list[str] | None]:
    from living_review.rob2.algorithm import _override_from_json

    answers, extra = _answers_file(answers_file)
    answers.update(_answer_pairs(answer or []))
    overrides: dict[str, Override] = {}
    try:
        for key, value in (extra.get("overrides") or {}).items():
            overrides[str(key)] = _override_from_json(str(key), value)
    except RoB2Error as exc:
        raise InputFileError(str(answers_file), str(exc)) from exc
    overrides.update(_override_pairs(override or []))
    return answers, overrides, extra.get("variant"), extra.get("deviations_addressed")


def _view_lines(v: dict[str, Any]) -> list[str]:
    from living_review.rob2.algorithm import Judgement

    who = f"{v['assessor']} ({v['role']})" if v["role"] == "consensus" else v["assessor"]
    lines = [
        f"{v['study']} / {v['outcome']}: {who}, {v['status'].replace('_', ' ')}, "
        f"{v['variant']} (#{v['id']})"
    ]
    for d in DOMAINS:
        final = v["domains"].get(d)
        text = Judgement(final).label if final else "not yet judged"
        extra = ""
        if d in v["overridden"]:
            o = v["overrides"][d]
            extra = f"  (proposed {v['proposed'][d]}; override: {o['justification']})"
        answered = " ".join(
            f"{q}={a}" for q, a in v["answers"].items() if q.split(".")[0] == d and a != "NA"
        )
        lines.append(f"  D{d} {DOMAINS[d].short:<14} {text:<15} {answered}{extra}")
    overall = v["overall"]
    extra = ""
    if "overall" in v["overridden"]:
        o = v["overrides"]["overall"]
        extra = f"  (proposed {v['proposed']['overall']}; override: {o['justification']})"
    lines.append(f"  Overall           {Judgement(overall).label if overall else '-'}{extra}")
    return lines


def _print_save(res: SaveResult, as_json: bool) -> None:
    if as_json:
        emit_json(res.as_json())
        return
    v = res.assessment.as_json()
    for line in _view_lines(v):
        typer.echo(line)
    if res.unchanged:
        typer.echo("unchanged: nothing new to record")
    if v["dropped"]:
        typer.echo(f"dropped answers the skip logic no longer asks: {', '.join(v['dropped'])}")
    if res.next_question:
        typer.echo(f"next question: {res.next_question}")
    if res.prompt:
        typer.echo(f"note: {res.prompt}")


_SUPPORT_HELP = "Support for an answer or domain, KEY=TEXT (e.g. '1.1=random list, p. 3')."
_DIRECTION_HELP = (
    "Predicted direction of bias, KEY=DIRECTION for a domain or overall (na, "
    "favours_experimental, favours_comparator, towards_null, away_from_null, unpredictable)."
)


def _text_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RoB2Error(f"{item!r}: give {option} as KEY=TEXT")
        out[key.strip().lower().removeprefix("d")] = value.strip()
    return out


_ANSWER_HELP = "An answer, QUESTION=CODE (Y, PY, PN, N, NI); repeatable."
_OVERRIDE_HELP = (
    "KEY=JUDGEMENT[:JUSTIFICATION] for a domain 1-5 or overall, e.g. '3=high:30% missing'; "
    "repeatable. 'overall=some_concerns' confirms the overall when several domains have some "
    "concerns."
)


@rob2_app.command("assess")
def assess_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    outcome: str = typer.Option(..., "--outcome", "-o", help="A protocol outcome."),
    assessor: str = typer.Option(..., "--assessor", "-a", help="Who assesses."),
    variant: str | None = typer.Option(None, "--variant", help="assignment|adhering"),
    deviation: list[str] = typer.Option(  # noqa: B008 - Typer's declaration style
        None, "--deviation", help="Adhering: a deviation addressed (repeatable)."
    ),
    answers_file: Path | None = typer.Option(
        None, "--answers", help='A JSON file: {"1.1": "Y", ...} or the judge input format.'
    ),
    answer: list[str] = typer.Option(None, "--answer", help=_ANSWER_HELP),  # noqa: B008
    override: list[str] = typer.Option(None, "--override", help=_OVERRIDE_HELP),  # noqa: B008
    complete: bool = typer.Option(
        False, "--complete", help="Finish: every required question must be answered."
    ),
    result: str | None = typer.Option(
        None, "--result", help="The numerical result assessed, e.g. 'HR 0.71 (0.53-0.95)'."
    ),
    support: list[str] = typer.Option(None, "--support", help=_SUPPORT_HELP),  # noqa: B008
    direction: list[str] = typer.Option(None, "--direction", help=_DIRECTION_HELP),  # noqa: B008
    note: str | None = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record (part of) an assessor's RoB 2 assessment of a study's outcome (a new version)."""
    from living_review.rob2.service import save_assessment

    answers, overrides, file_variant, file_devs = _gather(answers_file, answer, override)
    ws = open_workspace()
    res = save_assessment(
        engine=ws.engine, protocol=ws.protocol, study=study, outcome=outcome,
        assessor=assessor, answers=answers, variant=variant or file_variant,
        deviations=deviation or file_devs, overrides=overrides, complete=complete,
        numerical_result=result, note=note, support=_text_pairs(support, "--support"),
        directions=_text_pairs(direction, "--direction"),
    )  # fmt: skip
    _print_save(res, as_json)


@rob2_app.command("compare")
def compare_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    outcome: str = typer.Option(..., "--outcome", "-o", help="A protocol outcome."),
    assessor: list[str] = typer.Option(  # noqa: B008
        None, "--assessor", "-a", help="Compare these assessors (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List where assessors' answers and judgements differ (per question and per domain)."""
    from living_review.rob2.service import compare

    ws = open_workspace()
    res = compare(
        engine=ws.engine, protocol=ws.protocol, study=study, outcome=outcome,
        assessors=assessor or None,
    )  # fmt: skip
    if as_json:
        res = {k: v for k, v in res.items() if k != "assessments"}
        emit_json(res)
        return
    who = res["assessors"]
    state = "complete" if res["complete"] else "not all complete"
    typer.echo(
        f"{res['study']} / {res['outcome']}: {', '.join(who)} ({state}); "
        f"{len(res['question_discrepancies'])} question and "
        f"{len(res['domain_discrepancies'])} judgement discrepancies"
    )
    if not res["variant_agrees"]:
        typer.echo(f"  variants differ: {res['variants']}")
    for r in res["question_discrepancies"]:
        codes = "  ".join(f"{w}={r['answers'][w] or '-'}" for w in who)
        typer.echo(f"  {r['question']:<8} {r['status']:<10} {codes}")
    for r in res["domain_discrepancies"]:
        name = "Overall" if r["domain"] == "overall" else f"D{r['domain']}"
        codes = "  ".join(f"{w}={r['judgements'][w] or '-'}" for w in who)
        typer.echo(f"  {name:<8} {r['status']:<10} {codes}")


@rob2_app.command("resolve")
def resolve_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    outcome: str = typer.Option(..., "--outcome", "-o", help="A protocol outcome."),
    resolver: str = typer.Option(..., "--resolver", "-r", help="Who settles the consensus."),
    use: str | None = typer.Option(
        None, "--use", help="Start from this assessor's assessment (else: the agreed answers)."
    ),
    variant: str | None = typer.Option(None, "--variant", help="assignment|adhering"),
    answers_file: Path | None = typer.Option(None, "--answers", help="A JSON file of answers."),
    answer: list[str] = typer.Option(None, "--answer", help=_ANSWER_HELP),  # noqa: B008
    override: list[str] = typer.Option(None, "--override", help=_OVERRIDE_HELP),  # noqa: B008
    note: str | None = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Record the consensus (final) assessment: an assessor's, or the agreed answers + yours."""
    from living_review.rob2.service import resolve

    answers, overrides, file_variant, _ = _gather(answers_file, answer, override)
    ws = open_workspace()
    res = resolve(
        engine=ws.engine, protocol=ws.protocol, study=study, outcome=outcome,
        resolver=resolver, use=use, answers=answers, variant=variant or file_variant,
        overrides=overrides, note=note,
    )  # fmt: skip
    _print_save(res, as_json)


@rob2_app.command("show")
def show_cmd(
    study: str | None = typer.Argument(None, help="One study (default: every study)."),
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="One protocol outcome."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """RoB 2 status per study × outcome; with a study, each assessment's judgements too."""
    from living_review.rob2.service import current_assessment, list_status

    ws = open_workspace()
    statuses = list_status(engine=ws.engine, protocol=ws.protocol, study=study, outcome=outcome)
    details: list[dict[str, Any]] = []
    if study is not None:
        for st in statuses:
            people = [(w, "assessor") for w in st.assessors]
            if st.consensus:
                people.append((st.consensus["resolver"], "consensus"))
            for who, role in people:
                v = current_assessment(
                    engine=ws.engine, protocol=ws.protocol, study=st.study_id,
                    outcome=st.outcome, assessor=who, role=role,
                )  # fmt: skip
                if v is not None:
                    details.append(v.as_json())
    if as_json:
        out: dict[str, Any] = {"results": [s.as_json() for s in statuses]}
        if study is not None:
            out["assessments"] = details
        emit_json(out)
        return
    for s in statuses:
        who = ", ".join(f"{w} ({state.replace('_', ' ')})" for w, state in s.assessors.items())
        final = ""
        if s.consensus:
            final = f"  overall {s.consensus['overall']} (by {s.consensus['resolver']})"
        typer.echo(f"{s.study:<20} {s.outcome:<6} {s.status.replace('_', ' '):<14} {who}{final}")
    for d in details:
        for line in _view_lines(d):
            typer.echo(line)


@rob2_app.command("history")
def history_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    outcome: str = typer.Option(..., "--outcome", "-o", help="A protocol outcome."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Every version of every assessment of one result, oldest first."""
    from living_review.rob2.service import history

    ws = open_workspace()
    rows = history(engine=ws.engine, protocol=ws.protocol, study=study, outcome=outcome)
    if as_json:
        emit_json({"versions": rows})
        return
    for r in rows:
        sup = f" supersedes #{r['supersedes_id']}" if r["supersedes_id"] else ""
        typer.echo(
            f"#{r['id']:<5} {r['role']:<9} {r['assessor']:<12} {r['status']:<11} "
            f"overall {r['overall'] or '-'} ({len(r['answers'])} answers){sup}"
        )

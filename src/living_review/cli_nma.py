"""Provides ``nma_app``: the ``lsr nma`` commands (Typer). ``fit-file`` needs no workspace.

On the workspace (:mod:`living_review.living`): ``lsr nma fit [--outcome NAME] [--engine
bayes|frequentist] [--json]`` fits and *records* a run and prints what changed since the
previous one; ``lsr nma show [--outcome NAME] [--run ID] [--json]`` shows the latest stored run
and whether it is stale; ``lsr nma history [--outcome NAME] [--json]``; ``lsr nma diff
[--outcome NAME] [--from ID --to ID] [--json]``.

``lsr nma fit-file DATA.csv --format arm-binary|arm-continuous|contrast [--model fe|re]
[--reference T] [--lower-better] [--engine bayes|frequentist] [--json] [--plots DIR]
[--nodesplit]``

The JSON contract (keys never renamed): ``relative_effects`` (treatment -> ``mean``, ``sd``,
``q2.5``, ``q97.5`` vs the reference), ``tau``, ``sucra``, ``league_table``, ``diagnostics``,
``dic``. A fit that failed the convergence checks prints ``NOT CONVERGED: ...`` and no
estimates in the text output; its JSON has ``"converged": false`` and the reasons in
``diagnostics.messages``.

``--nodesplit`` adds ``nodesplit``: one entry per comparison in a loop, each with
``comparison``, ``direct``, ``indirect``, ``difference`` (direct - indirect, analysis scale)
and ``p`` (:mod:`living_review.nma.nodesplit`). It is Bayesian with ``--engine bayes``, and then
``nodesplit_frequentist`` holds the instant frequentist split too. ``--plots DIR`` writes the
figures of :mod:`living_review.nma.plots` and lists them under ``plots``.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from living_review.cli_base import open_workspace
from living_review.errors import LsrError
from living_review.nma.data import FORMATS, DataFormat, Network, read_network
from living_review.nma.nodesplit import NodeSplit
from living_review.nma.result import NMAResult, Summary
from living_review.nma.spec import FitSpec, Priors

nma_app = typer.Typer(
    help="Network meta-analysis: fit a network from a file, or the review's outcomes.",
    no_args_is_help=True,
)


def _fmt(s: Summary, log: bool) -> str:
    """``est (lo, hi)`` on the natural scale (exp for log measures); Wald or CrI limits."""

    def f(v: float) -> str:
        x = math.exp(v) if log else v
        return f"{x + 0.0:.2f}" if round(x, 2) != 0 else "0.00"  # never "-0.00"

    mid = s.q50 if log and s.q50 is not None else s.mean
    if s.q2_5 is None or s.q97_5 is None:
        return f(mid)
    return f"{f(mid)} ({f(s.q2_5)}, {f(s.q97_5)})"


def _line_width(requested: int | None) -> int:
    """Width available for wide tables: as requested, else the terminal's (min 80)."""
    if requested is not None:
        return max(requested, 40)
    return max(shutil.get_terminal_size(fallback=(120, 24)).columns, 80)


def table_lines(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "  "
) -> list[str]:
    """A plain-text table, every column as wide as its widest cell (header included).

    Columns are separated by two spaces, so a long label can never run into the next cell
    (the bug this replaces: a fixed label width taken from the header, not from the rows).
    """
    ncol = len(header)
    widths = [max(len(str(r[j])) for r in [header, *rows]) for j in range(ncol)]
    out = []
    for r in [header, *rows]:
        cells = [f"{str(c):<{w}}" for c, w in zip(r, widths, strict=True)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def league_lines(
    treatments: Sequence[str], cells: Mapping[tuple[str, str], str], *, width: int = 100
) -> list[str]:
    """The league table: row treatment vs column comparator, ``cells[(row, column)]``.

    Layout, first that fits in ``width`` characters:

    1. full treatment names as column headers;
    2. numbered columns ``[1] .. [K]``, rows labelled ``[i] name`` (names can be long);
    3. as 2, split into column chunks that each fit (as R prints a wide matrix).

    The diagonal shows ``—``.
    """
    k = len(treatments)

    def grid(labels: list[str], heads: list[str], cols: range) -> list[str]:
        header = ["", *(heads[j] for j in cols)]
        rows = [
            [labels[i], *("—" if i == j else cells[(t, treatments[j])] for j in cols)]
            for i, t in enumerate(treatments)
        ]
        return table_lines(header, rows)

    def fits(lines: list[str]) -> bool:
        return max(len(x) for x in lines) <= width

    full = grid(list(treatments), list(treatments), range(k))
    if fits(full):
        return full
    codes = [f"[{j + 1}]" for j in range(k)]
    labels = [f"{c} {t}" for c, t in zip(codes, treatments, strict=True)]
    coded = grid(labels, codes, range(k))
    if fits(coded):
        return coded
    # widest cell decides how many columns fit next to the row labels
    label_w = max(len(x) for x in labels)
    cell_w = max(len(v) for v in cells.values())
    per = max(1, (width - 2 - label_w) // (cell_w + 2))
    out: list[str] = []
    for start in range(0, k, per):
        if out:
            out.append("")
        out += grid(labels, codes, range(start, min(start + per, k)))
    return out


def render_text(res: NMAResult, *, line_width: int | None = None) -> str:
    """The human report of a fit; an unconverged fit shows why, and no estimates.

    ``line_width`` bounds the league table (default: the terminal width, at least 80).
    """
    lines = [
        f"NMA: {res.engine}, {'random' if res.model == 're' else 'fixed'} effects; "
        f"{res.network.get('studies')} studies, {len(res.treatments)} treatments; "
        f"reference {res.reference}",
    ]
    if not res.converged:
        lines.append("NOT CONVERGED: " + "; ".join(res.diagnostics.get("messages", [])))
        lines.append(
            "The estimates are not reported as conclusions. Refit with more draws "
            "(--draws/--tune) or inspect them with --json."
        )
        return "\n".join(lines)
    scale = f"{res.measure} (natural scale)" if res.log_scale else res.measure
    interval = "95% CrI" if res.draws_d is not None else "95% CI"
    lines.append(f"\nEffects vs {res.reference}: {scale}, median/estimate ({interval})")
    width = max(len(t) for t in res.treatments)
    for t, s in res.relative_effects.items():
        lines.append(f"  {t:<{width}}  {_fmt(s, res.log_scale)}")
    if res.tau is not None:
        tau = res.tau
        ci = f" ({tau.q2_5:.3f}, {tau.q97_5:.3f})" if tau.q2_5 is not None else ""
        lines.append(f"\ntau (between-study SD): {tau.q50:.3f}{ci}")
    direction = "higher" if res.higher_is_better else "lower"
    lines.append(f"\n{res.ranking_method} ({direction} is better):")
    for r in sorted(res.ranking, key=lambda r: -r.sucra):
        lines.append(f"  {r.treatment:<{width}}  {r.sucra:.3f}")
    cells = {(e.treatment, e.comparator): _fmt(e.summary, res.log_scale) for e in res.league_table}
    lines.append(f"\nLeague table (row treatment vs column comparator; {scale}, {interval}):")
    lines += league_lines(list(res.treatments), cells, width=_line_width(line_width))
    if res.model_fit:
        mf = res.model_fit
        lines.append(
            f"\nResidual deviance {mf['Dbar']:.1f} ({mf['n_datapoints']} data points), "
            f"pD {mf['pD']:.1f}, DIC {mf['DIC']:.1f}"
        )
    d = res.diagnostics
    if "max_rhat" in d:
        lines.append(
            f"Diagnostics: max R-hat {d['max_rhat']:.3f}, min ESS bulk {d['min_ess_bulk']:.0f} "
            f"/ tail {d['min_ess_tail']:.0f}, divergences {d['divergences']}"
        )
    return "\n".join(lines)


@nma_app.command("fit-file")
def fit_file(
    data: Path = typer.Argument(..., help="CSV in a shared/nma-reference/data format."),
    fmt: str = typer.Option(..., "--format", "-f", help="arm-binary | arm-continuous | contrast"),
    model: str = typer.Option("re", "--model", "-m", help="fe | re"),
    reference: str | None = typer.Option(None, "--reference", "-r", help="Reference treatment."),
    lower_better: bool = typer.Option(
        False, "--lower-better", help="Lower values are better (ranking direction)."
    ),
    engine: str = typer.Option("bayes", "--engine", help="bayes | frequentist"),
    treatments: Path | None = typer.Option(
        None, "--treatments", help="code,treatment CSV fixing the treatment order."
    ),
    measure: str | None = typer.Option(
        None, "--measure", help="Contrast data: MD (default), OR, RR, HR, SMD, RD."
    ),
    draws: int = typer.Option(2500, "--draws", help="Draws per chain (bayes)."),
    tune: int = typer.Option(1000, "--tune", help="Tuning draws per chain (bayes)."),
    chains: int = typer.Option(4, "--chains", help="Chains (bayes)."),
    seed: int = typer.Option(20251, "--seed", help="Random seed (bayes)."),
    tau_prior: str = typer.Option("uniform", "--tau-prior", help="uniform | half-normal"),
    tau_method: str = typer.Option("reml", "--tau-method", help="reml | dl (frequentist)"),
    sampler: str = typer.Option(
        "auto",
        "--sampler",
        help="auto (exact draws for all-normal data, else nutpie) | exact | nutpie | pymc",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plots: Path | None = typer.Option(
        None,
        "--plots",
        help="Write network, forest, sucra, rankogram and comparison-adjusted funnel plots "
        "(PNG and SVG) to this folder.",
    ),
    nodesplit: bool = typer.Option(
        False,
        "--nodesplit",
        help="Node-split every comparison in a loop: direct vs indirect evidence "
        "(Bayesian with --engine bayes; the frequentist split is always added).",
    ),
) -> None:
    """Fit an NMA to a data file (no workspace needed)."""
    try:
        net, res, spec = _fit(
            data, fmt, model, reference, lower_better, engine, treatments, measure,
            draws, tune, chains, seed, tau_prior, tau_method, sampler,
        )  # fmt: skip
        written = _write_plots(res, net, plots) if plots is not None else None
        splits = _nodesplit(net, res, spec, model, tau_method) if nodesplit else None
    except LsrError as exc:
        typer.echo(f"lsr: error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        obj = res.as_json()
        if written is not None:
            obj["plots"] = [str(p) for p in written]
        if splits is not None:
            obj.update(splits.as_json(log_scale=res.log_scale))
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
    else:
        text = render_text(res)
        if splits is not None and res.converged:
            text += "\n\n" + "\n".join(splits.lines(log_scale=res.log_scale))
        if written is not None:
            names = ", ".join(p.name for p in written)
            text += f"\nPlots written to {plots}: {names}"
            if not res.converged:
                text += " (network only: the fit did not converge)"
        typer.echo(text)


@dataclass(frozen=True)
class _Splits:
    """Node-split results for the CLI: the engine's, and the instant frequentist ones."""

    main: list[NodeSplit]
    frequentist: list[NodeSplit]
    skipped: str | None = None

    def as_json(self, *, log_scale: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nodesplit": [s.as_json(log_scale=log_scale) for s in self.main],
        }
        if self.main is not self.frequentist:
            out["nodesplit_frequentist"] = [
                s.as_json(log_scale=log_scale) for s in self.frequentist
            ]
        if self.skipped:
            out["nodesplit_skipped"] = self.skipped
        return out

    def lines(self, *, log_scale: bool) -> list[str]:
        out = nodesplit_lines(self.main, log_scale=log_scale)
        if self.skipped:
            out.append(f"  Bayesian node-split skipped: {self.skipped}")
        return out


def _nodesplit(
    net: Network, res: NMAResult, spec: FitSpec | None, model: str, tau_method: str
) -> _Splits:
    """Frequentist node-split always (instant); Bayesian too when the engine is bayes."""
    from living_review.nma.nodesplit import (
        nodesplit_bayes,
        nodesplit_frequentist,
        with_network_estimates,
    )

    freq = nodesplit_frequentist(
        net,
        model=model,  # type: ignore[arg-type]
        tau_method=tau_method,  # type: ignore[arg-type]
    )
    if spec is None:
        freq = with_network_estimates(freq, res)
        return _Splits(freq, freq)
    if not res.converged:
        return _Splits([], freq, skipped="the consistency model did not converge")
    return _Splits(with_network_estimates(nodesplit_bayes(net, spec), res), freq)


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def nodesplit_lines(splits: Sequence[NodeSplit], *, log_scale: bool) -> list[str]:
    """The node-split table: direct, indirect, network estimate, difference, p.

    For ratio measures the difference is shown as the ratio of the direct and indirect
    ratios (exp of the difference of logs). A split fit that did not converge shows why,
    and no estimates.
    """
    if not splits:
        return ["Node-splitting: no comparison has both direct and indirect evidence."]
    first = splits[0]
    bayes = first.method.startswith("Bayesian")
    interval = "95% CrI" if bayes else "95% CI"
    scale = "natural scale" if log_scale else "analysis scale"
    diff_head = "Direct/indirect" if log_scale else "Direct - indirect"
    header = ["Comparison", "Studies", "Direct", "Indirect", "Network", diff_head, "p"]
    rows = []
    notes: list[str] = []
    for s in splits:
        n = str(len(s.direct_studies))
        if not s.converged:
            rows.append([s.comparison, n, "NOT CONVERGED", "", "", "", ""])
            notes.append(f"{s.comparison}: " + "; ".join(s.messages))
            continue
        net_est = "" if s.network is None else _fmt(s.network, log_scale)
        rows.append(
            [
                s.comparison,
                n,
                _fmt(s.direct, log_scale),
                _fmt(s.indirect, log_scale),
                net_est,
                _fmt(s.difference, log_scale),
                _p(s.p),
            ]
        )
        notes += [f"{s.comparison}: {x}" for x in s.notes]
    out = [f"Node-splitting ({first.method}; {scale}, {interval}):"]
    out += table_lines(header, rows)
    p_def = "2 min(P(diff > 0), P(diff < 0))" if bayes else "Wald z-test of the difference"
    out.append(f"  p: {p_def}. Network: consistency model estimate.")
    out += [f"  Note: {x}" for x in notes]
    return out


def _write_plots(res: NMAResult, net: Network, outdir: Path) -> list[Path]:
    """Write the figures; an unwritable folder is a user error, not a traceback."""
    from living_review.nma.plots import save_plots  # deferred: matplotlib is slow to import

    try:
        return save_plots(res, net, outdir)
    except OSError as exc:
        raise UsageError(f"--plots {outdir}: cannot write the plots ({exc.strerror})") from None


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


class UsageError(LsrError):
    """A command-line value is not one of the accepted choices."""


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _fit(
    data: Path,
    fmt: str,
    model: str,
    reference: str | None,
    lower_better: bool,
    engine: str,
    treatments: Path | None,
    measure: str | None,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    tau_prior: str,
    tau_method: str,
    sampler: str = "auto",
) -> tuple[Network, NMAResult, FitSpec | None]:
    fmt_ok: DataFormat = _choice("--format", fmt, FORMATS)  # type: ignore[assignment]
    _choice("--model", model, ("fe", "re"))
    _choice("--engine", engine, ("bayes", "frequentist"))
    _choice("--tau-prior", tau_prior, ("uniform", "half-normal"))
    _choice("--tau-method", tau_method, ("reml", "dl"))
    _choice("--sampler", sampler, ("auto", "exact", "nutpie", "pymc"))
    net = read_network(data, fmt_ok, reference=reference, treatments=treatments, measure=measure)
    if engine == "frequentist":
        from living_review.nma.frequentist import fit_frequentist

        res = fit_frequentist(
            net,
            model=model,  # type: ignore[arg-type]
            tau_method=tau_method,  # type: ignore[arg-type]
            higher_is_better=not lower_better,
        )
        return net, res, None
    from living_review.nma.bayes import fit_bayes

    try:
        spec = FitSpec(
            model=model,  # type: ignore[arg-type]
            priors=Priors(tau=tau_prior),  # type: ignore[arg-type]
            chains=chains,
            tune=tune,
            draws=draws,
            seed=seed,
            sampler=sampler,  # type: ignore[arg-type]
            higher_is_better=not lower_better,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return net, fit_bayes(net, spec), spec


@nma_app.command("fit")
def fit_workspace(
    outcome: str | None = typer.Option(
        None, "--outcome", "-o", help="A protocol outcome (default: the primary outcome)."
    ),
    engine: str = typer.Option("bayes", "--engine", help="bayes | frequentist"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plots: Path | None = typer.Option(None, "--plots", help="Write the plots to this folder."),
) -> None:
    """Fit the review's NMA for one outcome from its final data, and record the run.

    Model, priors, sampler settings and the reference come from the protocol's ``[nma]``
    section; the ranking direction from the outcome's ``lower_is_better``. The analysis set,
    a hash of its data, the settings and the result are stored as a new analysis run
    (``lsr nma history``), and what changed since the previous run is printed (``diff``).
    """
    from living_review.living import diff_latest, fit_and_record_full

    ws = open_workspace()
    _choice("--engine", engine, ("bayes", "frequentist"))
    name = _outcome_name(ws, outcome)
    run, net, res = fit_and_record_full(ws, name, engine=engine, trigger="manual")
    diff = diff_latest(ws, run)
    written = _write_plots(res, net, plots) if plots is not None else None
    if as_json:
        obj = dict(run.result)
        obj["run"] = _run_meta(run)
        obj["diff"] = diff.as_json()
        obj["diff_summary"] = diff.summary()
        if written is not None:
            obj["plots"] = [str(p) for p in written]
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
        return
    out = ws.protocol.outcome(name)
    assert out is not None
    text = f"{out.label} ({out.name}), {len(run.studies)} studies in the analysis set\n"
    text += render_text(res)
    text += _set_notes(run.result)
    text += f"\n\nRun {run.id}: {run.label()}, recorded.\n{diff.summary()}"
    if written is not None:
        text += f"\nPlots written to {plots}: {', '.join(p.name for p in written)}"
    typer.echo(text)


def _outcome_name(ws: Any, outcome: str | None) -> str:
    protocol = ws.protocol
    chosen = outcome or next((o.name for o in protocol.outcomes if o.primary), None)
    out = protocol.outcome(chosen or "")
    if out is None:
        names = ", ".join(o.name for o in protocol.outcomes)
        raise LsrError(f"unknown outcome {chosen!r} (the protocol's outcomes: {names})")
    return str(out.name)


def _set_notes(result: Mapping[str, Any]) -> str:
    text = ""
    if result.get("not_analysed"):
        text += f"\nNot analysed (reports of trials already counted): {len(result['not_analysed'])}"
    for study, why in (result.get("analysis_set_excluded") or {}).items():
        text += f"\nNot in the analysis set: {study} ({why})"
    for warning in result.get("warnings") or []:
        text += f"\nwarning: {warning}"
    return text


def _run_meta(run: Any) -> dict[str, Any]:
    keys = (
        "id", "outcome", "version", "engine", "trigger", "studies", "data_hash",
        "settings_hash", "seed", "converged", "predecessor_id",
    )  # fmt: skip
    meta = {k: getattr(run, k) for k in keys}
    meta["created_at"] = run.created_at.isoformat()
    return meta


def _engine_opt(engine: str | None) -> str | None:
    return None if engine is None else _choice("--engine", engine, ("bayes", "frequentist"))


def _pick_run(ws: Any, outcome: str | None, run_id: int | None, engine: str | None) -> Any:
    """``--run ID``, else the newest run of the outcome: Bayesian if any, else frequentist."""
    from living_review.living import get_run, latest_run

    if run_id is not None:
        return get_run(ws, run_id)
    name = _outcome_name(ws, outcome)
    for eng in (engine,) if engine else ("bayes", "frequentist"):
        run = latest_run(ws, name, eng)
        if run is not None:
            return run
    raise LsrError(f"{name}: no stored analysis run yet (run 'lsr nma fit --outcome {name}')")


@nma_app.command("show")
def show_run(
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="A protocol outcome."),
    run_id: int | None = typer.Option(None, "--run", help="A run id (default: the latest)."),
    engine: str | None = typer.Option(None, "--engine", help="bayes | frequentist"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show a stored analysis run (default: the outcome's latest) and whether it is stale."""
    from living_review.living import diff_latest, staleness

    ws = open_workspace()
    run = _pick_run(ws, outcome, run_id, _engine_opt(engine))
    stale = staleness(ws, run.outcome, engine=run.engine)
    latest = stale.latest_run_id == run.id
    diff = diff_latest(ws, run)
    if as_json:
        obj = run.as_json()
        obj["latest"] = latest
        obj["staleness"] = stale.as_json()
        obj["diff"] = diff.as_json()
        obj["diff_summary"] = diff.summary()
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
        return
    when = run.created_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"{run.label()}, run {run.id}, {when}, trigger {run.trigger}"]
    if not latest:
        lines.append(f"(not the latest {run.engine} run: that is run {stale.latest_run_id})")
    elif stale.stale:
        lines.append("STALE: the evidence changed since this run: " + ", ".join(stale.reasons))
        lines.append(f"Refit with 'lsr nma fit --outcome {run.outcome} --engine {run.engine}'.")
    else:
        lines.append("Up to date with the current analysis set and settings.")
    text = render_text(run.nma_result())
    if run.engine == "bayes":
        text = text.replace("95% CI)", "95% CrI)")
    lines += [text + _set_notes(run.result), "", diff.summary()]
    typer.echo("\n".join(lines))
    _echo_network(run.result)


def _echo_network(result: dict[str, Any]) -> None:
    """The run's network drawn in the terminal."""
    from rich.console import Console

    from living_review.nma.terminal import legend, network_drawing, stored_network

    net = stored_network(result)
    if net is None:
        return
    treatments, edges = net
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"\nNetwork: {len(treatments)} treatments, {len(edges)} direct comparisons")
    console.print(network_drawing(treatments, edges, width=48, height=14))
    console.print(legend(treatments, width=72))


@nma_app.command("history")
def history_cmd(
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="A protocol outcome."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Every stored analysis run (of one outcome, or all), oldest first, with what changed."""
    from living_review.living import diff_latest, history

    ws = open_workspace()
    runs = history(ws, _outcome_name(ws, outcome) if outcome else None)
    rows = []
    for run in runs:
        meta = _run_meta(run)
        meta["summary"] = diff_latest(ws, run).summary()
        rows.append(meta)
    if as_json:
        obj = {"outcome": outcome, "runs": rows}
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
        return
    if not rows:
        typer.echo("No analysis runs yet ('lsr nma fit' records one).")
        return
    table = [
        [
            str(r["id"]),
            f"{r['outcome']} v{r['version']}",
            r["engine"],
            r["created_at"][:16].replace("T", " "),
            r["trigger"],
            str(len(r["studies"])),
            "yes" if r["converged"] else "NO",
        ]
        for r in rows
    ]
    header = ["Run", "Version", "Engine", "Created (UTC)", "Trigger", "Studies", "Converged"]
    lines = table_lines(header, table)
    lines.append("")
    lines += [f"  {r['id']}: {r['summary']}" for r in rows]
    typer.echo("\n".join(lines))


@nma_app.command("diff")
def diff_cmd(
    outcome: str | None = typer.Option(None, "--outcome", "-o", help="A protocol outcome."),
    from_id: int | None = typer.Option(None, "--from", help="The earlier run id."),
    to_id: int | None = typer.Option(None, "--to", help="The later run id (default: latest)."),
    engine: str | None = typer.Option(None, "--engine", help="bayes | frequentist"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What changed in the conclusions between two runs (default: the latest vs the one
    before it that converged)."""
    from living_review.living import comparison_base, diff_runs, get_run

    ws = open_workspace()
    cur = _pick_run(ws, outcome, to_id, _engine_opt(engine))
    prev = get_run(ws, from_id) if from_id is not None else comparison_base(ws, cur)
    diff = diff_runs(prev, cur)
    if as_json:
        obj = diff.as_json()
        obj["summary"] = diff.summary()
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
        return
    lines = [diff.summary()]
    if diff.reportable:
        lines.append("")
        for e in diff.effects:
            lines.append("  " + e.text(diff.measure, diff.reference))
        for r in diff.ranks:
            if r.sucra_cur is None:
                continue
            prev_s = "—" if r.sucra_prev is None else f"{r.sucra_prev:.3f}"
            mark = " *" if r.beyond_noise else ""
            lines.append(
                f"  SUCRA {r.treatment}: {prev_s} → {r.sucra_cur:.3f} "
                f"(rank {r.rank_prev or '—'} → {r.rank_cur}){mark}"
            )
        lines.append("  * beyond Monte Carlo noise")
    typer.echo("\n".join(lines))

"""Provides ``nma_app``: the ``lsr nma`` commands (Typer). ``fit-file`` needs no workspace.

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
            draws, tune, chains, seed, tau_prior, tau_method,
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
) -> tuple[Network, NMAResult, FitSpec | None]:
    fmt_ok: DataFormat = _choice("--format", fmt, FORMATS)  # type: ignore[assignment]
    _choice("--model", model, ("fe", "re"))
    _choice("--engine", engine, ("bayes", "frequentist"))
    _choice("--tau-prior", tau_prior, ("uniform", "half-normal"))
    _choice("--tau-method", tau_method, ("reml", "dl"))
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
    """Fit the review's NMA for one outcome from its final extracted data.

    Model, priors, sampler settings and the reference come from the protocol's ``[nma]``
    section; the ranking direction from the outcome's ``lower_is_better``.
    """
    from living_review.cli import open_workspace
    from living_review.extraction.service import analysis_data, network_for

    ws = open_workspace()
    protocol = ws.protocol
    chosen = outcome or next((o.name for o in protocol.outcomes if o.primary), None)
    out = protocol.outcome(chosen or "")
    if out is None:
        names = ", ".join(o.name for o in protocol.outcomes)
        raise LsrError(f"unknown outcome {chosen!r} (the protocol's outcomes: {names})")
    _choice("--engine", engine, ("bayes", "frequentist"))
    data = analysis_data(engine=ws.engine, protocol=protocol, outcome=out.name)
    net = network_for(data, protocol)
    settings = protocol.nma
    model = settings.model if settings else "re"
    if engine == "frequentist":
        from living_review.nma.frequentist import fit_frequentist

        res = fit_frequentist(net, model=model, higher_is_better=not out.lower_is_better)
    else:
        from living_review.nma.bayes import fit_bayes

        spec = FitSpec(
            model=model,
            priors=Priors(
                d_sd=settings.d_prior_sd if settings else 100.0,
                tau="half-normal"
                if settings and settings.tau_prior == "half_normal"
                else "uniform",
                tau_upper=settings.tau_max if settings else 5.0,
                tau_scale=settings.tau_max if settings else 1.0,
            ),
            chains=settings.chains if settings else 4,
            tune=settings.tune if settings else 1000,
            draws=settings.draws if settings else 1000,
            seed=settings.seed if settings else 20251,
            higher_is_better=not out.lower_is_better,
        )
        res = fit_bayes(net, spec)
    written = _write_plots(res, net, plots) if plots is not None else None
    if as_json:
        obj = res.as_json()
        obj["outcome"] = out.name
        obj["not_analysed"] = data.not_analysed
        obj["descriptive"] = data.descriptive
        obj["pending"] = data.pending
        obj["warnings"] = data.warnings
        if written is not None:
            obj["plots"] = [str(p) for p in written]
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))
        return
    text = f"{out.label} ({out.name}), {data.n_studies} studies with final data\n"
    text += render_text(res)
    if data.not_analysed:
        text += f"\nNot analysed (reports of trials already counted): {len(data.not_analysed)}"
    for warning in data.warnings:
        text += f"\nwarning: {warning}"
    typer.echo(text)

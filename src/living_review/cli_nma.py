"""Provides ``nma_app``: the ``lsr nma`` commands (Typer). ``fit-file`` needs no workspace.

``lsr nma fit-file DATA.csv --format arm-binary|arm-continuous|contrast [--model fe|re]
[--reference T] [--lower-better] [--engine bayes|frequentist] [--json]``

The JSON contract (keys never renamed): ``relative_effects`` (treatment -> ``mean``, ``sd``,
``q2.5``, ``q97.5`` vs the reference), ``tau``, ``sucra``, ``league_table``, ``diagnostics``,
``dic``. A fit that failed the convergence checks prints ``NOT CONVERGED: ...`` and no
estimates in the text output; its JSON has ``"converged": false`` and the reasons in
``diagnostics.messages``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from living_review.errors import LsrError
from living_review.nma.data import FORMATS, DataFormat, read_network
from living_review.nma.result import NMAResult, Summary

nma_app = typer.Typer(
    help="Network meta-analysis: fit a network from a file, or the review's outcomes.",
    no_args_is_help=True,
)


def _fmt(s: Summary, log: bool) -> str:
    """``est (lo, hi)`` on the natural scale (exp for log measures); Wald or CrI limits."""
    f = math.exp if log else (lambda v: v)
    mid = s.q50 if log and s.q50 is not None else s.mean
    if s.q2_5 is None or s.q97_5 is None:
        return f"{f(mid):.2f}"
    return f"{f(mid):.2f} ({f(s.q2_5):.2f}, {f(s.q97_5):.2f})"


def render_text(res: NMAResult) -> str:
    """The human report of a fit; an unconverged fit shows why, and no estimates."""
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
    lines.append(f"\nLeague table (row vs column, {scale}):")
    cols = list(res.treatments)
    cells = {(e.treatment, e.comparator): _fmt(e.summary, res.log_scale) for e in res.league_table}
    cw = max([len(c) for c in cells.values()] + [len(c) for c in cols])
    lines.append(" " * (width + 2) + "  ".join(f"{c:<{cw}}" for c in cols))
    for t in cols:
        row = [f"{t if t == c else cells[(t, c)]:<{cw}}" for c in cols]
        lines.append(f"  {t:<{width}}" + "  ".join(row))
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
) -> None:
    """Fit an NMA to a data file (no workspace needed)."""
    try:
        res = _fit(
            data, fmt, model, reference, lower_better, engine, treatments, measure,
            draws, tune, chains, seed, tau_prior, tau_method,
        )  # fmt: skip
    except LsrError as exc:
        typer.echo(f"lsr: error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(res.as_json(), indent=2, ensure_ascii=False, default=_json_default))
    else:
        typer.echo(render_text(res))


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
) -> NMAResult:
    fmt_ok: DataFormat = _choice("--format", fmt, FORMATS)  # type: ignore[assignment]
    _choice("--model", model, ("fe", "re"))
    _choice("--engine", engine, ("bayes", "frequentist"))
    _choice("--tau-prior", tau_prior, ("uniform", "half-normal"))
    _choice("--tau-method", tau_method, ("reml", "dl"))
    net = read_network(data, fmt_ok, reference=reference, treatments=treatments, measure=measure)
    if engine == "frequentist":
        from living_review.nma.frequentist import fit_frequentist

        return fit_frequentist(
            net,
            model=model,  # type: ignore[arg-type]
            tau_method=tau_method,  # type: ignore[arg-type]
            higher_is_better=not lower_better,
        )
    from living_review.nma.bayes import fit_bayes
    from living_review.nma.spec import FitSpec, Priors

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
    return fit_bayes(net, spec)

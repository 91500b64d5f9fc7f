"""Provides ``km_app``: the ``lsr km`` commands (Typer), a thin shell over the survival core.

Files only (no workspace needed):

* ``lsr km reconstruct POINTS.csv --at-risk NAR.csv [--events ARM=D] [--ipd-out F] [--plot F]
  [--json]`` — IPD per arm (Guyot), fit diagnostics and warnings; Cox HR and ΔRMST for two arms
* ``lsr km rmst FILE [--at-risk NAR.csv] [--tau T] [--json]`` — RMST per arm, ΔRMST, RMST and
  RMTL ratios (survRM2); FILE is digitised points (with ``--at-risk``) or IPD
  (``arm,time,event``); the first arm is the experimental one (``--treated`` to choose)

In a workspace:

* ``lsr km attach STUDY POINTS.csv --at-risk NAR.csv --outcome OS --by NAME [--arm T]`` — attach
  one figure's curves to the study's arms (a new version each time; append-only, audited)
* ``lsr km curves [--outcome O] [--json]``; ``lsr km withdraw STUDY --arm T --outcome O --by NAME``
* ``lsr km load-example [--json]`` — the synthetic example curves on the example studies
* ``lsr km effects --outcome OS [--tau T] [--json]`` — per-study RMST/ΔRMST/HR and pooled ΔRMST
* ``lsr km nma --outcome OS [--tau T] [--effect drmst|loghr] [--bayes] [--json]`` — the network
  fitted on ΔRMST (or log HR) from the reconstructed curves
* ``lsr km plot STUDY --outcome OS FILE.png|svg`` — digitised vs reconstructed overlay

``cli.py`` wires it with ``app.add_typer(km_app, name="km")``; core modules are imported inside
the commands so ``lsr --help`` stays fast.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from living_review.cli_base import emit_json, open_workspace, warn

if TYPE_CHECKING:
    from living_review.survival.guyot import Reconstruction

km_app = typer.Typer(
    help="Survival: IPD from digitised Kaplan-Meier curves (Guyot), RMST/ΔRMST, RMST networks.",
    no_args_is_help=True,
)


def _events(items: list[str] | None) -> dict[str, int]:
    """``ARM=D`` options as a dict (a clear error otherwise)."""
    from living_review.survival.digitised import SurvivalError

    out: dict[str, int] = {}
    for item in items or []:
        arm, sep, value = item.rpartition("=")
        if not value.strip().isdigit() or (sep and not arm.strip()):
            raise SurvivalError(f"--events {item!r}: give ARM=TOTAL_EVENTS (or just a number)")
        out[arm.strip()] = int(value)
    return out


def _read(
    points: Path, at_risk: Path | None, events: list[str] | None, arm: str | None, scale: str
) -> dict[str, Reconstruction]:
    from living_review.survival.digitised import read_curves
    from living_review.survival.guyot import reconstruct

    if scale not in ("auto", "proportion", "percent"):
        raise typer.BadParameter("auto, proportion or percent", param_hint="--scale")
    ev = _events(events)
    curves = read_curves(points, at_risk, scale=scale, arm=arm)  # type: ignore[arg-type]
    if "" in ev:  # a bare number applies to a single-arm file
        if len(curves) != 1:
            raise typer.BadParameter(
                "--events with several arms needs ARM=D", param_hint="--events"
            )
        ev = {next(iter(curves)): ev.pop("")}
    if ev:
        curves = read_curves(points, at_risk, scale=scale, arm=arm, total_events=ev)  # type: ignore[arg-type]
    return {a: reconstruct(c) for a, c in curves.items()}


def _write_ipd(path: Path, recs: dict[str, Reconstruction]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "time", "event"])
        for a, r in recs.items():
            for t, e in zip(r.ipd.time, r.ipd.event, strict=True):
                w.writerow([a, f"{t:.6g}", e])


def _ipd_file(path: Path) -> dict[str, tuple[list[float], list[int]]]:
    """An IPD CSV (``arm,time,event``) per arm; errors name the line."""
    from living_review.survival.digitised import DigitisedDataError

    arms: dict[str, tuple[list[float], list[int]]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip().lower() for c in reader.fieldnames or []]
            if not {"arm", "time", "event"} <= set(cols):
                raise DigitisedDataError(path, "IPD needs columns arm, time, event", line=1)
            for row in reader:
                r = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                try:
                    t, e = float(r["time"]), int(float(r["event"]))
                except ValueError:
                    raise DigitisedDataError(
                        path, "time/event is not a number", line=reader.line_num
                    ) from None
                if t < 0 or e not in (0, 1):
                    raise DigitisedDataError(
                        path, "time must be >= 0 and event 0 or 1", line=reader.line_num
                    )
                ts, es = arms.setdefault(r["arm"], ([], []))
                ts.append(t)
                es.append(e)
    except FileNotFoundError:
        raise DigitisedDataError(path, "file not found") from None
    return arms


def _two(names: list[str], treated: str | None) -> tuple[str, str]:
    from living_review.survival.digitised import SurvivalError

    if len(names) != 2:
        raise SurvivalError(f"ΔRMST needs exactly two arms; the file has {len(names)}")
    if treated is None:
        return names[0], names[1]
    if treated not in names:
        raise SurvivalError(f"--treated {treated!r} is not an arm ({', '.join(names)})")
    return treated, next(n for n in names if n != treated)


@km_app.command("reconstruct")
def reconstruct_cmd(
    points: Path = typer.Argument(..., help="Digitised points CSV (time,survival[,arm])."),
    at_risk: Path | None = typer.Option(None, "--at-risk", help="At-risk CSV (time,n_risk[,arm])."),
    events: list[str] | None = typer.Option(None, "--events", help="Total events, ARM=D."),
    arm: str | None = typer.Option(None, "--arm", help="Arm name of a file without an arm column."),
    scale: str = typer.Option("auto", "--scale", help="auto | proportion | percent"),
    ipd_out: Path | None = typer.Option(None, "--ipd-out", help="Write the IPD (arm,time,event)."),
    plot: Path | None = typer.Option(None, "--plot", help="Overlay plot (.png or .svg)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Reconstruct IPD from digitised KM curves; report how well it fits the inputs."""
    from living_review.survival.estimates import cox_hr, rmst2

    recs = _read(points, at_risk, events, arm, scale)
    if ipd_out is not None:
        _write_ipd(ipd_out, recs)
    if plot is not None:
        from living_review.survival.plots import write_overlay

        write_overlay(list(recs.values()), plot, title=points.stem)
    out: dict[str, Any] = {"arms": {a: r.as_json() for a, r in recs.items()}}
    names = list(recs)
    if len(names) == 2:
        r1, r0 = recs[names[0]].ipd, recs[names[1]].ipd
        out["cox"] = {"treated": names[0], "control": names[1]} | cox_hr(
            r1.time, r1.event, r0.time, r0.event
        )
        out["rmst"] = rmst2(r1.time, r1.event, r0.time, r0.event).as_json()
    warnings = [w for r in recs.values() for w in r.warnings]
    if as_json:
        emit_json(out | {"ipd_out": str(ipd_out) if ipd_out else None, "warnings": warnings})
        return
    for a, r in recs.items():
        d = r.diagnostics
        med = d["median_reconstructed"]
        typer.echo(
            f"{a}: n={r.ipd.n}, {r.ipd.events} events"
            f"{' (published ' + str(d['events_published']) + ')' if d['events_published'] else ''}"
            f"; median {med if med is None else f'{med:.3g}'}; KM error mean "
            f"{d['mean_abs_error']:.4f}, max {d['max_abs_error']:.3f} "
            f"(before last at-risk time {d['max_abs_error_before_last_at_risk']:.3f})"
        )
    if "cox" in out:
        c = out["cox"]
        typer.echo(
            f"Cox HR {names[0]} vs {names[1]}: {c['hr']:.3f} ({c['lower']:.3f} to "
            f"{c['upper']:.3f}); PH test p = {c['ph_test_p']:.3f}"
        )
        m = out["rmst"]
        typer.echo(
            f"ΔRMST at τ={m['tau']:.4g}: {m['diff']:.3f} ({m['diff_lower']:.3f} to "
            f"{m['diff_upper']:.3f}), p = {m['diff_p']:.4f}"
        )
    if ipd_out:
        typer.echo(f"IPD written to {ipd_out}")
    if plot:
        typer.echo(f"overlay written to {plot}")
    warn(warnings)


@km_app.command("rmst")
def rmst_cmd(
    source: Path = typer.Argument(..., help="IPD CSV (arm,time,event) or digitised points CSV."),
    at_risk: Path | None = typer.Option(
        None, "--at-risk", help="At-risk CSV: SOURCE is then digitised points (reconstructed)."
    ),
    events: list[str] | None = typer.Option(None, "--events", help="Total events, ARM=D."),
    tau: float | None = typer.Option(None, "--tau", help="Horizon τ (default: survRM2's rule)."),
    treated: str | None = typer.Option(None, "--treated", help="The experimental arm."),
    alpha: float = typer.Option(0.05, "--alpha", help="1 - confidence level."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """RMST per arm at τ, ΔRMST with CI and p, RMST and RMTL ratios (survRM2's formulas)."""
    from living_review.survival.estimates import rmst2

    if at_risk is not None:
        recs = _read(source, at_risk, events, None, "auto")
        data = {a: (list(r.ipd.time), list(r.ipd.event)) for a, r in recs.items()}
    else:
        data = {a: (t, [int(x) for x in e]) for a, (t, e) in _ipd_file(source).items()}
    a1, a0 = _two(list(data), treated)
    res = rmst2(*data[a1], *data[a0], tau=tau, alpha=alpha)
    if as_json:
        emit_json({"treated": a1, "control": a0, **res.as_json()})
        return
    typer.echo(f"τ = {res.tau:.4g} ({res.tau_rule})")
    for name, arm_res in ((a1, res.arm1), (a0, res.arm0)):
        typer.echo(
            f"  RMST {name}: {arm_res.rmst:.4f} (SE {arm_res.se:.4f}; "
            f"{arm_res.lower:.4f} to {arm_res.upper:.4f})"
        )
    typer.echo(
        f"  ΔRMST {a1} - {a0}: {res.diff:.4f} (SE {res.diff_se:.4f}; {res.diff_lower:.4f} to "
        f"{res.diff_upper:.4f}), p = {res.diff_p:.4f}"
    )
    rr, lr = res.rmst_ratio, res.rmtl_ratio
    typer.echo(f"  RMST ratio {rr.estimate:.4f} ({rr.lower:.4f} to {rr.upper:.4f})")
    typer.echo(f"  RMTL ratio {lr.estimate:.4f} ({lr.lower:.4f} to {lr.upper:.4f})")


@km_app.command("attach")
def attach_cmd(
    study: str = typer.Argument(..., help="Study id, label or registry id."),
    points: Path = typer.Argument(..., help="Digitised points CSV (time,survival[,arm])."),
    at_risk: Path | None = typer.Option(None, "--at-risk", help="At-risk CSV (time,n_risk[,arm])."),
    outcome: str = typer.Option(..., "--outcome", "-o", help="A protocol outcome, e.g. OS."),
    by: str = typer.Option(..., "--by", help="Who digitised / attaches it (audit trail)."),
    arm: str | None = typer.Option(None, "--arm", help="The arm of a file without an arm column."),
    events: list[str] | None = typer.Option(None, "--events", help="Total events, ARM=D."),
    source: str | None = typer.Option(None, "--source", help="The figure, e.g. 'Fig 2A, p. 5'."),
    digitiser: str | None = typer.Option(None, "--digitiser", help="Tool used."),
    time_unit: str = typer.Option("months", "--time-unit"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Attach one figure's digitised curves to the study's arms (all arms or none)."""
    from living_review.survival.service import attach_files

    ws = open_workspace()
    res = attach_files(
        engine=ws.engine,
        protocol=ws.protocol,
        study=study,
        points=points,
        at_risk=at_risk,
        outcome=outcome,
        actor=by,
        arm=arm,
        total_events=_events(events) or None,
        source=source,
        digitiser=digitiser,
        time_unit=time_unit,
    )
    if as_json:
        emit_json({"curves": [r.as_json() for r in res]})
        return
    for r in res:
        state = "attached" if r.created else "unchanged"
        typer.echo(f"{r.study} {r.treatment} {r.outcome}: {state} (curve #{r.curve_id})")
        warn(r.warnings)


@km_app.command("curves")
def curves_cmd(
    outcome: str | None = typer.Option(None, "--outcome", "-o"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the current digitised curves per study arm."""
    from living_review.survival.service import list_curves

    rows = list_curves(engine=open_workspace().engine, outcome=outcome)
    if as_json:
        emit_json({"curves": rows})
        return
    if not rows:
        typer.echo("no curves attached")
    for r in rows:
        typer.echo(
            f"#{r['id']:<4} {r['study']:<12} {r['treatment']:<14} {r['outcome']:<4} "
            f"{r['points']} points, {r['at_risk_rows']} at-risk rows, n={r['n']}"
            f"{', ' + str(r['total_events']) + ' events' if r['total_events'] else ''}"
            f"  ({r['created_by']})"
        )


@km_app.command("withdraw")
def withdraw_cmd(
    study: str = typer.Argument(...),
    arm: str = typer.Option(..., "--arm"),
    outcome: str = typer.Option(..., "--outcome", "-o"),
    by: str = typer.Option(..., "--by"),
) -> None:
    """Retract an arm's current curve (a new 'withdrawn' version; nothing is deleted)."""
    from living_review.survival.service import withdraw_curve

    ws = open_workspace()
    cid = withdraw_curve(
        engine=ws.engine,
        protocol=ws.protocol,
        study=study,
        treatment=arm,
        outcome=outcome,
        actor=by,
    )
    typer.echo(f"withdrawn (version #{cid})")


@km_app.command("load-example")
def load_example_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Attach the SYNTHETIC example curves to the example studies (after extract load-example)."""
    from living_review.survival.service import load_example

    ws = open_workspace()
    res = load_example(engine=ws.engine, protocol=ws.protocol)
    if as_json:
        emit_json(res)
        return
    typer.echo(
        f"{len(res['curves'])} synthetic {res['outcome']} curves: {res['created']} attached, "
        f"{res['unchanged']} unchanged (simulated data, not from the publications)"
    )


@km_app.command("effects")
def effects_cmd(
    outcome: str = typer.Option("OS", "--outcome", "-o"),
    tau: float | None = typer.Option(None, "--tau", help="Common τ (default: smallest allowed)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Per-study RMST, ΔRMST and Cox HR from the stored curves, and the pooled ΔRMST."""
    from living_review.survival.pooling import pool_drmst, study_effects

    ws = open_workspace()
    eff = study_effects(ws.engine, outcome, tau=tau, protocol=ws.protocol)
    pooled = pool_drmst(eff, ws.protocol)
    if as_json:
        emit_json(eff.as_json() | {"pooled": pooled})
        return
    typer.echo(f"{outcome}: τ = {eff.tau:.4g} ({eff.tau_rule})")
    for s in eff.studies:
        for c in s.contrasts:
            typer.echo(
                f"  {s.study:<12} {c['treat1']} - {c['treat2']}: ΔRMST {c['drmst']:.3f} "
                f"({c['lower']:.3f} to {c['upper']:.3f})"
                + (
                    f"; HR {s.hr['hr']:.3f} ({s.hr['lower']:.3f} to {s.hr['upper']:.3f})"
                    if s.hr
                    else ""
                )
            )
    for s in eff.studies:
        p = s.published_hr
        if p and p.get("hr") and s.hr:
            typer.echo(
                f"  {s.study:<12} Cox HR reconstructed {s.hr['hr']:.3f} vs published "
                f"{p['hr']:.3f} ({p['lower'] or float('nan'):.3f} to "
                f"{p['upper'] or float('nan'):.3f})"
            )
    allp = pooled["all_active"]
    if allp:
        typer.echo(
            f"  pooled active - {pooled['reference']} ({allp['k']} studies): ΔRMST "
            f"{allp['estimate']:.3f} ({allp['lower']:.3f} to {allp['upper']:.3f})"
        )
    warn([w for s in eff.studies for w in s.warnings])


@km_app.command("nma")
def nma_cmd(
    outcome: str = typer.Option("OS", "--outcome", "-o"),
    tau: float | None = typer.Option(None, "--tau", help="Common τ (default: smallest allowed)."),
    effect: str = typer.Option("drmst", "--effect", help="drmst | loghr"),
    model: str = typer.Option("re", "--model", help="re | fe"),
    bayes: bool = typer.Option(False, "--bayes", help="Bayesian fit (PyMC) instead of REML."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Fit the network on ΔRMST (or Cox log HR) from the reconstructed curves."""
    from living_review.survival.digitised import SurvivalError
    from living_review.survival.pooling import fit_rmst_nma, study_effects

    if effect not in ("drmst", "loghr") or model not in ("re", "fe"):
        raise SurvivalError("--effect is drmst or loghr; --model is re or fe")
    ws = open_workspace()
    eff = study_effects(ws.engine, outcome, tau=tau)
    res = fit_rmst_nma(
        eff,
        ws.protocol,
        effect=effect,  # type: ignore[arg-type]
        engine="bayes" if bayes else "frequentist",
        model=model,  # type: ignore[arg-type]
    )
    if as_json:
        emit_json(res.as_json() | {"tau_time": eff.tau, "effect": effect, "outcome": outcome})
        return
    what = f"ΔRMST at τ={eff.tau:.4g}" if effect == "drmst" else "log HR (Cox, reconstructed)"
    typer.echo(f"{outcome} network on {what}: {res.engine}")
    for t, s in res.relative_effects.items():
        typer.echo(f"  {t} vs {res.reference}: {s.mean:.3f} ({s.q2_5:.3f} to {s.q97_5:.3f})")


@km_app.command("plot")
def plot_cmd(
    study: str = typer.Argument(...),
    out: Path = typer.Argument(..., help="Output .png or .svg."),
    outcome: str = typer.Option("OS", "--outcome", "-o"),
) -> None:
    """Overlay of a study's digitised curves and their reconstruction."""
    from living_review.survival.digitised import SurvivalError
    from living_review.survival.plots import write_overlay
    from living_review.survival.service import reconstruct_stored

    by_study = reconstruct_stored(open_workspace().engine, outcome)
    hit = next((k for k in by_study if k.casefold() == study.casefold()), None)
    if hit is None:
        raise SurvivalError(f"no {outcome} curves for study {study!r}")
    unit = by_study[hit][0][0].row.time_unit
    write_overlay([r for _, r in by_study[hit]], out, title=f"{hit} {outcome}", time_unit=unit)
    typer.echo(f"overlay written to {out}")

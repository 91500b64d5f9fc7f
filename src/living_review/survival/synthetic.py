"""Provides the synthetic survival example: simulated trials, their KM curves, a "digitisation".

Nothing here is read from a publication. For four trials of the example review we simulate
patient-level overall survival (Weibull event times whose medians are roughly the trials'
reported OS medians, uniform accrual with administrative censoring plus random drop-out), compute
the true Kaplan-Meier curves, and read them as a reviewer with a digitiser would: both corners of
most drops with small click noise, a point at every at-risk time, and the at-risk table printed
every 3 months. The files under ``survival/example/`` were written by :func:`write_example`
(``python -m living_review.survival.synthetic DIR``); ``truth.json`` keeps what the simulated
data say (Cox HR, medians, RMST), which the tests compare the reconstruction against.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from living_review.survival.digitised import DigitisedCurve, write_at_risk, write_points

FloatArray = npt.NDArray[np.float64]
SEED = 2028
TAU = 24.0  # months; the common RMST horizon of the example network
NAR_STEP = 3.0


@dataclass(frozen=True)
class ArmSpec:
    """One simulated arm: size, median OS (months) and Weibull shape."""

    treatment: str
    n: int
    median: float
    shape: float = 1.2


@dataclass(frozen=True)
class TrialSpec:
    """One simulated two-arm trial (experimental arm first); months throughout."""

    study: str
    arms: tuple[ArmSpec, ArmSpec]
    accrual: float = 18.0
    followup: float = 12.0
    dropout_rate: float = 0.01  # per month


#: Arm sizes and medians roughly as reported (../shared/example-hcc/trials.csv); shapes ours.
TRIALS = (
    TrialSpec("REACH", (ArmSpec("ramucirumab", 283, 9.2), ArmSpec("placebo", 282, 7.6))),
    TrialSpec("REACH-2", (ArmSpec("ramucirumab", 197, 8.5), ArmSpec("placebo", 95, 7.3))),
    TrialSpec("RESORCE", (ArmSpec("regorafenib", 379, 10.6), ArmSpec("placebo", 194, 7.8))),
    TrialSpec(
        "KEYNOTE-240",
        (ArmSpec("pembrolizumab", 278, 13.9, 1.1), ArmSpec("placebo", 135, 10.6, 1.1)),
        accrual=20.0,
        followup=14.0,
    ),
)


def simulate_arm(
    arm: ArmSpec, trial: TrialSpec, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Patient-level (time, event) of one arm, times rounded to 0.01 month."""
    scale = arm.median / math.log(2) ** (1 / arm.shape)
    t_event = scale * rng.weibull(arm.shape, arm.n)
    entry = rng.uniform(0, trial.accrual, arm.n)
    admin = trial.accrual + trial.followup - entry
    drop = rng.exponential(1 / trial.dropout_rate, arm.n)
    cens = np.minimum(admin, drop)
    time = np.round(np.minimum(t_event, cens), 2)
    time = np.maximum(time, 0.01)
    event = (t_event <= cens).astype(float)
    return time, event


def true_km(time: FloatArray, event: FloatArray) -> tuple[FloatArray, FloatArray]:
    """KM at each distinct event time (the drops of the published curve)."""
    ut = np.unique(time[event == 1])
    d = np.array([np.sum((time == u) & (event == 1)) for u in ut], dtype=float)
    r = np.array([np.sum(time >= u) for u in ut], dtype=float)
    return ut, np.cumprod(1 - d / r)


def at_risk_table(time: FloatArray, step: float = NAR_STEP) -> tuple[list[float], list[int]]:
    """Numbers at risk every ``step`` months while anyone is still followed."""
    ts, ns = [], []
    t = 0.0
    while t <= time.max():
        ts.append(t)
        ns.append(int(np.sum(time >= t)))
        t += step
    return ts, ns


def digitise(
    time: FloatArray,
    event: FloatArray,
    arm: str,
    rng: np.random.Generator,
    *,
    noise_t: float = 0.04,
    noise_s: float = 0.002,
    skip: float = 0.1,
) -> DigitisedCurve:
    """Read the true KM curve as a careful reviewer would, with click noise.

    Both corners of each drop (the top one skipped with probability ``skip``) with times
    jittered by ``noise_t`` months, plus the curve's value at each at-risk time on its grid
    line; S jittered by ``noise_s``; read to 4 decimals, in click order along the staircase
    (so times never step back).
    """
    ut, s = true_km(time, event)
    prev = np.concatenate([[1.0], s[:-1]])
    pts: list[tuple[float, float]] = []
    for t, top, bottom in zip(ut, prev, s, strict=True):
        if rng.random() > skip:
            pts.append((t, top))
        pts.append((t, bottom))
    t_end = float(time.max())
    pts.append((t_end, float(s[-1]) if ut.size else 1.0))
    arr = np.array(pts)
    arr[:, 0] = np.clip(arr[:, 0] + rng.normal(0, noise_t, len(arr)), 0, None)
    # a point on the curve at each at-risk time, placed on the grid line (no time noise)
    nt, nn = at_risk_table(time)
    grid = []
    for t in nt[1:]:
        k = np.searchsorted(ut, t, side="right") - 1
        grid.append((t, float(s[k]) if k >= 0 else 1.0))
    if grid:
        arr = np.vstack([arr, np.array(grid)])
    true_t = np.concatenate([np.array([p[0] for p in pts]), np.array([g[0] for g in grid])])
    arr = arr[np.argsort(true_t, kind="stable")]
    # clicks follow the staircase, so the exported times never step back
    arr[:, 0] = np.maximum.accumulate(arr[:, 0])
    arr[:, 1] = np.clip(arr[:, 1] + rng.normal(0, noise_s, len(arr)), 0, 1)
    arr = np.round(arr, 4)
    times = [0.0, *arr[:, 0].tolist()]
    surv = [1.0, *arr[:, 1].tolist()]
    return DigitisedCurve(
        arm=arm,
        times=tuple(times),
        surv=tuple(surv),
        risk_times=tuple(nt),
        risk_counts=tuple(nn),
        total_events=int(event.sum()),
    )


def truth(
    t1: FloatArray, e1: FloatArray, t0: FloatArray, e0: FloatArray, tau: float
) -> dict[str, Any]:
    """What the simulated patient-level data say (the target of the reconstruction)."""
    from living_review.survival.estimates import cox_hr, median_survival, rmst2

    hr = cox_hr(t1, e1, t0, e0)
    r = rmst2(t1, e1, t0, e0, tau=tau)
    return {
        "hr": hr["hr"],
        "log_hr": hr["log_hr"],
        "se_log_hr": hr["se_log_hr"],
        "median_1": median_survival(t1, e1),
        "median_0": median_survival(t0, e0),
        "rmst_1": r.arm1.rmst,
        "rmst_0": r.arm0.rmst,
        "drmst": r.diff,
        "drmst_se": r.diff_se,
        "events_1": int(e1.sum()),
        "events_0": int(e0.sum()),
        "tau": tau,
    }


def simulate_trials(seed: int = SEED) -> dict[str, list[tuple[FloatArray, FloatArray]]]:
    """The simulated patients of every example trial (experimental arm first)."""
    rng = np.random.default_rng(seed)
    return {t.study: [simulate_arm(a, t, rng) for a in t.arms] for t in TRIALS}


def write_example(folder: Path, seed: int = SEED) -> dict[str, Any]:
    """Simulate, digitise and write the example files; returns the manifest written."""
    patients = simulate_trials(seed)
    click = np.random.default_rng(seed + 1)  # the digitiser's hand
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "synthetic": True,
        "seed": seed,
        "outcome": "OS",
        "time_unit": "months",
        "tau": TAU,
        "studies": [],
    }
    truths: dict[str, Any] = {}
    for trial in TRIALS:
        data = patients[trial.study]
        curves = [
            digitise(t, e, a.treatment, click) for a, (t, e) in zip(trial.arms, data, strict=True)
        ]
        stem = trial.study.lower()
        write_points(folder / f"{stem}_os_points.csv", curves)
        write_at_risk(folder / f"{stem}_os_at_risk.csv", curves)
        manifest["studies"].append(
            {
                "study": trial.study,
                "points": f"{stem}_os_points.csv",
                "at_risk": f"{stem}_os_at_risk.csv",
                "arms": [a.treatment for a in trial.arms],
                "total_events": {c.arm: c.total_events for c in curves},
            }
        )
        (t1, e1), (t0, e0) = data
        truths[trial.study] = truth(t1, e1, t0, e0, TAU)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "truth.json").write_text(json.dumps(truths, indent=2) + "\n")
    return manifest


if __name__ == "__main__":  # pragma: no cover - regenerates the package data
    write_example(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "example")

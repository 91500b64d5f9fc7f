"""Provides :func:`reconstruct`: individual patient data from a digitised Kaplan-Meier curve.

The algorithm is Guyot et al. (BMC Med Res Methodol 2012;12:9) as implemented in survHE's
``digitise()`` (the reference in ``shared/specs/ipd-reconstruction.md`` §2), transcribed here
because no Python library implements it. Indices follow the R code (1-based; arrays here carry an
unused slot 0) so the transcription can be checked line by line against the spec.

Differences from survHE, all at inputs survHE rejects or mishandles: interval bounds are derived
from the at-risk times (IPDfromKM does the same); repeated times (two reads at a vertical drop) are
allowed as censoring-bin edges (R's ``hist()`` stops on them; an empty right-closed bin is the
natural reading); and a zero KM at the previous step gives no further events instead of NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from living_review.survival.digitised import DigitisedCurve, SurvivalError, consistency_warnings

ALGORITHM = "guyot-2012/survHE-digitise"
VERSION = "1"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class IPD:
    """Reconstructed patient-level data of one arm: one row per patient."""

    arm: str
    time: tuple[float, ...]
    event: tuple[int, ...]

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.time)

    @property
    def events(self) -> int:
        """Number of events."""
        return int(sum(self.event))


@dataclass
class Reconstruction:
    """What :func:`reconstruct` returns: the IPD, its fit to the inputs, and warnings."""

    curve: DigitisedCurve
    ipd: IPD
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Diagnostics and warnings (the IPD rows are written separately)."""
        return {
            "arm": self.curve.arm,
            "algorithm": ALGORITHM,
            "version": VERSION,
            "input_sha256": self.curve.sha256(),
            "n": self.ipd.n,
            "events": self.ipd.events,
            **self.diagnostics,
            "warnings": self.warnings,
        }


# --- the algorithm ---------------------------------------------------------------------------


def interval_bounds(
    times: tuple[float, ...], risk_times: tuple[float, ...], risk_counts: tuple[int, ...]
) -> tuple[list[int], list[int], list[float], list[int], list[str]]:
    """``lower``, ``upper`` (1-based point indices) and the at-risk rows actually used.

    ``lower_i`` is the first point with ``T >= t_risk_i``; ``upper_i = lower_{i+1} - 1`` and
    ``upper_M = N``. At-risk times with no point at or after them, and those sharing a ``lower``
    with an earlier time, are dropped (with a note).
    """
    n_pts = len(times)
    lower: list[int] = []
    used_t: list[float] = []
    used_n: list[int] = []
    notes: list[str] = []
    for t, n in zip(risk_times, risk_counts, strict=True):
        idx = next((k + 1 for k, tk in enumerate(times) if tk >= t), None)
        if idx is None:
            notes.append(f"at-risk time {t:g} is after the last digitised point; not used")
            continue
        if lower and idx == lower[-1]:
            notes.append(f"no digitised point between at-risk times; t={t:g} not used")
            continue
        lower.append(idx)
        used_t.append(t)
        used_n.append(n)
    upper = [lo - 1 for lo in lower[1:]] + [n_pts]
    return lower, upper, used_t, used_n, notes


def _hist_counts(values: FloatArray, breaks: FloatArray) -> npt.NDArray[np.int64]:
    """R ``hist(values, breaks, plot = FALSE)$counts``: right-closed bins, first bin closed.

    R shifts the breaks by a small fuzz (``1e-7`` x a typical bin width, ``hist.default``) so
    that values equal to a break up to rounding fall in the lower bin; done here too so ties
    are counted as survHE counts them.
    """
    diffs = np.diff(breaks)
    pos = diffs[diffs > 0]
    nb = breaks.size
    if pos.size == 0:
        scale = 0.0
    elif nb > 5:
        scale = float(np.median(diffs))
    elif nb <= 3:
        scale = float(values.max() - values.min()) if values.size else 0.0
    else:
        scale = float(pos.min())
    fuzz = 1e-7 * scale
    fb = breaks + fuzz
    fb[0] = breaks[0] - fuzz
    idx = np.searchsorted(fb, values, side="left") - 1
    idx = np.clip(idx, 0, nb - 2)
    return np.bincount(idx, minlength=nb - 1).astype(np.int64)


def _distribute(
    cen: npt.NDArray[np.int64], t_s: FloatArray, m: int, a: int, b: int, edge: int
) -> None:
    """Spread ``m`` censorings evenly over ``[T_a, T_edge]`` into ``cen[a..b]`` (1-based)."""
    if m <= 0:
        cen[a : b + 1] = 0
        return
    lo, hi = t_s[a], t_s[edge]
    ct = lo + np.arange(1, m + 1) * (hi - lo) / (m + 1)
    cen[a : b + 1] = _hist_counts(ct, t_s[a : edge + 1])


def _events(n_hat: float, s: float, km_last: float) -> int:
    """``round(n̂ (1 - S / KM̂_last))`` with R's round-half-even (Python's ``round``)."""
    if km_last == 0 or math.isnan(km_last):
        return 0
    return int(round(n_hat * (1 - s / km_last)))


def guyot(
    t_s: FloatArray,
    s: FloatArray,
    lower: list[int],
    upper: list[int],
    n_risk: list[int],
    total_events: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The reference algorithm (spec §2). Arrays are 1-based (slot 0 unused).

    Returns ``d`` (events at ``T_k``) and ``cen`` (censorings in ``[T_k, T_{k+1})``).
    """
    n_t = t_s.size - 1
    n_int = len(lower)
    lo = [0, *lower]  # 1-based interval lists
    up = [0, *upper]
    nr = [0, *n_risk]
    n_censor = [0] * (n_int + 1)
    n_hat = np.full(n_t + 2, float(nr[1] + 1))
    cen = np.zeros(n_t + 1, dtype=np.int64)
    d = np.zeros(n_t + 1, dtype=np.int64)
    km = np.ones(n_t + 1)
    last_i = [1] * (n_int + 1)
    last = 1

    def event_step(i: int, *, final: bool) -> int:
        n_hat[lo[i]] = nr[i]
        last = last_i[i]
        for k in range(lo[i], up[i] + 1):
            if i == 1 and k == lo[i]:
                d[k] = 0
                km[k] = 1.0
            else:
                d[k] = _events(n_hat[k], s[k], km[last])
                km[k] = km[last] * (1 - d[k] / n_hat[k]) if n_hat[k] != 0 else math.nan
            n_hat[k + 1] = n_hat[k] - d[k] - cen[k]
            if final and n_hat[k + 1] < 0:
                n_hat[k + 1] = 0
                cen[k] = int(n_hat[k] - d[k])
            if d[k] != 0:
                last = k
        return last

    for i in range(1, n_int):
        n_censor[i] = int(round(nr[i] * s[lo[i + 1]] / s[lo[i]] - nr[i + 1])) if s[lo[i]] else 0
        while n_hat[lo[i + 1]] > nr[i + 1] or (n_hat[lo[i + 1]] < nr[i + 1] and n_censor[i] > 0):
            if n_censor[i] <= 0:
                n_censor[i] = 0
            _distribute(cen, t_s, n_censor[i], lo[i], up[i], lo[i + 1])
            last = event_step(i, final=False)
            n_censor[i] += int(n_hat[lo[i + 1]] - nr[i + 1])
        if n_hat[lo[i + 1]] < nr[i + 1]:
            nr[i + 1] = int(n_hat[lo[i + 1]])
        last_i[i + 1] = last

    m = n_int
    if m > 1:
        span = t_s[up[m - 1]] - t_s[lo[1]]
        rate = sum(n_censor[1:m]) * (t_s[up[m]] - t_s[lo[m]]) / span if span > 0 else 0.0
        n_censor[m] = min(int(round(rate)), nr[m])
    else:
        n_censor[m] = 0
    if n_censor[m] <= 0:
        n_censor[m] = 0
    _distribute(cen, t_s, n_censor[m], lo[m], up[m] - 1, up[m])
    last = event_step(m, final=True)

    if total_events is not None:
        sum_dl = int(d[1 : up[m - 1] + 1].sum()) if m > 1 else 0
        if m > 1 and sum_dl >= total_events:
            d[lo[m] : up[m] + 1] = 0
            cen[lo[m] : up[m]] = 0
            n_hat[lo[m] + 1 : up[m] + 2] = nr[m]
        else:
            sumd = int(d[1 : up[m] + 1].sum())
            while sumd > total_events or (sumd < total_events and n_censor[m] > 0):
                n_censor[m] += sumd - total_events
                if n_censor[m] <= 0:
                    n_censor[m] = 0
                _distribute(cen, t_s, n_censor[m], lo[m], up[m] - 1, up[m])
                n_hat[lo[m]] = nr[m]
                last = last_i[m]
                for k in range(lo[m], up[m] + 1):
                    # survHE has no KM̂_last == 0 guard here; 0/0 would be NaN there
                    d[k] = _events(n_hat[k], s[k], km[last])
                    km[k] = km[last] * (1 - d[k] / n_hat[k]) if n_hat[k] != 0 else math.nan
                    if k != up[m]:
                        n_hat[k + 1] = n_hat[k] - d[k] - cen[k]
                        if n_hat[k + 1] < 0:
                            n_hat[k + 1] = 0
                            cen[k] = int(n_hat[k] - d[k])
                    if d[k] != 0:
                        last = k
                sumd = int(d[1 : up[m] + 1].sum())
    return d, cen


def ipd_rows(
    t_s: FloatArray, d: npt.NDArray[np.int64], cen: npt.NDArray[np.int64], n: int
) -> tuple[list[float], list[int]]:
    """survHE's IPD: events at ``T_k``, censorings at interval midpoints, the rest at ``T_N``."""
    n_t = t_s.size - 1
    time: list[float] = []
    event: list[int] = []
    for j in range(1, n_t + 1):
        time += [float(t_s[j])] * int(d[j])
        event += [1] * int(d[j])
    for j in range(1, n_t):
        c = int(cen[j])
        time += [float((t_s[j] + t_s[j + 1]) / 2)] * c
        event += [0] * c
    rest = n - len(time)
    if rest > 0:
        time += [float(t_s[n_t])] * rest
        event += [0] * rest
    return time, event


# --- diagnostics -----------------------------------------------------------------------------


def km_step(time: FloatArray, event: npt.NDArray[np.int64], at: FloatArray) -> FloatArray:
    """Kaplan-Meier S(t) (right-continuous) at ``at``; used for the fit diagnostics only.

    Hand-written (a vectorised product over distinct event times) because the diagnostics
    evaluate it at hundreds of points per arm; :mod:`living_review.survival.estimates` uses
    lifelines for everything reported as a result, and a test checks the two agree.
    """
    ut = np.unique(time[event == 1])
    d = np.array([np.sum((time == u) & (event == 1)) for u in ut], dtype=float)
    r = np.array([np.sum(time >= u) for u in ut], dtype=float)
    s = np.cumprod(1 - d / r) if ut.size else np.array([])
    idx = np.searchsorted(ut, at, side="right") - 1
    return np.where(idx >= 0, s[np.clip(idx, 0, None)] if s.size else 1.0, 1.0)


def _median(times: FloatArray, surv: FloatArray) -> float | None:
    """First time the step curve is at or below 0.5 (lifelines' and survHE's reading)."""
    hit = np.nonzero(surv <= 0.5)[0]
    return float(times[hit[0]]) if hit.size else None


def _max(values: FloatArray) -> float:
    return float(values.max()) if values.size else 0.0


def diagnose(rec: Reconstruction, used_times: list[float], used_counts: list[int]) -> None:
    """Spec §3: curve error, at-risk and events vs published, medians; warnings."""
    c = rec.curve
    t = np.asarray(rec.ipd.time)
    e = np.asarray(rec.ipd.event, dtype=np.int64)
    pts_t = np.asarray(c.times)
    pts_s = np.asarray(c.surv)
    fitted = km_step(t, e, pts_t)
    err = np.abs(fitted - pts_s)
    last_nar = used_times[-1] if used_times else 0.0
    before = pts_t <= last_nar
    nar_rec = [int(np.sum(t >= x)) for x in c.risk_times]
    med_dig = _median(pts_t, pts_s)
    med_rec = _median(pts_t, fitted)
    rec.diagnostics.update(
        {
            "max_abs_error": float(err.max()),
            "mean_abs_error": float(err.mean()),
            "rmse": float(math.sqrt(float(np.mean(err**2)))),
            "max_abs_error_before_last_at_risk": _max(err[before]),
            "max_abs_error_after_last_at_risk": _max(err[~before]),
            "last_at_risk_time": last_nar,
            "last_time": float(pts_t[-1]),
            "at_risk_published": list(c.risk_counts),
            "at_risk_reconstructed": nar_rec,
            "at_risk_times": list(c.risk_times),
            "events_published": c.total_events,
            "median_digitised": med_dig,
            "median_reconstructed": med_rec,
            "low_fidelity": not used_times or len(used_times) < 2,
        }
    )
    w = rec.warnings
    if len(used_times) < 2:
        w.append(
            f"arm {c.arm}: no numbers at risk; censoring is assumed absent "
            "(low-fidelity reconstruction)"
        )
    if before.any() and float(err[before].max()) > 0.02:
        w.append(
            f"arm {c.arm}: reconstructed KM is {float(err[before].max()):.3f} off the digitised "
            "curve before the last at-risk time (> 0.02); check the points and the table"
        )
    if c.total_events and abs(rec.ipd.events - c.total_events) > 0.05 * c.total_events:
        w.append(
            f"arm {c.arm}: {rec.ipd.events} reconstructed events vs {c.total_events} published "
            "(> 5% apart)"
        )
    tail = float(pts_t[-1]) - last_nar
    if used_times and tail > 0.15 * float(pts_t[-1]):
        w.append(
            f"arm {c.arm}: the curve runs {tail:g} beyond the last at-risk time {last_nar:g}; "
            "errors concentrate in that tail (give at-risk numbers to the end and total events)"
        )


def reconstruct(curve: DigitisedCurve) -> Reconstruction:
    """Reconstruct one arm's IPD from its digitised curve, with diagnostics and warnings."""
    if not curve.risk_counts:
        raise SurvivalError(
            f"arm {curve.arm}: the arm size is needed (at least the number at risk at time 0)"
        )
    lower, upper, used_t, used_n, notes = interval_bounds(
        curve.times, curve.risk_times, curve.risk_counts
    )
    if not lower or lower[0] != 1:
        raise SurvivalError(f"arm {curve.arm}: the at-risk table must start at time 0")
    t_s = np.concatenate([[0.0], np.asarray(curve.times, dtype=float)])
    s = np.concatenate([[1.0], np.asarray(curve.surv, dtype=float)])
    d, cen = guyot(t_s, s, lower, upper, used_n, curve.total_events)
    time, event = ipd_rows(t_s, d, cen, curve.risk_counts[0])
    rec = Reconstruction(curve=curve, ipd=IPD(curve.arm, tuple(time), tuple(event)))
    rec.warnings.extend(f"arm {curve.arm}: {n}" for n in notes)
    if len(time) > curve.risk_counts[0]:
        rec.warnings.append(
            f"arm {curve.arm}: {len(time)} reconstructed rows for {curve.risk_counts[0]} patients"
        )
    rec.warnings.extend(consistency_warnings(curve))
    diagnose(rec, used_t, used_n)
    return rec

"""Provides effect measures from (reconstructed) patient-level data: KM, Cox HR, RMST, ΔRMST.

* Kaplan-Meier and the Cox model (Efron ties, as R's ``coxph``) come from lifelines.
* RMST per arm and the two-arm contrasts use survRM2's ``rmst1()``/``rmst2()`` formulas
  exactly (spec §4.2): RMST is the area under the KM step function up to τ, its variance the
  Greenwood-type sum ``Σ_j A_j² d_j / (n_j (n_j - d_j))`` with ``A_j`` the area from ``t_j`` to
  τ. lifelines has ``restricted_mean_survival_time`` but not this variance, and the golden
  values in the spec are survRM2's, so the sum is written out here over lifelines' KM table.
* The default τ follows survRM2's rule (spec table): the smaller of the two arms' last
  follow-up times unless the arm with the shorter follow-up ends with its KM at 0.

lifelines is imported inside the functions (it pulls in pandas and autograd).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from living_review.survival.digitised import SurvivalError

FloatArray = npt.NDArray[np.float64]
#: Times or event indicators: a sequence or a numpy array.
Values = Sequence[float] | npt.NDArray[Any]


@dataclass(frozen=True)
class KMTable:
    """KM estimate at each distinct observed time (events or censorings), as R's survfit."""

    time: FloatArray
    surv: FloatArray
    n_risk: FloatArray
    n_event: FloatArray


@dataclass(frozen=True)
class ArmRMST:
    """RMST (and RMTL) of one arm at τ, survRM2 ``rmst1`` style."""

    tau: float
    rmst: float
    se: float
    lower: float
    upper: float
    rmtl: float
    rmtl_lower: float
    rmtl_upper: float
    n: int
    events: int


@dataclass(frozen=True)
class Ratio:
    """A ratio with its CI and two-sided p (computed on the log scale)."""

    estimate: float
    lower: float
    upper: float
    p: float


@dataclass(frozen=True)
class RMSTContrast:
    """survRM2 ``rmst2``: arm 1 (experimental) vs arm 0 (control) at τ."""

    tau: float
    tau_rule: str
    arm1: ArmRMST
    arm0: ArmRMST
    diff: float
    diff_se: float
    diff_lower: float
    diff_upper: float
    diff_p: float
    rmst_ratio: Ratio
    rmtl_ratio: Ratio

    def as_json(self) -> dict[str, Any]:
        """Plain dict (for ``--json`` and the store)."""
        return asdict(self)


def _arrays(time: Values, event: Values) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if t.size == 0:
        raise SurvivalError("no patients")
    if t.shape != e.shape:
        raise SurvivalError("time and event differ in length")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise SurvivalError("times must be finite and >= 0")
    if not np.all(np.isin(e, (0.0, 1.0))):
        raise SurvivalError("event indicators must be 0 or 1")
    return t, e


def km_table(time: Values, event: Values) -> KMTable:
    """Kaplan-Meier (lifelines) at each distinct observed time."""
    from lifelines import KaplanMeierFitter

    t, e = _arrays(time, event)
    kmf = KaplanMeierFitter().fit(t, e)
    et = kmf.event_table
    rows = et[et["removed"] > 0]
    surv = kmf.survival_function_.iloc[:, 0].reindex(rows.index)
    return KMTable(
        time=rows.index.to_numpy(dtype=float),
        surv=surv.to_numpy(dtype=float),
        n_risk=rows["at_risk"].to_numpy(dtype=float),
        n_event=rows["observed"].to_numpy(dtype=float),
    )


def median_survival(time: Values, event: Values) -> float | None:
    """KM median (lifelines: first time S <= 0.5); None when not reached."""
    from lifelines import KaplanMeierFitter

    t, e = _arrays(time, event)
    m = float(KaplanMeierFitter().fit(t, e).median_survival_time_)
    return m if math.isfinite(m) else None


def rmst(time: Values, event: Values, tau: float, alpha: float = 0.05) -> ArmRMST:
    """RMST up to τ with survRM2 ``rmst1``'s SE and CI (and RMTL = τ - RMST)."""
    km = km_table(time, event)
    idx = km.time <= tau
    wk_time = np.sort(np.concatenate([km.time[idx], [tau]]))
    wk_surv = km.surv[idx]
    n_j, d_j = km.n_risk[idx], km.n_event[idx]
    areas = np.diff(np.concatenate([[0.0], wk_time])) * np.concatenate([[1.0], wk_surv])
    est = float(areas.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n_j - d_j == 0, 0.0, d_j / (n_j * (n_j - d_j)))
    v = np.concatenate([v, [0.0]])
    # survRM2: sum(cumsum(rev(areas[-1]))^2 * rev(wk.var)[-1])
    var = float(np.sum(np.cumsum(areas[1:][::-1]) ** 2 * v[::-1][1:]))
    se = math.sqrt(var)
    z = float(norm.ppf(1 - alpha / 2))
    lo, hi = est - z * se, est + z * se
    t, e = _arrays(time, event)
    return ArmRMST(
        tau=tau,
        rmst=est,
        se=se,
        lower=lo,
        upper=hi,
        rmtl=tau - est,
        rmtl_lower=tau - hi,
        rmtl_upper=tau - lo,
        n=int(t.size),
        events=int(e.sum()),
    )


def _ends_at_zero(t: FloatArray, e: FloatArray) -> bool:
    """The arm's last observation(s) are all events, i.e. its KM reaches 0 at its last time.

    survRM2 asks whether "the last observation is an event"; with ties at the last time the KM
    is defined beyond it only if it has reached 0, which is what matters for τ.
    """
    last = t == t.max()
    return bool(np.all(e[last] == 1))


def tau_bounds(time1: Values, event1: Values, time0: Values, event0: Values) -> tuple[float, str]:
    """The largest admissible τ and survRM2's case (spec §4.2 table); it is also the default."""
    t1, e1 = _arrays(time1, event1)
    t0, e0 = _arrays(time0, event0)
    x1, x0 = float(t1.max()), float(t0.max())
    longer, shorter = ((t1, e1), (t0, e0)) if x1 >= x0 else ((t0, e0), (t1, e1))
    long_ev, short_ev = _ends_at_zero(*longer), _ends_at_zero(*shorter)
    if short_ev:
        case = 1 if long_ev else 2
        return max(x1, x0), f"survRM2 case {case}: shorter arm ends with an event; max follow-up"
    case = 3 if long_ev else 4
    return min(x1, x0), f"survRM2 case {case}: shorter arm ends censored; min follow-up"


def rmst2(
    time1: Values,
    event1: Values,
    time0: Values,
    event0: Values,
    tau: float | None = None,
    alpha: float = 0.05,
) -> RMSTContrast:
    """survRM2 ``rmst2``: RMST per arm, ΔRMST (1 - 0), RMST ratio and RMTL ratio at τ.

    Without τ the default of survRM2's rule is used; a τ beyond the admissible one is an error
    (the KM of one arm is undefined there).
    """
    top, rule = tau_bounds(time1, event1, time0, event0)
    if tau is None:
        tau, how = top, f"default ({rule})"
    else:
        if tau <= 0:
            raise SurvivalError(f"tau must be positive, not {tau:g}")
        if tau > top + 1e-12:
            raise SurvivalError(f"tau {tau:g} is beyond the admissible {top:g} ({rule})")
        how = "given"
    a1 = rmst(time1, event1, tau, alpha)
    a0 = rmst(time0, event0, tau, alpha)
    z = float(norm.ppf(1 - alpha / 2))
    diff = a1.rmst - a0.rmst
    se = math.sqrt(a1.se**2 + a0.se**2)
    p = float(2 * norm.cdf(-abs(diff) / se)) if se > 0 else math.nan
    return RMSTContrast(
        tau=tau,
        tau_rule=how,
        arm1=a1,
        arm0=a0,
        diff=diff,
        diff_se=se,
        diff_lower=diff - z * se,
        diff_upper=diff + z * se,
        diff_p=p,
        rmst_ratio=_ratio(a1.rmst, a1.se, a0.rmst, a0.se, z),
        rmtl_ratio=_ratio(a1.rmtl, a1.se, a0.rmtl, a0.se, z),
    )


def _ratio(m1: float, se1: float, m0: float, se0: float, z: float) -> Ratio:
    if m1 <= 0 or m0 <= 0:
        return Ratio(math.nan, math.nan, math.nan, math.nan)
    lr = math.log(m1) - math.log(m0)
    se = math.sqrt(se1**2 / m1**2 + se0**2 / m0**2)
    p = float(2 * norm.cdf(-abs(lr) / se)) if se > 0 else math.nan
    return Ratio(math.exp(lr), math.exp(lr - z * se), math.exp(lr + z * se), p)


def cox_hr(
    time1: Values,
    event1: Values,
    time0: Values,
    event0: Values,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Cox HR of arm 1 vs arm 0 (lifelines, Efron ties) with CI, log HR and its SE.

    Also the proportional-hazards test (scaled Schoenfeld residuals, KM time transform as R's
    ``cox.zph`` default) so a doubtful PH assumption is visible next to the HR.
    """
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    t1, e1 = _arrays(time1, event1)
    t0, e0 = _arrays(time0, event0)
    df = pd.DataFrame(
        {
            "time": np.concatenate([t1, t0]),
            "event": np.concatenate([e1, e0]),
            "arm": np.concatenate([np.ones(t1.size), np.zeros(t0.size)]),
        }
    )
    cph = CoxPHFitter(alpha=alpha).fit(df, "time", "event")
    row = cph.summary.loc["arm"]
    beta, se = float(row["coef"]), float(row["se(coef)"])
    z = float(norm.ppf(1 - alpha / 2))
    ph = proportional_hazard_test(cph, df, time_transform="km")
    return {
        "hr": math.exp(beta),
        "lower": math.exp(beta - z * se),
        "upper": math.exp(beta + z * se),
        "log_hr": beta,
        "se_log_hr": se,
        "p": float(row["p"]),
        "ph_test_p": float(ph.summary["p"].iloc[0]),
    }

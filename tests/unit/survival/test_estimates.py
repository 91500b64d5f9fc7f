"""RMST/ΔRMST against the spec's golden values (survRM2's rmst1/rmst2 on its pbc sample data),
survRM2's default-τ rule, and the Cox HR / KM from lifelines.

``data/pbc_trial.csv`` is the randomised part of the Mayo PBC data (R ``survival::pbc[1:312]``:
id, time in days, status 0/1/2, trt 1 = D-penicillamine / 2 = placebo), survRM2's example data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from living_review.survival.digitised import SurvivalError
from living_review.survival.estimates import (
    cox_hr,
    km_table,
    median_survival,
    rmst,
    rmst2,
    tau_bounds,
)
from living_review.survival.guyot import km_step

DATA = Path(__file__).parent / "data"


def pbc() -> tuple[list[float], list[int], list[float], list[int]]:
    """survRM2's setup: time/365.25, status == 2 (death), arm = trt == 1."""
    rows = list(csv.DictReader((DATA / "pbc_trial.csv").open()))
    assert len(rows) == 312

    def arm(trt: str) -> tuple[list[float], list[int]]:
        sel = [r for r in rows if r["trt"] == trt]
        return [float(r["time"]) / 365.25 for r in sel], [int(r["status"] == "2") for r in sel]

    t1, e1 = arm("1")
    t0, e0 = arm("2")
    return t1, e1, t0, e0


def test_pbc_data_is_survrm2_sample() -> None:
    t1, e1, t0, e0 = pbc()
    assert (len(t1), sum(e1), len(t0), sum(e0)) == (158, 65, 154, 60)


# golden values of spec §4.2 (printed to 6 decimals there)
GOLD = 5e-7


def test_rmst_golden_values_per_arm() -> None:
    t1, e1, t0, e0 = pbc()
    a1, a0 = rmst(t1, e1, 10), rmst(t0, e0, 10)
    assert a1.rmst == pytest.approx(7.146493, abs=GOLD)
    assert a1.se == pytest.approx(0.282775, abs=GOLD)
    assert a0.rmst == pytest.approx(7.283416, abs=GOLD)
    assert a0.se == pytest.approx(0.295478, abs=GOLD)
    # RMTL = tau - RMST with the same SE, CI reversed
    assert a1.rmtl == pytest.approx(10 - a1.rmst)
    assert a1.rmtl_lower == pytest.approx(10 - a1.upper)


def test_rmst2_golden_contrasts() -> None:
    r = rmst2(*pbc(), tau=10)
    assert r.tau_rule == "given"
    assert r.diff == pytest.approx(-0.136923, abs=GOLD)
    assert r.diff_se == pytest.approx(0.408985, abs=GOLD)
    assert r.diff_lower == pytest.approx(-0.938519, abs=GOLD)
    assert r.diff_upper == pytest.approx(0.664674, abs=GOLD)
    assert r.diff_p == pytest.approx(0.737786, abs=GOLD)
    assert r.rmst_ratio.estimate == pytest.approx(0.981201, abs=GOLD)
    assert r.rmst_ratio.lower == pytest.approx(0.878052, abs=GOLD)
    assert r.rmst_ratio.upper == pytest.approx(1.096466, abs=GOLD)
    assert r.rmtl_ratio.estimate == pytest.approx(1.050403, abs=GOLD)
    assert r.rmtl_ratio.lower == pytest.approx(0.787242, abs=GOLD)
    assert r.rmtl_ratio.upper == pytest.approx(1.401533, abs=GOLD)


def test_rmst_point_estimate_matches_lifelines() -> None:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    t1, e1, _, _ = pbc()
    kmf = KaplanMeierFitter().fit(t1, e1)
    assert rmst(t1, e1, 10).rmst == pytest.approx(restricted_mean_survival_time(kmf, t=10))


def test_default_tau_is_survrm2_rule_on_pbc() -> None:
    # both arms end censored (4556 and 4523 days): case 4, tau = the smaller last time
    top, rule = tau_bounds(*pbc())
    assert top == pytest.approx(4523 / 365.25)
    assert "case 4" in rule
    r = rmst2(*pbc())
    assert r.tau == pytest.approx(4523 / 365.25)
    assert r.tau_rule.startswith("default")
    with pytest.raises(SurvivalError, match="beyond the admissible"):
        rmst2(*pbc(), tau=13)


@pytest.mark.parametrize(
    ("long_event", "short_event", "case", "pick"),
    [(1, 1, 1, max), (0, 1, 2, max), (1, 0, 3, min), (0, 0, 4, min)],
)
def test_tau_cases(long_event: int, short_event: int, case: int, pick: object) -> None:
    t1, e1 = [1.0, 2.0, 5.0], [1, 0, long_event]
    t0, e0 = [1.5, 2.5, 4.0], [1, 1, short_event]
    top, rule = tau_bounds(t1, e1, t0, e0)
    assert top == pick(5.0, 4.0)  # type: ignore[operator]
    assert f"case {case}" in rule


def test_km_step_agrees_with_lifelines() -> None:
    t1, e1, _, _ = pbc()
    km = km_table(t1, e1)
    mine = km_step(np.asarray(t1), np.asarray(e1, dtype=np.int64), km.time)
    np.testing.assert_allclose(mine, km.surv, atol=1e-12)


def test_cox_hr_and_median() -> None:
    t1, e1, t0, e0 = pbc()
    hr = cox_hr(t1, e1, t0, e0)
    # D-penicillamine vs placebo in PBC: no effect (R coxph: coef for trt 2 vs 1 = -0.0571)
    assert hr["hr"] == pytest.approx(1.0589, abs=5e-4)
    assert hr["lower"] < 1 < hr["upper"]
    assert hr["se_log_hr"] == pytest.approx(0.1792, abs=5e-4)
    assert 0 < hr["ph_test_p"] <= 1
    assert median_survival([1, 2, 3, 4], [1, 1, 1, 1]) == 2
    assert median_survival([1, 2, 3, 4], [0, 0, 0, 0]) is None


def test_bad_ipd_is_an_error() -> None:
    with pytest.raises(SurvivalError, match="0 or 1"):
        rmst([1, 2], [1, 2], 1)
    with pytest.raises(SurvivalError, match=">= 0"):
        rmst([-1, 2], [1, 1], 1)

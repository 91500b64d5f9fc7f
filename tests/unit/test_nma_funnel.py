"""Comparison-adjusted funnel plot and Egger's test (Chaimani et al. 2013; Egger et al. 1997)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from living_review.nma.data import Network, network_from_records, read_network
from living_review.nma.frequentist import fit_frequentist
from living_review.nma.funnel import (
    egger_test,
    funnel_plot,
    funnel_points,
    study_contrasts,
)


def smoking(shared: Path) -> Network:
    d = shared / "nma-reference" / "data"
    return read_network(
        d / "smoking_arm.csv", "arm-binary", treatments=d / "smoking_treatments.csv"
    )


def test_every_within_study_pair_is_a_point(shared: Path) -> None:
    net = smoking(shared)
    pts = study_contrasts(net)
    assert len(pts) == 22 + 2 * 3  # 22 two-arm studies, 2 three-arm studies (3 pairs each)
    # Mothersill 1988 (three arms, no zero cell): GC vs IC from the raw counts
    (study, t, c, y, se) = next(p for p in pts if p[0].startswith("Mothersill")
                                and {p[1], p[2]} == {"Group counselling",
                                                     "Individual counselling"})  # fmt: skip
    arms = {"Individual counselling": (12, 85), "Group counselling": (29, 170)}
    lo = {k: math.log(r / (n - r)) for k, (r, n) in arms.items()}
    assert y == pytest.approx(lo[t] - lo[c])
    assert se == pytest.approx(math.sqrt(sum(1 / r + 1 / (n - r) for r, n in arms.values())))


def test_centring_and_orientation(shared: Path) -> None:
    net = smoking(shared)
    res = fit_frequentist(net)
    pts = funnel_points(net, res, centre="pairwise")
    # FE pairwise centre: the inverse-variance weighted mean of each comparison is 0
    for comp in {p.comparison for p in pts}:
        sel = [p for p in pts if p.comparison == comp]
        assert sum(p.centred / p.se**2 for p in sel) == pytest.approx(0.0, abs=1e-9)
    # default orientation: later in the network order vs earlier (reference = control)
    rank = {t: i for i, t in enumerate(net.treatments)}
    assert all(rank[p.treatment] > rank[p.comparator] for p in pts)
    nma = funnel_points(net, res)
    rev = funnel_points(net, res, order=list(reversed(net.treatments)))
    for a, b in zip(nma, rev, strict=True):
        assert (a.treatment, a.comparator) == (b.comparator, b.treatment)
        assert a.centred == pytest.approx(-b.centred)
        ref = res.league(a.treatment, a.comparator).mean
        assert a.centred == pytest.approx(a.effect - ref)


def test_egger_is_the_regression_of_z_on_precision(shared: Path) -> None:
    net = smoking(shared)
    pts = funnel_points(net, fit_frequentist(net))
    eg = egger_test(pts)
    se = np.array([p.se for p in pts])
    lr = stats.linregress(1 / se, np.array([p.centred for p in pts]) / se)
    assert eg.intercept == pytest.approx(lr.intercept)
    assert eg.se_intercept == pytest.approx(lr.intercept_stderr)
    assert eg.slope == pytest.approx(lr.slope)
    assert eg.df == len(pts) - 2
    assert eg.p == pytest.approx(2 * stats.t.sf(abs(eg.intercept / lr.intercept_stderr), eg.df))


def synthetic(small_study_effect: float) -> Network:
    """40 studies of B vs A and C vs A; small studies shifted by ``effect x SE``."""
    rng = np.random.default_rng(3)
    recs = []
    for i in range(40):
        se = 0.05 + 0.6 * i / 39
        t = "B" if i % 2 else "C"
        te = (0.3 if t == "B" else 0.6) + small_study_effect * se + rng.normal(0, se)
        recs.append({"study": str(i), "treat1": t, "treat2": "A", "TE": te, "seTE": se})
    return network_from_records(recs, "contrast", reference="A")


def test_egger_detects_small_study_effects() -> None:
    sym = synthetic(0.0)
    asym = synthetic(3.0)
    p_sym = egger_test(funnel_points(sym, fit_frequentist(sym, model="fe"))).p
    p_asym = egger_test(funnel_points(asym, fit_frequentist(asym, model="fe"))).p
    assert p_sym > 0.1
    assert p_asym < 0.001


def test_funnel_plot_structure(shared: Path, tmp_path: Path) -> None:
    from living_review.nma.plots import save_figure

    net = smoking(shared)
    res = fit_frequentist(net)
    pts = funnel_points(net, res)
    fig = funnel_plot(pts, measure="OR", log_scale=True, egger=egger_test(pts))
    path = save_figure(fig, tmp_path / "funnel.svg")
    svg = path.read_text()
    comps = sorted({p.comparison for p in pts})
    assert len(comps) == 6
    assert all(c in svg for c in comps) and "Egger" in svg
    ax = fig.axes[0]
    groups = [c for c in ax.collections if (c.get_gid() or "").startswith("funnel-group")]
    assert sum(len(g.get_offsets()) for g in groups) == len(pts) == 28
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # SE axis inverted: precise studies at the top

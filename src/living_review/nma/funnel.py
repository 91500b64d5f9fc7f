"""Comparison-adjusted funnel plot and Egger's test for small-study effects in a network.

Chaimani, Higgins, Mavridis, Spyridonos & Salanti (2013), "Graphical tools for network
meta-analysis in STATA", PLoS One 8:e76654, and Chaimani & Salanti (2012), Res Synth Methods
3:161-176. An ordinary funnel plot needs one comparison, but a network has many, each with
its own summary effect. So each study's effect ``y_iXY`` (treatment Y vs X) is centred at
its comparison's summary ``mu_XY`` and plotted against its standard error: ``y_iXY - mu_XY``.
Without small-study effects the points scatter symmetrically around 0.

* **Orientation matters.** Asymmetry shows only if every comparison is oriented the same way,
  e.g. newer vs older, or active vs control. ``order`` lists the treatments from "oldest" or
  control to "newest", and each point is the later treatment vs the earlier one. The default
  is the network order, which starts at the reference (usually the control).
* ``centre="nma"`` (default): ``mu_XY`` is the network estimate from the result (netmeta's
  ``funnel.netmeta``). ``centre="pairwise"``: the fixed-effect inverse-variance summary of
  the studies of XY (Chaimani & Salanti 2012; Stata ``netfunnel``).
* Multi-arm studies contribute all their pairwise contrasts, so their points are correlated.
  Like both sources, the test treats the points as independent: it is approximate.

**Egger's test** (Egger et al. 1997, BMJ 315:629) on the centred points: ordinary least
squares of ``z_i = (y_i - mu) / se_i`` on precision ``1 / se_i``. An intercept away from 0
means small studies differ systematically (t-test, n - 2 df). This is netmeta's
``funnel(..., method.bias = "Egger")`` applied to the comparison-adjusted data. Its power is
low with fewer than about 10 studies (Sterne et al. 2011, BMJ 343:d4002).

numpy and scipy only; matplotlib loads inside :func:`funnel_plot`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from living_review.nma.data import Network
from living_review.nma.result import NMAResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Centre = Literal["nma", "pairwise"]


@dataclass(frozen=True)
class FunnelPoint:
    """One study's contrast of ``treatment`` vs ``comparator`` (analysis scale)."""

    study: str
    treatment: str
    comparator: str
    effect: float
    se: float
    centred: float  # effect - summary of the comparison

    @property
    def comparison(self) -> str:
        """``treatment vs comparator``."""
        return f"{self.treatment} vs {self.comparator}"


@dataclass(frozen=True)
class EggerTest:
    """Egger's regression test: ``z = intercept + slope / se`` (OLS); H0: intercept = 0."""

    intercept: float
    se_intercept: float
    slope: float
    t: float
    df: int
    p: float
    n: int


def study_contrasts(net: Network) -> list[tuple[str, str, str, float, float]]:
    """Every within-study pairwise contrast: (study, later, earlier, effect, SE).

    ``later``/``earlier`` refer to the network order. Arm data are turned into contrasts as
    in the frequentist engine (log odds with 0.5 added to every cell of a study with a zero
    cell; arm means). For a pair (j, l) of a study with contrasts ``y`` vs its baseline and
    covariance ``V``: ``y_j - y_l`` with variance ``V_jj + V_ll - 2 V_jl`` (baseline: 0).
    """
    from living_review.nma.frequentist import contrast_data

    cd = contrast_data(net)
    labels = [s.label for s in net.arm_studies] + [c.label for c in net.contrast_studies]
    out: list[tuple[str, str, str, float, float]] = []
    for label, ts, sl in zip(labels, net.study_treatments(), cd.blocks, strict=True):
        k = len(ts)
        y = np.concatenate([[0.0], cd.y[sl]])
        v = np.zeros((k, k))
        v[1:, 1:] = cd.V[sl, sl]
        for a in range(k):
            for b in range(a + 1, k):
                var = v[a, a] + v[b, b] - 2 * v[a, b]
                out.append((label, ts[b], ts[a], float(y[b] - y[a]), math.sqrt(var)))
    return out


def funnel_points(
    net: Network,
    res: NMAResult,
    *,
    order: Sequence[str] | None = None,
    centre: Centre = "nma",
) -> list[FunnelPoint]:
    """The comparison-adjusted points, each the later treatment in ``order`` vs the earlier.

    ``res`` supplies the network estimates (``centre="nma"``) and must be a fit of ``net``.
    """
    order = list(order) if order is not None else list(net.treatments)
    if sorted(order) != sorted(net.treatments):
        raise ValueError("order must list every treatment of the network once")
    rank = {t: i for i, t in enumerate(order)}
    raw = []
    for study, t, c, y, se in study_contrasts(net):
        if rank[t] < rank[c]:  # orient: later in `order` vs earlier
            t, c, y = c, t, -y
        raw.append((study, t, c, y, se))
    mu: dict[tuple[str, str], float] = {}
    if centre == "nma":
        for _, t, c, _, _ in raw:
            mu[(t, c)] = res.league(t, c).mean
    elif centre == "pairwise":
        # fixed-effect inverse-variance summary of each comparison's own studies
        acc: dict[tuple[str, str], list[float]] = {}
        for _, t, c, y, se in raw:
            sw = acc.setdefault((t, c), [0.0, 0.0])
            sw[0] += y / se**2
            sw[1] += 1 / se**2
        mu = {key: sw[0] / sw[1] for key, sw in acc.items()}
    else:
        raise ValueError(f"centre must be 'nma' or 'pairwise', not {centre!r}")
    return [FunnelPoint(s, t, c, y, se, y - mu[(t, c)]) for s, t, c, y, se in raw]


def egger_test(points: Sequence[FunnelPoint]) -> EggerTest:
    """Egger's test on the centred effects: OLS of ``centred / se`` on ``1 / se``."""
    from scipy import stats

    n = len(points)
    if n < 3:
        raise ValueError("Egger's test needs at least 3 study contrasts")
    se = np.array([p.se for p in points])
    z = np.array([p.centred for p in points]) / se
    x = np.column_stack([np.ones(n), 1 / se])
    beta, *_ = np.linalg.lstsq(x, z, rcond=None)
    resid = z - x @ beta
    df = n - 2
    sigma2 = float(resid @ resid) / df
    cov = sigma2 * np.linalg.inv(x.T @ x)
    se0 = math.sqrt(cov[0, 0])
    t = float(beta[0]) / se0 if se0 > 0 else 0.0
    return EggerTest(
        intercept=float(beta[0]),
        se_intercept=se0,
        slope=float(beta[1]),
        t=t,
        df=df,
        p=float(2 * stats.t.sf(abs(t), df)),
        n=n,
    )


def funnel_plot(
    points: Sequence[FunnelPoint],
    *,
    measure: str,
    log_scale: bool,
    egger: EggerTest | None = None,
    title: str | None = None,
) -> Figure:
    """Centred effects (x) against their SE (y, 0 at the top), one colour per comparison.

    Dashed lines: the pseudo 95% region ``0 +- 1.96 SE``. The x axis is on the analysis scale
    (log ratio for OR/RR/HR), where the funnel is symmetric.
    """
    from living_review.nma.plots import new_figure, plot_style

    comps = sorted({p.comparison for p in points})
    with plot_style():
        fig = new_figure(7.5, 5.0)
        ax = fig.add_subplot()
        smax = max(p.se for p in points) * 1.08
        s = np.linspace(0, smax, 50)
        ax.plot(1.96 * s, s, "--", color="#777777", lw=0.8)
        ax.plot(-1.96 * s, s, "--", color="#777777", lw=0.8)
        ax.axvline(0, color="#b03a2e", lw=1.0)
        markers = "osD^v<>ph*"
        for i, comp in enumerate(comps):
            pts = [p for p in points if p.comparison == comp]
            ax.scatter(
                [p.centred for p in pts], [p.se for p in pts],
                marker=markers[i % len(markers)], s=28, alpha=0.85, label=comp,
                gid=f"funnel-group-{i}",
            )  # fmt: skip
        ax.set_ylim(smax, 0)
        scale = f"log {measure}" if log_scale else measure
        ax.set_xlabel(f"effect − comparison-specific summary ({scale})")
        ax.set_ylabel("standard error")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        test = ""
        if egger is not None:
            test = f"\nEgger's test: intercept {egger.intercept:.2f}, p = {egger.p:.3f}"
        ax.set_title(title or f"Comparison-adjusted funnel plot ({len(points)} contrasts){test}",
                     fontsize=10)  # fmt: skip
    return fig

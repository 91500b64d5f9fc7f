"""Provides :func:`fit_frequentist`: a contrast-based NMA in milliseconds (GLS / REML / DL).

The model is the one ``shared/nma-reference/metafor/run_metafor.R`` fits with metafor:

    y = X d + u + e,   e ~ N(0, V),   u ~ N(0, tau^2 B)

* ``y``: every arm vs its study baseline (contrast-level data as given; arm-level data turned
  into log odds ratios or mean differences), ``X`` the +1/-1 design over d[2..K].
* ``V``: known, block diagonal; in a multi-arm study the contrasts share the variance of the
  baseline arm (``Cov = var(baseline)``), as in TSD2 Program 7.
* ``B``: block diagonal with 1 on the diagonal and 1/2 within a study (metafor's
  ``random = ~ comp | study, rho = 1/2``: common heterogeneity, consistency model).
* FE: ``tau = 0`` (GLS). RE: ``tau^2`` by REML (default, as ``rma.mv(method = "REML")``) or
  by the method of moments (DerSimonian-Laird generalised to the multivariate model,
  Jackson, White & Riley 2012: ``tau^2 = max(0, (Q - df) / tr(P B))`` with
  ``P = W - W X (X'WX)^-1 X'W``, ``W = V^-1``; for a pairwise meta-analysis this is DL).
* Binary arms: log odds with 0.5 added to every cell of a study with a zero (or n) cell, and
  ``Var(log odds) = 1/r + 1/(n - r)``; continuous arms: ``Var(mean) = sd^2 / n``.

Estimates and Wald 95% intervals fill :class:`~living_review.nma.result.NMAResult` (``mean`` is
the estimate, ``sd`` its SE); P-scores take the place of SUCRA.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize

from living_review.nma.data import Network
from living_review.nma.result import LeagueEntry, NMAResult, Summary, pscores

FloatArray = npt.NDArray[np.float64]
TauMethod = Literal["reml", "dl"]

Z975 = 1.959963984540054  # qnorm(0.975)


@dataclass(frozen=True)
class ContrastData:
    """Contrast-level data of a network: y, its block-diagonal V, the design and blocks."""

    y: FloatArray
    V: FloatArray
    X: FloatArray  # n x (K-1): +1 for the arm's treatment, -1 for the baseline, reference dropped
    B: FloatArray  # n x n: 1 on the diagonal, 1/2 between contrasts of the same study
    blocks: list[slice]
    zero_corrected: list[str]


def contrast_data(net: Network) -> ContrastData:
    """Contrasts vs study baselines with their known covariance (as ``metafor_input`` in R)."""
    ys: list[FloatArray] = []
    vs: list[FloatArray] = []
    zero_corrected: list[str] = []
    for s in net.arm_studies:
        if s.kind == "binary":
            r = np.array([a.events for a in s.arms], dtype=float)
            n = np.array([a.n for a in s.arms], dtype=float)
            if np.any((r == 0) | (r == n)):
                r, n = r + 0.5, n + 1.0
                zero_corrected.append(s.label)
            lo = np.log(r / (n - r))
            va = 1.0 / r + 1.0 / (n - r)
        else:
            lo = np.array([a.mean for a in s.arms], dtype=float)
            va = np.array([a.se**2 for a in s.arms], dtype=float)
        k = len(s.arms)
        v = np.full((k - 1, k - 1), va[0])
        v[np.diag_indices(k - 1)] = va[1:] + va[0]
        ys.append(lo[1:] - lo[0])
        vs.append(v)
    for c in net.contrast_studies:
        ys.append(np.asarray(c.y, dtype=float))
        vs.append(c.cov_matrix)
    idx = net.contrast_index()
    nt = net.n_treatments
    m = len(idx)
    x = np.zeros((m, nt))
    x[np.arange(m), idx.treatment] += 1.0
    x[np.arange(m), idx.base] -= 1.0
    blocks = []
    start = 0
    for v in vs:
        blocks.append(slice(start, start + v.shape[0]))
        start += v.shape[0]
    big_v = linalg.block_diag(*vs)
    b = np.zeros((m, m))
    for sl in blocks:
        k = sl.stop - sl.start
        b[sl, sl] = 0.5 * (np.ones((k, k)) + np.eye(k))
    return ContrastData(
        y=np.concatenate(ys),
        V=big_v,
        X=x[:, 1:],
        B=b,
        blocks=blocks,
        zero_corrected=zero_corrected,
    )


@dataclass(frozen=True)
class _GLS:
    beta: FloatArray
    vcov: FloatArray
    logdet_sigma: float
    logdet_xtwx: float
    rss: float  # r' Sigma^-1 r


def _gls(y: FloatArray, x: FloatArray, sigma: FloatArray) -> _GLS:
    """Generalised least squares with a Cholesky factor of Sigma."""
    c = linalg.cho_factor(sigma, lower=True, check_finite=False)
    wx = linalg.cho_solve(c, x, check_finite=False)
    wy = linalg.cho_solve(c, y, check_finite=False)
    xtwx = x.T @ wx
    cx = linalg.cho_factor(xtwx, lower=True, check_finite=False)
    beta = linalg.cho_solve(cx, x.T @ wy, check_finite=False)
    r = y - x @ beta
    rss = float(r @ linalg.cho_solve(c, r, check_finite=False))
    return _GLS(
        beta=beta,
        vcov=linalg.cho_solve(cx, np.eye(x.shape[1]), check_finite=False),
        logdet_sigma=2.0 * float(np.sum(np.log(np.diag(c[0])))),
        logdet_xtwx=2.0 * float(np.sum(np.log(np.diag(cx[0])))),
        rss=rss,
    )


def _reml_objective(tau2: float, cd: ContrastData) -> float:
    """-2 x restricted log-likelihood up to a constant (Harville 1977)."""
    g = _gls(cd.y, cd.X, cd.V + tau2 * cd.B)
    return g.logdet_sigma + g.logdet_xtwx + g.rss


def tau2_reml(cd: ContrastData) -> float:
    """REML estimate of tau^2 >= 0 (a grid over tau, then bounded Brent on the best cell)."""
    spread = float(np.std(cd.y)) if cd.y.size > 1 else 1.0
    hi = max(10.0 * spread, 1.0)
    grid = np.concatenate([[0.0], np.geomspace(1e-4 * hi, hi, 40)])
    vals = np.array([_reml_objective(t * t, cd) for t in grid])
    i = int(np.argmin(vals))
    lo_t = grid[max(i - 1, 0)]
    hi_t = grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        lambda t: _reml_objective(t * t, cd),
        bounds=(lo_t, hi_t),
        method="bounded",
        options={"xatol": 1e-10 * hi},
    )
    best_t = float(res.x) if res.fun <= vals[i] else float(grid[i])
    # the boundary tau = 0 is a legitimate REML estimate (e.g. Parkinson's data)
    if _reml_objective(0.0, cd) <= _reml_objective(best_t**2, cd):
        return 0.0
    return best_t**2


def tau2_dl(cd: ContrastData) -> float:
    """Method-of-moments tau^2: max(0, (Q - df) / tr(P B)) (Jackson, White & Riley 2012)."""
    w = linalg.inv(cd.V)
    wx = w @ cd.X
    p = w - wx @ linalg.solve(cd.X.T @ wx, wx.T)
    q = float(cd.y @ p @ cd.y)
    df = cd.y.size - cd.X.shape[1]
    denom = float(np.trace(p @ cd.B))
    return max(0.0, (q - df) / denom) if denom > 0 else 0.0


def fit_frequentist(
    net: Network,
    *,
    model: Literal["fe", "re"] = "re",
    tau_method: TauMethod = "reml",
    higher_is_better: bool = True,
) -> NMAResult:
    """Fit the contrast-based NMA (FE by GLS; RE with REML or DL tau^2).

    Parameters
    ----------
    net
        The network (its first treatment is the reference).
    model
        ``fe`` or ``re``.
    tau_method
        ``reml`` (as metafor's ``rma.mv``) or ``dl`` (method of moments).
    higher_is_better
        Ranking direction for the P-scores.
    """
    t0 = time.perf_counter()
    cd = contrast_data(net)
    nt = net.n_treatments
    df = cd.y.size - cd.X.shape[1]
    if np.linalg.matrix_rank(cd.X) < cd.X.shape[1]:  # guarded by check_connected already
        raise ValueError("design is rank deficient; is the network connected?")
    fe = _gls(cd.y, cd.X, cd.V)
    tau2 = 0.0
    if model == "re":
        tau2 = tau2_reml(cd) if tau_method == "reml" else tau2_dl(cd)
    g = fe if model == "fe" else _gls(cd.y, cd.X, cd.V + tau2 * cd.B)

    est = np.concatenate([[0.0], g.beta])
    vc = np.zeros((nt, nt))
    vc[1:, 1:] = g.vcov
    trts = net.treatments

    def summ(i: int, j: int) -> Summary:
        """Effect of j vs i: d[j] - d[i]."""
        e = float(est[j] - est[i])
        se = math.sqrt(max(vc[i, i] + vc[j, j] - 2 * vc[i, j], 0.0))
        return Summary(mean=e, sd=se, q2_5=e - Z975 * se, q50=e, q97_5=e + Z975 * se)

    rel = {trts[j]: summ(0, j) for j in range(1, nt)}
    league = [
        LeagueEntry(trts[j], trts[i], summ(i, j)) for i in range(nt) for j in range(nt) if i != j
    ]
    ranking = pscores(est, vc, trts, higher_is_better=higher_is_better)
    n_studies = net.n_studies
    m = cd.y.size
    p = cd.X.shape[1]
    extra_pred: dict[str, dict[str, float]] = {}
    if model == "re":
        # prediction interval of a new study's effect: est +- z sqrt(se^2 + tau^2) (metafor)
        for t, s in rel.items():
            assert s.sd is not None
            half = Z975 * math.sqrt(s.sd**2 + tau2)
            extra_pred[t] = {"pi_lb": s.mean - half, "pi_ub": s.mean + half}
    seconds = time.perf_counter() - t0
    tau = (
        None
        if model == "fe"
        else Summary(mean=math.sqrt(tau2), sd=None, q2_5=None, q50=math.sqrt(tau2), q97_5=None)
    )
    method = "FE (GLS)" if model == "fe" else ("REML" if tau_method == "reml" else "DL (MoM)")
    # restricted log-likelihood as metafor reports it (incl. its + 1/2 log|X'X| term)
    ll_reml = -0.5 * (
        (m - p) * math.log(2 * math.pi)
        - float(np.linalg.slogdet(cd.X.T @ cd.X)[1])
        + g.logdet_sigma
        + g.logdet_xtwx
        + g.rss
    )
    fit_statistics = {
        "QE": fe.rss,
        "QE_df": df,
        "tau2": tau2,
        "method": method,
        "logLik_reml": ll_reml if model == "re" else None,
        "n_contrasts": m,
        "n_studies": n_studies,
    }
    return NMAResult(
        engine=f"frequentist contrast-based NMA ({method})",
        model=model,
        measure=net.measure,
        log_scale=net.log_scale,
        treatments=trts,
        higher_is_better=higher_is_better,
        relative_effects=rel,
        league_table=league,
        ranking=ranking,
        ranking_method="P-score (Rücker & Schwarzer 2015)",
        tau=tau,
        diagnostics={
            "converged": True,
            "messages": [],
            "engine": "frequentist",
            "zero_cell_correction": cd.zero_corrected,
        },
        converged=True,
        model_fit=None,
        extra={
            "fit_statistics": fit_statistics,
            "prediction_intervals": extra_pred or None,
            "vcov_d": g.vcov.tolist(),
        },
        network=net.summary(),
        timing_seconds={"fit": seconds},
    )

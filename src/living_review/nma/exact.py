"""Exact posterior draws for all-normal networks: tau from its marginal, the rest given tau.

Why not NUTS here: when every study is normal (arm means with known SE, or contrasts with
their covariance), the whole TSD2 model is linear-Gaussian given tau. The study baselines mu,
the basic parameters d (and a node-split's d_direct) have, given tau, the exact normal
posterior of :func:`living_review.nma.bayes.build_conditional`, and tau's own posterior is
one-dimensional, known up to a constant from the marginal likelihood. So the joint posterior
can be drawn *independently*, with no Markov chain at all: tau by inverting its posterior CDF
on a grid, then theta = (d, mu) from N(m(tau), P(tau)^-1). This is the DIRECT algorithm of the
R package bayesmeta (Röver 2020, J Stat Softw 93(6); Röver & Friede 2017, "Discrete
approximation of a mixture distribution via restricted divergence", JCGS 26(1)), applied
to the NMA model; no Python library offers it, hence this module.

Effective sample size equals the number of draws (up to the grid's discretisation, which is
far below Monte Carlo error), so a JAGS-quality posterior costs milliseconds, the
study-specific effects follow exactly as for NUTS draws
(:func:`living_review.nma.bayes.study_effects`), and R-hat/ESS are still computed by ArviZ
on the draws and reported like any sampler's. It is chosen by ``sampler="auto"`` (the default)
for all-normal networks; NUTS remains for binomial data and on request.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import halfnorm

from living_review.nma.spec import FitSpec

FloatArray = npt.NDArray[np.float64]

#: Grid sizes: a coarse pass locates tau's posterior mass, a fine one resolves it.
COARSE_POINTS = 513
FINE_POINTS = 2049
#: Log-density below the maximum at which the coarse pass calls the rest negligible.
LOG_NEGLIGIBLE = 40.0
#: Matrix entries per batch of precision matrices (32 MB): bounds memory for large networks.
BATCH_ENTRIES = 4_000_000


def _batch(data: dict[str, FloatArray]) -> int:
    """How many tau values to factorise at once (up to 2,048; fewer for large networks)."""
    n_p = int(data["g_prior_sd"].size)
    return max(16, min(2048, BATCH_ENTRIES // (n_p * n_p)))


def conditional_moments(
    data: dict[str, FloatArray], tau: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For each tau: (Cholesky factor L of P, L^-1 A' W y, log marginal likelihood).

    ``data`` are the arrays of :func:`living_review.nma.bayes.gaussian_data`:
    ``g_y ~ N(g_A theta, diag(s2))`` on real rows (``g_w`` 1), ``s2 = 1 + tau^2 g_lam``, and
    ``theta ~ N(0, diag(g_prior_sd^2))``. With ``W = diag(w / s2)`` and ``P = A'WA + diag(
    prior_sd^-2) = L L'``, integrating theta out gives, up to a constant,
    ``log p(y | tau) = -1/2 sum w log s2 - 1/2 y'Wy + 1/2 |L^-1 A'Wy|^2 - sum log diag L``.
    """
    a, y, w, lam, psd = (data[k] for k in ("g_A", "g_y", "g_w", "g_lam", "g_prior_sd"))
    s2 = 1.0 + np.square(tau)[:, None] * lam[None, :]  # (n_tau, rows)
    wv = w[None, :] / s2
    # A' diag(wv_t) A = sum_r wv_tr a_r a_r' for every t: one matrix product of the weights
    # with the rows' outer products (a single BLAS call; einsum was 10x slower)
    n_p = a.shape[1]
    outer = (a[:, :, None] * a[:, None, :]).reshape(a.shape[0], n_p * n_p)
    prec = (wv @ outer).reshape(len(tau), n_p, n_p) + np.diag(psd**-2.0)[None]
    chol = np.linalg.cholesky(prec)
    b = (wv * y[None, :]) @ a  # (n_tau, p): A' W y
    # batched LU solves: vectorised over tau in C, faster than a loop of triangular solves
    c = np.linalg.solve(chol, b[..., None])[..., 0]
    log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    loglik = (
        -0.5 * (w[None, :] * np.log(s2)).sum(axis=1)
        - 0.5 * (wv * y[None, :] ** 2).sum(axis=1)
        + 0.5 * (c**2).sum(axis=1)
        - log_det
    )
    as_f = np.asarray
    return as_f(chol, np.float64), as_f(c, np.float64), as_f(loglik, np.float64)


def _log_prior(tau: FloatArray, spec: FitSpec) -> FloatArray:
    pr = spec.priors
    if pr.tau == "uniform":
        return np.zeros_like(tau)
    return np.asarray(halfnorm.logpdf(tau, scale=pr.tau_scale), dtype=np.float64)


def _upper(spec: FitSpec) -> float:
    pr = spec.priors
    # half-normal: beyond 9 scales the prior mass is ~2e-19, below any Monte Carlo error
    return pr.tau_upper if pr.tau == "uniform" else 9.0 * pr.tau_scale


def _log_post(grid: FloatArray, data: dict[str, FloatArray], spec: FitSpec) -> FloatArray:
    step = _batch(data)
    parts = [conditional_moments(data, grid[i : i + step])[2] for i in range(0, len(grid), step)]
    return np.concatenate(parts) + _log_prior(grid, spec)


def tau_grid(data: dict[str, FloatArray], spec: FitSpec) -> tuple[FloatArray, FloatArray]:
    """A fine grid over the region holding tau's posterior mass, and the density on it.

    The density is normalised so that its trapezoidal integral over the grid is 1.
    """
    top = _upper(spec)
    coarse = np.linspace(0.0, top, COARSE_POINTS)
    lp = _log_post(coarse, data, spec)
    keep = np.flatnonzero(lp > lp.max() - LOG_NEGLIGIBLE)
    lo = coarse[max(int(keep[0]) - 1, 0)]
    hi = coarse[min(int(keep[-1]) + 1, len(coarse) - 1)]
    fine = np.linspace(lo, hi, FINE_POINTS)
    lpf = _log_post(fine, data, spec)
    dens = np.exp(lpf - lpf.max())
    dens /= np.trapezoid(dens, fine)
    return fine, dens


def sample_tau(grid: FloatArray, dens: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """Draw ``n`` values from the piecewise-linear density through ``(grid, dens)`` exactly.

    A cell is chosen with probability equal to its trapezoid's area; within the cell the
    linear density f(x) = f0 + (f1 - f0) x / h is inverted in closed form.
    """
    h = np.diff(grid)
    f0, f1 = dens[:-1], dens[1:]
    area = 0.5 * h * (f0 + f1)
    cell = rng.choice(len(h), size=n, p=area / area.sum())
    u = rng.random(n)
    a0, a1, hc = f0[cell], f1[cell], h[cell]
    slope = (a1 - a0) / hc
    target = u * 0.5 * hc * (a0 + a1)
    flat = np.abs(slope) < 1e-12 * np.maximum(a0 + a1, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = (-a0 + np.sqrt(np.maximum(a0**2 + 2.0 * slope * target, 0.0))) / slope
    x = np.where(flat, target / np.maximum(a0, 1e-300), root)
    return np.asarray(grid[:-1][cell] + np.clip(x, 0.0, hc), dtype=np.float64)


def draw_theta(
    data: dict[str, FloatArray], tau: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """theta = (d, [d_direct], mu) drawn from N(m(tau), P(tau)^-1) for each tau (rows).

    theta = L'^-1 (c + eta), eta ~ N(0, I): mean L'^-1 L^-1 A'Wy = P^-1 A'Wy, covariance
    P^-1. The moments are computed once per distinct tau (once in all for fixed effects).
    """
    eta = rng.standard_normal((len(tau), data["g_prior_sd"].size))
    if np.all(tau == tau[0]):
        chol, c, _ = conditional_moments(data, tau[:1])
        return np.asarray(np.linalg.solve(chol[0].T, (c[0] + eta).T).T, dtype=np.float64)
    out = np.empty_like(eta)
    step = _batch(data)
    for start in range(0, len(tau), step):
        chol, c, _ = conditional_moments(data, tau[start : start + step])
        rhs = (c + eta[start : start + step])[..., None]
        out[start : start + step] = np.linalg.solve(np.swapaxes(chol, 1, 2), rhs)[..., 0]
    return out


def exact_draws(
    data: dict[str, FloatArray], spec: FitSpec, seed: int
) -> tuple[FloatArray, FloatArray]:
    """``spec.chains`` x ``spec.draws`` independent draws of (tau, theta); tau is 0 for FE."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    n = spec.chains * spec.draws
    # one BLAS thread: thousands of tiny factorisations gain nothing from threads, and
    # OpenBLAS's threads on a busy machine made them several times slower (measured)
    with threadpool_limits(limits=1, user_api="blas"):
        if spec.model == "re":
            grid, dens = tau_grid(data, spec)
            tau = sample_tau(grid, dens, n, rng)
        else:
            tau = np.zeros(n)
        return tau, draw_theta(data, tau, rng)

"""Provides :func:`fit_bayes`: the NICE DSU TSD2 NMA models in PyMC, sampled with NUTS (or,
for all-normal networks, drawn exactly: :mod:`living_review.nma.exact`).

One model builder covers TSD2 Programs 1 (binomial, logit link), 5 (normal, identity link, arm
means with known SE) and 7 (normal on contrasts, multivariate for multi-arm studies), fixed or
random effects, and their mixture in one network (Program 8 style: shared d and tau).

Model (``i`` study, ``k`` arm, baseline arm ``b``; see ``shared/nma-reference/jags/models``)::

    d[1] = 0,  d[t] ~ N(0, 100^2)                     basic parameters vs the reference
    md[i,k] = d[t_ik] - d[t_ib]                        consistency
    FE: delta[i,k] = md[i,k]
    RE: delta[i,.] ~ MVN(md[i,.], tau^2 * R),  R = 1 on the diagonal, 1/2 off it
        (TSD2's conditional multi-arm formulation is this joint normal)
        binomial studies: delta = md + L dev, L = chol(R), dev = k (yhat - m) + s z with
        m = L^-1 md and k, s from a normal approximation of the likelihood (``build_model``);
        the same model, in coordinates without a funnel for precise or sparse studies
    arm binary:     r[i,k] ~ Bin(n[i,k], logit^-1(mu[i] + delta[i,k])),  mu[i] ~ N(0, 100^2)
    arm continuous: y[i,k] ~ N(mu[i] + delta[i,k], se[i,k]^2)
    contrast:       y[i,.] ~ MVN(delta[i,.], S_i),  S_i from seTE (+ baseline-arm covariance);
                    written as W_i y ~ N(W_i delta, I) with W_i = chol(S_i)^-1 (whitening).
    tau ~ U(0, 5) (TSD2) or HalfNormal(scale)

All linear maps are dense constant matrices (design, selection, Cholesky): dot products compile
quickly and keep one compiled model valid for any network with the same shapes (the arrays are
``pm.Data``), so a refit of an edited network skips compilation.

All-normal networks (arm continuous, contrasts, or both; ``parameterisation="auto"``) are
sampled as ``(tau, eta)`` with ``theta = (d, mu) = m(tau) + chol(P(tau))^-T eta``, the exact
conditional posterior of theta given tau (:func:`build_conditional`): the same model, without
the (tau, d) funnel of sparse networks. Their arrays are padded to shape buckets
(:class:`Buckets`) with rows and parameters that add nothing to the density of the real ones,
so adding a study or a treatment to the network reuses the compiled model.

Sampler (measured on the smoking RE network, 4 chains x (1000 tune + 2500 draws), 2 shared
cores): nutpie 1.5-4 s sampling, min ESS/s 660-1770 (JAGS: 888); PyMC's own NUTS 63 s, min
ESS/s 47. nutpie's numba compilation costs 8-20 s once per model shape in a process; it is
cached (``_COMPILED``). numpyro is not installed. Default (``sampler="auto"``): all-normal
networks are not sampled by a chain at all but drawn exactly and independently
(:mod:`living_review.nma.exact`: tau from its one-dimensional marginal posterior on a grid,
then (d, mu) from the normal conditional above), which costs milliseconds and gives an ESS
equal to the number of draws; binomial data go to nutpie. ``"nutpie"`` and ``"pymc"`` force
NUTS; the NUTS coordinates of all-normal networks stay tested against the same model.

PyMC, PyTensor, nutpie and ArviZ are imported inside functions only: importing this module is
cheap, and importing :mod:`living_review.nma` never pulls them in.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.special import log_expit

from living_review.errors import LsrError
from living_review.nma.data import Network
from living_review.nma.result import (
    NMAResult,
    Summary,
    league_from_draws,
    ranking_from_draws,
    summarise,
)
from living_review.nma.spec import FitSpec

if TYPE_CHECKING:
    import pymc as pm

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class ModelInputs:
    """The numeric arrays of the model (numpy only), built from a :class:`Network`."""

    treatments: tuple[str, ...]
    arm_kind: str | None
    X: FloatArray  # contrasts x (K-1): md = X d
    L: FloatArray | None  # contrasts x contrasts: block Cholesky of R (None: no multi-arm)
    Amu: FloatArray  # arms x arm studies (0/1)
    Ad: FloatArray  # arms x contrasts (0/1): the arm's delta (0 for baselines)
    arm_r: FloatArray
    arm_n: FloatArray
    arm_y: FloatArray
    arm_se: FloatArray
    arm_study: IntArray  # study index (into labels) of each arm
    WC: FloatArray  # contrast observations x contrasts: W_i restricted to contrast studies
    yw: FloatArray  # whitened contrast observations W y
    con_study: IntArray  # study index of each contrast observation
    labels: tuple[str, ...]  # study labels (arm studies first)
    contrast_names: tuple[str, ...]
    arm_names: tuple[str, ...]
    arm_study_names: tuple[str, ...]
    n_datapoints: int


def _corr(q: int) -> FloatArray:
    """R: the RE correlation of a study's q contrasts (1 on the diagonal, 1/2 off it; TSD2)."""
    return 0.5 * (np.ones((q, q)) + np.eye(q))


@dataclass(frozen=True)
class Block:
    """Normal observations of one study whose random effects are integrated out.

    Marginally ``y ~ MVN(Mmu mu + X d, S + tau^2 R)``: non-baseline arm means (``S`` =
    diag(se^2)) of an arm-level study, or the contrasts of a contrast-level study (``S`` =
    their within-study covariance).
    """

    study: int
    contrasts: IntArray  # indices into the full contrast list
    is_arm: bool
    y: FloatArray
    S: FloatArray
    Mmu: FloatArray
    X: FloatArray


@dataclass(frozen=True)
class Layout:
    """Which contrasts are latent (non-centred) and which are integrated out.

    Contrasts ``0..n_latent-1`` carry explicit random effects, in coordinates set by the
    normal approximation of their likelihood (``lat_yhat``, ``lat_v``; see
    :func:`build_model`), or plainly non-centred when those are empty. For normal
    likelihoods the random effects are integrated out analytically (same posterior of d and
    tau; no funnel between tau and the study effects, which made NUTS diverge on the
    Parkinson's RE fits).
    """

    n_latent: int
    lat_yhat: FloatArray  # normal approximation of the latent contrasts' likelihood (whitened):
    lat_v: FloatArray  # estimate and variance; empty: plain non-centred
    base_Mmu: FloatArray  # baseline arms of marginal arm studies: y ~ N(mu, se^2)
    base_y: FloatArray
    base_se: FloatArray
    blocks: tuple[Block, ...]


def data_preconditioner(net: Network, n_latent: int) -> tuple[FloatArray, FloatArray]:
    """Normal approximation of each latent contrast's likelihood: (yhat, v) per contrast.

    In the whitened coordinates x = L^-1 delta (L = chol(R), so x ~ N(L^-1 md, tau^2 I)):
    yhat = L^-1 (log odds ratios vs the study baseline) and v = 1 / diag(L' V^-1 L), from
    the contrast-level data of the frequentist fit (0.5 added to the cells of a study with a
    zero cell). Used only to choose coordinates (see :func:`build_model`), never as data.
    """
    from living_review.nma.frequentist import contrast_data

    cd = contrast_data(net)
    yhat, v = np.zeros(n_latent), np.ones(n_latent)
    for sl in cd.blocks:
        if sl.start >= n_latent:
            break
        ll = np.linalg.cholesky(_corr(sl.stop - sl.start))
        yhat[sl] = np.linalg.solve(ll, cd.y[sl])
        v[sl] = 1.0 / np.diag(ll.T @ np.linalg.solve(cd.V[sl, sl], ll))
    return yhat, v


def layout(net: Network, inp: ModelInputs, *, marginal: bool) -> Layout:
    """Split the studies into latent and integrated-out parts (``marginal``, i.e. "auto").

    ``marginal=False`` (``parameterisation="non-centred"``): every study latent, plainly
    non-centred. Otherwise binomial studies are latent, in data-preconditioned coordinates
    (:func:`data_preconditioner`), and normal ones integrated out.
    """
    idx = net.contrast_index()
    m = len(idx)
    n_arm_studies = len(net.arm_studies)
    if not marginal:
        z = np.zeros((0, n_arm_studies))
        return Layout(m, np.zeros(0), np.zeros(0), z, np.zeros(0), np.zeros(0), ())
    binary = net.arm_kind == "binary"
    n_latent = int(np.sum(idx.study < n_arm_studies)) if binary else 0
    yhat, v = np.zeros(0), np.zeros(0)
    if n_latent:
        yhat, v = data_preconditioner(net, n_latent)
    base_rows: list[int] = []
    blocks: list[Block] = []
    row = 0
    for i, st in enumerate(net.arm_studies):
        rows = np.arange(row, row + len(st.arms))
        row += len(st.arms)
        if binary:
            continue
        base_rows.append(int(rows[0]))
        cs = np.flatnonzero(idx.study == i)
        nb = rows[1:]
        blocks.append(
            Block(
                study=i,
                contrasts=cs,
                is_arm=True,
                y=inp.arm_y[nb],
                S=np.diag(inp.arm_se[nb] ** 2),
                Mmu=inp.Amu[nb],
                X=inp.X[cs],
            )
        )
    for j, cst in enumerate(net.contrast_studies):
        i = n_arm_studies + j
        cs = np.flatnonzero(idx.study == i)
        blocks.append(
            Block(
                study=i,
                contrasts=cs,
                is_arm=False,
                y=np.asarray(cst.y, dtype=float),
                S=cst.cov_matrix,
                Mmu=np.zeros((cs.size, n_arm_studies)),
                X=inp.X[cs],
            )
        )
    br = np.asarray(base_rows, dtype=np.int64)
    return Layout(
        n_latent=n_latent,
        lat_yhat=yhat,
        lat_v=v,
        base_Mmu=inp.Amu[br] if br.size else np.zeros((0, n_arm_studies)),
        base_y=inp.arm_y[br] if br.size else np.zeros(0),
        base_se=inp.arm_se[br] if br.size else np.zeros(0),
        blocks=tuple(blocks),
    )


def model_data(inp: ModelInputs, lay: Layout) -> dict[str, FloatArray]:
    """Every array of the PyMC model by its ``pm.Data`` name (what ``with_data`` swaps)."""
    ml = lay.n_latent
    out: dict[str, FloatArray] = {}
    if ml:
        out["X_lat"] = inp.X[:ml]
        lat_l = inp.L[:ml, :ml] if inp.L is not None else None
        if lat_l is not None and not np.allclose(lat_l, np.eye(ml)):
            out["L_lat"] = lat_l
            # m = L^-1 md = LiX d
            out["LiX_lat"] = np.linalg.solve(lat_l, inp.X[:ml]).astype(np.float64)
        if lay.lat_v.size:
            out["lat_yhat"], out["lat_v"] = lay.lat_yhat, lay.lat_v
        if inp.Amu.shape[0]:
            out["Amu"], out["Ad"] = inp.Amu, inp.Ad[:, :ml]
            if inp.arm_kind == "binary":
                out["r_obs"], out["n_obs"] = inp.arm_r, inp.arm_n
            else:
                out["y_obs"], out["se_obs"] = inp.arm_y, inp.arm_se
        if inp.WC.shape[0] and ml == inp.X.shape[0]:
            out["WC"], out["yw_obs"] = inp.WC, inp.yw
    if lay.base_y.size:
        out["base_Mmu"], out["base_y"], out["base_se"] = lay.base_Mmu, lay.base_y, lay.base_se
    if lay.blocks:
        # Rotate each block so that its marginal covariance S + tau^2 R becomes diagonal for
        # every tau: with W = chol(S)^-1 and W R W' = U diag(lam) U', T = U' W gives
        # Cov(T y) = I + tau^2 diag(lam). The likelihood is then one vectorised normal with
        # sd sqrt(1 + tau^2 lam), no matrix factorisation in the sampled graph (log|T| is a
        # constant). For a two-arm study this is N(y | md, v + tau^2) scaled by 1/sqrt(v).
        ts, lams = [], []
        for b in lay.blocks:
            w = np.linalg.inv(np.linalg.cholesky(b.S))
            lam, u = np.linalg.eigh(w @ _corr(b.y.size) @ w.T)
            ts.append(u.T @ w)
            lams.append(lam)
        out["t_X"] = np.vstack([t @ b.X for t, b in zip(ts, lay.blocks, strict=True)])
        out["t_Mmu"] = np.vstack([t @ b.Mmu for t, b in zip(ts, lay.blocks, strict=True)])
        out["t_y"] = np.concatenate([t @ b.y for t, b in zip(ts, lay.blocks, strict=True)])
        out["t_lam"] = np.concatenate(lams)
    return out


def model_inputs(net: Network) -> ModelInputs:
    """Arrays of the TSD2 models for ``net`` (arm studies first, as ``contrast_index``)."""
    idx = net.contrast_index()
    m = len(idx)
    k = net.n_treatments
    x = np.zeros((m, k))
    x[np.arange(m), idx.treatment] += 1.0
    x[np.arange(m), idx.base] -= 1.0
    # block Cholesky of R (1 on the diagonal, 1/2 within a study): RE correlation of TSD2
    ll = np.zeros((m, m))
    multi = False
    for s in np.unique(idx.study):
        cs = np.flatnonzero(idx.study == s)
        r = 0.5 * (np.ones((cs.size, cs.size)) + np.eye(cs.size))
        ll[np.ix_(cs, cs)] = np.linalg.cholesky(r)
        multi = multi or cs.size > 1
    labels = tuple(s.label for s in net.arm_studies) + tuple(s.label for s in net.contrast_studies)
    contrast_names = tuple(
        f"{net.study_treatments()[s][0]}->{net.treatments[t]} [{labels[s]}]"
        for s, t in zip(idx.study, idx.treatment, strict=True)
    )
    # arm part
    n_arm_studies = len(net.arm_studies)
    arms = [(i, j, a) for i, s in enumerate(net.arm_studies) for j, a in enumerate(s.arms)]
    n_arms = len(arms)
    amu = np.zeros((n_arms, n_arm_studies))
    ad = np.zeros((n_arms, m))
    c = 0
    for row, (i, j, _) in enumerate(arms):
        amu[row, i] = 1.0
        if j > 0:
            ad[row, c] = 1.0
            c += 1
    binary = net.arm_kind == "binary"
    arm_r = np.array([a.events if binary else 0.0 for *_, a in arms], dtype=float)
    arm_n = np.array([a.n for *_, a in arms], dtype=float)
    arm_y = np.array([0.0 if binary else a.mean for *_, a in arms], dtype=float)
    arm_se = np.array([1.0 if binary else a.se for *_, a in arms], dtype=float)
    # contrast part: whitening W_i = chol(S_i)^-1, so that ||W (y - delta)||^2 = e' S^-1 e
    m_arm = c
    blocks_w: list[FloatArray] = []
    ys: list[FloatArray] = []
    con_study: list[int] = []
    for j, cst in enumerate(net.contrast_studies):
        w = np.linalg.inv(np.linalg.cholesky(cst.cov_matrix))
        blocks_w.append(w)
        ys.append(w @ np.asarray(cst.y))
        con_study += [n_arm_studies + j] * len(cst.y)
    mc = m - m_arm
    wc = np.zeros((mc, m))
    o = 0
    for w in blocks_w:
        q = w.shape[0]
        wc[o : o + q, m_arm + o : m_arm + o + q] = w
        o += q
    return ModelInputs(
        treatments=net.treatments,
        arm_kind=net.arm_kind,
        X=x[:, 1:],
        L=ll if multi else None,
        Amu=amu,
        Ad=ad,
        arm_r=arm_r,
        arm_n=arm_n,
        arm_y=arm_y,
        arm_se=arm_se,
        arm_study=np.array([i for i, *_ in arms], dtype=np.int64),
        WC=wc,
        yw=np.concatenate(ys) if ys else np.zeros(0),
        con_study=np.array(con_study, dtype=np.int64),
        labels=labels,
        contrast_names=contrast_names,
        arm_names=tuple(f"{a.treatment} [{labels[i]}]" for i, _, a in arms),
        arm_study_names=tuple(f"{s.label} ({s.study})" for s in net.arm_studies),
        n_datapoints=n_arms + mc,
    )


# --------------------------------------------------------------------------- conditional
@dataclass(frozen=True)
class Buckets:
    """Sizes the arrays of the conditional model are padded up to (multiples of these).

    A compiled model serves every network whose padded shapes match, so an edited network
    (a study or a treatment added) usually reuses it: nutpie's compilation (8-20 s) is
    paid once per bucket, not once per edit. Padding rows have zero weight and zero design;
    padded parameters have a proper prior and no design column, so they never enter the
    likelihood and are dropped from the results (:func:`_trim`).
    """

    rows: int = 8  # observations (whitened contrasts and arm means)
    treatments: int = 4  # basic parameters d
    studies: int = 8  # study baselines mu (arm-level studies)


BUCKETS = Buckets()
NO_PADDING = Buckets(1, 1, 1)


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


@dataclass(frozen=True)
class GaussianShape:
    """Where the real parameters sit in the conditional model's parameter vector theta.

    theta = [d (n_d real, padded to n_d_pad) | d_direct (split models) | mu (n_mu, padded)].
    """

    n_d: int
    n_d_pad: int
    split: int
    n_mu: int
    n_mu_pad: int

    @property
    def mu_start(self) -> int:
        return self.n_d_pad + self.split


def gaussian_data(
    net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout, buckets: Buckets | None = None
) -> tuple[dict[str, FloatArray], GaussianShape]:
    """Arrays of the conditional model: one linear-Gaussian system in theta = (d, mu).

    Every observation of an all-normal network, once its random effects are integrated out
    and rotated (:func:`model_data`), is ``g_y ~ N(g_A theta, 1 + tau^2 g_lam)``: the
    rotated blocks as they are, the baseline arms of arm-level studies divided by their SE
    (``lam = 0``). ``g_w`` is 1 for real rows and 0 for padding.
    """
    b = buckets or BUCKETS
    base = model_data(inp, lay)
    split = n_split_columns(net, inp)
    nd, nmu = net.n_treatments - 1, int(inp.Amu.shape[1])
    shape = GaussianShape(nd, _round_up(nd, b.treatments), split, nmu, _round_up(nmu, b.studies))
    p = shape.mu_start + shape.n_mu_pad
    parts_a, parts_y, parts_lam = [], [], []
    if "t_y" in base:
        a = np.zeros((base["t_y"].size, p))
        a[:, :nd] = base["t_X"][:, :nd]
        if split:
            a[:, shape.n_d_pad] = base["t_X"][:, nd]
        a[:, shape.mu_start : shape.mu_start + nmu] = base["t_Mmu"]
        parts_a.append(a)
        parts_y.append(base["t_y"])
        parts_lam.append(base["t_lam"])
    if "base_y" in base:
        se = base["base_se"]
        a = np.zeros((se.size, p))
        a[:, shape.mu_start : shape.mu_start + nmu] = base["base_Mmu"] / se[:, None]
        parts_a.append(a)
        parts_y.append(base["base_y"] / se)
        parts_lam.append(np.zeros(se.size))
    a_all = np.vstack(parts_a)
    n, rows = a_all.shape[0], _round_up(a_all.shape[0], b.rows)
    g_a = np.zeros((rows, p))
    g_a[:n] = a_all
    pr = spec.priors
    prior_sd = np.concatenate([np.full(shape.mu_start, pr.d_sd), np.full(shape.n_mu_pad, pr.mu_sd)])
    data = {
        "g_A": g_a,
        "g_y": np.concatenate([*parts_y, np.zeros(rows - n)]),
        "g_lam": np.concatenate([*parts_lam, np.zeros(rows - n)]),
        "g_w": np.concatenate([np.ones(n), np.zeros(rows - n)]),
        "g_prior_sd": prior_sd,
    }
    return data, shape


def sampled_data(
    net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout
) -> dict[str, FloatArray]:
    """The ``pm.Data`` arrays of the model :func:`build_model` makes (what the cache keys on)."""
    if _conditional(spec, lay):
        return gaussian_data(net, spec, inp, lay)[0]
    return model_data(inp, lay)


def build_conditional(
    net: Network, spec: FitSpec, data: dict[str, FloatArray], shape: GaussianShape
) -> pm.Model:
    """The all-normal model in coordinates relative to the conditional posterior of theta.

    Given tau, theta = (d, mu) has an exact normal posterior: precision
    ``P = A' diag(w / s2) A + diag(1 / prior_sd^2)``, ``s2 = 1 + tau^2 lam``, mean
    ``m = P^-1 A' diag(w / s2) y``. We sample eta with ``theta = m + chol(P)^-T eta``, so
    eta ~ N(0, I) a posteriori for every tau, and tau from its one-dimensional marginal.

    Why: in a sparse network (one trial per comparison, e.g. the example's OS star) the
    posterior scale of d grows with tau (sd^2 ~ se^2 + tau^2): a funnel in (tau, d) that
    gave R-hat 1.017 and divergences with plain d. The same model: the density of (tau, d,
    mu) is evaluated unchanged at theta(eta) and the log-Jacobian ``-sum log diag chol(P)``
    is added (eta is Flat; the priors of d and mu are explicit terms).
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.tensor.slinalg import cholesky, solve_triangular

    pr = spec.priors
    coords = {
        "treatment_effect": list(range(shape.n_d_pad)),
        "arm_study": list(range(shape.n_mu_pad)),
    }
    with pm.Model(coords=coords) as model:
        dv = {k: pm.Data(k, v) for k, v in data.items()}
        tau: Any = 0.0
        if spec.model == "re":
            if pr.tau == "uniform":
                tau = pm.Uniform("tau", lower=0.0, upper=pr.tau_upper)
            else:
                tau = pm.HalfNormal("tau", sigma=pr.tau_scale)
        a, y, w, psd = dv["g_A"], dv["g_y"], dv["g_w"], dv["g_prior_sd"]
        s2 = 1.0 + tau**2 * dv["g_lam"]
        wv = w / s2
        # diagonals as products with the identity: AllocDiag / ExtractDiag and their
        # gradients ran ~1000x slower than these elementwise forms in nutpie's numba graph
        eye = pt.eye(int(data["g_prior_sd"].size))
        prec = pt.dot(a.T * wv, a) + eye * psd**-2
        chol = cholesky(prec, lower=True)
        eta = pm.Flat("eta", shape=int(data["g_prior_sd"].size))
        centre = solve_triangular(chol, pt.dot(a.T, wv * y), lower=True)
        theta = solve_triangular(chol.T, centre + eta, lower=False)
        pm.Deterministic("d", theta[: shape.n_d_pad], dims="treatment_effect")
        if shape.split:
            pm.Deterministic("d_direct", theta[shape.n_d_pad])
        if shape.n_mu_pad:
            pm.Deterministic("mu", theta[shape.mu_start :], dims="arm_study")
        resid = y - pt.dot(a, theta)
        pm.Potential("likelihood", pt.sum(w * (-0.5 * resid**2 / s2 - 0.5 * pt.log(s2))))
        pm.Potential("prior", pt.sum(-0.5 * (theta / psd) ** 2 - pt.log(psd)))
        pm.Potential("jacobian", -pt.sum(pt.log(pt.sum(chol * eye, axis=0))))
    return model


def _trim(idata: Any, net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout) -> Any:
    """Drop padding and the working coordinates eta; name d and mu as in ``net``."""
    if not _conditional(spec, lay):
        return idata
    post = idata.posterior.drop_vars("eta", errors="ignore")
    post = post.drop_dims([d for d in post.dims if str(d).startswith("eta_dim")])
    nd, nmu = net.n_treatments - 1, int(inp.Amu.shape[1])
    post = post.isel(treatment_effect=slice(0, nd)).assign_coords(
        treatment_effect=list(net.treatments[1:])
    )
    if "arm_study" in post.dims:
        post = post.isel(arm_study=slice(0, nmu)).assign_coords(arm_study=list(inp.arm_study_names))
    idata.posterior = post
    return idata


# --------------------------------------------------------------------------- model
def build_model(
    net: Network,
    spec: FitSpec,
    inputs: ModelInputs | None = None,
    lay: Layout | None = None,
    buckets: Buckets | None = None,
) -> pm.Model:
    """The PyMC model of ``net`` under ``spec`` (named coords and dims).

    Binomial studies (and, with ``parameterisation="non-centred"``, all studies) carry
    latent random effects ``delta = X d + L dev``, ``L = chol(R)``, ``dev ~ N(0, tau^2)``:
    in data-preconditioned coordinates (binomial studies under ``"auto"``; see the comment
    in the code) or plainly non-centred (``dev = tau z``); normal studies otherwise have them
    integrated out:
    ``y ~ MVN(Mmu mu + X d, S + tau^2 R)``. In an all-normal network (``"auto"``) d and mu
    are then sampled in the coordinates of :func:`build_conditional`, padded to ``buckets``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    inp = inputs if inputs is not None else model_inputs(net)
    lay = lay if lay is not None else layout(net, inp, marginal=_marginal(spec))
    if _conditional(spec, lay):
        return build_conditional(net, spec, *gaussian_data(net, spec, inp, lay, buckets))
    data = model_data(inp, lay)
    pr = spec.priors
    re = spec.model == "re"
    ml = lay.n_latent
    coords: dict[str, Any] = {"treatment_effect": list(net.treatments[1:])}
    if ml:
        coords["latent_contrast"] = list(inp.contrast_names[:ml])
    if inp.Amu.shape[0]:
        coords["arm_study"] = list(inp.arm_study_names)
    with pm.Model(coords=coords) as model:
        dv = {k: pm.Data(k, v) for k, v in data.items()}
        d = pm.Normal("d", mu=0.0, sigma=pr.d_sd, dims="treatment_effect")
        if n_split_columns(net, inp):
            # node-split model (Dias et al. 2010): the split comparison's studies get their
            # own effect, the last design column; same vague prior as the basic parameters
            d_direct = pm.Normal("d_direct", mu=0.0, sigma=pr.d_sd)
            d = pt.concatenate([d, pt.atleast_1d(d_direct)])
        tau: Any = 0.0
        if re:
            if pr.tau == "uniform":
                tau = pm.Uniform("tau", lower=0.0, upper=pr.tau_upper)
            else:
                tau = pm.HalfNormal("tau", sigma=pr.tau_scale)
        mu = pm.Normal("mu", mu=0.0, sigma=pr.mu_sd, dims="arm_study") if inp.Amu.shape[0] else None
        if ml:
            delta = pt.dot(dv["X_lat"], d)
            if re:
                if "lat_v" in dv:
                    # whitened x = L^-1 delta ~ N(m, tau^2), m = L^-1 X d; x = m + dev with
                    # dev = k (yhat - m) + s z, k = tau^2 / (tau^2 + v), s = tau sqrt(1 - k):
                    # the conditional posterior of x under the normal approximation
                    # N(yhat, v) of its likelihood is N(m + k (yhat - m), s^2), so z is
                    # ~N(0, 1) a posteriori whatever tau is: no funnel, for precise studies
                    # (centred limit, k -> 1) as for sparse ones (non-centred, k -> 0).
                    # z's prior N(-k (yhat - m) / s, tau / s) makes dev ~ N(0, tau^2)
                    # exactly (Jacobian included), so the model is unchanged.
                    m_w = pt.dot(dv["LiX_lat"], d) if "LiX_lat" in dv else delta
                    k = tau**2 / (tau**2 + dv["lat_v"])
                    sc = tau * pt.sqrt(dv["lat_v"] / (tau**2 + dv["lat_v"]))
                    shift = k * (dv["lat_yhat"] - m_w)
                    z = pm.Normal("z", mu=-shift / sc, sigma=tau / sc, dims="latent_contrast")
                    dev = shift + sc * z
                else:
                    dev = tau * pm.Normal("z", mu=0.0, sigma=1.0, dims="latent_contrast")
                delta = delta + (pt.dot(dv["L_lat"], dev) if "L_lat" in dv else dev)
            if "Amu" in dv:
                lp = pt.dot(dv["Amu"], mu) + pt.dot(dv["Ad"], delta)
                if inp.arm_kind == "binary":
                    pm.Binomial("r", n=dv["n_obs"], logit_p=lp, observed=dv["r_obs"])
                else:
                    pm.Normal("y", mu=lp, sigma=dv["se_obs"], observed=dv["y_obs"])
            if "WC" in dv:
                pm.Normal("y_contrast", mu=pt.dot(dv["WC"], delta), sigma=1.0,
                          observed=dv["yw_obs"])  # fmt: skip
        if "base_y" in dv:
            pm.Normal(
                "y_base", mu=pt.dot(dv["base_Mmu"], mu), sigma=dv["base_se"],
                observed=dv["base_y"],
            )  # fmt: skip
        if "t_y" in dv:
            mean = pt.dot(dv["t_X"], d)
            if mu is not None:
                mean = mean + pt.dot(dv["t_Mmu"], mu)
            pm.Normal(
                "y_marginal", mu=mean, sigma=pt.sqrt(1.0 + tau**2 * dv["t_lam"]),
                observed=dv["t_y"],
            )  # fmt: skip
    return model


def n_split_columns(net: Network, inp: ModelInputs) -> int:
    """Design columns beyond d[2..K]: 1 for a node-split model (``d_direct``), else 0."""
    extra = int(inp.X.shape[1]) - (net.n_treatments - 1)
    if extra not in (0, 1):
        raise ValueError(f"design has {inp.X.shape[1]} columns for {net.n_treatments} treatments")
    return extra


def _marginal(spec: FitSpec) -> bool:
    return spec.parameterisation != "non-centred"


def _conditional(spec: FitSpec, lay: Layout) -> bool:
    """Sample d and mu relative to their exact conditional posterior (all-normal networks)."""
    return spec.parameterisation == "auto" and lay.n_latent == 0


#: Compiled nutpie models by (model, priors, shapes); data values are swapped in.
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _compiled(net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout) -> tuple[Any, float]:
    """A nutpie-compiled model for these shapes (cached in-process) and compile seconds."""
    import nutpie  # type: ignore[import-untyped]

    data = sampled_data(net, spec, inp, lay)
    key = (
        spec.model,
        spec.priors,
        spec.parameterisation,
        inp.arm_kind,
        # a split model of K treatments has the shapes of a consistency model of K + 1
        n_split_columns(net, inp),
        tuple((k, v.shape) for k, v in data.items()),
    )
    t0 = time.perf_counter()
    cm = _COMPILED.get(key)
    if cm is None:
        model = build_model(net, spec, inp, lay, BUCKETS)
        cm = nutpie.compile_pymc_model(model)
        _COMPILED[key] = cm
    else:
        # arrays the compiled graph does not use (e.g. zero mu-selectors) are not shared there
        cm = cm.with_data(**{k: v for k, v in data.items() if k in cm.shared_data})
    return cm, time.perf_counter() - t0


class SamplerError(LsrError):
    """A sampler that cannot fit this network was asked for (exact draws of binary data)."""


def resolved_sampler(spec: FitSpec, lay: Layout) -> str:
    """The sampler a fit actually uses: ``"auto"`` is exact for all-normal networks."""
    if spec.sampler == "auto":
        return "exact" if _conditional(spec, lay) else "nutpie"
    if spec.sampler == "exact" and not _conditional(spec, lay):
        raise SamplerError(
            "exact sampling needs an all-normal network (arm means or contrasts, no binary "
            "arms) and parameterisation 'auto'; use sampler 'nutpie' for this one"
        )
    return spec.sampler


def engine_label(sampler: str) -> str:
    """How a result names the engine that produced it."""
    if sampler == "exact":
        return "exact posterior draws (tau from its marginal on a grid, then d and mu given tau)"
    return f"PyMC ({sampler} NUTS)"


def _sample_exact(
    net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout, seed: int
) -> tuple[Any, float, float]:
    """Independent draws for an all-normal network, shaped like a NUTS run's InferenceData."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    from living_review.nma.exact import exact_draws

    t0 = time.perf_counter()
    data, shape = gaussian_data(net, spec, inp, lay, NO_PADDING)
    tau, theta = exact_draws(data, spec, seed)
    c, n = spec.chains, spec.draws

    def per_chain(x: FloatArray) -> FloatArray:
        return x.reshape(c, n, *x.shape[1:])

    posterior: dict[str, FloatArray] = {"d": per_chain(theta[:, : shape.n_d])}
    dims: dict[str, list[str]] = {"d": ["treatment_effect"]}
    coords: dict[str, Any] = {"treatment_effect": list(net.treatments[1:])}
    if spec.model == "re":
        posterior["tau"] = per_chain(tau)
    if shape.split:
        posterior["d_direct"] = per_chain(theta[:, shape.n_d_pad])
    if shape.n_mu:
        posterior["mu"] = per_chain(theta[:, shape.mu_start : shape.mu_start + shape.n_mu])
        dims["mu"] = ["arm_study"]
        coords["arm_study"] = list(inp.arm_study_names)
    idata = az.from_dict(
        posterior=posterior,
        sample_stats={"diverging": np.zeros((c, n), dtype=bool)},
        coords=coords,
        dims=dims,
    )
    return idata, 0.0, time.perf_counter() - t0


def uses_mcmc(net: Network, spec: FitSpec) -> bool:
    """Whether fitting ``net`` under ``spec`` runs a compiled NUTS model (worth pre-warming)."""
    inp = model_inputs(net)
    return resolved_sampler(spec, layout(net, inp, marginal=_marginal(spec))) != "exact"


def _low_rank(spec: FitSpec, lay: Layout) -> bool:
    """Low-rank mass-matrix adaptation: on for models without latent random effects.

    Measured (4 x 5000 draws): it raises min ESS/s 3-7x on the FE and integrated-out RE
    models (posterior correlations between the d's), but gave divergences on the non-centred
    binomial RE model (smoking), where the diagonal metric is kept.
    """
    if spec.low_rank_mass_matrix is not None:
        return spec.low_rank_mass_matrix
    return lay.n_latent == 0 or spec.model == "fe"


def _sample(
    net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout, seed: int
) -> tuple[Any, float, float]:
    """Draw the posterior with the resolved sampler (exact draws or NUTS); returns
    (InferenceData, compile seconds, sampling seconds)."""
    sampler = resolved_sampler(spec, lay)
    if sampler == "exact":
        return _sample_exact(net, spec, inp, lay, seed)
    cores = max(1, min(spec.chains, os.cpu_count() or 1))
    if sampler == "nutpie":
        import nutpie
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        cm, t_compile = _compiled(net, spec, inp, lay)
        t0 = time.perf_counter()
        # One BLAS thread: the conditional model's LAPACK calls (Cholesky, triangular
        # solves on ~10 x 10 matrices) are far too small to gain from threads, and
        # OpenBLAS's threads on a busy machine made each gradient ~30x slower (measured:
        # 24 s vs 0.8 s for the same 2,344 steps on the example OS network).
        with threadpool_limits(limits=1, user_api="blas"):
            idata = nutpie.sample(
                cm,
                draws=spec.draws,
                tune=spec.tune,
                chains=spec.chains,
                cores=cores,
                seed=seed,
                progress_bar=False,
                target_accept=spec.target_accept,
                save_warmup=False,
                low_rank_modified_mass_matrix=_low_rank(spec, lay),
            )
        return _trim(idata, net, spec, inp, lay), t_compile, time.perf_counter() - t0
    import pymc as pm

    t0 = time.perf_counter()
    model = build_model(net, spec, inp, lay, BUCKETS)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    idata = pm.sample(
        model=model,
        draws=spec.draws,
        tune=spec.tune,
        chains=spec.chains,
        cores=cores,
        random_seed=seed,
        target_accept=spec.target_accept,
        progressbar=False,
        compute_convergence_checks=False,
    )
    return _trim(idata, net, spec, inp, lay), t_compile, time.perf_counter() - t0


# --------------------------------------------------------------------------- diagnostics
def diagnose(idata: Any, spec: FitSpec, names: dict[str, str]) -> dict[str, Any]:
    """R-hat (rank-normalised split), bulk/tail ESS, MCSE and divergences via ArviZ.

    Checked on the reported parameters (d and tau), as the JAGS reference does.
    ``names`` maps ArviZ labels (``d[Self-help]``) to display names.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    var_names = ["d"] + (["tau"] if spec.model == "re" else [])
    if "d_direct" in idata.posterior:
        var_names.append("d_direct")
    post = idata.posterior[var_names]
    stats = {
        "rhat": az.rhat(post),
        "ess_bulk": az.ess(post, method="bulk"),
        "ess_tail": az.ess(post, method="tail"),
        "mcse": az.mcse(post),
        "mcse_q2.5": az.mcse(post, method="quantile", prob=0.025),
        "mcse_q97.5": az.mcse(post, method="quantile", prob=0.975),
    }
    per: dict[str, dict[str, float]] = {}
    for v in var_names:
        if v == "d":
            labels = [f"d[{t}]" for t in idata.posterior["d"].coords["treatment_effect"].values]
        else:
            labels = [v]
        for key, ds in stats.items():
            vals = np.atleast_1d(ds[v].values)
            for lab, val in zip(labels, vals, strict=True):
                per.setdefault(lab, {})[key] = float(val)
    div = int(idata.sample_stats["diverging"].sum())
    steps = idata.sample_stats.get("n_steps", idata.sample_stats.get("tree_size"))
    th = spec.thresholds
    messages = []
    for lab, s in per.items():
        if not s["rhat"] <= th.rhat_max:
            messages.append(f"R-hat {s['rhat']:.3f} > {th.rhat_max} for {names.get(lab, lab)}")
        for k in ("ess_bulk", "ess_tail"):
            if not s[k] >= th.ess_min:
                messages.append(
                    f"{k.replace('_', ' ')} {s[k]:.0f} < {th.ess_min:.0f} for {names.get(lab, lab)}"
                )
    if div > th.max_divergences:
        messages.append(f"{div} divergent transition(s)")
    return {
        "converged": not messages,
        "messages": messages,
        "max_rhat": max(s["rhat"] for s in per.values()),
        "min_ess_bulk": min(s["ess_bulk"] for s in per.values()),
        "min_ess_tail": min(s["ess_tail"] for s in per.values()),
        "max_mcse": max(s["mcse"] for s in per.values()),
        "divergences": div,
        "gradient_evaluations": None if steps is None else int(steps.sum()),
        "parameters": per,
        "thresholds": {"rhat_max": th.rhat_max, "ess_min": th.ess_min, "divergences": 0},
    }


# --------------------------------------------------------------------------- model fit
def _deviance(inp: ModelInputs, lp: FloatArray | None, delta: FloatArray) -> FloatArray:
    """Residual deviance per data point (arms, then contrast observations), TSD2 definitions.

    ``lp`` is (..., arms), the linear predictor mu + delta; ``delta`` is (..., contrasts).
    Binomial: 2 [r log(r / rhat) + (n - r) log((n - r) / (n - rhat))], rhat = n expit(lp)
    (0 log 0 = 0); normal arm: ((y - theta) / se)^2; contrasts: the squared whitened residuals,
    whose sum over a study is (y - delta)' S^-1 (y - delta).
    """
    parts = []
    if lp is not None:
        if inp.arm_kind == "binary":
            r, n = inp.arm_r, inp.arm_n
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = np.where(r > 0, r * (np.log(r) - np.log(n) - log_expit(lp)), 0.0)
                t2 = np.where(
                    n - r > 0, (n - r) * (np.log(n - r) - np.log(n) - log_expit(-lp)), 0.0
                )
            parts.append(2.0 * (t1 + t2))
        else:
            parts.append(((inp.arm_y - lp) / inp.arm_se) ** 2)
    if inp.WC.shape[0]:
        parts.append((inp.yw - delta @ inp.WC.T) ** 2)
    return np.concatenate(parts, axis=-1)


def study_effects(
    inp: ModelInputs,
    lay: Layout,
    draws: dict[str, FloatArray],
    *,
    fe: bool,
    rng: np.random.Generator,
) -> FloatArray:
    """Posterior draws (N x contrasts) of the study-specific effects delta.

    FE: delta = X d. RE: latent contrasts from their draws, X d + chol(R) dev (as in
    :func:`build_model`); integrated-out
    ones drawn exactly from their conditional posterior given (d, tau, mu, y), by Matheron's
    rule: delta0 ~ N(md, G), y0 ~ N(delta0, S), delta = delta0 + G (G + S)^-1 (y - y0) with
    G = tau^2 R. So (d, tau, mu, delta) are joint draws of the full TSD2 model.
    """
    d = draws["d"]
    n = d.shape[0]
    delta = d @ inp.X.T
    if fe:
        return delta
    tau = draws["tau"]
    ml = lay.n_latent
    if ml:
        lat_l = inp.L[:ml, :ml] if inp.L is not None else np.eye(ml)
        t = tau[:, None]
        if lay.lat_v.size:
            m_w = np.linalg.solve(lat_l, delta[:, :ml].T).T
            v = lay.lat_v[None, :]
            shift = t**2 / (t**2 + v) * (lay.lat_yhat[None, :] - m_w)
            dev = shift + t * np.sqrt(v / (t**2 + v)) * draws["z"]
        else:
            dev = t * draws["z"]
        delta[:, :ml] += dev @ lat_l.T
    for b in lay.blocks:
        q = b.y.size
        r = _corr(q)
        md = delta[:, b.contrasts]
        target = b.y[None, :] - (draws["mu"] @ b.Mmu.T if b.is_arm else 0.0)
        g = (tau**2)[:, None, None] * r[None]
        delta0 = md + tau[:, None] * (rng.standard_normal((n, q)) @ np.linalg.cholesky(r).T)
        y0 = delta0 + rng.standard_normal((n, q)) @ np.linalg.cholesky(b.S).T
        gain = np.linalg.solve(g + b.S[None], g).transpose(0, 2, 1)  # G (G + S)^-1
        delta[:, b.contrasts] = delta0 + np.einsum("nij,nj->ni", gain, target - y0)
    return delta


def model_fit(
    inp: ModelInputs,
    lay: Layout,
    draws: dict[str, FloatArray],
    *,
    fe: bool,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Dbar, Dhat, pD, DIC (TSD2 plug-in, as the reference README defines them) and pV.

    Dbar = posterior mean of the total residual deviance; Dhat = residual deviance at the
    posterior mean of the linear predictor (mu + delta on the logit scale for binomial data;
    theta or delta for normal data); pD = Dbar - Dhat; DIC = Dbar + pD; pV = var(resdev) / 2.
    """
    delta = study_effects(inp, lay, draws, fe=fe, rng=rng)
    lp = None
    if inp.Amu.shape[0]:
        lp = draws["mu"] @ inp.Amu.T + delta @ inp.Ad.T
    dev = _deviance(inp, lp, delta)
    total = dev.sum(axis=1)
    dbar = float(total.mean())
    lp_bar = None if lp is None else lp.mean(axis=0)
    dhat = float(_deviance(inp, lp_bar, delta.mean(axis=0)).sum())
    studies = np.concatenate([inp.arm_study, inp.con_study])
    mean_dev = dev.mean(axis=0)
    by_study = [
        {"study": inp.labels[s], "mean_resdev": float(mean_dev[studies == s].sum())}
        for s in range(len(inp.labels))
    ]
    return {
        "Dbar": dbar,
        "Dhat": dhat,
        "pD": dbar - dhat,
        "DIC": 2 * dbar - dhat,
        "pV": float(np.var(total, ddof=1) / 2),
        "n_datapoints": inp.n_datapoints,
        "resdev_by_study": by_study,
        "definition": "TSD2: Dbar = E[resdev]; Dhat = resdev at the posterior mean of the "
        "linear predictor; pD = Dbar - Dhat; DIC = Dbar + pD",
    }


# --------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class SamplingRun:
    """The last sampling attempt of :func:`sample_until_converged` and the attempt log."""

    idata: Any
    diagnostics: dict[str, Any]
    attempts: list[dict[str, Any]]
    compile_seconds: float
    sampling_seconds: float


def sample_until_converged(
    net: Network, spec: FitSpec, inp: ModelInputs, lay: Layout
) -> SamplingRun:
    """Sample; while the thresholds fail, re-run up to ``spec.extensions`` times.

    Each extension doubles tuning and draws and, after divergences, raises
    ``target_accept`` to at least 0.95. The seed moves on by one per attempt.
    """
    names = {f"d[{t}]": f"d[{t}]" for t in net.treatments[1:]}
    cur = spec
    t_compile = t_sample = 0.0
    attempts: list[dict[str, Any]] = []
    for attempt in range(spec.extensions + 1):
        idata, tc, ts = _sample(net, cur, inp, lay, seed=spec.seed + attempt)
        t_compile += tc
        t_sample += ts
        diag = diagnose(idata, cur, names)
        attempts.append(
            {
                "draws": cur.draws,
                "tune": cur.tune,
                "target_accept": cur.target_accept,
                "converged": diag["converged"],
                "messages": diag["messages"],
            }
        )
        if diag["converged"] or attempt == spec.extensions:
            break
        cur = replace(
            cur,
            draws=cur.draws * 2,
            tune=cur.tune * 2,
            target_accept=max(cur.target_accept, 0.95)
            if diag["divergences"]
            else cur.target_accept,
        )
    return SamplingRun(idata, diag, attempts, t_compile, t_sample)


def fit_bayes(net: Network, spec: FitSpec | None = None) -> NMAResult:
    """Fit the Bayesian NMA; a fit failing the thresholds is extended once, then flagged.

    Returns an :class:`NMAResult` whose ``converged`` is False (with the reasons in
    ``diagnostics["messages"]``) when R-hat, ESS or divergences still fail after
    ``spec.extensions`` extensions; such estimates must not be presented as conclusions.
    """
    spec = spec or FitSpec()
    t_start = time.perf_counter()
    inp = model_inputs(net)
    lay = layout(net, inp, marginal=_marginal(spec))
    run = sample_until_converged(net, spec, inp, lay)
    idata, diag, attempts = run.idata, run.diagnostics, run.attempts
    t_compile, t_sample = run.compile_seconds, run.sampling_seconds
    t_post = time.perf_counter()
    post = idata.posterior
    draws = {
        name: np.asarray(post[name].values, dtype=float).reshape(-1, *post[name].values.shape[2:])
        for name in ("d", "tau", "z", "mu")
        if name in post
    }
    n = draws["d"].shape[0]
    dd = np.concatenate([np.zeros((n, 1)), draws["d"]], axis=1)
    per = diag["parameters"]

    def with_diag(s: Summary, label: str) -> Summary:
        p = per[label]
        return replace(
            s, ess_bulk=p["ess_bulk"], ess_tail=p["ess_tail"], mcse=p["mcse"], rhat=p["rhat"]
        )

    trts = net.treatments
    rel = {t: with_diag(summarise(dd[:, j]), f"d[{t}]") for j, t in enumerate(trts) if j > 0}
    tau = with_diag(summarise(draws["tau"]), "tau") if spec.model == "re" else None
    fit = model_fit(inp, lay, draws, fe=spec.model == "fe", rng=np.random.default_rng(spec.seed))
    ranking = ranking_from_draws(dd, trts, higher_is_better=spec.higher_is_better, seed=spec.seed)
    league = league_from_draws(dd, trts)
    t_end = time.perf_counter()
    diag = dict(diag)
    diag["sampler"] = resolved_sampler(spec, lay)
    diag["attempts"] = attempts
    diag["extended"] = len(attempts) > 1
    diag["n_draws"] = n
    diag["min_ess_per_second_sampling"] = diag["min_ess_bulk"] / t_sample if t_sample else None
    diag["min_ess_per_second_total"] = diag["min_ess_bulk"] / (t_compile + t_sample)
    diag["mcse_quantiles"] = {
        lab: {"q2.5": p["mcse_q2.5"], "q97.5": p["mcse_q97.5"]} for lab, p in per.items()
    }
    return NMAResult(
        engine=engine_label(diag["sampler"]),
        model=spec.model,
        measure=net.measure,
        log_scale=net.log_scale,
        treatments=trts,
        higher_is_better=spec.higher_is_better,
        relative_effects=rel,
        league_table=league,
        ranking=ranking,
        ranking_method="SUCRA (per-draw ranks)",
        tau=tau,
        diagnostics=diag,
        converged=bool(diag["converged"]),
        model_fit=fit,
        extra={"spec": spec.as_dict(), "priors": spec.priors.describe()},
        network=net.summary(),
        timing_seconds={
            "compile": t_compile,
            "sampling": t_sample,
            "postprocess": t_end - t_post,
            "total": t_end - t_start,
        },
        draws_d=dd,
    )

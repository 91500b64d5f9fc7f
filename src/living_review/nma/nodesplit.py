"""Node-splitting: does the direct evidence on a comparison agree with the indirect evidence?

Dias, Welton, Caldwell & Ades (2010), "Checking consistency in mixed treatment comparison
meta-analysis", Stat Med 29:932-944. For a comparison x-y, the studies that compare x and y
get their own effect ``d_direct`` (the *direct* estimate). Every other study informs the basic
parameters, and ``d[y] - d[x]`` from those is the *indirect* estimate. Inconsistency shows as
a difference ``direct - indirect`` away from 0. Bayesian p-value: ``2 min(P(diff > 0),
P(diff < 0))``.

Which comparisons, and how multi-arm trials are split, follows gemtc (van Valkenhoef et al.
2016, "Automating generation of node-splitting models for assessment of inconsistency in
network meta-analysis", Res Synth Methods 7:80-93; gemtc's ``mtc.nodesplit.comparisons``,
``has.indirect.evidence`` and ``nodesplit.rewrite.data.*``). That is also the rule Dias
2010 Sec. 3.3 motivates: the direct and indirect evidence must come from different studies.

* A comparison x-y is **splittable** if some study includes both x and y (direct evidence),
  and x and y are still connected once *every* study including both is removed (indirect
  evidence). A loop formed only by one multi-arm trial therefore has nothing to split.
* **Multi-arm trials** that include x and y, in the split model: a three-arm trial keeps only
  its x and y arms (its third arm is dropped, so that the trial's x-z and y-z contrasts do
  not feed the indirect estimate with the same patients as the direct one). A trial with more
  than three arms becomes two pseudo-studies: the x-y pair (``<id>*``), and its other arms
  (``<id>**``). This makes the result independent of the choice of baseline arm, which Dias
  2010 noted as a limitation of keeping the trial whole.
* Studies outside the connected component of x and y in the indirect network cannot inform
  the comparison (they can only happen after the rewrite). They are left out, and the
  reference is the first remaining treatment. This is noted in ``notes``.

Two engines:

* :func:`nodesplit_frequentist`: the same split model by GLS, in milliseconds (netmeta's
  ``netsplit`` "SIDE" idea, "separate indirect from direct evidence"). With the study blocks
  independent, the direct estimate is exactly the inverse-variance pairwise meta-analysis of
  the direct studies. Under RE, tau^2 is fixed at the consistency model's estimate for both
  parts, as netmeta does. The difference gets a Wald z-test.
* :func:`nodesplit_bayes`: the TSD2 models of :mod:`living_review.nma.bayes` with the extra
  parameter (prior ``N(0, d_sd^2)`` like the d's, common tau under RE). It uses the same
  convergence checks and extension rule as the consistency fit.

Importing this module is light: PyMC and ArviZ load inside :func:`nodesplit_bayes`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from living_review.nma.data import ArmStudy, ContrastStudy, Network, NMADataError
from living_review.nma.result import Summary, summarise

if TYPE_CHECKING:
    from living_review.nma.result import NMAResult
    from living_review.nma.spec import FitSpec

FloatArray = npt.NDArray[np.float64]
Z975 = 1.959963984540054  # qnorm(0.975)


# --------------------------------------------------------------------------- which comparisons
def _rank(net: Network) -> dict[str, int]:
    return {t: i for i, t in enumerate(net.treatments)}


def splittable_comparisons(net: Network) -> list[tuple[str, str]]:
    """Comparisons with direct *and* independent indirect evidence (gemtc's rule).

    Returns ``(comparator, treatment)`` pairs, the comparator first in the treatment order,
    sorted by that order. Rule: some study includes both, and the two are connected in the
    graph of the studies that do *not* include both (``has.indirect.evidence``).
    """
    import networkx as nx  # deferred: ~0.2 s at import

    rank = _rank(net)
    designs = net.study_treatments()
    out: list[tuple[str, str]] = []
    for a, b in sorted(net.edges(), key=lambda e: (rank[e[0]], rank[e[1]])):
        g = nx.Graph()
        for ts in designs:
            if a in ts and b in ts:
                continue
            g.add_edges_from((ts[i], u) for i in range(len(ts)) for u in ts[i + 1 :])
        if a in g and b in g and nx.has_path(g, a, b):
            out.append((a, b))
    return out


# --------------------------------------------------------------------------- split network
@dataclass(frozen=True)
class SplitNetwork:
    """The network rewritten for splitting ``treatment`` vs ``comparator``.

    ``direct`` indexes (into ``network.study_treatments()``) the studies that now compare
    exactly the two split treatments. Their comparator arm is the baseline, so their single
    contrast is ``treatment - comparator`` = ``d_direct``.
    """

    comparator: str
    treatment: str
    network: Network
    direct: tuple[int, ...]
    direct_labels: tuple[str, ...]
    dropped_treatments: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def direct_rows(self) -> npt.NDArray[np.bool_]:
        """Which contrasts (``network.contrast_index()`` order) belong to direct studies."""
        idx = self.network.contrast_index()
        return np.isin(idx.study, np.asarray(self.direct, dtype=np.int64))


def _subset_arm(s: ArmStudy, keep: Sequence[str], suffix: str, what: str) -> ArmStudy:
    return replace(
        s,
        study=s.study + suffix,
        label=f"{s.label} [{what}]",
        arms=tuple(a for a in s.arms if a.treatment in keep),
    )


def _subset_contrast(
    c: ContrastStudy, keep: Sequence[str], suffix: str, what: str
) -> ContrastStudy:
    """Contrasts among ``keep`` (baseline: the first of them in ``c``'s order).

    With arm effects ``theta = B y`` relative to the old baseline (``theta_0 = 0``), the new
    contrasts are ``y' = A y`` with ``A_j = B[keep_j] - B[keep_0]``; ``cov' = A cov A^T``
    (gemtc's change-of-baseline matrix, ``cob.matrix``).
    """
    ts = [t for t in c.treatments if t in keep]
    k = len(c.treatments)
    b = np.zeros((k, k - 1))
    b[1:, :] = np.eye(k - 1)
    pos = {t: i for i, t in enumerate(c.treatments)}
    a = np.array([b[pos[t]] - b[pos[ts[0]]] for t in ts[1:]])
    y = a @ np.asarray(c.y, dtype=float)
    cov = a @ c.cov_matrix @ a.T
    return replace(
        c,
        study=c.study + suffix,
        label=f"{c.label} [{what}]",
        treatments=tuple(ts),
        y=tuple(float(v) for v in y),
        cov=tuple(tuple(float(v) for v in row) for row in cov),
    )


def split_network(net: Network, comparator: str, treatment: str) -> SplitNetwork:
    """Rewrite ``net`` for the node-split of ``treatment`` vs ``comparator`` (gemtc's rules).

    Raises :class:`NMADataError` when the comparison has no direct or no indirect evidence.
    """
    rank = _rank(net)
    for t in (comparator, treatment):
        if t not in rank:
            raise NMADataError(net.source, f"treatment {t!r} is not in the network")
    t1, t2 = sorted((comparator, treatment), key=rank.__getitem__)
    pair = (t1, t2)
    others_of = "other arms"
    arm: list[ArmStudy] = []
    con: list[ContrastStudy] = []
    for s in net.arm_studies:
        ts = s.treatments
        if t1 in ts and t2 in ts and len(ts) > 2:
            arm.append(_subset_arm(s, pair, "" if len(ts) == 3 else "*", f"{t1} vs {t2}"))
            if len(ts) > 3:
                arm.append(_subset_arm(s, [t for t in ts if t not in pair], "**", others_of))
        else:
            arm.append(s)
    for c in net.contrast_studies:
        ts = c.treatments
        if t1 in ts and t2 in ts and len(ts) > 2:
            con.append(_subset_contrast(c, pair, "" if len(ts) == 3 else "*", f"{t1} vs {t2}"))
            if len(ts) > 3:
                con.append(_subset_contrast(c, [t for t in ts if t not in pair], "**", others_of))
        else:
            con.append(c)

    import networkx as nx

    def is_direct(ts: Sequence[str]) -> bool:
        return t1 in ts and t2 in ts

    g = nx.Graph()
    g.add_nodes_from(net.treatments)
    for ts in [s.treatments for s in arm] + [c.treatments for c in con]:
        if not is_direct(ts):
            g.add_edges_from((ts[i], u) for i in range(len(ts)) for u in ts[i + 1 :])
    if not any(is_direct(s.treatments) for s in arm) and not any(
        is_direct(c.treatments) for c in con
    ):
        raise NMADataError(net.source, f"no study compares {t2} with {t1}: nothing to split")
    if not nx.has_path(g, t1, t2):
        raise NMADataError(
            net.source,
            f"{t2} vs {t1} has no indirect evidence independent of its direct studies "
            "(it is in no loop, or only in loops formed by one multi-arm trial)",
        )
    comp = nx.node_connected_component(g, t1)
    order = tuple(t for t in net.treatments if t in comp)
    dropped = tuple(t for t in net.treatments if t not in comp)
    arm = [s for s in arm if set(s.treatments) <= comp]
    con = [c for c in con if set(c.treatments) <= comp]
    notes: list[str] = []
    if dropped:
        notes.append(
            f"studies of {', '.join(dropped)} left out: not connected to {t1} and {t2} "
            "without the split studies"
        )
    split = Network(
        treatments=order,
        arm_studies=tuple(arm),
        contrast_studies=tuple(con),
        measure=net.measure,
        source=net.source,
        notes=net.notes,
    ).with_order(order)
    designs = split.study_treatments()
    labels = [s.label for s in split.arm_studies] + [c.label for c in split.contrast_studies]
    direct = tuple(i for i, ts in enumerate(designs) if is_direct(ts))
    return SplitNetwork(
        comparator=t1,
        treatment=t2,
        network=split,
        direct=direct,
        direct_labels=tuple(labels[i] for i in direct),
        dropped_treatments=dropped,
        notes=tuple(notes),
    )


def split_design(x: FloatArray, direct_rows: npt.NDArray[np.bool_]) -> FloatArray:
    """Design with one more column, ``d_direct``, which alone explains the direct contrasts.

    ``x`` maps d[2..K] to the contrasts vs study baselines. In a direct study the contrast is
    treatment vs comparator (comparator = baseline), which the split model sets to
    ``d_direct`` instead of ``d[treatment] - d[comparator]``.
    """
    xa = np.hstack([x, np.zeros((x.shape[0], 1))])
    xa[direct_rows, :] = 0.0
    xa[direct_rows, -1] = 1.0
    return xa


def _indirect_vector(sp: SplitNetwork, n_params: int) -> FloatArray:
    """Coefficients of ``d[treatment] - d[comparator]`` over (d[2..K], d_direct)."""
    c = np.zeros(n_params)
    trts = sp.network.treatments
    for t, sign in ((sp.treatment, 1.0), (sp.comparator, -1.0)):
        j = trts.index(t)
        if j > 0:
            c[j - 1] += sign
    return c


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class NodeSplit:
    """Direct vs indirect evidence on ``treatment`` vs ``comparator`` (analysis scale).

    ``difference`` = direct - indirect (for ratio measures, its exp is the ratio of ratios);
    ``p`` is two-sided: Bayesian ``2 min(P(diff > 0), P(diff < 0))`` or the Wald z-test.
    ``network`` is the consistency model's estimate of the same comparison, when attached.
    """

    treatment: str
    comparator: str
    direct: Summary
    indirect: Summary
    difference: Summary
    p: float
    method: str
    direct_studies: tuple[str, ...]
    network: Summary | None = None
    converged: bool = True
    messages: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def comparison(self) -> str:
        """``treatment vs comparator``."""
        return f"{self.treatment} vs {self.comparator}"

    def as_json(self, *, log_scale: bool) -> dict[str, Any]:
        """One entry of the ``nodesplit`` list of ``lsr nma fit-file --json``."""

        def eff(s: Summary | None) -> dict[str, Any] | None:
            if s is None:
                return None
            out = s.as_json()
            if log_scale:
                out["natural"] = s.natural()
            return out

        return {
            "comparison": self.comparison,
            "treatment": self.treatment,
            "comparator": self.comparator,
            "direct": eff(self.direct),
            "indirect": eff(self.indirect),
            "difference": eff(self.difference),
            "p": self.p,
            "network": eff(self.network),
            "method": self.method,
            "n_direct_studies": len(self.direct_studies),
            "direct_studies": list(self.direct_studies),
            "converged": self.converged,
            "messages": list(self.messages),
            "notes": list(self.notes),
            **self.extra,
        }


def _wald(est: float, var: float) -> Summary:
    se = math.sqrt(max(var, 0.0))
    return Summary(mean=est, sd=se, q2_5=est - Z975 * se, q50=est, q97_5=est + Z975 * se)


def with_network_estimates(splits: Sequence[NodeSplit], res: NMAResult) -> list[NodeSplit]:
    """Attach the consistency model's estimate of each split comparison (for display)."""
    return [replace(s, network=res.league(s.treatment, s.comparator)) for s in splits]


def _targets(net: Network, comparisons: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    return list(comparisons) if comparisons is not None else splittable_comparisons(net)


# --------------------------------------------------------------------------- frequentist
def nodesplit_frequentist(
    net: Network,
    *,
    model: Literal["fe", "re"] = "re",
    tau_method: Literal["reml", "dl"] = "reml",
    comparisons: Sequence[tuple[str, str]] | None = None,
) -> list[NodeSplit]:
    """Frequentist node-split of every splittable comparison (GLS of the split model).

    ``tau^2`` (RE) is the consistency model's estimate, held fixed, so direct and indirect
    estimates are on a common footing, as in netmeta's ``netsplit``. With the study blocks
    independent, the GLS separates into two parts. The direct part is the inverse-variance
    pairwise meta-analysis of the direct studies (weights ``1 / (v_i + tau^2)``). The
    indirect part is the NMA of the other studies. For binary data, the 0.5 zero-cell
    correction is decided on the arms the split model keeps: a three-arm trial reduced to its
    split pair is corrected only if one of those two arms has a zero cell.
    """
    from scipy.special import ndtr

    from living_review.nma.frequentist import _gls, contrast_data, tau2_dl, tau2_reml

    tau2 = 0.0
    if model == "re":
        cd_full = contrast_data(net)
        tau2 = tau2_reml(cd_full) if tau_method == "reml" else tau2_dl(cd_full)
    label = "FE" if model == "fe" else f"RE, tau^2 = {tau2:.4g} from the consistency model"
    out: list[NodeSplit] = []
    for a, b in _targets(net, comparisons):
        sp = split_network(net, a, b)
        cd = contrast_data(sp.network)
        x = split_design(cd.X, sp.direct_rows())
        if np.linalg.matrix_rank(x) < x.shape[1]:  # cannot happen after split_network
            raise ValueError(f"split design for {sp.treatment} vs {sp.comparator} is singular")
        g = _gls(cd.y, x, cd.V + tau2 * cd.B)
        c_ind = _indirect_vector(sp, x.shape[1])
        c_dir = np.zeros(x.shape[1])
        c_dir[-1] = 1.0
        c_diff = c_dir - c_ind
        direct = _wald(float(c_dir @ g.beta), float(c_dir @ g.vcov @ c_dir))
        indirect = _wald(float(c_ind @ g.beta), float(c_ind @ g.vcov @ c_ind))
        diff = _wald(float(c_diff @ g.beta), float(c_diff @ g.vcov @ c_diff))
        assert diff.sd is not None
        z = diff.mean / diff.sd if diff.sd > 0 else 0.0
        out.append(
            NodeSplit(
                treatment=sp.treatment,
                comparator=sp.comparator,
                direct=direct,
                indirect=indirect,
                difference=diff,
                p=float(2.0 * ndtr(-abs(z))),
                method=f"frequentist split model (GLS; {label}; Wald z-test)",
                direct_studies=sp.direct_labels,
                notes=sp.notes,
                extra={"z": z, "tau2": tau2},
            )
        )
    return out


# --------------------------------------------------------------------------- Bayesian
def bayes_p(diff: FloatArray) -> float:
    """Two-sided Bayesian p-value ``2 min(P(diff > 0), P(diff < 0))`` (Dias 2010; gemtc)."""
    return float(2.0 * min(np.mean(diff > 0), np.mean(diff < 0)))


def _sampler_words(sampler: str) -> str:
    return "exact draws" if sampler == "exact" else f"{sampler} NUTS"


def nodesplit_bayes(
    net: Network,
    spec: FitSpec | None = None,
    *,
    comparisons: Sequence[tuple[str, str]] | None = None,
) -> list[NodeSplit]:
    """Bayesian node-split (TSD2 model + ``d_direct``) of every splittable comparison.

    One Bayesian fit per comparison, with ``spec``'s model, priors, sampler, seed,
    thresholds and extension rule. A split fit that still fails the thresholds is reported
    with ``converged = False`` and the reasons, never silently.
    """
    from living_review.nma.bayes import (
        _marginal,
        layout,
        model_inputs,
        resolved_sampler,
        sample_until_converged,
    )
    from living_review.nma.spec import FitSpec

    spec = spec or FitSpec()
    out: list[NodeSplit] = []
    for a, b in _targets(net, comparisons):
        t0 = time.perf_counter()
        sp = split_network(net, a, b)
        inp = model_inputs(sp.network)
        inp = replace(inp, X=split_design(inp.X, sp.direct_rows()))
        lay = layout(sp.network, inp, marginal=_marginal(spec))
        run = sample_until_converged(sp.network, spec, inp, lay)
        post = run.idata.posterior
        k = sp.network.n_treatments
        d = np.asarray(post["d"].values, dtype=float).reshape(-1, k - 1)
        d_dir = np.asarray(post["d_direct"].values, dtype=float).reshape(-1)
        params = np.concatenate([d, d_dir[:, None]], axis=1)
        ind = params @ _indirect_vector(sp, k)
        diff = d_dir - ind
        diag = run.diagnostics
        tau = None
        if spec.model == "re":
            tau = summarise(np.asarray(post["tau"].values, dtype=float).reshape(-1)).as_json()
        out.append(
            NodeSplit(
                treatment=sp.treatment,
                comparator=sp.comparator,
                direct=summarise(d_dir),
                indirect=summarise(ind),
                difference=summarise(diff),
                p=bayes_p(diff),
                method=f"Bayesian node-split (Dias et al. 2010; {spec.model.upper()}, "
                f"{_sampler_words(resolved_sampler(spec, lay))})",
                direct_studies=sp.direct_labels,
                converged=bool(diag["converged"]),
                messages=tuple(diag["messages"]),
                notes=sp.notes,
                extra={
                    "tau": tau,
                    "diagnostics": {
                        key: diag[key]
                        for key in ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences")
                    },
                    "n_draws": int(d_dir.size),
                    "attempts": len(run.attempts),
                    "seconds": time.perf_counter() - t0,
                },
            )
        )
    return out

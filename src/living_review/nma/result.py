"""Provides :class:`NMAResult`, the one result type of both NMA engines, and its derivations.

The frequentist estimate (shown at once) and the Bayesian fit (minutes later) fill the same
fields, so reports and the TUI key on the data, never on the engine. Conventions follow the
reference results in ``shared/nma-reference`` (``R/common.R``):

* relative effects ``d[t] - d[reference]`` on the analysis scale (log OR/HR/RR, MD);
* league table: every ordered pair, the effect of ``treatment`` relative to ``comparator``;
* ranks per draw, rank 1 = best in the stated direction; SUCRA = sum_{j<K} P(rank <= j)/(K-1);
  the frequentist engine reports P-scores (Rücker & Schwarzer 2015) in the same field.

Only numpy here: importing this module never pulls in PyMC or ArviZ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Posterior interval reported everywhere (equal-tailed, as JAGS/TSD2 report).
INTERVAL = (0.025, 0.975)


@dataclass(frozen=True)
class Summary:
    """Summary of one scalar: posterior draws, or an estimate with a Wald interval.

    For the frequentist engine ``mean`` is the estimate, ``sd`` its standard error and the
    quantiles are the Wald 95% limits (``q50`` = estimate).
    """

    mean: float
    sd: float | None
    q2_5: float | None
    q50: float | None
    q97_5: float | None
    ess_bulk: float | None = None
    ess_tail: float | None = None
    mcse: float | None = None
    rhat: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Keys as in the reference JSON (``q2.5``, ``q97.5``)."""
        out: dict[str, Any] = {
            "mean": self.mean,
            "sd": self.sd,
            "q2.5": self.q2_5,
            "q50": self.q50,
            "q97.5": self.q97_5,
        }
        for key in ("ess_bulk", "ess_tail", "mcse", "rhat"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> Summary:
        """The inverse of :meth:`as_json` (stored runs, stored node-splits); absent = NaN mean."""
        o = obj or {}
        return cls(
            mean=float(o.get("mean", math.nan)),
            sd=o.get("sd"),
            q2_5=o.get("q2.5"),
            q50=o.get("q50"),
            q97_5=o.get("q97.5"),
            ess_bulk=o.get("ess_bulk"),
            ess_tail=o.get("ess_tail"),
            mcse=o.get("mcse"),
            rhat=o.get("rhat"),
        )

    def natural(self) -> dict[str, float | None]:
        """The summary on the natural scale (exp of median and limits) for log measures."""

        def ex(v: float | None) -> float | None:
            return None if v is None else math.exp(v)

        return {"median": ex(self.q50), "q2.5": ex(self.q2_5), "q97.5": ex(self.q97_5)}


@dataclass(frozen=True)
class LeagueEntry:
    """Effect of ``treatment`` relative to ``comparator`` (d[treatment] - d[comparator])."""

    treatment: str
    comparator: str
    summary: Summary


@dataclass(frozen=True)
class RankEntry:
    """Ranking of one treatment: SUCRA (Bayesian) or P-score (frequentist) and rank summaries."""

    treatment: str
    sucra: float
    mean_rank: float
    p_best: float | None = None
    rank_probabilities: tuple[float, ...] | None = None


@dataclass
class NMAResult:
    """The result of one NMA fit, whichever engine produced it.

    ``converged`` is False when the sampler failed the diagnostics thresholds; then the
    estimates are kept for inspection but must not be presented as conclusions
    (``diagnostics["messages"]`` says why).
    """

    engine: str
    model: str  # "fe" | "re"
    measure: str
    log_scale: bool
    treatments: tuple[str, ...]
    higher_is_better: bool
    relative_effects: dict[str, Summary]
    league_table: list[LeagueEntry]
    ranking: list[RankEntry]
    ranking_method: str
    tau: Summary | None
    diagnostics: dict[str, Any]
    converged: bool = True
    model_fit: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)
    timing_seconds: dict[str, float] = field(default_factory=dict)
    draws_d: FloatArray | None = field(default=None, repr=False)
    """Pooled draws of d (draws x treatments, column 0 = reference); Bayesian only."""

    @property
    def reference(self) -> str:
        """The reference treatment."""
        return self.treatments[0]

    @property
    def sucra(self) -> dict[str, float]:
        """SUCRA (or P-score) per treatment."""
        return {r.treatment: r.sucra for r in self.ranking}

    def league(self, treatment: str, comparator: str) -> Summary:
        """The league-table entry of ``treatment`` vs ``comparator``."""
        for e in self.league_table:
            if e.treatment == treatment and e.comparator == comparator:
                return e.summary
        raise KeyError((treatment, comparator))

    def as_json(self) -> dict[str, Any]:
        """The ``lsr nma fit-file --json`` object (contract keys never renamed).

        Contract keys: ``relative_effects``, ``tau``, ``sucra``, ``league_table``,
        ``diagnostics``, ``dic``. Treatment names are as in the data.
        """

        def effect(s: Summary) -> dict[str, Any]:
            out = s.as_json()
            if self.log_scale:
                out["natural"] = s.natural()
            return out

        league = []
        for e in self.league_table:
            row: dict[str, Any] = {"treatment": e.treatment, "comparator": e.comparator}
            row.update(effect(e.summary))
            league.append(row)
        status = "ok" if self.converged else "not_converged"
        return {
            "engine": self.engine,
            "model": self.model,
            "status": status,
            "converged": self.converged,
            "measure": self.measure,
            "scale": f"log {self.measure}" if self.log_scale else self.measure,
            "reference": self.reference,
            "treatments": list(self.treatments),
            "ranking_direction": "higher is better" if self.higher_is_better else "lower is better",
            "relative_effects": {t: effect(s) for t, s in self.relative_effects.items()},
            "tau": None if self.tau is None else self.tau.as_json(),
            "sucra": self.sucra,
            "ranking_method": self.ranking_method,
            "ranking": {
                r.treatment: {
                    "sucra": r.sucra,
                    "mean_rank": r.mean_rank,
                    "p_best": r.p_best,
                    "rank_probabilities": (
                        None if r.rank_probabilities is None else list(r.rank_probabilities)
                    ),
                }
                for r in self.ranking
            },
            "league_table": league,
            "diagnostics": self.diagnostics,
            "dic": self.model_fit,
            "network": self.network,
            "timing_seconds": self.timing_seconds,
            **self.extra,
        }


# --------------------------------------------------------------------------- from draws
def summarise(x: FloatArray) -> Summary:
    """Mean, SD and quantiles of pooled draws (numpy's default = R's type 7 quantiles)."""
    q = np.quantile(x, [0.025, 0.5, 0.975])
    return Summary(
        mean=float(np.mean(x)),
        sd=float(np.std(x, ddof=1)),
        q2_5=float(q[0]),
        q50=float(q[1]),
        q97_5=float(q[2]),
    )


def league_from_draws(d: FloatArray, treatments: tuple[str, ...]) -> list[LeagueEntry]:
    """Every ordered pair ``d[:, j] - d[:, i]`` (treatment j vs comparator i)."""
    out = []
    for i, ti in enumerate(treatments):
        for j, tj in enumerate(treatments):
            if i != j:
                out.append(LeagueEntry(tj, ti, summarise(d[:, j] - d[:, i])))
    return out


def ranking_from_draws(
    d: FloatArray, treatments: tuple[str, ...], *, higher_is_better: bool, seed: int = 0
) -> list[RankEntry]:
    """Rank probabilities, mean rank, P(best) and SUCRA from draws of d (draws x K).

    Rank 1 = best. Exact ties (possible only for degenerate draws) are broken at random, as
    ``R/common.R`` does, by adding a random secondary key.
    """
    n, k = d.shape
    z = -d if higher_is_better else d  # rank 1 = smallest z
    rng = np.random.default_rng(seed)
    # sort by a random key, then stably by z: ties in z end up in random order
    perm = np.argsort(rng.random(z.shape), axis=1)
    perm = np.take_along_axis(
        perm, np.argsort(np.take_along_axis(z, perm, axis=1), axis=1, kind="stable"), axis=1
    )
    ranks = np.empty_like(perm)
    np.put_along_axis(ranks, perm, np.arange(1, k + 1)[None, :].repeat(n, axis=0), axis=1)
    probs = np.stack([(ranks == r).mean(axis=0) for r in range(1, k + 1)])  # [rank, trt]
    cum = np.cumsum(probs, axis=0)
    sucra = cum[:-1].sum(axis=0) / (k - 1)
    return [
        RankEntry(
            treatment=t,
            sucra=float(sucra[j]),
            mean_rank=float(ranks[:, j].mean()),
            p_best=float(probs[0, j]),
            rank_probabilities=tuple(float(p) for p in probs[:, j]),
        )
        for j, t in enumerate(treatments)
    ]


def pscores(
    est: FloatArray, vcov: FloatArray, treatments: tuple[str, ...], *, higher_is_better: bool
) -> list[RankEntry]:
    """P-scores (Rücker & Schwarzer 2015): mean over competitors of P(treatment is better).

    ``est`` has the reference's 0 at index 0 and ``vcov`` the full K x K covariance (zeros in
    row/column 0). P_ij = Phi((b_i - b_j) / se_ij), sign flipped when lower is better.
    """
    from scipy.special import ndtr

    k = len(treatments)
    var = np.diag(vcov)
    se = np.sqrt(np.maximum(var[:, None] + var[None, :] - 2 * vcov, 1e-300))
    diff = est[:, None] - est[None, :]
    p = ndtr(diff / se if higher_is_better else -diff / se)
    np.fill_diagonal(p, np.nan)
    score = np.nanmean(p, axis=1)
    # expected rank from P-score: 1 + (K-1)(1 - P) (Rücker & Schwarzer 2015, eq. 4)
    return [
        RankEntry(treatment=t, sucra=float(score[j]), mean_rank=float(1 + (k - 1) * (1 - score[j])))
        for j, t in enumerate(treatments)
    ]

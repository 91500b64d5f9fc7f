"""Provides :class:`FitSpec`: the frozen, serialisable settings of one Bayesian NMA fit.

It is stored with every analysis run (``as_dict``) so a fit can be reproduced exactly: the
model, the priors (NICE DSU TSD2 defaults), the sampler and its settings, the seed, and the
convergence thresholds that decide whether the result may be presented as a conclusion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ModelKind = Literal["fe", "re"]
TauPrior = Literal["uniform", "half-normal"]
Sampler = Literal["auto", "exact", "nutpie", "pymc"]
Parameterisation = Literal["auto", "marginal", "non-centred"]


@dataclass(frozen=True)
class Priors:
    """Prior distributions; the defaults are those of NICE DSU TSD2 (and the JAGS reference).

    * ``d[k] ~ N(0, d_sd^2)``, k >= 2, ``d[1] = 0`` (TSD2: sd 100)
    * study baselines ``mu[i] ~ N(0, mu_sd^2)`` (arm-level data only; TSD2: sd 100)
    * between-study SD ``tau ~ U(0, tau_upper)`` (TSD2: 5), or ``tau ~ HalfNormal(tau_scale)``
    """

    d_sd: float = 100.0
    mu_sd: float = 100.0
    tau: TauPrior = "uniform"
    tau_upper: float = 5.0
    tau_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.d_sd <= 0 or self.mu_sd <= 0 or self.tau_upper <= 0 or self.tau_scale <= 0:
            raise ValueError("prior scales must be positive")
        if self.tau not in ("uniform", "half-normal"):
            raise ValueError(f"tau prior must be 'uniform' or 'half-normal', not {self.tau!r}")

    def describe(self) -> dict[str, str]:
        """Human-readable prior statements (as in the reference JSON's ``priors``)."""
        tau = (
            f"tau ~ Uniform(0, {self.tau_upper:g})"
            if self.tau == "uniform"
            else f"tau ~ HalfNormal({self.tau_scale:g})"
        )
        return {
            "d": f"d[k] ~ Normal(0, {self.d_sd:g}^2), k >= 2; d[1] = 0",
            "mu": f"mu[i] ~ Normal(0, {self.mu_sd:g}^2) (study baselines, arm-level data)",
            "tau": tau + " (between-study SD; common heterogeneity; multi-arm correlation 0.5)",
        }


@dataclass(frozen=True)
class Thresholds:
    """Convergence criteria; a fit failing any after one extension is *not converged*."""

    rhat_max: float = 1.01
    ess_min: float = 400.0
    max_divergences: int = 0


@dataclass(frozen=True)
class FitSpec:
    """Settings of a Bayesian NMA fit.

    ``draws`` and ``tune`` are per chain. ``higher_is_better`` sets the ranking direction
    (from the protocol, or ``--lower-better``). ``parameterisation`` picks coordinates,
    never the model: ``"auto"`` (normal random effects integrated out and, in all-normal
    networks, d and mu sampled relative to their exact conditional posterior given tau; see
    :mod:`living_review.nma.bayes`), ``"marginal"`` (integrated out, d and mu plain: the
    coordinates before that, kept for comparison) or ``"non-centred"`` (every study effect
    latent). ``extensions`` is how many times a fit that fails the thresholds is re-run
    with twice the tuning and draws (and a higher ``target_accept`` when it diverged) before
    it is declared not converged. ``sampler``: ``"auto"`` draws all-normal networks exactly
    (independent draws, :mod:`living_review.nma.exact`) and samples the rest with nutpie's
    NUTS; ``"exact"`` insists on exact draws (all-normal networks only); ``"nutpie"`` and
    ``"pymc"`` run NUTS whatever the data.
    """

    model: ModelKind = "re"
    priors: Priors = field(default_factory=Priors)
    chains: int = 4
    tune: int = 1000
    draws: int = 2500
    seed: int = 20251
    sampler: Sampler = "auto"
    parameterisation: Parameterisation = "auto"
    low_rank_mass_matrix: bool | None = None
    target_accept: float = 0.9
    higher_is_better: bool = True
    extensions: int = 1
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.model not in ("fe", "re"):
            raise ValueError(f"model must be 'fe' or 're', not {self.model!r}")
        if self.sampler not in ("auto", "exact", "nutpie", "pymc"):
            raise ValueError(
                f"sampler must be 'auto', 'exact', 'nutpie' or 'pymc', not {self.sampler!r}"
            )
        if self.chains < 1 or self.draws < 1 or self.tune < 0:
            raise ValueError("chains and draws must be positive, tune non-negative")
        if self.parameterisation not in ("auto", "marginal", "non-centred"):
            raise ValueError("parameterisation must be 'auto', 'marginal' or 'non-centred'")
        if not 0 < self.target_accept < 1:
            raise ValueError("target_accept must lie in (0, 1)")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (stored with each analysis run)."""
        return asdict(self)

"""Provides ΔRMST (and Cox log HR) from stored curves as meta-analysis input, and pooling.

* :func:`study_effects` reconstructs every current curve of an outcome and, per study, gives
  the RMST of each arm at one common τ and the ΔRMST of every pair of arms (survRM2 formulas),
  or the Cox log HR for two-arm studies.
* :func:`contrast_rows` turns those into the NMA's contrast format (``study, study_label,
  treat1, treat2, TE, seTE``; TE = treat1 - treat2), so :func:`rmst_network` can build a
  :class:`~living_review.nma.data.Network` on the ΔRMST scale (measure ``MD``: a difference of
  means in time units, not a log scale) or on log HR.
* :func:`pool_drmst` is the pairwise random-effects pooled ΔRMST of each active treatment vs
  the reference, using the project's contrast engine (REML as metafor; a two-node network is a
  pairwise meta-analysis), so no second random-effects implementation exists.

τ: one pre-specified horizon for the whole network (spec §4.2): by default the smallest
admissible τ over the studies (survRM2's rule per study); a τ beyond any study's admissible τ is
an error naming that study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

from scipy.stats import norm
from sqlalchemy import Engine

from living_review.survival.digitised import SurvivalError
from living_review.survival.estimates import ArmRMST, cox_hr, rmst, rmst2, tau_bounds
from living_review.survival.guyot import Reconstruction
from living_review.survival.service import StoredCurve, reconstruct_stored

if TYPE_CHECKING:
    from living_review.nma.data import Network
    from living_review.nma.result import NMAResult
    from living_review.nma.spec import FitSpec
    from living_review.protocol import Protocol

Effect = Literal["drmst", "loghr"]


@dataclass
class StudyEffects:
    """One study's reconstructed arms and effects at the common τ."""

    study: str
    arms: list[str]
    rmst: dict[str, ArmRMST]
    contrasts: list[dict[str, Any]]
    hr: dict[str, float] | None
    admissible_tau: float
    tau_rule: str
    warnings: list[str] = field(default_factory=list)
    reconstructions: dict[str, dict[str, Any]] = field(default_factory=dict)
    published_hr: dict[str, Any] | None = None


@dataclass
class Effects:
    """All studies' effects of one outcome at τ."""

    outcome: str
    tau: float
    tau_rule: str
    studies: list[StudyEffects]

    def as_json(self) -> dict[str, Any]:
        """Plain dict (``lsr km rmst --outcome ... --json``)."""
        return {
            "outcome": self.outcome,
            "tau": self.tau,
            "tau_rule": self.tau_rule,
            "studies": [
                {
                    "study": s.study,
                    "arms": s.arms,
                    "rmst": {a: vars(r) for a, r in s.rmst.items()},
                    "contrasts": s.contrasts,
                    "hr": s.hr,
                    "admissible_tau": s.admissible_tau,
                    "tau_rule": s.tau_rule,
                    "reconstruction": s.reconstructions,
                    "published_hr": s.published_hr,
                    "warnings": s.warnings,
                }
                for s in self.studies
            ],
        }


def _ipd(rec: Reconstruction) -> tuple[tuple[float, ...], tuple[int, ...]]:
    return rec.ipd.time, rec.ipd.event


def _admissible(arms: list[tuple[StoredCurve, Reconstruction]]) -> tuple[float, str]:
    """The largest τ valid for every pair of arms of a study (survRM2's rule per pair)."""
    best, rule = math.inf, ""
    for (_, r1), (_, r0) in combinations(arms, 2):
        top, why = tau_bounds(*_ipd(r1), *_ipd(r0))
        if top < best:
            best, rule = top, why
    return best, rule


def published_hrs(engine: Engine, protocol: Protocol, outcome: str) -> dict[str, dict[str, Any]]:
    """The final extracted (published) HRs of the outcome per study label, for comparison
    with the reconstructed Cox HR (spec §3); empty when there are none."""
    from living_review.errors import LsrError
    from living_review.extraction.service import analysis_data

    try:
        data = analysis_data(engine=engine, protocol=protocol, outcome=outcome)
    except LsrError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for r in data.rows.get("contrast", []):
        if str(r.get("reported_measure", "")).upper() == "HR":
            out[str(r["study_label"])] = {
                "treat1": r["treat1"],
                "treat2": r["treat2"],
                "hr": r.get("reported_estimate"),
                "lower": r.get("reported_lower"),
                "upper": r.get("reported_upper"),
                "source": r.get("source"),
            }
    return out


def study_effects(
    engine: Engine,
    outcome: str,
    *,
    tau: float | None = None,
    alpha: float = 0.05,
    protocol: Protocol | None = None,
) -> Effects:
    """Reconstruct the outcome's current curves and estimate effects at one common τ.

    With the protocol, each two-arm study's reconstructed Cox HR is shown next to its
    published (finally extracted) HR, oriented the same way.
    """
    by_study = reconstruct_stored(engine, outcome)
    usable = {s: a for s, a in by_study.items() if len(a) >= 2}
    if not usable:
        raise SurvivalError(
            f"no study has curves for two or more arms of {outcome} (attach them with "
            "'lsr km attach' or 'lsr km load-example')"
        )
    bounds = {s: _admissible(a) for s, a in usable.items()}
    smallest = min(bounds, key=lambda s: bounds[s][0])
    if tau is None:
        tau = bounds[smallest][0]
        rule = f"default: smallest admissible τ over studies ({smallest}: {bounds[smallest][1]})"
    else:
        for s, (top, why) in bounds.items():
            if tau > top + 1e-12:
                raise SurvivalError(f"tau {tau:g} is beyond {s}'s admissible {top:g} ({why})")
        rule = "given"
    published = published_hrs(engine, protocol, outcome) if protocol is not None else {}
    studies = []
    for s, arms in usable.items():
        names = [c.treatment for c, _ in arms]
        recs = {c.treatment: r for c, r in arms}
        per_arm = {a: rmst(*_ipd(recs[a]), tau, alpha) for a in names}
        contrasts = []
        for a, b in combinations(names, 2):
            r2 = rmst2(*_ipd(recs[a]), *_ipd(recs[b]), tau=tau, alpha=alpha)
            contrasts.append(
                {
                    "treat1": a,
                    "treat2": b,
                    "drmst": r2.diff,
                    "se": r2.diff_se,
                    "lower": r2.diff_lower,
                    "upper": r2.diff_upper,
                    "p": r2.diff_p,
                    "rmst_ratio": vars(r2.rmst_ratio),
                    "rmtl_ratio": vars(r2.rmtl_ratio),
                }
            )
        hr = cox_hr(*_ipd(recs[names[0]]), *_ipd(recs[names[1]])) if len(names) == 2 else None
        warnings = [w for _, r in arms for w in r.warnings]
        pub = published.get(s)
        if pub is not None and hr is not None and {pub["treat1"], pub["treat2"]} == set(names):
            if pub["treat1"] != names[0] and pub["hr"]:  # orient as the reconstruction
                lo, hi = pub["lower"], pub["upper"]
                pub = pub | {
                    "treat1": names[0],
                    "treat2": names[1],
                    "hr": 1 / pub["hr"],
                    "lower": 1 / hi if hi else None,
                    "upper": 1 / lo if lo else None,
                }
        else:
            pub = None
        studies.append(
            StudyEffects(
                study=s,
                arms=names,
                rmst=per_arm,
                contrasts=contrasts,
                hr=hr,
                admissible_tau=bounds[s][0],
                tau_rule=bounds[s][1],
                warnings=warnings,
                reconstructions={c.treatment: r.as_json() for c, r in arms},
                published_hr=pub,
            )
        )
    return Effects(outcome=outcome, tau=tau, tau_rule=rule, studies=studies)


def contrast_rows(effects: Effects, effect: Effect = "drmst") -> list[dict[str, Any]]:
    """NMA contrast rows (``TE`` = treat1 - treat2): ΔRMST, or Cox log HR (two-arm studies)."""
    rows: list[dict[str, Any]] = []
    for s in effects.studies:
        if effect == "drmst":
            for c in s.contrasts:
                rows.append(
                    {
                        "study": s.study,
                        "study_label": s.study,
                        "treat1": c["treat1"],
                        "treat2": c["treat2"],
                        "TE": c["drmst"],
                        "seTE": c["se"],
                    }
                )
        else:
            if s.hr is None:
                raise SurvivalError(
                    f"{s.study} has {len(s.arms)} arms; log HR contrast rows are built for "
                    "two-arm studies only (use ΔRMST)"
                )
            rows.append(
                {
                    "study": s.study,
                    "study_label": s.study,
                    "treat1": s.arms[0],
                    "treat2": s.arms[1],
                    "TE": s.hr["log_hr"],
                    "seTE": s.hr["se_log_hr"],
                }
            )
    return rows


def _reference(protocol: Protocol | None, treatments: set[str]) -> str | None:
    if protocol is None:
        return None
    if protocol.nma is not None and protocol.nma.reference in treatments:
        return protocol.nma.reference
    for t in protocol.treatments:
        if t.kind == "control" and t.name in treatments:
            return t.name
    return None


def rmst_network(
    effects: Effects, protocol: Protocol | None = None, effect: Effect = "drmst"
) -> Network:
    """The outcome's network on ΔRMST (measure MD) or log HR (measure HR) from the curves."""
    from living_review.nma.data import network_from_records

    rows = contrast_rows(effects, effect)
    trts = {r["treat1"] for r in rows} | {r["treat2"] for r in rows}
    return network_from_records(
        rows,
        "contrast",
        source=f"reconstructed {effects.outcome} curves",
        reference=_reference(protocol, trts),
        measure="MD" if effect == "drmst" else "HR",
    )


def fit_rmst_nma(
    effects: Effects,
    protocol: Protocol | None = None,
    *,
    effect: Effect = "drmst",
    engine: Literal["frequentist", "bayes"] = "frequentist",
    model: Literal["fe", "re"] = "re",
    spec: FitSpec | None = None,
) -> NMAResult:
    """Fit the network from reconstructed curves.

    More RMST is better (ΔRMST ranking: higher is better); a lower HR is better.
    """
    net = rmst_network(effects, protocol, effect)
    higher = effect == "drmst"
    if engine == "bayes":
        from dataclasses import replace

        from living_review.nma.bayes import fit_bayes
        from living_review.nma.spec import FitSpec

        s = spec or FitSpec(model=model)
        return fit_bayes(net, replace(s, higher_is_better=higher))
    from living_review.nma.frequentist import contrast_data, fit_frequentist

    cd = contrast_data(net)
    note = None
    if model == "re" and cd.y.size <= cd.X.shape[1]:
        # no replicated comparison: tau^2 is not identifiable (REML runs off to its bound)
        model, note = "fe", "no comparison has two or more studies: fixed-effect model used"
    res = fit_frequentist(net, model=model, higher_is_better=higher)
    if note:
        res.diagnostics.setdefault("messages", []).append(note)
    return res


def pool_drmst(
    effects: Effects, protocol: Protocol | None = None, *, model: Literal["fe", "re"] = "re"
) -> dict[str, Any]:
    """Pairwise pooled ΔRMST (active - reference) per active treatment, and over all actives.

    "all active vs reference" pools every study's active arm against the reference, as the IPD
    meta-analysis of second-line therapies did; per-treatment pools need two or more studies.
    """
    from living_review.nma.data import network_from_records
    from living_review.nma.frequentist import fit_frequentist

    trts = {t for s in effects.studies for t in s.arms}
    ref = _reference(protocol, trts)
    if ref is None:
        ref = effects.studies[0].arms[-1]
    per: dict[str, list[dict[str, Any]]] = {}
    for s in effects.studies:
        for c in s.contrasts:
            if ref not in (c["treat1"], c["treat2"]):
                continue
            sign = 1.0 if c["treat2"] == ref else -1.0
            active = c["treat1"] if c["treat2"] == ref else c["treat2"]
            per.setdefault(active, []).append(
                {"study": s.study, "TE": sign * c["drmst"], "seTE": c["se"]}
            )

    def pooled(items: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [{"treat1": "active", "treat2": ref, **i} for i in items]
        if len(rows) == 1:
            te, se = rows[0]["TE"], rows[0]["seTE"]
            half = float(norm.ppf(0.975)) * se
            return {
                "k": 1,
                "estimate": te,
                "se": se,
                "lower": te - half,
                "upper": te + half,
                "tau": None,
                "I2": None,
                "studies": [rows[0]["study"]],
            }
        net = network_from_records(rows, "contrast", reference=ref, measure="MD")
        res = fit_frequentist(net, model=model)
        eff = res.relative_effects["active"]
        st = res.extra["fit_statistics"]
        q, df = float(st["QE"]), int(st["QE_df"])
        return {
            "k": len(rows),
            "estimate": eff.mean,
            "se": eff.sd,
            "lower": eff.q2_5,
            "upper": eff.q97_5,
            "tau": res.tau.mean if res.tau is not None else 0.0,
            "Q": q,
            "I2": max(0.0, (q - df) / q) if q > 0 else 0.0,
            "method": st["method"],
            "studies": [r["study"] for r in rows],
        }

    out = {t: pooled(items) for t, items in sorted(per.items())}
    # one contrast per study (a multi-arm study's first active arm) for the overall pool
    first: dict[str, dict[str, Any]] = {}
    for items in per.values():
        for i in items:
            first.setdefault(i["study"], i)
    everything = list(first.values())
    return {
        "outcome": effects.outcome,
        "tau_time": effects.tau,
        "reference": ref,
        "by_treatment": out,
        "all_active": pooled(everything) if everything else None,
    }

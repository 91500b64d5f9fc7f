"""The Bayesian NMA (PyMC + nutpie) agrees with the JAGS reference fits (NICE DSU TSD2 models).

Reference: ``shared/nma-reference/results/<dataset>_jags_{fe,re}.json`` (150,000 draws each).
Tolerances (the issue's): posterior means of every d and tau within max(0.02, 3 MCSE);
2.5% and 97.5% quantiles within 0.05; SUCRA within 0.02; DIC within 1.

The MCSE in both tolerances combines ours and the reference's. For quantiles, 0.05 is widened
to 3 combined quantile-MCSEs where that is larger: the README's caveat for the weakly
identified tau of the Parkinson's RE fits (JAGS's own MCSE of tau's 97.5% quantile is 0.019
with 150,000 draws, so no run of practical length can promise 0.05 at 3 sigma).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from living_review.nma.data import read_network
from living_review.nma.result import NMAResult, Summary
from living_review.nma.spec import FitSpec

pytestmark = pytest.mark.slow

DATASETS: dict[str, tuple[str, str, str, bool]] = {
    "smoking": ("smoking_arm.csv", "arm-binary", "smoking_treatments.csv", True),
    "senn2013": ("senn2013_contrast.csv", "contrast", "senn2013_treatments.csv", False),
    "parkinsons_arm": ("parkinsons_arm.csv", "arm-continuous", "parkinsons_treatments.csv", False),
    "parkinsons_contrast": (
        "parkinsons_contrast.csv",
        "contrast",
        "parkinsons_treatments.csv",
        False,
    ),
}

# draws per chain (4 chains): enough for the tolerances, not more. The binomial RE model is
# non-centred (ESS/draw ~0.3); the normal RE models have tau's long upper tail to pin down.
DRAWS = {("smoking", "re"): 8000, ("senn2013", "re"): 10000}
DRAWS_NORMAL_RE = 25000
DRAWS_FE = 5000

_FITS: dict[tuple[str, str], NMAResult] = {}


def fit(shared: Path, name: str, model: str) -> NMAResult:
    """Fit once per session (several tests look at the same fit)."""
    key = (name, model)
    if key not in _FITS:
        from living_review.nma.bayes import fit_bayes

        f, fmt, tf, hib = DATASETS[name]
        data = shared / "nma-reference" / "data"
        net = read_network(data / f, fmt, treatments=data / tf)  # type: ignore[arg-type]
        draws = DRAWS.get(key, DRAWS_FE if model == "fe" else DRAWS_NORMAL_RE)
        spec = FitSpec(model=model, draws=draws, tune=1000, higher_is_better=hib)  # type: ignore[arg-type]
        _FITS[key] = fit_bayes(net, spec)
    return _FITS[key]


def reference(shared: Path, name: str, model: str) -> dict[str, Any]:
    path = shared / "nma-reference" / "results" / f"{name}_jags_{model}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def pairs(res: NMAResult, ref: dict[str, Any]) -> list[tuple[str, Summary, dict[str, Any]]]:
    out = [
        (f"d[{b['treatment']}]", res.relative_effects[b["treatment"]], b)
        for b in ref["basic_parameters"]
    ]
    if res.tau is not None:
        out.append(("tau", res.tau, ref["heterogeneity"]))
    return out


CASES = [(n, m) for n in DATASETS for m in ("fe", "re")]


@pytest.mark.parametrize(("name", "model"), CASES)
def test_converged(shared: Path, name: str, model: str) -> None:
    res = fit(shared, name, model)
    assert res.converged, res.diagnostics["messages"]
    assert res.diagnostics["divergences"] == 0
    assert res.diagnostics["max_rhat"] <= 1.01


@pytest.mark.parametrize(("name", "model"), CASES)
def test_posterior_means(shared: Path, name: str, model: str) -> None:
    res = fit(shared, name, model)
    bad = []
    for label, s, b in pairs(res, reference(shared, name, model)):
        assert s.mcse is not None
        tol = max(0.02, 3 * math.hypot(s.mcse, b["mcse"]))
        if abs(s.mean - b["mean"]) > tol:
            bad.append(f"{label}: {s.mean:.4f} vs {b['mean']:.4f} (tol {tol:.4f})")
    assert not bad


@pytest.mark.parametrize(("name", "model"), CASES)
def test_quantiles(shared: Path, name: str, model: str) -> None:
    res = fit(shared, name, model)
    mq = res.diagnostics["mcse_quantiles"]
    bad = []
    for label, s, b in pairs(res, reference(shared, name, model)):
        for ours, key in ((s.q2_5, "q2.5"), (s.q97_5, "q97.5")):
            assert ours is not None
            tol = max(0.05, 3 * math.hypot(mq[label][key], b[f"mcse_{key}"]))
            if abs(ours - b[key]) > tol:
                bad.append(f"{label} {key}: {ours:.4f} vs {b[key]:.4f} (tol {tol:.4f})")
    assert not bad


@pytest.mark.parametrize(("name", "model"), CASES)
def test_sucra_and_league(shared: Path, name: str, model: str) -> None:
    res = fit(shared, name, model)
    ref = reference(shared, name, model)
    for r in ref["ranking"]["treatments"]:
        assert res.sucra[r["treatment"]] == pytest.approx(r["sucra"], abs=0.02)
    assert len(res.league_table) == len(ref["league_table"])
    for e in ref["league_table"]:
        ours = res.league(e["treatment"], e["comparator"])
        assert ours.mean == pytest.approx(e["mean"], abs=0.03)


@pytest.mark.parametrize(("name", "model"), CASES)
def test_dic(shared: Path, name: str, model: str) -> None:
    res = fit(shared, name, model)
    mf = reference(shared, name, model)["model_fit"]
    assert res.model_fit is not None
    assert res.model_fit["n_datapoints"] == mf["n_datapoints"]
    assert res.model_fit["DIC"] == pytest.approx(mf["DIC"], abs=1.0)
    assert res.model_fit["Dbar"] == pytest.approx(mf["Dbar"], abs=1.0)
    assert res.model_fit["pD"] == pytest.approx(mf["pD"], abs=1.0)


def test_json_contract(shared: Path) -> None:
    res = fit(shared, "smoking", "re")
    out = json.loads(json.dumps(res.as_json()))
    for key in ("relative_effects", "tau", "sucra", "league_table", "diagnostics", "dic"):
        assert key in out
    assert set(out["relative_effects"]) == {"Self-help", "Individual counselling",
                                            "Group counselling"}  # fmt: skip
    for v in out["relative_effects"].values():
        assert {"mean", "sd", "q2.5", "q97.5"} <= set(v)
        assert v["natural"]["median"] > 0  # OR on the natural scale
    assert out["converged"] is True and out["dic"]["DIC"] > 0


def test_thrombolytics_re_converges_and_matches_reml(shared: Path) -> None:
    """Thrombolytics RE (50 studies, 9 treatments; JAGS mixes slowly, held-back reference).

    Its arms range from 26 to 20,251 patients: the non-centred parameterisation gave a funnel
    between tau (posterior 95% interval ~0.003-0.30) and the precise studies' effects, with
    divergences even after the extension. With the data-preconditioned coordinates it must
    converge on the first attempt at the default length (4 x 2500 draws).

    Posterior means vs the frequentist REML fit, within 0.1 on the log-OR scale: the two
    models differ (exact binomial likelihood vs the normal approximation of the log ORs;
    tau averaged over its posterior, median ~0.08 under U(0, 5), vs the REML point estimate
    0.014, which gives the small trials less weight). Measured: up to 0.085 (PTCA, REML SE
    0.10; Acc t-PA 0.067, SE 0.045); GLS at tau = 0.097 (the posterior mean) already moves the
    REML estimates 0.02-0.05 towards ours. Sampling error (MCSE < 0.005) is negligible here.
    """
    from living_review.nma.bayes import fit_bayes
    from living_review.nma.frequentist import fit_frequentist

    data = shared / "nma-reference" / "data"
    net = read_network(
        data / "thrombolytics_arm.csv",
        "arm-binary",
        treatments=data / "thrombolytics_treatments.csv",
    )
    res = fit_bayes(net, FitSpec(model="re", higher_is_better=False))
    dg = res.diagnostics
    assert res.converged, dg["messages"]
    assert not dg["extended"]
    assert dg["divergences"] == 0
    assert dg["max_rhat"] <= 1.01
    assert dg["min_ess_bulk"] >= 400 and dg["min_ess_tail"] >= 400
    freq = fit_frequentist(net, model="re")
    bad = [
        f"{t}: {s.mean:.3f} vs REML {freq.relative_effects[t].mean:.3f}"
        for t, s in res.relative_effects.items()
        if abs(s.mean - freq.relative_effects[t].mean) > 0.1
    ]
    assert not bad
    assert res.tau is not None and 0.03 < res.tau.mean < 0.2

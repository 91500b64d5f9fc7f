"""The frequentist NMA agrees with metafor's rma.mv on the reference datasets (to 0.005).

Reference results: ``shared/nma-reference/results/<dataset>_metafor_{fe,re}.json`` (FE by GLS,
RE by REML with ``random = ~ comp | study, rho = 1/2``).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from living_review.nma.data import Network, network_from_records, read_network
from living_review.nma.frequentist import contrast_data, fit_frequentist, tau2_dl

TOL = 0.005

# dataset -> (data file, format, treatments file, higher is better)
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


def load(shared: Path, name: str) -> tuple[Network, bool]:
    f, fmt, tf, hib = DATASETS[name]
    data = shared / "nma-reference" / "data"
    return read_network(data / f, fmt, treatments=data / tf), hib  # type: ignore[arg-type]


def reference(shared: Path, name: str, model: str) -> dict[str, Any]:
    path = shared / "nma-reference" / "results" / f"{name}_metafor_{model}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("model", ["fe", "re"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_agrees_with_metafor(shared: Path, name: str, model: str) -> None:
    net, hib = load(shared, name)
    ref = reference(shared, name, model)
    res = fit_frequentist(net, model=model, higher_is_better=hib)  # type: ignore[arg-type]
    assert res.reference == ref["reference_treatment"]
    diffs: list[float] = []
    for b in ref["basic_parameters"]:
        s = res.relative_effects[b["treatment"]]
        assert s.sd is not None and s.q2_5 is not None and s.q97_5 is not None
        diffs += [s.mean - b["estimate"], s.sd - b["se"]]
        diffs += [s.q2_5 - b["ci_lb"], s.q97_5 - b["ci_ub"]]
        if model == "re":
            pi = res.extra["prediction_intervals"][b["treatment"]]
            diffs += [pi["pi_lb"] - b["pi_lb"], pi["pi_ub"] - b["pi_ub"]]
    assert len(res.league_table) == len(ref["league_table"])
    for b in ref["league_table"]:
        s = res.league(b["treatment"], b["comparator"])
        assert s.sd is not None
        diffs += [s.mean - b["estimate"], s.sd - b["se"]]
    for r in ref["ranking"]["treatments"]:
        diffs.append(res.sucra[r["treatment"]] - r["p_score"])
    if model == "re":
        assert res.tau is not None
        diffs.append(res.tau.mean - ref["heterogeneity"]["tau"])
        diffs.append(res.extra["fit_statistics"]["logLik_reml"] - ref["fit_statistics"]["logLik"])
    diffs.append(res.extra["fit_statistics"]["QE"] - ref["fit_statistics"]["QE"])
    assert max(abs(d) for d in diffs) < TOL


def test_choice_of_reference_does_not_change_the_estimates(shared: Path) -> None:
    """Re-basing the multi-arm contrast studies (covariance A V A') is exact."""
    net, _ = load(shared, "senn2013")
    a = fit_frequentist(net, model="re")
    b = fit_frequentist(net.with_reference("metformin"), model="re")
    assert b.reference == "metformin"
    assert a.tau is not None and b.tau is not None
    assert a.tau.mean == pytest.approx(b.tau.mean, abs=1e-7)
    for e in a.league_table:
        assert b.league(e.treatment, e.comparator).mean == pytest.approx(e.summary.mean, abs=1e-7)


def test_dl_is_dersimonian_laird_for_a_pairwise_meta_analysis() -> None:
    """With two treatments the moment estimator reduces to the classic DL formula."""
    rows = []
    rng = np.random.default_rng(7)
    for s in range(8):
        for t in ("A", "B"):
            rows.append(
                {"study": s, "treatment": t, "n": 100, "mean": rng.normal(), "sd": 1 + s / 4}
            )
    net = network_from_records(rows, "arm-continuous")
    cd = contrast_data(net)
    y, v = cd.y, np.diag(cd.V)
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    expected = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    assert tau2_dl(cd) == pytest.approx(expected, rel=1e-10)
    res = fit_frequentist(net, model="re", tau_method="dl")
    assert res.tau is not None and res.tau.mean == pytest.approx(math.sqrt(expected))


def synthetic_network(n_studies: int = 50, n_treatments: int = 10, seed: int = 1) -> Network:
    """A random connected binary network with some three-arm studies."""
    rng = np.random.default_rng(seed)
    d = np.concatenate([[0.0], rng.normal(0, 0.5, n_treatments - 1)])
    rows = []
    for s in range(n_studies):
        k = 3 if s % 10 == 0 else 2
        # a spanning chain first, so the network is always connected
        ts = [s % n_treatments, (s + 1) % n_treatments] if s < n_treatments else []
        while len(ts) < k:
            t = int(rng.integers(n_treatments))
            if t not in ts:
                ts.append(t)
        mu, delta = rng.normal(-1, 0.5), rng.normal(0, 0.3)
        for j, t in enumerate(ts):
            n = int(rng.integers(50, 300))
            eta = mu + (d[t] - d[ts[0]] + delta if j else 0.0)
            rows.append(
                {
                    "study": s + 1,
                    "treatment": f"T{t}",
                    "n": n,
                    "events": int(rng.binomial(n, 1 / (1 + math.exp(-eta)))),
                }
            )
    return network_from_records(rows, "arm-binary")


def test_fifty_study_network_in_under_50_ms() -> None:
    net = synthetic_network()
    assert net.n_studies == 50
    fit_frequentist(net, model="re")  # warm
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        fit_frequentist(net, model="re")
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.050

"""Node-splitting (Dias et al. 2010; gemtc's rules for which comparisons, multi-arm trials).

* The splittable set is derived here from the raw CSV rows with a small union-find,
  independently of :mod:`living_review.nma.nodesplit` (which uses networkx on a Network).
* Frequentist direct estimates equal an inverse-variance pairwise meta-analysis of the direct
  studies, computed here from the raw counts. For networks of two-arm studies under FE, the
  network estimate is the inverse-variance combination of the direct and indirect estimates,
  which checks the indirect estimates independently.
* A consistent synthetic loop gives a large p, and an inconsistent one a small p, for both
  engines (Bayesian tests: slow, short chains).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from living_review.nma.data import Network, NMADataError, network_from_records, read_network
from living_review.nma.frequentist import fit_frequentist
from living_review.nma.nodesplit import (
    nodesplit_frequentist,
    split_network,
    splittable_comparisons,
)

DATA = ("nma-reference", "data")


def designs_from_csv(path: Path) -> list[set[str]]:
    """Treatments of every study, straight from the CSV (arm or contrast format)."""
    by_study: dict[str, set[str]] = defaultdict(set)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if "treatment" in row:
                by_study[row["study"]].add(row["treatment"])
            else:
                by_study[row["study"]] |= {row["treat1"], row["treat2"]}
    return list(by_study.values())


def gemtc_rule(designs: list[set[str]]) -> set[frozenset[str]]:
    """Pairs with direct evidence that stay connected without the studies including both."""

    def find(parent: dict[str, str], x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    direct = {frozenset(p) for d in designs for p in combinations(sorted(d), 2)}
    out = set()
    for pair in direct:
        a, b = sorted(pair)
        parent: dict[str, str] = {}
        for d in designs:
            if pair <= d:
                continue
            first, *rest = sorted(d)
            for t in rest:
                parent[find(parent, t)] = find(parent, first)
        if a in parent and b in parent and find(parent, a) == find(parent, b):
            out.add(pair)
    return out


@pytest.mark.parametrize(
    ("file", "fmt"),
    [
        ("smoking_arm.csv", "arm-binary"),
        ("senn2013_contrast.csv", "contrast"),
        ("parkinsons_arm.csv", "arm-continuous"),
        ("nsclc_egfr_pfs_contrast.csv", "contrast"),
    ],
)
def test_splittable_set_matches_gemtc_rule(shared: Path, file: str, fmt: str) -> None:
    path = shared.joinpath(*DATA, file)
    net = read_network(path, fmt)  # type: ignore[arg-type]
    got = splittable_comparisons(net)
    assert {frozenset(p) for p in got} == gemtc_rule(designs_from_csv(path))
    rank = {t: i for i, t in enumerate(net.treatments)}
    assert all(rank[a] < rank[b] for a, b in got)  # comparator first in treatment order


def test_smoking_every_comparison_is_in_a_loop(shared: Path) -> None:
    net = read_network(shared.joinpath(*DATA, "smoking_arm.csv"), "arm-binary")
    assert len(splittable_comparisons(net)) == 6  # all pairs of 4 treatments


def contrast_net(rows: list[tuple[str, str, str, float, float]]) -> Network:
    recs = [
        {"study": s, "study_label": f"study {s}", "treat1": t1, "treat2": t2, "TE": te, "seTE": se}
        for s, t1, t2, te, se in rows
    ]
    return network_from_records(recs, "contrast", reference="A")


def three_arm(study: str, effects: dict[str, float], arm_var: dict[str, float]) -> list[Any]:
    """All pairwise contrasts of a multi-arm study from arm effects and arm variances."""
    ts = sorted(effects)
    return [
        (study, b, a, effects[b] - effects[a], math.sqrt(arm_var[a] + arm_var[b]))
        for a, b in combinations(ts, 2)
    ]


def test_loop_formed_by_one_multi_arm_trial_is_not_splittable() -> None:
    v = {"A": 0.02, "B": 0.03, "C": 0.04, "D": 0.05}
    rows = three_arm("1", {"A": 0.0, "B": 0.5, "C": 1.0}, v) + [("2", "B", "A", 0.4, 0.2)]
    assert splittable_comparisons(contrast_net(rows)) == []
    # a B-C study closes the loop A-B-C outside the three-arm trial: only A-C is splittable
    rows.append(("3", "C", "B", 0.6, 0.2))
    net = contrast_net(rows)
    assert splittable_comparisons(net) == [("A", "C")]
    with pytest.raises(NMADataError, match="no indirect evidence"):
        split_network(net, "A", "B")


def test_multi_arm_rewrite_follows_gemtc() -> None:
    """3-arm trials keep the split pair only; 4-arm trials become two pseudo-studies."""
    v = {"A": 0.02, "B": 0.03, "C": 0.04, "D": 0.05}
    eff = {"A": 0.0, "B": 0.5, "C": 1.0, "D": 1.5}
    rows = three_arm("1", {t: eff[t] for t in "ABC"}, v)
    rows += three_arm("2", eff, v)  # four arms
    rows += [("3", "B", "A", 0.4, 0.2), ("4", "C", "B", 0.6, 0.2), ("5", "D", "C", 0.5, 0.2)]
    sp = split_network(contrast_net(rows), "C", "A")  # order-insensitive: comparator = A
    assert (sp.comparator, sp.treatment) == ("A", "C")
    studies = {c.study: c for c in sp.network.contrast_studies}
    assert set(studies) == {"1", "2*", "2**", "3", "4", "5"}
    assert studies["1"].treatments == ("A", "C")
    assert studies["1"].y == pytest.approx((1.0,))
    assert studies["1"].cov_matrix == pytest.approx(np.array([[v["A"] + v["C"]]]))
    assert studies["2*"].treatments == ("A", "C") and studies["2**"].treatments == ("B", "D")
    assert studies["2**"].y == pytest.approx((1.0,))
    assert studies["2**"].cov_matrix == pytest.approx(np.array([[v["B"] + v["D"]]]))
    labels = [sp.network.study_treatments()[i] for i in sp.direct]
    assert labels == [("A", "C"), ("A", "C")]


def logor_pair(arms: dict[str, tuple[float, float]], t1: str, t2: str) -> tuple[float, float]:
    """log OR of t2 vs t1 and its variance; 0.5 added to every cell when one is 0."""
    (r1, n1), (r2, n2) = arms[t1], arms[t2]
    if 0 in (r1, r2, n1 - r1, n2 - r2):
        r1, r2, n1, n2 = r1 + 0.5, r2 + 0.5, n1 + 1, n2 + 1
    y = math.log(r2 / (n2 - r2)) - math.log(r1 / (n1 - r1))
    return y, 1 / r1 + 1 / (n1 - r1) + 1 / r2 + 1 / (n2 - r2)


@pytest.mark.parametrize("model", ["fe", "re"])
def test_frequentist_direct_is_pairwise_meta_analysis(shared: Path, model: str) -> None:
    path = shared.joinpath(*DATA, "smoking_arm.csv")
    net = read_network(path, "arm-binary")
    studies: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            studies[row["study"]][row["treatment"]] = (float(row["events"]), float(row["n"]))
    consistency = fit_frequentist(net, model=model)  # type: ignore[arg-type]
    tau2 = 0.0 if consistency.tau is None else consistency.tau.mean**2
    splits = nodesplit_frequentist(net, model=model)  # type: ignore[arg-type]
    assert len(splits) == 6
    for s in splits:
        pairs = [logor_pair(a, s.comparator, s.treatment) for a in studies.values()
                 if s.comparator in a and s.treatment in a]  # fmt: skip
        w = np.array([1 / (v + tau2) for _, v in pairs])
        y = np.array([y for y, _ in pairs])
        assert len(s.direct_studies) == len(pairs)
        assert s.direct.mean == pytest.approx(float(w @ y / w.sum()), abs=1e-10)
        assert s.direct.sd == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-10)
        assert s.difference.mean == pytest.approx(s.direct.mean - s.indirect.mean, abs=1e-12)


def triangle(bc_effect: float) -> Network:
    """A-B-C loop, three two-arm studies per edge, SE 0.15; truth d_AB 0.5, d_AC 1.0."""
    jitter = [-0.04, 0.01, 0.03]
    rows = []
    for e, (t1, t2, te) in enumerate([("A", "B", 0.5), ("A", "C", 1.0), ("B", "C", bc_effect)]):
        rows += [(f"{e}{i}", t2, t1, te + j, 0.15) for i, j in enumerate(jitter)]
    return contrast_net(rows)


def test_frequentist_consistent_vs_inconsistent_loop() -> None:
    ok = nodesplit_frequentist(triangle(0.5), model="fe")
    bad = nodesplit_frequentist(triangle(-0.5), model="fe")
    assert [(s.comparator, s.treatment) for s in ok] == [("A", "B"), ("A", "C"), ("B", "C")]
    assert min(s.p for s in ok) > 0.5
    assert max(s.p for s in bad) < 1e-6
    bc = bad[2]
    assert bc.direct.mean == pytest.approx(-0.5, abs=0.01)  # mean jitter 0
    assert bc.indirect.mean == pytest.approx(0.5, abs=0.01)
    # one loop: every split tests the same inconsistency (equal |z|)
    z = [abs(s.extra["z"]) for s in bad]
    assert max(z) - min(z) < 1e-8


@pytest.mark.parametrize("bc", [0.5, -0.5])
def test_network_estimate_is_inverse_variance_mix_of_direct_and_indirect(bc: float) -> None:
    """Two-arm studies, FE: 1/v_nma = 1/v_dir + 1/v_ind (Bucher; netmeta back-calculation)."""
    net = triangle(bc)
    nma = fit_frequentist(net, model="fe")
    for s in nodesplit_frequentist(net, model="fe"):
        assert s.direct.sd is not None and s.indirect.sd is not None
        wd, wi = 1 / s.direct.sd**2, 1 / s.indirect.sd**2
        est = nma.league(s.treatment, s.comparator)
        assert est.mean == pytest.approx((wd * s.direct.mean + wi * s.indirect.mean) / (wd + wi))
        assert est.sd == pytest.approx(1 / math.sqrt(wd + wi))


@pytest.mark.slow
def test_bayes_consistent_vs_inconsistent_loop() -> None:
    """Short chains (FE, normal contrasts, 2 x 1000 draws): p large vs p small."""
    from living_review.nma.nodesplit import nodesplit_bayes
    from living_review.nma.spec import FitSpec

    spec = FitSpec(model="fe", chains=2, draws=1000, tune=500, seed=7)
    ok = nodesplit_bayes(triangle(0.5), spec)
    bad = nodesplit_bayes(triangle(-0.5), spec)
    assert all(s.converged for s in ok + bad)
    assert min(s.p for s in ok) > 0.2
    assert max(s.p for s in bad) < 0.01
    # vague priors: the posterior reproduces the GLS split model
    freq = nodesplit_frequentist(triangle(-0.5), model="fe")
    for b, f in zip(bad, freq, strict=True):
        assert b.direct.mean == pytest.approx(f.direct.mean, abs=0.03)
        assert b.indirect.mean == pytest.approx(f.indirect.mean, abs=0.03)
        assert b.direct.sd == pytest.approx(f.direct.sd, rel=0.15)

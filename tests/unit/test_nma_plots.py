"""NMA figures: files are written, SVGs name the treatments, and the structure is right.

Structure is checked through the ``gid``s the plotting code gives its artists (they become
SVG ``id`` attributes): one forest row per non-reference treatment, one node per treatment,
one edge per directly compared pair, one SUCRA bar and one rankogram panel per treatment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from living_review.nma.data import Network, read_network
from living_review.nma.frequentist import fit_frequentist
from living_review.nma.result import (
    NMAResult,
    league_from_draws,
    ranking_from_draws,
    summarise,
)


def smoking(shared: Path) -> Network:
    d = shared / "nma-reference" / "data"
    return read_network(
        d / "smoking_arm.csv", "arm-binary", treatments=d / "smoking_treatments.csv"
    )


def ids(svg: str, prefix: str) -> set[str]:
    return set(re.findall(rf'id="({prefix}-\d+)"', svg))


def test_save_plots_files_names_and_structure(shared: Path, tmp_path: Path) -> None:
    from living_review.nma.plots import save_plots

    net = smoking(shared)
    res = fit_frequentist(net)
    written = save_plots(res, net, tmp_path / "figs")
    names = {p.name for p in written}
    assert names == {f"{n}.{e}" for n in ("network", "forest", "sucra", "rankogram", "funnel")
                     for e in ("png", "svg")}  # fmt: skip
    for p in written:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = {n: (tmp_path / "figs" / f"{n}.svg").read_text() for n in
           ("network", "forest", "sucra", "rankogram", "funnel")}  # fmt: skip
    k = net.n_treatments
    for name, text in svg.items():
        # text stays text (svg.fonttype none); the forest plot names the reference in its title
        assert all(t in text for t in net.treatments), name
    assert len(ids(svg["forest"], "forest-row")) == k - 1
    assert len(ids(svg["network"], "network-node")) == k
    assert len(ids(svg["network"], "network-edge")) == len(net.edges()) == 6
    assert len(ids(svg["sucra"], "sucra-bar")) == k
    assert len(ids(svg["rankogram"], "rankogram-panel")) == k


def test_svg_is_reproducible(shared: Path, tmp_path: Path) -> None:
    from living_review.nma.plots import save_plots

    net = smoking(shared)
    res = fit_frequentist(net)
    a = save_plots(res, net, tmp_path / "a", formats=("svg",))
    b = save_plots(res, net, tmp_path / "b", formats=("svg",))
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_forest_scale_null_line_and_rows(shared: Path) -> None:
    from living_review.nma.plots import forest_plot

    res = fit_frequentist(smoking(shared))
    ax = forest_plot(res).axes[0]
    assert ax.get_xscale() == "log"  # OR: ratio measure on a log axis
    labels = [t.get_text() for t in ax.get_yticklabels()]  # bottom up: network order reversed
    assert labels == ["Group counselling", "Individual counselling", "Self-help"]
    # natural scale: the IC whisker spans the Wald CI exp(est -+ 1.96 se)
    s = res.relative_effects["Individual counselling"]
    row = next(line for line in ax.lines if line.get_gid() == "forest-row-1")
    assert np.allclose(row.get_xdata(), np.exp([s.q2_5, s.q97_5]))
    assert any(np.allclose(line.get_xdata(), 1.0) for line in ax.lines)  # null line at OR 1
    d = shared / "nma-reference" / "data"
    md = fit_frequentist(read_network(d / "parkinsons_contrast.csv", "contrast"))
    ax = forest_plot(md).axes[0]
    assert ax.get_xscale() == "linear"
    assert any(np.allclose(line.get_xdata(), 0.0) for line in ax.lines)
    assert len(ax.get_yticks()) == md.network["treatments"] - 1


def _bayes_like(net: Network) -> NMAResult:
    """A result with posterior draws (no sampling): d ~ N(mean, 0.1^2) per treatment."""
    rng = np.random.default_rng(1)
    k = net.n_treatments
    d = np.concatenate([np.zeros((4000, 1)), rng.normal(np.arange(1, k), 0.5, (4000, k - 1))], 1)
    return NMAResult(
        engine="test", model="re", measure=net.measure, log_scale=net.log_scale,
        treatments=net.treatments, higher_is_better=True,
        relative_effects={t: summarise(d[:, j]) for j, t in enumerate(net.treatments) if j},
        league_table=league_from_draws(d, net.treatments),
        ranking=ranking_from_draws(d, net.treatments, higher_is_better=True),
        ranking_method="SUCRA (per-draw ranks)", tau=None, diagnostics={}, draws_d=d,
    )  # fmt: skip


def test_rank_probabilities_posterior_and_simulated(shared: Path) -> None:
    from living_review.nma.plots import rank_probabilities

    net = smoking(shared)
    bayes = _bayes_like(net)
    ranked, how = rank_probabilities(bayes)
    assert how.startswith("posterior") and ranked == bayes.ranking
    freq = fit_frequentist(net)
    ranked, how = rank_probabilities(freq)
    assert "simulated" in how
    for r in ranked:
        assert r.rank_probabilities is not None
        assert sum(r.rank_probabilities) == pytest.approx(1.0)
        # SUCRA of the simulated normal = P-score (Rücker & Schwarzer 2015), up to MC error
        assert r.sucra == pytest.approx(freq.sucra[r.treatment], abs=0.01)


def test_unconverged_fit_gets_the_network_plot_only(shared: Path, tmp_path: Path) -> None:
    from living_review.nma.plots import save_plots

    net = smoking(shared)
    res = replace(_bayes_like(net), converged=False)
    written = save_plots(res, net, tmp_path, formats=("svg",))
    assert [p.name for p in written] == ["network.svg"]


def test_importing_nma_does_not_import_matplotlib_pymc_arviz() -> None:
    code = (
        "import json, sys\n"
        "import living_review.nma, living_review.nma.plots, living_review.nma.nodesplit\n"
        "import living_review.nma.funnel, living_review.cli_nma\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('matplotlib', 'pymc', 'arviz', 'pytensor', 'nutpie'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []

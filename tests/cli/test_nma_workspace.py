"""``lsr nma fit`` on the example review: its OS network from the verified trial data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from living_review.cli import app
from living_review.extraction.example import load_example
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def example(ws: Workspace, shared: Path) -> None:
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")


def fit(ws: Workspace, *args: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, ["-w", str(ws.root), "nma", "fit", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_example_os_network_frequentist(workspace: Workspace, shared: Path) -> None:
    example(workspace, shared)
    out = fit(workspace, "--outcome", "OS", "--engine", "frequentist")
    effects = out["relative_effects"]
    assert "placebo" not in effects and {"regorafenib", "ramucirumab"} <= set(effects)

    # Ramucirumab pools REACH (0.87, 0.72-1.05) and REACH-2 (0.71, 0.531-0.949); with tau = 0
    # that is the inverse-variance mean of the two log hazard ratios, computed here by hand.
    def lnhr(hr: float, lo: float, hi: float) -> tuple[float, float]:
        return math.log(hr), (math.log(hi) - math.log(lo)) / (2 * 1.959964)

    (a, sa), (b, sb) = lnhr(0.87, 0.72, 1.05), lnhr(0.710, 0.531, 0.949)
    pooled = (a / sa**2 + b / sb**2) / (1 / sa**2 + 1 / sb**2)
    assert out["tau"]["mean"] < 1e-3 if isinstance(out["tau"], dict) else out["tau"] < 1e-3
    assert effects["ramucirumab"]["mean"] == pytest.approx(pooled, abs=1e-6)
    # Lower is better for a hazard ratio of death: regorafenib (HR 0.63) ranks first.
    assert max(out["sucra"], key=out["sucra"].get) == "regorafenib"
    # Subgroup/overlap reports never count as trials.
    assert {r["report"] for r in out["not_analysed"]} == {
        "REACH Japanese subgroup", "REACH-2 Japanese subgroup", "KEYNOTE-240 Asian subgroup",
        "REACH-2 China",
    }  # fmt: skip
    assert out["league_table"]


def test_unknown_outcome_is_a_clear_error(workspace: Workspace, shared: Path) -> None:
    example(workspace, shared)
    res = runner.invoke(app, ["-w", str(workspace.root), "nma", "fit", "--outcome", "QoL"])
    assert res.exit_code == 1 and "unknown outcome 'QoL'" in res.stderr


@pytest.mark.slow
def test_example_os_network_bayesian(workspace: Workspace, shared: Path) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("the Bayesian fit does not depend on the store's engine")
    example(workspace, shared)
    out = fit(workspace, "--outcome", "OS")
    assert out["diagnostics"]["converged"] is True, out["diagnostics"]
    freq = fit(workspace, "--outcome", "OS", "--engine", "frequentist")
    # With almost no heterogeneity, the Bayesian RE posterior median is near the REML estimate.
    for t, e in freq["relative_effects"].items():
        assert out["relative_effects"][t]["mean"] == pytest.approx(e["mean"], abs=0.1), t

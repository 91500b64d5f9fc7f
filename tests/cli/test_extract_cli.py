"""The ``lsr extract`` commands: one value per call, compare/resolve, the example load and the
final analysis data as JSON; user errors are one line on stderr and exit 1."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from living_review import cli
from living_review.cli_extract import extract_app
from living_review.workspace import Workspace
from tests.integration.test_extraction import hcc, versions

runner = CliRunner()
Lsr = Callable[..., tuple[int, str, str]]
OS_KEY = "OS/contrast/ramucirumab vs placebo"


def make_app() -> typer.Typer:
    app = typer.Typer(cls=cli._Group, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """Extraction commands under test."""

    app.add_typer(extract_app, name="extract")  # what cli.py will do
    return app


@pytest.fixture
def lsr(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Lsr:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    hcc(workspace)
    app = make_app()

    def run(*args: str) -> tuple[int, str, str]:
        res = runner.invoke(app, ["extract", *args])
        return res.exit_code, res.stdout, res.stderr

    return run


def test_add_compare_resolve_show(workspace: Workspace, lsr: Lsr) -> None:
    code, out, err = lsr("study", "REACH-2", "--registry", "NCT02435433", "--json")
    assert code == 0, err
    assert json.loads(out)["created"] is True
    hr = ["measure=HR", "estimate=0.710", "lower=0.531"]
    for who, upper in (("ben", "0.949"), ("chloe", "0.994")):
        code, out, err = lsr(
            "add",
            "REACH-2",
            "contrast",
            *hr,
            f"upper={upper}",
            "--outcome",
            "OS",
            "--arm",
            "Cyramza",
            "--vs",
            "placebo",
            "--extractor",
            who,
            "--source",
            "Fig 2",
            "--json",
        )
        assert code == 0, err
        assert json.loads(out)["key"] == OS_KEY
    code, out, _ = lsr("compare", "REACH-2", "--json")
    res = json.loads(out)
    [d] = res["discrepancies"]
    assert (d["key"], d["status"]) == (OS_KEY, "differ")
    assert d["values"] == {
        "ben": {"measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 0.949},
        "chloe": {"measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 0.994},
    }
    code, out, _ = lsr("compare", "REACH-2")
    assert "1 discrepancies" in out and "chloe: measure=HR estimate=0.71" in out

    code, out, err = lsr("resolve", "REACH-2", OS_KEY, "--use", "ben", "--resolver", "ana")
    assert code == 0, err
    assert f"{OS_KEY}: final" in out
    code, out, _ = lsr("history", "REACH-2", OS_KEY, "--json")
    assert [v["status"] for v in json.loads(out)["versions"]] == ["draft", "draft", "final"]

    code, out, err = lsr("show", "--outcome", "OS", "--json")
    assert code == 0, err
    data = json.loads(out)
    [row] = data["rows"]["contrast"]
    assert data["measure"] == "HR" and data["n_studies"] == 1
    assert row["TE"] == pytest.approx(math.log(0.71))
    assert row["seTE"] == pytest.approx((math.log(0.949) - math.log(0.531)) / (2 * 1.959964))
    code, out, _ = lsr("show", "--outcome", "OS")
    assert (
        "REACH-2: ramucirumab vs placebo  HR 0.71 (0.531-0.949) -> lnTE -0.3425, SE 0.1481" in out
    )


def test_user_errors_exit_1_with_one_line(workspace: Workspace, lsr: Lsr) -> None:
    assert lsr("study", "REACH", "--registry", "NCT01140347")[0] == 0
    before = versions(workspace)
    code, _, err = lsr(
        "add",
        "REACH",
        "binary",
        "events=300",
        "n=282",
        "--outcome",
        "ORR",
        "--arm",
        "placebo",
        "--extractor",
        "ben",
    )
    assert code == 1
    assert err.strip() == "lsr: error: REACH, ORR, placebo: events = 300 exceed n = 282"
    code, _, err = lsr("add", "REACH", "arm", "n283", "--arm", "placebo", "--extractor", "ben")
    assert code == 1 and "give values as FIELD=VALUE" in err
    code, _, err = lsr("add", "NOPE", "arm", "n=3", "--arm", "placebo", "--extractor", "ben")
    assert code == 1 and "no study 'NOPE'" in err
    assert versions(workspace) == before
    # the shared-registry-id warning reaches stderr, and the command still succeeds
    code, _, err = lsr("study", "REACH Japan", "--registry", "NCT01140347")
    assert code == 0 and "lsr: warning: registry id NCT01140347 is shared by 2 studies" in err
    code, out, _ = lsr("study", "REACH Japan 2", "--subgroup-of", "REACH", "--json")
    assert code == 0 and json.loads(out)["study_id"] == 1


def test_load_example_and_show(workspace: Workspace, lsr: Lsr, shared: Path) -> None:
    folder = str(shared / "example-hcc")
    code, out, err = lsr("load-example", "--from", folder, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["n_trials"] == 13 and len(first["secondary_reports"]) == 4
    code, out, _ = lsr("load-example", "--from", folder)
    assert (
        code == 0 and "13 trials, 4 subgroup/overlap reports" in out and "0 values written" in out
    )
    code, out, _ = lsr("show", "--json")
    outcomes = json.loads(out)["outcomes"]
    assert set(outcomes) == {"OS", "PFS", "ORR", "DCR", "AE3"}
    assert outcomes["OS"]["n_studies"] == 10 and outcomes["ORR"]["n_studies"] == 0
    code, out, _ = lsr("studies", "--json")
    studies = {s["label"]: s for s in json.loads(out)["studies"]}
    assert len(studies) == 13
    assert [r["role"] for r in studies["REACH-2"]["reports"]] == ["primary", "subgroup", "overlap"]

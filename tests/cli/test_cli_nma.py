"""``lsr nma fit-file``: the JSON contract, user errors, and the NOT CONVERGED report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from living_review.cli_nma import nma_app

app = typer.Typer()
app.add_typer(nma_app, name="nma")
runner = CliRunner()

CONTRACT = ("relative_effects", "tau", "sucra", "league_table", "diagnostics", "dic")


def lsr(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def data(shared: Path, name: str) -> str:
    return str(shared / "nma-reference" / "data" / name)


def test_frequentist_json_contract(shared: Path) -> None:
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--engine", "frequentist", "--json",
    )  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert all(k in obj for k in CONTRACT)
    assert obj["reference"] == "No contact"
    assert set(obj["relative_effects"]) == {"Self-help", "Individual counselling",
                                            "Group counselling"}  # fmt: skip
    ic = obj["relative_effects"]["Individual counselling"]
    assert ic["q2.5"] < ic["mean"] < ic["q97.5"]
    assert len(obj["league_table"]) == 12
    assert obj["tau"]["mean"] == pytest.approx(0.67099, abs=1e-4)  # metafor REML


def test_frequentist_text_has_league_table_and_direction(shared: Path) -> None:
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "parkinsons_contrast.csv"), "--format", "contrast",
        "--engine", "frequentist", "--lower-better", "--reference", "Placebo",
    )  # fmt: skip
    assert code == 0
    assert "lower is better" in out and "League table" in out and "Placebo" in out


def test_bad_file_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("study,treatment,n,events\n1,A,100,5\n1,B,100,x\n")
    code, _, err = lsr("nma", "fit-file", str(f), "--format", "arm-binary")
    assert code == 1
    assert "bad.csv" in err and "line 3" in err and "events" in err


def test_disconnected_network_names_components(tmp_path: Path) -> None:
    f = tmp_path / "net.csv"
    f.write_text("study,treatment,n,events\n1,A,100,5\n1,B,100,9\n2,C,100,5\n2,D,100,7\n")
    code, _, err = lsr("nma", "fit-file", str(f), "--format", "arm-binary")
    assert code == 1
    assert "disconnected" in err and "{A, B}" in err and "{C, D}" in err


def test_bad_choice_is_a_user_error(shared: Path) -> None:
    code, _, err = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--model", "mixed",
    )  # fmt: skip
    assert code == 1 and "--model" in err


@pytest.mark.slow
def test_bayes_json_and_not_converged_report(shared: Path) -> None:
    args = ["nma", "fit-file", data(shared, "parkinsons_contrast.csv"), "--format",
            "contrast", "--model", "fe", "--lower-better"]  # fmt: skip
    code, out, _ = lsr(*args, "--json", "--draws", "1000", "--tune", "500")
    assert code == 0
    obj = json.loads(out)
    assert all(k in obj for k in CONTRACT)
    assert obj["converged"] is True and obj["diagnostics"]["converged"] is True
    assert obj["dic"]["n_datapoints"] == 8  # 6 two-arm studies + one three-arm (2)
    # far too few draws: fails ESS >= 400 even after the automatic extension
    code, out, _ = lsr(*args, "--draws", "20", "--tune", "30", "--chains", "2")
    assert code == 0
    assert "NOT CONVERGED:" in out and "ess" in out
    assert "League table" not in out  # no estimates presented as conclusions
    code, out, _ = lsr(*args, "--json", "--draws", "20", "--tune", "30", "--chains", "2")
    obj = json.loads(out)
    assert obj["converged"] is False and obj["status"] == "not_converged"
    assert obj["diagnostics"]["extended"] is True and obj["diagnostics"]["messages"]

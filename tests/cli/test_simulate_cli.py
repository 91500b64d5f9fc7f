"""``lsr simulate``: the JSON contract, the plot, and clear errors for bad files.

Uses the main ``lsr`` app, so the one-line registration in cli.py is covered too.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from living_review.cli import app
from living_review.cli_simulate import JSON_KEYS
from living_review.workspace import Workspace
from tests.integration.test_screening import add_records, decide, queue_ids, setup_review

runner = CliRunner()


def write_dataset(path: Path, *, bad_label_row: int | None = None) -> Path:
    """60 records: 8 about statins (includes), 52 about ecology; one may carry a bad label."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["record_id", "title", "abstract", "label_included"])
        for i in range(60):
            inc = i % 7 == 3 and i < 56
            title = f"Statin trial {i} cholesterol" if inc else f"Alpine soil bacteria {i}"
            abstract = "randomised adults lipid" if inc else "meadow sequencing diversity"
            label = "yes" if i == bad_label_row else str(int(inc))
            w.writerow([i + 1, title, abstract, label])
    return path


def test_simulate_json_has_the_promised_keys(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny.csv")
    plot = tmp_path / "curve.png"
    res = runner.invoke(app, ["simulate", str(data), "--seed", "3", "--json", "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in (*JSON_KEYS, "seconds_per_retrain", "n_for_100"):
        assert key in out
    assert out["n"] == 58 and out["r"] == 7  # priors excluded
    # separable toy set: the includes come first
    assert out["n_for_100"] <= 10
    assert 0.0 < out["wss95"] <= 0.95
    assert out["recall_at_stop"] >= 0.95
    assert plot.stat().st_size > 1000


def test_simulate_is_reproducible(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny.csv")
    outs = [
        json.loads(runner.invoke(app, ["simulate", str(data), "--seed", "5", "--json"]).stdout)
        for _ in range(2)
    ]
    for key in JSON_KEYS:
        assert outs[0][key] == outs[1][key]


def test_simulate_text_output(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny.csv")
    res = runner.invoke(app, ["simulate", str(data)])
    assert res.exit_code == 0, res.output
    assert "WSS@95" in res.stdout and "stopping rule" in res.stdout


def test_bad_label_names_file_and_line(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "bad.csv", bad_label_row=4)
    res = runner.invoke(app, ["simulate", str(data), "--json"])
    assert res.exit_code == 1
    assert "bad.csv, line 6, record 5" in res.stderr
    assert res.stdout == ""


def test_missing_label_column_and_file(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny.csv")
    res = runner.invoke(app, ["simulate", str(data), "--label", "label_abstract_screening"])
    assert res.exit_code == 1 and "label_abstract_screening" in res.stderr
    res = runner.invoke(app, ["simulate", str(tmp_path / "nope.csv")])
    assert res.exit_code == 1 and "no such file" in res.stderr


def test_simulate_on_a_shared_dataset(shared: Path) -> None:
    data = shared / "benchmarks" / "screening" / "clef2017_CD008760.csv"
    res = runner.invoke(
        app, ["simulate", str(data), "--label", "label_abstract_screening", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n"] == 62 and out["r"] == 11
    # better than random order (expected WSS@95 about 0)
    assert out["wss95"] > 0.1


def test_prioritise_stopping_and_stop_on_a_workspace(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    setup_review(workspace)
    soil = add_records(workspace, 8, abstract="alpine soil bacteria meadow", start=1)
    statin = add_records(workspace, 4, abstract="statin cholesterol lipid trial", start=50)
    queue_ids(workspace, "ben")
    for who in ("ben", "chloe"):
        decide(workspace, statin[0], who, "include")
        decide(workspace, soil[0], who, "exclude")

    res = runner.invoke(app, ["prioritise", "--stage", "ta", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["training_size"] == 2 and out["label_source"] == "reconciled"
    assert set(out["top"][:3]) == set(statin[1:])
    assert queue_ids(workspace, "ben")[:3] == out["top"][:3]

    res = runner.invoke(app, ["stopping", "--json"])
    assert res.exit_code == 0, res.output
    est = json.loads(res.stdout)
    assert (est["screened"], est["total"], est["reached"]) == (2, 12, False)

    res = runner.invoke(app, ["stop", "--reviewer", "ben"])
    assert res.exit_code == 1 and "only a lead" in res.stderr
    res = runner.invoke(app, ["stop", "--reviewer", "ana", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rule"] == "callaghan-mueller-hansen-2020"
    res = runner.invoke(app, ["prisma", "--json"])
    assert json.loads(res.stdout)["records_excluded_automation"] == 10

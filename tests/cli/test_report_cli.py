"""``lsr report``: the JSON contract (one object: files and section summary) and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from living_review.cli import app
from living_review.extraction.example import load_example
from living_review.extraction.service import analysis_data, network_for
from living_review.nma.frequentist import fit_frequentist
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_report_json_on_the_example(workspace: Workspace, shared: Path, tmp_path: Path) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip(
            "the CLI shell does not depend on the engine (the report's store reads run on both)"
        )
    shutil.copy(REPO / "protocol" / "review.toml", workspace.protocol_path)
    load_example(
        engine=workspace.engine, protocol=workspace.protocol, folder=shared / "example-hcc"
    )
    out = tmp_path / "rep"
    res = runner.invoke(
        app, ["-w", str(workspace.root), "report", "--format", "md", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["path"] == str(out / "report.md") and obj["format"] == "md"
    assert obj["figures"] and all(Path(f).is_file() for f in obj["figures"])
    assert {Path(f).parent for f in obj["figures"]} == {out / "figures"}
    sections = obj["sections"]
    assert sections["studies"] == 13
    os_ = sections["analyses"]["OS"]
    # No stored run: the frequentist estimate fitted now, not a stored run.
    assert os_["source"] == "fitted_now" and os_["run_version"] is None
    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    assert os_["n_studies"] == data.n_studies
    net = network_for(data, workspace.protocol)
    freq = fit_frequentist(net, model="re", higher_is_better=False)
    assert os_["engine"] == freq.engine and os_["converged"] is True
    assert sections["analyses"]["ORR"]["source"] == "no_data"
    text = (out / "report.md").read_text(encoding="utf-8")
    best = max(freq.sucra, key=freq.sucra.__getitem__)
    assert f"| 1 | {best} | {freq.sucra[best]:.3f} |" in text
    assert "not a stored run" in text


def test_report_text_output_and_bad_out(workspace: Workspace, tmp_path: Path) -> None:
    ws = ["-w", str(workspace.root), "report"]
    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    res = runner.invoke(app, [*ws, "--out", str(taken)])
    assert res.exit_code == 1
    assert f"--out {taken}: is a file, not a folder" in res.stderr and res.stdout == ""
    res = runner.invoke(app, [*ws, "--out", str(taken / "sub"), "--json"])
    assert res.exit_code == 1 and "is a file, not a folder" in res.stderr and res.stdout == ""
    res = runner.invoke(app, [*ws, "--format", "pdf", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "--format must be one of md, html" in res.stderr
    assert not (tmp_path / "r").exists()
    res = runner.invoke(app, ws)  # default: <workspace>/report/report.html
    assert res.exit_code == 0, res.output
    assert f"report written to {workspace.root / 'report' / 'report.html'}" in res.stdout
    assert "figures: 1 embedded" in res.stdout  # the PRISMA diagram of an empty review

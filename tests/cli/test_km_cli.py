"""The ``lsr km`` commands: file-only reconstruction and RMST (one JSON object with --json; the
spec's golden values through the CLI), user errors as one line naming file and line with exit 1,
and the workspace commands on the synthetic example."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from living_review import cli
from living_review.cli_km import km_app
from living_review.extraction.service import add_study
from living_review.survival.service import example_dir
from living_review.workspace import Workspace

runner = CliRunner()
Lsr = Callable[..., tuple[int, str, str]]
REPO = Path(__file__).resolve().parents[2]
PBC = REPO / "tests" / "unit" / "survival" / "data" / "pbc_trial.csv"


def make_app() -> typer.Typer:
    app = typer.Typer(cls=cli._Group, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """km commands under test."""

    app.add_typer(km_app, name="km")  # what cli.py does
    return app


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(make_app(), ["km", *args])
    return res.exit_code, res.stdout, res.stderr


def test_km_is_registered_in_lsr() -> None:
    res = runner.invoke(cli.app, ["km", "--help"])
    assert res.exit_code == 0 and "reconstruct" in res.stdout


def test_rmst_golden_values_from_an_ipd_file(tmp_path: Path) -> None:
    ipd = tmp_path / "pbc_ipd.csv"
    with PBC.open() as src, ipd.open("w", newline="") as dst:
        w = csv.writer(dst)
        w.writerow(["arm", "time", "event"])
        for r in csv.DictReader(src):
            arm = "D-penicillamine" if r["trt"] == "1" else "placebo"
            w.writerow([arm, float(r["time"]) / 365.25, int(r["status"] == "2")])
    code, out, err = run("rmst", str(ipd), "--tau", "10", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["treated"] == "D-penicillamine"
    assert res["diff"] == pytest.approx(-0.136923, abs=5e-7)
    assert res["diff_p"] == pytest.approx(0.737786, abs=5e-7)
    assert res["arm1"]["rmst"] == pytest.approx(7.146493, abs=5e-7)
    assert res["rmtl_ratio"]["estimate"] == pytest.approx(1.050403, abs=5e-7)
    code, out, _ = run("rmst", str(ipd), "--treated", "placebo")
    assert code == 0 and "ΔRMST placebo - D-penicillamine" in out and "case 4" in out


def test_reconstruct_writes_ipd_plot_and_one_json(tmp_path: Path) -> None:
    folder = example_dir()
    ipd, png, svg = tmp_path / "ipd.csv", tmp_path / "o.png", tmp_path / "o.svg"
    args = [
        "reconstruct",
        str(folder / "resorce_os_points.csv"),
        "--at-risk",
        str(folder / "resorce_os_at_risk.csv"),
        "--events",
        "regorafenib=271",
        "--ipd-out",
        str(ipd),
        "--plot",
        str(png),
        "--json",
    ]
    code, out, err = run(*args)
    assert code == 0, err
    res = json.loads(out)
    assert res["arms"]["regorafenib"]["n"] == 379
    assert res["arms"]["regorafenib"]["events"] == 271
    assert res["arms"]["regorafenib"]["algorithm"].startswith("guyot")
    assert 0.5 < res["cox"]["hr"] < 1 and res["cox"]["treated"] == "regorafenib"
    assert res["rmst"]["tau_rule"].startswith("default")
    rows = list(csv.DictReader(ipd.open()))
    assert len(rows) == 379 + 194
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run(*args[:-3], "--plot", str(svg))
    assert code == 0, err
    assert "Cox HR regorafenib vs placebo" in out
    assert svg.read_text().lstrip().startswith("<?xml")


def test_user_errors_name_file_and_line(tmp_path: Path) -> None:
    pts = tmp_path / "bad.csv"
    pts.write_text("time,survival\n0,1\n1,0.5\n2,0.9\n")
    nar = tmp_path / "nar.csv"
    nar.write_text("time,n_risk\n0,10\n")
    code, out, err = run("reconstruct", str(pts), "--at-risk", str(nar))
    assert code == 1 and out == ""
    assert f"{pts}, line 4" in err and "rises" in err
    code, _, err = run("reconstruct", str(pts), "--at-risk", str(nar), "--plot", "x.pdf")
    assert code == 1
    code, _, err = run("rmst", str(nar))
    assert code == 1 and "IPD needs columns" in err
    code, _, err = run("reconstruct", str(tmp_path / "missing.csv"))
    assert code == 1 and "not found" in err
    code, _, err = run("reconstruct", str(nar), "--scale", "logit")
    assert code == 2 and "--scale" in err
    good = tmp_path / "one_arm.csv"
    good.write_text("time,survival\n0,1\n1,0.8\n2,0.6\n3,0.6\n")
    code, out, err = run("reconstruct", str(good), "--at-risk", str(nar), "--events", "3", "--json")
    assert code == 0, err
    one = json.loads(out)["arms"]["one_arm"]
    assert one["events"] == 3 and one["events_published"] == 3
    code, _, err = run("reconstruct", str(good), "--at-risk", str(nar), "--events", "=x")
    assert code == 1 and "ARM=TOTAL_EVENTS" in err


@pytest.fixture
def lsr(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Lsr:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    shutil.copy(REPO / "protocol" / "review.toml", workspace.protocol_path)
    for label in ("REACH", "REACH-2", "RESORCE", "KEYNOTE-240"):
        add_study(engine=workspace.engine, label=label, actor="ana")
    return run


def test_workspace_commands(lsr: Lsr, tmp_path: Path) -> None:
    code, out, err = lsr("load-example", "--json")
    assert code == 0, err
    assert json.loads(out)["created"] == 8
    code, out, _ = lsr("load-example")
    assert code == 0 and "0 attached, 8 unchanged" in out and "simulated" in out
    code, out, _ = lsr("curves", "--outcome", "OS", "--json")
    curves = json.loads(out)["curves"]
    assert {(c["study"], c["treatment"]) for c in curves} >= {("RESORCE", "regorafenib")}
    code, out, err = lsr("effects", "--tau", "24", "--json")
    assert code == 0, err
    eff = json.loads(out)
    assert eff["tau"] == 24 and eff["pooled"]["all_active"]["k"] == 4
    code, out, err = lsr("nma", "--tau", "24", "--json")
    assert code == 0, err
    fit = json.loads(out)
    assert fit["measure"] == "MD" and fit["reference"] == "placebo"
    assert set(fit["relative_effects"]) == {"ramucirumab", "regorafenib", "pembrolizumab"}
    code, out, err = lsr("plot", "REACH-2", str(tmp_path / "r2.svg"))
    assert code == 0, err
    assert (tmp_path / "r2.svg").exists()
    # attach a figure by hand, then withdraw it
    pts = tmp_path / "fig.csv"
    pts.write_text("time,survival\n0,1\n1,0.8\n2,0.6\n3,0.6\n")
    nar = tmp_path / "nar.csv"
    nar.write_text("time,n_risk\n0,10\n2,6\n")
    code, out, err = lsr(
        "attach", "REACH", str(pts), "--at-risk", str(nar), "--arm", "Cyramza", "-o", "OS",
        "--by", "ben", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["curves"][0]["treatment"] == "ramucirumab"
    code, out, err = lsr("withdraw", "REACH", "--arm", "ramucirumab", "-o", "OS", "--by", "ana")
    assert code == 0, err
    code, _, err = lsr("withdraw", "REACH", "--arm", "ramucirumab", "-o", "OS", "--by", "ana")
    assert code == 1 and "no current OS curve" in err
    code, _, err = lsr("effects", "-o", "PFS")
    assert code == 1 and "no study has curves" in err

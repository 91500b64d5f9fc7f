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


def test_sampler_choice(shared: Path) -> None:
    """Normal data are drawn exactly by default; exact draws of binary arms are refused."""
    code, _, err = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--sampler", "exact",
    )  # fmt: skip
    assert code == 1 and "exact sampling needs an all-normal network" in err
    code, _, err = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--sampler", "gibbs",
    )  # fmt: skip
    assert code == 1 and "--sampler" in err
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "senn2013_contrast.csv"), "--format", "contrast",
        "--json", "--draws", "500",
    )  # fmt: skip
    obj = json.loads(out)
    assert code == 0 and obj["engine"].startswith("exact posterior draws")
    assert obj["diagnostics"]["sampler"] == "exact" and obj["converged"] is True


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


def test_league_table_columns_never_run_together(shared: Path) -> None:
    """Long names ("Individual counselling") used to run into the first cell."""
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--engine", "frequentist",
    )  # fmt: skip
    assert code == 0
    assert "counselling2." not in out and "counselling0." not in out
    table = out[out.index("League table") :].splitlines()[1:6]
    header, rows = table[0], table[1:]
    names = ["No contact", "Individual counselling", "Group counselling", "Self-help"]
    # every column starts where its header starts, in every row
    starts = [header.index(n, 20) for n in names]
    for row, name in zip(rows, names, strict=True):
        assert row.strip().startswith(name)
        for s in starts:
            assert row[s - 2 : s] == "  " and row[s] != " "
    # natural scale (OR), reciprocal pairs: IC vs NC = 2.03, NC vs IC = 0.49
    assert "2.03 (1.39, 2.98)" in rows[1] and "0.49 (0.34, 0.72)" in rows[0]


def test_league_lines_compact_and_chunked() -> None:
    from living_review.cli_nma import league_lines

    trts = [f"A very long treatment name {i}" for i in range(6)]
    cells = {(a, b): "-10.00 (-12.00, -8.00)" for a in trts for b in trts if a != b}
    coded = league_lines(trts, cells, width=200)
    assert coded[0].split() == [f"[{i}]" for i in range(1, 7)]  # numbered columns
    assert coded[1].strip().startswith("[1] A very long treatment name 0")
    chunked = league_lines(trts, cells, width=100)
    assert max(len(x) for x in chunked) <= 100
    headers = [x for x in chunked if x.strip().startswith("[") and "name" not in x]
    assert sum(len(h.split()) for h in headers) == 6  # every column exactly once
    assert "-0.00" not in "".join(chunked)


def test_plots_option_writes_figures(shared: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "figs"
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--engine", "frequentist", "--json", "--plots", str(out_dir),
    )  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    files = sorted(Path(p).name for p in obj["plots"])
    assert files == sorted(f"{n}.{e}" for n in ("network", "forest", "sucra", "rankogram", "funnel")
                           for e in ("png", "svg"))  # fmt: skip
    assert all((out_dir / f).stat().st_size > 0 for f in files)
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--engine", "frequentist", "--plots", str(out_dir),
    )  # fmt: skip
    assert code == 0 and f"Plots written to {out_dir}" in out


def test_plots_into_unwritable_place_is_a_user_error(shared: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = lsr(
        "nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
        "--engine", "frequentist", "--plots", str(blocker / "sub"),
    )  # fmt: skip
    assert code == 1 and "--plots" in err


NODESPLIT_KEYS = ("comparison", "direct", "indirect", "difference", "p")


def test_nodesplit_frequentist_json_and_text(shared: Path) -> None:
    args = ["nma", "fit-file", data(shared, "smoking_arm.csv"), "--format", "arm-binary",
            "--engine", "frequentist", "--nodesplit"]  # fmt: skip
    code, out, _ = lsr(*args, "--json")
    assert code == 0
    obj = json.loads(out)
    ns = obj["nodesplit"]
    assert len(ns) == 6  # every pair of the 4 treatments is in a loop
    for e in ns:
        assert all(k in e for k in NODESPLIT_KEYS)
        assert 0 <= e["p"] <= 1
        assert e["difference"]["mean"] == pytest.approx(e["direct"]["mean"] - e["indirect"]["mean"])
        assert "natural" in e["direct"]  # OR: natural-scale summaries too
    ic = next(e for e in ns if e["comparison"] == "Individual counselling vs No contact")
    assert ic["n_direct_studies"] == 15
    assert "nodesplit_frequentist" not in obj  # the frequentist split *is* the main one
    code, out, _ = lsr(*args)
    assert code == 0
    text = out[out.index("Node-splitting") :]
    assert "Direct/indirect" in text and "Individual counselling vs No contact" in text


def test_no_loops_reports_nothing_to_split(tmp_path: Path) -> None:
    f = tmp_path / "star.csv"
    f.write_text("study,treatment,n,events\n1,A,100,5\n1,B,100,9\n2,A,100,5\n2,C,100,7\n")
    code, out, _ = lsr("nma", "fit-file", str(f), "--format", "arm-binary",
                       "--engine", "frequentist", "--model", "fe", "--nodesplit")  # fmt: skip
    assert code == 0 and "no comparison has both direct and indirect evidence" in out


@pytest.mark.slow
def test_nodesplit_bayes_json(shared: Path) -> None:
    code, out, _ = lsr(
        "nma", "fit-file", data(shared, "parkinsons_contrast.csv"), "--format", "contrast",
        "--model", "fe", "--lower-better", "--nodesplit", "--json",
        "--draws", "1000", "--tune", "500", "--chains", "2",
    )  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    ns, freq = obj["nodesplit"], obj["nodesplit_frequentist"]
    assert [e["comparison"] for e in ns] == [e["comparison"] for e in freq]
    assert len(ns) == 4
    for b, f in zip(ns, freq, strict=True):
        assert all(k in b for k in NODESPLIT_KEYS)
        assert b["method"].startswith("Bayesian") and b["converged"] is True
        # FE, vague priors, normal likelihood: posterior ~ GLS split model
        assert b["direct"]["mean"] == pytest.approx(f["direct"]["mean"], abs=0.1)
        assert b["indirect"]["mean"] == pytest.approx(f["indirect"]["mean"], abs=0.15)

"""``lsr rob2`` in a workspace: two assessors assess by CLI (answers from a file and one by one),
compare, a resolver settles the consensus, show/history report it as JSON, and the plots of
the final judgements are written; user errors are one line on stderr and exit 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from living_review import cli
from living_review.extraction.service import add_study
from living_review.workspace import Workspace
from tests.integration.test_extraction import hcc
from tests.integration.test_rob2_store import BEN, CHLOE, rows

runner = CliRunner()
Lsr = Callable[..., tuple[int, str, str]]


@pytest.fixture
def lsr(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Lsr:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    hcc(workspace)
    add_study(engine=workspace.engine, label="REACH-2", registry_id="NCT02435433")

    def run(*args: str) -> tuple[int, str, str]:
        res = runner.invoke(cli.app, ["rob2", *args])
        return res.exit_code, res.stdout, res.stderr

    return run


def test_dual_assessment_by_cli(workspace: Workspace, lsr: Lsr, tmp_path: Path) -> None:
    code, out, err = lsr("show", "--outcome", "OS", "--json")
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)["results"]] == ["not_started"]
    # ben: from a file in the judge format, in one go.
    path = tmp_path / "ben.json"
    path.write_text(json.dumps({"variant": "assignment", "answers": BEN}), encoding="utf-8")
    code, out, err = lsr(
        "assess", "REACH-2", "-o", "OS", "-a", "ben", "--answers", str(path), "--complete",
        "--support", "1.1=random number table, p. 2", "--direction", "overall=unpredictable",
        "--result", "HR 0.710 (0.531-0.949)", "--json",
    )  # fmt: skip
    assert code == 0, err
    ben = json.loads(out)
    assert ben["status"] == "complete" and ben["overall"] == "low"
    assert ben["support"] == {"1.1": "random number table, p. 2"}
    assert ben["directions"] == {"overall": "unpredictable"}
    assert ben["numerical_result"] == "HR 0.710 (0.531-0.949)"
    # chloe: answer by answer, as she reads the paper.
    first = [f"--answer={q}={a}" for q, a in list(CHLOE.items())[:5]]
    code, out, err = lsr("assess", "REACH-2", "-o", "OS", "-a", "chloe", *first, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "in_progress"
    assert json.loads(out)["next_question"] == "2.3"
    rest = [f"--answer={q}={a}" for q, a in list(CHLOE.items())[5:]]
    code, out, err = lsr("assess", "REACH-2", "-o", "OS", "-a", "chloe", *rest, "--complete")
    assert code == 1
    assert "2 domains have some concerns" in err and "overall=some_concerns" in err
    code, out, err = lsr(
        "assess", "REACH-2", "-o", "OS", "-a", "chloe", *rest, "--complete",
        "--override", "overall=high:missing data plus no analysis plan",
    )  # fmt: skip
    assert code == 0, err
    assert "Overall           High  (proposed some_concerns; override: missing data" in out
    code, out, err = lsr("compare", "REACH-2", "--outcome", "OS", "--json")
    assert code == 0, err
    cmp = json.loads(out)
    assert {r["question"] for r in cmp["question_discrepancies"]} == {
        "1.3", "3.1", "3.2", "3.3", "3.4", "5.1",
    }  # fmt: skip
    assert {r["domain"] for r in cmp["domain_discrepancies"]} == {"3", "5", "overall"}
    code, out, _ = lsr("compare", "REACH-2", "--outcome", "OS")
    assert "D3       differ     ben=low  chloe=some_concerns" in out
    code, out, err = lsr(
        "resolve", "REACH-2", "-o", "OS", "-r", "ana", "--use", "ben", "--answer", "1.3=NI",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    final = json.loads(out)
    assert final["role"] == "consensus" and final["answers"]["1.3"] == "NI"
    code, out, err = lsr("show", "REACH-2", "--json")
    assert code == 0, err
    shown = json.loads(out)
    os_row = next(r for r in shown["results"] if r["outcome"] == "OS")
    assert os_row["status"] == "consensus" and os_row["consensus"]["overall"] == "low"
    assert {(a["assessor"], a["role"]) for a in shown["assessments"]} == {
        ("ben", "assessor"), ("chloe", "assessor"), ("ana", "consensus"),
    }  # fmt: skip
    code, out, _ = lsr("history", "REACH-2", "-o", "OS", "--json")
    assert len(json.loads(out)["versions"]) == rows(workspace) == 4
    code, out, err = lsr("plot", "--out", str(tmp_path / "plots"), "--json")
    assert code == 0, err
    plotted = json.loads(out)
    assert set(plotted["outcomes"]) == {"OS"} and "PFS" in plotted["skipped"]
    for f in plotted["outcomes"]["OS"]:
        assert Path(f).stat().st_size > 1000
    assert (tmp_path / "plots" / "rob2-OS-traffic-light.svg").read_text().count("REACH-2") >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--answer", "2.7"], "give answers as QUESTION=CODE"),
        (["--answer", "2.1=N", "--answer", "2.2=N", "--answer", "2.3=Y"], "2.3 must not be"),
        (["--answer", "1.1=Y", "--complete"], "question 1.2 is required"),
        (["--override", "3"], "KEY=JUDGEMENT"),
        (["--override", "1=awful"], "judgement 'awful' is not one of"),
        (["--variant", "itt"], "variant 'itt' is not one of"),
    ],
)
def test_assess_errors_exit_1_and_write_nothing(
    workspace: Workspace, lsr: Lsr, args: list[str], message: str
) -> None:
    code, out, err = lsr("assess", "REACH-2", "-o", "OS", "-a", "ben", *args)
    assert code == 1, out
    assert message in err and err.startswith("lsr: error:")
    assert rows(workspace) == 0


def test_plot_and_resolve_errors(workspace: Workspace, lsr: Lsr, tmp_path: Path) -> None:
    code, _, err = lsr("plot", "--out", str(tmp_path / "p"))
    assert code == 1 and "no consensus RoB 2 assessments" in err
    code, _, err = lsr("plot", "--outcome", "QOL", "--out", str(tmp_path / "p"))
    assert code == 1 and "outcome 'QOL' is not in the protocol" in err
    code, _, err = lsr("resolve", "REACH-2", "-o", "OS", "-r", "ana")
    assert code == 1 and "consensus needs two assessments" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  oops", encoding="utf-8")
    code, _, err = lsr("assess", "REACH-2", "-o", "OS", "-a", "ben", "--answers", str(bad))
    assert code == 1 and f"{bad}, line 2" in err

"""The screening commands' contract: JSON keys scripts rely on, exit codes, nothing half-written.

A local Typer app gets the commands through ``register`` (what ``cli.py`` does with one line),
with the main app's error handling (user errors: one line on stderr, exit 1).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from living_review import cli
from living_review.cli_screening import register
from living_review.store.models import ScreeningDecision
from living_review.workspace import Workspace
from tests.integration.test_screening import add_records, count, setup_review

runner = CliRunner()
Lsr = Callable[..., tuple[int, str, str]]


def make_app() -> typer.Typer:
    app = typer.Typer(cls=cli._Group, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """Screening commands under test."""

    register(app)
    return app


@pytest.fixture
def lsr(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Lsr:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))  # found as any user's would be
    app = make_app()

    def run(*args: str) -> tuple[int, str, str]:
        res = runner.invoke(app, list(args))
        return res.exit_code, res.stdout, res.stderr

    return run


def test_reviewers_queue_decide_json(workspace: Workspace, lsr: Lsr) -> None:
    setup_review(workspace, team=(("ana", "lead"),))
    code, out, err = lsr("reviewer", "add", "ben")
    assert code == 0, err
    assert lsr("reviewer", "add", "chloe", "--role", "reviewer")[0] == 0
    code, out, _ = lsr("reviewer", "list", "--json")
    assert [(r["name"], r["role"]) for r in json.loads(out)] == [
        ("ana", "lead"), ("ben", "reviewer"), ("chloe", "reviewer"),
    ]  # fmt: skip
    ids = add_records(workspace, 3)
    code, out, err = lsr("queue", "--reviewer", "ben", "--stage", "ta", "--json")
    assert code == 0, err
    items = json.loads(out)
    assert [i["id"] for i in items] == ids
    code, out, err = lsr(
        "decide", str(ids[0]), "exclude", "--reviewer", "ben", "--stage", "ta",
        "--reason", "not an RCT", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["decision"] == "exclude"
    code, out, _ = lsr("queue", "--reviewer", "chloe", "--stage", "ta", "--json")
    chloe = json.loads(out)
    assert [i["id"] for i in chloe] == ids
    assert "exclude" not in out and "not an RCT" not in out  # blinded
    code, out, _ = lsr("queue", "--reviewer", "ben", "--stage", "ta", "--json")
    assert [i["id"] for i in json.loads(out)] == ids[1:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "999999", "include", "--reviewer", "ben", "--stage", "ta"],
         "no record with id 999999"),
        (["decide", "{a}", "include", "--reviewer", "zed", "--stage", "ta"],
         "reviewer 'zed' is not in this review"),
        (["decide", "{a}", "include", "--reviewer", "ben", "--stage", "ft"],
         "not at the full-text stage"),
        (["decide", "{a}", "exclude", "--reviewer", "ben", "--stage", "ft"],
         "full-text exclusion needs a reason"),
        (["decide", "{a}", "perhaps", "--reviewer", "ben", "--stage", "ta"],
         "include, exclude or maybe"),
        (["resolve", "{a}", "include", "--reviewer", "ana", "--stage", "ta"],
         "no open conflict"),
        (["unblind", "--stage", "ta", "--reviewer", "ben"], "only a lead"),
    ],
)  # fmt: skip
def test_bad_input_exit_1_and_nothing_written(
    workspace: Workspace,
    lsr: Lsr,
    args: list[str],
    message: str,
) -> None:
    setup_review(workspace)
    (a,) = add_records(workspace, 1)
    code, _, err = lsr(*(x.format(a=a) for x in args))
    assert code == 1
    assert err.startswith("lsr: error:") and message in err
    assert count(workspace, ScreeningDecision) == 0


def test_fulltext_exclusion_needs_a_reason(workspace: Workspace, lsr: Lsr) -> None:
    setup_review(workspace)
    (a,) = add_records(workspace, 1)
    for who in ("ben", "chloe"):
        assert lsr("decide", str(a), "include", "--reviewer", who, "--stage", "ta")[0] == 0
    assert lsr("fulltext", "advance")[0] == 0
    code, _, err = lsr("decide", str(a), "exclude", "--reviewer", "ben", "--stage", "ft")
    assert code == 1 and "needs a reason" in err and "wrong-design" in err
    assert count(workspace, ScreeningDecision) == 2
    code, _, err = lsr(
        "decide", str(a), "exclude", "--reviewer", "ben", "--stage", "ft", "--reason",
        "wrong-design",
    )  # fmt: skip
    assert code == 0, err


def test_agreement_json_contract_and_sklearn(workspace: Workspace, lsr: Lsr) -> None:
    setup_review(workspace, screening='mode = "dual"\nmaybe_is_conflict = false')
    ids = add_records(workspace, 30)
    rng = random.Random(7)
    labels: dict[str, list[str]] = {"ben": [], "chloe": []}
    for rid in ids:
        b = rng.choice(["include", "exclude", "exclude", "maybe"])
        c = b if rng.random() < 0.6 else rng.choice(["include", "exclude", "maybe"])
        for who, d in (("ben", b), ("chloe", c)):
            labels[who].append(d)
            assert lsr("decide", str(rid), d, "--reviewer", who, "--stage", "ta")[0] == 0
    code, out, err = lsr("agreement", "--stage", "ta", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"kappa", "ci", "percent_agreement", "n", "pairs"} <= set(data)
    assert data["n"] == 30 and len(data["ci"]) == 2
    assert data["ci"][0] <= data["kappa"] <= data["ci"][1]
    expected = cohen_kappa_score(labels["ben"], labels["chloe"])
    assert data["kappa"] == pytest.approx(expected, abs=1e-12)
    agree = sum(x == y for x, y in zip(labels["ben"], labels["chloe"], strict=True))
    assert data["percent_agreement"] == pytest.approx(100 * agree / 30)
    (pair,) = data["pairs"]
    assert pair["reviewers"] == ["ben", "chloe"]
    assert {"kappa", "ci", "percent_agreement", "n"} <= set(pair)
    assert pair["kappa"] == pytest.approx(expected, abs=1e-12)
    assert sum(sum(row.values()) for row in data["table"].values()) == 30
    code, out, _ = lsr("agreement")
    assert code == 0 and "kappa" in out


def test_prisma_json_and_svg(workspace: Workspace, lsr: Lsr, tmp_path: Path) -> None:
    setup_review(workspace)
    (a, b) = add_records(workspace, 2)
    for who in ("ben", "chloe"):
        lsr("decide", str(a), "include", "--reviewer", who, "--stage", "ta")
        lsr("decide", str(b), "exclude", "--reviewer", who, "--stage", "ta")
    svg = tmp_path / "out" / "prisma.svg"
    code, out, err = lsr("prisma", "--json", "--svg", str(svg))
    assert code == 0, err
    data = json.loads(out)
    assert (data["records_screened"], data["records_excluded"], data["dbr_sought_reports"]) == (
        2, 1, 1,
    )  # fmt: skip
    assert svg.is_file() and "Records screened" in svg.read_text(encoding="utf-8")
    assert lsr("publish", "v1", "--reviewer", "ben")[0] == 1
    assert lsr("publish", "v1", "--reviewer", "ana")[0] == 0
    code, out, _ = lsr("prisma", "--json")
    assert json.loads(out)["template"] == "updated"
    code, out, _ = lsr("prisma", "--csv", str(tmp_path / "PRISMA.csv"))
    assert code == 0 and "records_screened,0" in (tmp_path / "PRISMA.csv").read_text()


def test_conflicts_and_resolve(workspace: Workspace, lsr: Lsr) -> None:
    setup_review(workspace)
    (a,) = add_records(workspace, 1)
    lsr("decide", str(a), "include", "--reviewer", "ben", "--stage", "ta")
    lsr("decide", str(a), "exclude", "--reviewer", "chloe", "--stage", "ta")
    code, out, _ = lsr("conflicts", "--reviewer", "ben", "--stage", "ta", "--json")
    assert json.loads(out) == []  # blinded for a screener
    code, out, _ = lsr("conflicts", "--reviewer", "ana", "--stage", "ta", "--json")
    assert [c["id"] for c in json.loads(out)] == [a]
    code, out, err = lsr(
        "resolve",
        str(a),
        "include",
        "--stage",
        "ta",
        "--reviewer",
        "ana",
        "--note",
        "RCT",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["method"] == "third_reviewer"

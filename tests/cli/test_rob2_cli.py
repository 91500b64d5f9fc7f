"""``lsr rob2``: the judge JSON contract, plot files, and user errors as exit code 1.

The lead wires ``rob2_app`` into ``lsr``; here it is mounted on a small app that turns
:class:`LsrError` into one line and exit 1 exactly as ``lsr`` does, so the contract is
tested without depending on that wiring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
from typer.testing import CliRunner

from living_review.cli_rob2 import rob2_app
from living_review.errors import InputFileError, LsrError


class _Group(typer.core.TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LsrError as exc:
            typer.echo(f"lsr: error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(cls=_Group)


@app.callback()
def _root() -> None:
    """Stands in for ``lsr``."""


app.add_typer(rob2_app, name="rob2")
runner = CliRunner()

LOW_ANSWERS = {
    "1.1": "Y", "1.2": "PY", "1.3": "N",
    "2.1": "N", "2.2": "N", "2.6": "Y",
    "3.1": "Y",
    "4.1": "N", "4.2": "N", "4.3": "N",
    "5.1": "Y", "5.2": "N", "5.3": "N",
}  # fmt: skip


def lsr(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _write(tmp_path: Path, obj: object, name: str = "answers.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_judge_json_contract(tmp_path: Path) -> None:
    answers = {**LOW_ANSWERS, "1.2": "NI", "5.1": "NI"}
    path = _write(tmp_path, {"variant": "assignment", "answers": answers})
    code, out, err = lsr("rob2", "judge", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["domains"] == {
        "1": "some_concerns", "2": "low", "3": "low", "4": "low", "5": "some_concerns"
    }  # fmt: skip
    assert data["overall"] == "some_concerns"
    assert data["several_some_concerns"] is True


def test_judge_adhering_variant(tmp_path: Path) -> None:
    answers = {k: v for k, v in LOW_ANSWERS.items() if not k.startswith("2.")}
    answers |= {"2.1": "N", "2.2": "N", "2.4": "NA", "2.5": "PY", "2.6": "Y"}
    path = _write(tmp_path, {"variant": "adhering", "answers": answers})
    code, out, _ = lsr("rob2", "judge", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["domains"]["2"] == "some_concerns" and data["rules"]["2"] == "D2B.2"
    assert data["overall"] == "some_concerns"


def test_judge_applies_justified_overrides(tmp_path: Path) -> None:
    obj = {
        "variant": "assignment",
        "answers": LOW_ANSWERS,
        "overrides": {"4": {"judgement": "high", "justification": "unblinded PFS by site"}},
    }
    code, out, _ = lsr("rob2", "judge", str(_write(tmp_path, obj)), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["domains"]["4"] == "high" and data["proposed"]["domains"]["4"] == "low"
    assert data["overall"] == "high"


def test_judge_text_output(tmp_path: Path) -> None:
    path = _write(tmp_path, {"variant": "assignment", "answers": LOW_ANSWERS})
    code, out, _ = lsr("rob2", "judge", str(path))
    assert code == 0
    assert "D1" in out and "rule D1.3" in out
    assert out.strip().splitlines()[-1].split() == ["Overall", "+", "Low"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {
                "variant": "assignment",
                "answers": {k: v for k, v in LOW_ANSWERS.items() if k != "1.2"},
            },
            "question 1.2 is required",
        ),
        (
            {"variant": "assignment", "answers": {**LOW_ANSWERS, "2.3": "Y"}},
            "question 2.3 must not be answered when 2.1 and 2.2 are N/PN (skip logic)",
        ),
        (
            {"variant": "assignment", "answers": {**LOW_ANSWERS, "1.1": "X"}},
            "answer 'X' for 1.1 is not one of Y, PY, PN, N, NI",
        ),
        ({"variant": "itt", "answers": LOW_ANSWERS}, "variant 'itt' is not one of"),
        (
            {
                "variant": "assignment",
                "answers": LOW_ANSWERS,
                "overrides": {"3": {"judgement": "high"}},
            },
            "overriding domain 3 from low to high needs a justification",
        ),
    ],
)
def test_judge_invalid_answers_exit_1_naming_the_file(
    tmp_path: Path, obj: object, message: str
) -> None:
    path = _write(tmp_path, obj)
    code, out, err = lsr("rob2", "judge", str(path), "--json")
    assert code == 1 and out == ""
    assert err.startswith(f"lsr: error: {path}: {message}")
    assert len(err.strip().splitlines()) == 1


def test_judge_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "variant": "assignment",\n  "answers": {1.1: "Y"}\n}\n')
    code, _, err = lsr("rob2", "judge", str(path))
    assert code == 1
    assert err.startswith(f"lsr: error: {path}, line 3: not valid JSON")
    assert len(err.strip().splitlines()) == 1


def test_judge_missing_file(tmp_path: Path) -> None:
    code, _, err = lsr("rob2", "judge", str(tmp_path / "nope.json"))
    assert code == 1 and "nope.json: no such file" in err


def test_judge_raises_an_lsr_error_for_the_lsr_wrapper(tmp_path: Path) -> None:
    """Unwrapped, the sub-app lets the LsrError out for ``lsr`` to report."""
    path = _write(tmp_path, {"variant": "assignment", "answers": {}})
    res = CliRunner().invoke(rob2_app, ["judge", str(path)])
    assert isinstance(res.exception, InputFileError)
    assert "question 1.1 is required" in str(res.exception)


def test_judge_usage_error_is_exit_2() -> None:
    code, _, _ = lsr("rob2", "judge")
    assert code == 2


# --- plot ------------------------------------------------------------------------------------


def _entries() -> list[dict[str, Any]]:
    return [
        {"study": "SHARP", "outcome": "OS", "weight": 602, "variant": "assignment",
         "answers": LOW_ANSWERS},
        {"study": "REACH-2", "outcome": "OS", "weight": 292, "variant": "assignment",
         "answers": {**LOW_ANSWERS, "5.1": "NI"}},
        {"study": "RESORCE", "outcome": "OS", "weight": 573, "variant": "adhering",
         "answers": {**LOW_ANSWERS, "2.6": "NA", "2.5": "N"},
         "overrides": {"overall": {"judgement": "high", "justification": "sponsor analysis"}}},
    ]  # fmt: skip


def test_plot_writes_traffic_light_and_weighted_summary(tmp_path: Path) -> None:
    path = _write(tmp_path, _entries(), "rob.json")
    tl, summary = tmp_path / "tl.svg", tmp_path / "summary.png"
    code, out, err = lsr(
        "rob2", "plot", str(path), "--out", str(tl), "--summary", str(summary), "--weights"
    )
    assert code == 0, err
    assert tl.exists() and summary.exists()
    svg = tl.read_text(encoding="utf-8")
    for study in ("SHARP", "REACH-2", "RESORCE"):
        assert f">{study}<" in svg
    assert "Risk of bias (RoB 2): OS" in svg  # one outcome: named in the title
    assert "3 results" in out and "weighted summary" in out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e[1].pop("study"), "record 2: study is required (the row label)"),
        (lambda e: e[2]["answers"].pop("1.1"), "record 3: RESORCE: question 1.1 is required"),
        (lambda e: e[0].update(weight=-1), "record 1: SHARP: weight -1 must be a positive number"),
        (lambda e: e[1].pop("weight"), "record 2: REACH-2: weight is required with --weights"),
    ],
)
def test_plot_bad_entry_names_file_and_record(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    entries = _entries()
    mutate(entries)
    path = _write(tmp_path, entries, "rob.json")
    out = tmp_path / "tl.png"
    code, _, err = lsr(
        "rob2", "plot", str(path), "--out", str(out), "--summary", str(tmp_path / "s.png"),
        "--weights",
    )  # fmt: skip
    assert code == 1
    assert err.strip() == f"lsr: error: {path}, {message}"
    assert not out.exists()


def test_plot_rejects_empty_list(tmp_path: Path) -> None:
    code, _, err = lsr("rob2", "plot", str(_write(tmp_path, [])), "--out", "x.png")
    assert code == 1 and "non-empty JSON list" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--out", "tl.pdf"],
        ["--out", "tl.png", "--weights"],
        ["--out", "tl.png", "--palette", "pink"],
    ],
)
def test_plot_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    path = _write(tmp_path, _entries(), "rob.json")
    res = runner.invoke(
        app,
        [
            "rob2",
            "plot",
            str(path),
            *[a if not a.startswith("tl.") else str(tmp_path / a) for a in args],
        ],
    )
    assert res.exit_code == 2
    assert not any(p.suffix in {".png", ".pdf"} for p in tmp_path.iterdir())

"""Reading digitised curves and at-risk tables: jitter repaired, real problems are errors naming
the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from living_review.survival.digitised import (
    DigitisedCurve,
    DigitisedDataError,
    SurvivalError,
    consistency_warnings,
    read_curves,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


NAR = "arm,time,n_risk\na,0,10\na,2,6\nb,0,8\nb,2,5\n"


def test_reads_two_arms_with_percent_axis_and_repairs_jitter(tmp_path: Path) -> None:
    pts = write(
        tmp_path,
        "fig2.csv",
        "arm,time,survival\n"
        "a,0,100\na,1,80\na,1.0,80\na,1,80\na,2,60.5\na,2.5,61\na,3,60\n"
        "b,0.2,95\nb,1,70\nb,2,60\n",
    )
    curves = read_curves(pts, write(tmp_path, "nar.csv", NAR), total_events={"a": 4})
    a, b = curves["a"], curves["b"]
    assert a.surv[0] == 1.0 and a.surv[1] == pytest.approx(0.8)
    assert a.times.count(1.0) == 1  # exact duplicate reads dropped
    assert a.surv == tuple(sorted(a.surv, reverse=True))  # the 0.005 rise was repaired
    assert any("rising" in n for n in a.notes)
    assert b.times[0] == 0.0 and b.surv[0] == 1.0 and "(0, 1) prepended" in b.notes
    assert a.risk_counts == (10, 6) and a.total_events == 4 and b.total_events is None
    assert DigitisedCurve.from_json(a.as_json()) == a
    assert a.sha256() != b.sha256()


def test_headerless_single_arm_file(tmp_path: Path) -> None:
    pts = write(tmp_path, "arm_x.csv", "0,1\n1.5,0.7\n3,0.4\n")
    curves = read_curves(pts, write(tmp_path, "n.csv", "time,n_risk\n0,20\n2,9\n"))
    assert list(curves) == ["arm_x"]
    assert curves["arm_x"].times == (0.0, 1.5, 3.0)


@pytest.mark.parametrize(
    ("points", "line", "message"),
    [
        ("time,survival\n0,1\n1,0.8\n2,0.9\n", 4, "survival rises"),
        ("time,survival\n0,1\n2,0.8\n1,0.7\n", 4, "before the previous point"),
        ("time,survival\n0,1\n1,abc\n", 3, "not a number"),
        ("time,survival\n0,1\n1,1.3\n", 3, "off the [0, 1] axis"),
        ("time,survival\n0,1\n-1,0.9\n", 3, "before the previous point"),
        ("when,survival\n0,1\n", 1, "no time column"),
    ],
)
def test_bad_points_name_file_and_line(
    tmp_path: Path, points: str, line: int, message: str
) -> None:
    p = write(tmp_path, "bad.csv", points)
    with pytest.raises(DigitisedDataError) as err:
        read_curves(p, write(tmp_path, "n.csv", "time,n_risk\n0,10\n"))
    assert str(p) in str(err.value)
    assert f"line {line}" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("nar", "line", "message"),
    [
        ("time,n_risk\n1,10\n", 2, "must be 0"),
        ("time,n_risk\n0,10\n2,12\n", 3, "can only fall"),
        ("time,n_risk\n0,10\n2,8\n2,7\n", 4, "does not come after"),
        ("time,n_risk\n0,10\n2,7.5\n", 3, "whole number"),
        ("time,n_risk\n0,0\n", 2, "0 patients"),
    ],
)
def test_bad_at_risk_tables(tmp_path: Path, nar: str, line: int, message: str) -> None:
    pts = write(tmp_path, "p.csv", "time,survival\n0,1\n1,0.5\n")
    n = write(tmp_path, "nar.csv", nar)
    with pytest.raises(DigitisedDataError) as err:
        read_curves(pts, n)
    assert f"{n}, line {line}" in str(err.value)
    assert message in str(err.value)


def test_arms_must_match_and_events_fit(tmp_path: Path) -> None:
    pts = write(tmp_path, "p.csv", "arm,time,survival\na,0,1\na,1,0.5\n")
    with pytest.raises(DigitisedDataError, match="do not match"):
        read_curves(pts, write(tmp_path, "n.csv", "arm,time,n_risk\nz,0,10\n"))
    nar = write(tmp_path, "n2.csv", "arm,time,n_risk\na,0,10\n")
    with pytest.raises(DigitisedDataError, match="total events 11"):
        read_curves(pts, nar, total_events={"a": 11})
    with pytest.raises(SurvivalError, match="unknown arm"):
        read_curves(pts, nar, total_events={"q": 1})


def test_consistency_warning_when_table_exceeds_the_curve() -> None:
    c = DigitisedCurve(
        arm="a",
        times=(0.0, 1.0, 2.0),
        surv=(1.0, 0.5, 0.5),
        risk_times=(0.0, 1.5),
        risk_counts=(100, 90),
    )
    assert "allows at most ~50" in consistency_warnings(c)[0]

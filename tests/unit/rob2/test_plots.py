"""RoB 2 plots: files are written as PNG and SVG, with the right content and proportions."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from living_review.rob2 import Judgement, Override, RoB2Error, assess
from living_review.rob2.plots import (
    COLUMNS,
    NO_INFORMATION,
    PALETTES,
    PlotRow,
    summary_plot,
    summary_proportions,
    traffic_light_plot,
)

LOW, SC, HIGH = Judgement.LOW, Judgement.SOME_CONCERNS, Judgement.HIGH


def _row(label: str, cells: str, weight: float = 1.0) -> PlotRow:
    """A row from six letters (D1..D5, Overall): l low, s some concerns, h high, ? none."""
    code = {"l": LOW, "s": SC, "h": HIGH, "?": None}
    return PlotRow(label, dict(zip(COLUMNS, (code[c] for c in cells), strict=True)), weight)


ROWS = [
    _row("Llovet 2008 (SHARP)", "llllll", 602),
    _row("Zhu & Finn 2015", "lslsls", 565),
    _row("O'Brien <2019>", "hlllsh", 120),
    _row("Kudo 2018", "l?llll", 954),
]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_traffic_light_plot_writes_the_file(tmp_path: Path, suffix: str) -> None:
    out = traffic_light_plot(ROWS, tmp_path / "sub" / f"tl{suffix}")
    assert out.exists()
    assert 5_000 < out.stat().st_size < 2_000_000


def test_traffic_light_svg_names_every_study_and_draws_every_cell(tmp_path: Path) -> None:
    out = traffic_light_plot(ROWS, tmp_path / "tl.svg")
    texts = _svg_texts(out)
    for row in ROWS:
        assert row.label in texts
    cells = [row.category(c) for row in ROWS for c in COLUMNS]
    # one symbol per cell (legend labels carry the word too, so they are not bare symbols)
    assert texts.count("+") == cells.count("low")
    assert texts.count("!") == cells.count("some_concerns")
    assert texts.count("\u2212") == cells.count("high")
    assert texts.count("?") == cells.count(NO_INFORMATION)
    for header in ("D1", "D2", "D3", "D4", "D5", "Overall"):
        assert header in texts
    assert "?  No information" in texts
    svg = out.read_text(encoding="utf-8").lower()
    for colour in PALETTES["cochrane"].values():
        assert colour.lower() in svg


def test_no_information_appears_only_when_used(tmp_path: Path) -> None:
    out = traffic_light_plot(ROWS[:3], tmp_path / "tl.svg")
    assert "?  No information" not in _svg_texts(out)
    assert PALETTES["cochrane"][NO_INFORMATION].lower() not in out.read_text().lower()


def test_traffic_light_grows_with_the_number_of_studies(tmp_path: Path) -> None:
    few = _png_size(traffic_light_plot(ROWS[:2], tmp_path / "few.png"))
    many_rows = [_row(f"Study {i:02d}", "lsh?ls") for i in range(20)]
    many = _png_size(traffic_light_plot(many_rows, tmp_path / "many.png"))
    assert many[1] > few[1] * 2  # 20 rows against 2: clearly taller
    assert 300 < few[0] < 3000 and 300 < many[0] < 3000


def test_colourblind_palette(tmp_path: Path) -> None:
    out = traffic_light_plot(ROWS, tmp_path / "tl.svg", palette="colourblind")
    svg = out.read_text().lower()
    assert PALETTES["colourblind"]["high"] in svg
    assert PALETTES["cochrane"]["high"].lower() not in svg


def test_summary_proportions_unweighted_and_weighted() -> None:
    rows = [_row("a", "llllll", 1), _row("b", "lsllls", 1), _row("c", "hlllsh", 2)]
    plain = summary_proportions(rows)
    assert plain["1"] == pytest.approx(
        {"low": 2 / 3, "some_concerns": 0, "high": 1 / 3, NO_INFORMATION: 0}
    )
    weighted = summary_proportions(rows, weighted=True)
    assert weighted["1"] == pytest.approx(
        {"low": 0.5, "some_concerns": 0, "high": 0.5, NO_INFORMATION: 0}
    )
    assert weighted["overall"] == pytest.approx(
        {"low": 0.25, "some_concerns": 0.25, "high": 0.5, NO_INFORMATION: 0}
    )
    for col in COLUMNS:
        assert sum(plain[col].values()) == pytest.approx(1)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_summary_plot_writes_the_file(tmp_path: Path, suffix: str) -> None:
    out = summary_plot(ROWS, tmp_path / f"summary{suffix}", weighted=True)
    assert out.exists()
    assert 5_000 < out.stat().st_size < 2_000_000
    if suffix == ".png":
        width, height = _png_size(out)
        assert width > height  # one bar per domain: a wide, short figure


def test_summary_svg_shows_the_weighted_shares(tmp_path: Path) -> None:
    rows = [_row("a", "llllll", 1), _row("b", "lsllls", 1), _row("c", "hlllsh", 2)]
    weighted = _svg_texts(summary_plot(rows, tmp_path / "w.svg", weighted=True))
    plain = _svg_texts(summary_plot(rows, tmp_path / "p.svg"))
    assert weighted.count("50%") >= 2  # D1 low 50 %, high 50 %
    assert "67%" in plain and "33%" in plain  # D1 unweighted: 2 of 3 low
    assert "Overall risk of bias" in plain


def test_final_judgements_are_plotted(tmp_path: Path) -> None:
    answers = {
        "1.1": "Y", "1.2": "Y", "1.3": "N", "2.1": "N", "2.2": "N", "2.6": "Y", "3.1": "Y",
        "4.1": "N", "4.2": "N", "4.3": "N", "5.1": "Y", "5.2": "N", "5.3": "N",
    }  # fmt: skip
    a = assess("assignment", answers, overrides={"3": Override(HIGH, "attrition 30%")})
    row = PlotRow.from_assessment("Trial", a)
    assert row.judgements["3"] == HIGH and row.judgements["overall"] == HIGH
    assert row.judgements["1"] == LOW


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: traffic_light_plot(ROWS, p / "x.pdf"), "must end in .png or .svg"),
        (lambda p: traffic_light_plot([], p / "x.png"), "no assessments to plot"),
        (lambda p: traffic_light_plot(ROWS, p / "x.png", palette="pink"), "palette 'pink'"),
        (
            lambda p: summary_plot([_row("a", "llllll", 0)], p / "x.png", weighted=True),
            "weight 0 of 'a' must be a positive number",
        ),
    ],
)
def test_plot_errors(tmp_path: Path, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RoB2Error, match=message):
        call(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_importing_rob2_does_not_import_matplotlib() -> None:
    code = (
        "import json, sys\n"
        "import living_review.rob2, living_review.rob2.plots, living_review.cli_rob2\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []

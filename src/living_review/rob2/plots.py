"""Provides the robvis-style RoB 2 plots: the traffic-light plot and the weighted summary plot.

Readers of Cochrane reviews know robvis' two pictures (McGuinness & Higgins 2020), so we draw
the same ones: one row per result with a coloured circle per domain D1–D5 and Overall, and
one stacked bar per domain with the share of results at each judgement. Every cell also
carries a symbol (+ low, ! some concerns, − high, ? no information) so no reading depends on
colour alone; the palettes are robvis' "cochrane" and "colourblind".

matplotlib is imported inside the drawing functions (Agg canvas, no pyplot global state), so
importing :mod:`living_review.rob2` or the CLI never pays for it. SVG keeps text as text
(``svg.fonttype = none``) so study names stay searchable and editable in the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from living_review.rob2.algorithm import OVERALL, Assessment, Judgement
from living_review.rob2.questions import DOMAIN_IDS, DOMAINS, RoB2Error

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS: tuple[str, ...] = (*DOMAIN_IDS, OVERALL)
"""Plot columns: domains "1".."5", then "overall"."""

HEADERS: dict[str, str] = {**{d: f"D{d}" for d in DOMAIN_IDS}, OVERALL: "Overall"}

NO_INFORMATION = "no_information"
"""The category of a cell with no judgement yet (drawn "?")."""

CATEGORIES: tuple[str, ...] = (
    Judgement.LOW.value,
    Judgement.SOME_CONCERNS.value,
    Judgement.HIGH.value,
    NO_INFORMATION,
)
LABELS: dict[str, str] = {
    "low": "Low",
    "some_concerns": "Some concerns",
    "high": "High",
    NO_INFORMATION: "No information",
}
SYMBOLS: dict[str, str] = {"low": "+", "some_concerns": "!", "high": "\u2212", NO_INFORMATION: "?"}

PALETTES: dict[str, dict[str, str]] = {
    # robvis' palettes (spec section 8); "no information" as robvis draws it.
    "cochrane": {
        "low": "#02C100",
        "some_concerns": "#E2DF07",
        "high": "#BF0000",
        NO_INFORMATION: "#4EA1F7",
    },
    "colourblind": {
        "low": "#fee8c8",
        "some_concerns": "#fdbb84",
        "high": "#e34a33",
        NO_INFORMATION: "#ffffff",
    },
}

FORMATS = (".png", ".svg")


@dataclass(frozen=True)
class PlotRow:
    """One result to plot: its label, a judgement per column (None: not judged) and a weight."""

    label: str
    judgements: Mapping[str, Judgement | None] = field(default_factory=dict)
    weight: float = 1.0

    @classmethod
    def from_assessment(cls, label: str, assessment: Assessment, weight: float = 1.0) -> PlotRow:
        """Plot an assessment's *final* judgements (overrides applied), as robvis does."""
        cells: dict[str, Judgement | None] = dict(assessment.domains)
        cells[OVERALL] = assessment.overall
        return cls(label, cells, weight)

    def category(self, column: str) -> str:
        """The plotted category of one column (``no_information`` when not judged)."""
        j = self.judgements.get(column)
        return NO_INFORMATION if j is None else j.value


def summary_proportions(
    rows: Sequence[PlotRow], *, weighted: bool = False
) -> dict[str, dict[str, float]]:
    """Share of results (or of total weight) per column and category; each column sums to 1.

    This is the data behind the summary plot, kept free of matplotlib so it can be tested
    and reported on its own. Unweighted, every result counts once.
    """
    _check_rows(rows, weighted=weighted)
    total = sum(r.weight if weighted else 1.0 for r in rows)
    out: dict[str, dict[str, float]] = {}
    for col in COLUMNS:
        shares = dict.fromkeys(CATEGORIES, 0.0)
        for r in rows:
            shares[r.category(col)] += (r.weight if weighted else 1.0) / total
        out[col] = shares
    return out


def _check_rows(rows: Sequence[PlotRow], *, weighted: bool) -> None:
    if not rows:
        raise RoB2Error("there are no assessments to plot")
    if weighted:
        for r in rows:
            if not (isinstance(r.weight, int | float) and math.isfinite(r.weight) and r.weight > 0):
                raise RoB2Error(f"weight {r.weight!r} of {r.label!r} must be a positive number")


def _check_out(out: Path | str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise RoB2Error(f"{path}: plot file must end in .png or .svg")
    return path


def _palette(name: str) -> dict[str, str]:
    if name not in PALETTES:
        raise RoB2Error(f"palette {name!r} is not one of {', '.join(PALETTES)}")
    return PALETTES[name]


def _tex_safe(text: str) -> str:
    """Keep a "$" in a study name literal (matplotlib would start math mode)."""
    return text.replace("$", r"\$")


def _style() -> AbstractContextManager[None]:
    """matplotlib settings for both plots, applied only while drawing."""
    from matplotlib import rc_context

    return rc_context(
        {
            "svg.fonttype": "none",  # text stays <text>: searchable, editable, names findable
            "svg.hashsalt": "living-review-rob2",  # stable ids: same data, same file
            "font.family": "DejaVu Sans",
            "font.size": 9,
        }
    )


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lower().lstrip(".")
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(path, format=fmt, dpi=150, bbox_inches="tight", pad_inches=0.15, metadata=metadata)
    return path


def traffic_light_plot(
    rows: Sequence[PlotRow],
    out: Path | str,
    *,
    palette: str = "cochrane",
    title: str | None = None,
) -> Path:
    """Draw the traffic-light plot (results × D1–D5 + Overall) to a .png or .svg file.

    Rows are drawn top to bottom in the given order; the domain key and the judgement
    legend sit below the grid, as in robvis.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    _check_rows(rows, weighted=False)
    path = _check_out(out)
    colours = _palette(palette)
    n = len(rows)
    cell = 0.45  # inches per grid cell
    grid_w, grid_h = cell * len(COLUMNS), cell * n
    top, key_h = 0.75, 1.6
    fig_w, fig_h = grid_w + 0.4, top + grid_h + key_h
    xs = [i + (0.25 if col == OVERALL else 0.0) for i, col in enumerate(COLUMNS)]

    with _style():
        fig = Figure(figsize=(fig_w, fig_h))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.2 / fig_w, key_h / fig_h, grid_w / fig_w, grid_h / fig_h))
        ax.set_xlim(-0.5, xs[-1] + 0.5)
        ax.set_ylim(n - 0.5, -0.5)
        for x in xs:
            ax.add_patch(
                Rectangle((x - 0.5, -0.5), 1.0, n, facecolor="#E6E6E6", edgecolor="white", lw=2)
            )
        size = (cell * 72 * 0.72) ** 2  # marker area in points², ~72 % of the cell
        for y, row in enumerate(rows):
            for x, col in zip(xs, COLUMNS, strict=True):
                cat = row.category(col)
                ax.scatter([x], [y], s=size, color=colours[cat], edgecolors="black", linewidths=0.6)
                ax.text(x, y, SYMBOLS[cat], ha="center", va="center", fontsize=11, weight="bold")
        ax.set_xticks(xs, [HEADERS[c] for c in COLUMNS])
        ax.xaxis.tick_top()
        ax.set_yticks(range(n), [_tex_safe(r.label) for r in rows])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel("Study")
        ax.set_title(_tex_safe(title) if title else "Risk of bias domains (RoB 2)", pad=22)

        key = ["Domains:"] + [f"D{d}: {DOMAINS[d].name}." for d in DOMAIN_IDS]
        fig.text(0.2 / fig_w, (key_h - 0.15) / fig_h, "\n".join(key), va="top", fontsize=8)
        used = [c for c in CATEGORIES if c != NO_INFORMATION] + (
            [NO_INFORMATION]
            if any(r.category(c) == NO_INFORMATION for r in rows for c in COLUMNS)
            else []
        )
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=9,
                markerfacecolor=colours[c],
                markeredgecolor="black",
                label=f"{SYMBOLS[c]}  {LABELS[c]}",
            )
            for c in used
        ]
        fig.legend(
            handles=handles,
            title="Judgement",
            loc="lower left",
            bbox_to_anchor=(0.2 / fig_w, 0.0),
            ncols=len(handles),
            frameon=False,
            fontsize=8,
            title_fontsize=8,
            handletextpad=0.2,
            columnspacing=1.0,
        )
        return _save(fig, path)


def summary_plot(
    rows: Sequence[PlotRow],
    out: Path | str,
    *,
    weighted: bool = False,
    palette: str = "cochrane",
    title: str | None = None,
) -> Path:
    """Draw the summary plot (per domain, share of results at each judgement) to a file.

    ``weighted`` uses each row's weight (e.g. sample size or meta-analysis weight) instead of
    counting every result once.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shares = summary_proportions(rows, weighted=weighted)
    path = _check_out(out)
    colours = _palette(palette)
    cats = [
        c for c in CATEGORIES if c != NO_INFORMATION or any(shares[col][c] > 0 for col in COLUMNS)
    ]
    names = [DOMAINS[d].name for d in DOMAIN_IDS] + ["Overall risk of bias"]

    with _style():
        fig = Figure(figsize=(8.0, 0.45 * len(COLUMNS) + 1.4))
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.42, 0.3, 0.55, 0.58))
        ys = list(range(len(COLUMNS)))
        left = [0.0] * len(COLUMNS)
        for cat in cats:
            widths = [shares[col][cat] * 100 for col in COLUMNS]
            ax.barh(
                ys,
                widths,
                left=left,
                height=0.7,
                color=colours[cat],
                edgecolor="black",
                linewidth=0.5,
                label=f"{SYMBOLS[cat]}  {LABELS[cat]}",
            )
            for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
                if w >= 8:
                    ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=8)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_yticks(ys, names)
        ax.set_ylim(len(COLUMNS) - 0.5, -0.5)
        ax.set_xlim(0, 100)
        ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        default = "Risk of bias summary (RoB 2)" + (", weighted" if weighted else "")
        ax.set_title(_tex_safe(title) if title else default)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.2, -0.18),
            ncols=len(cats),
            frameon=False,
            fontsize=8,
        )
        return _save(fig, path)


def rows_from_assessments(
    items: Iterable[tuple[str, Assessment]], weights: Iterable[float] | None = None
) -> list[PlotRow]:
    """Plot rows for labelled assessments (weights default to 1, i.e. unweighted)."""
    pairs = list(items)
    ws = [1.0] * len(pairs) if weights is None else list(weights)
    if len(ws) != len(pairs):
        raise RoB2Error(f"{len(ws)} weights for {len(pairs)} assessments")
    return [PlotRow.from_assessment(label, a, w) for (label, a), w in zip(pairs, ws, strict=True)]

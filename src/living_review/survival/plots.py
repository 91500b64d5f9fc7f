"""Provides :func:`overlay_plot`: digitised points vs the KM of the reconstructed IPD.

The overlay is how a reviewer judges a reconstruction: the reconstructed step function should
run through the clicked points, with the tail beyond the last at-risk time (where errors
concentrate, spec §5) shaded. It reuses the NMA plots' Agg figure, style and file writer, so
matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from living_review.nma.plots import new_figure, plot_style, save_figure
from living_review.survival.guyot import Reconstruction, km_step

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")


def overlay_plot(
    recs: Sequence[Reconstruction], *, title: str | None = None, time_unit: str = "months"
) -> Figure:
    """One panel: each arm's digitised points (dots) and reconstructed KM (steps)."""
    fig = new_figure(6.0, 4.0)
    with plot_style():
        ax = fig.add_subplot(1, 1, 1)
        colours = ["#1b6ca8", "#d1495b", "#2a9d8f", "#e9a03b", "#6c4f9c"]
        last_nar = 0.0
        for i, rec in enumerate(recs):
            colour = colours[i % len(colours)]
            c = rec.curve
            t = np.asarray(rec.ipd.time)
            e = np.asarray(rec.ipd.event, dtype=np.int64)
            grid = np.unique(np.concatenate([[0.0], t]))
            ax.step(
                grid,
                km_step(t, e, grid),
                where="post",
                color=colour,
                lw=1.4,
                label=f"{c.arm}: reconstructed (n={rec.ipd.n}, {rec.ipd.events} events)",
            )
            ax.plot(
                c.times, c.surv, "o", ms=2.2, color=colour, alpha=0.6, label=f"{c.arm}: digitised"
            )
            last_nar = max(last_nar, float(rec.diagnostics.get("last_at_risk_time") or 0.0))
        t_end = max(max(r.curve.times) for r in recs) if recs else 1.0
        if 0 < last_nar < t_end:
            ax.axvspan(
                last_nar,
                t_end,
                color="#999999",
                alpha=0.12,
                lw=0,
                label="beyond the last at-risk time",
            )
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, t_end * 1.02)
        ax.set_xlabel(f"Time ({time_unit})")
        ax.set_ylabel("Survival probability")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        if title:
            ax.set_title(title, fontsize=10)
    return fig


def write_overlay(
    recs: Sequence[Reconstruction],
    path: Path,
    *,
    title: str | None = None,
    time_unit: str = "months",
) -> Path:
    """Draw the overlay and write it as PNG or SVG (by the file's suffix)."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        from living_review.survival.digitised import SurvivalError

        raise SurvivalError(f"{path}: plots are written as .png or .svg, not .{fmt}")
    return save_figure(overlay_plot(recs, title=title, time_unit=time_unit), path)

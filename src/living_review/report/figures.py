"""Draws the report's figures (PNG) into a folder, from a :class:`ReportData`.

The drawing itself is the core's: the PRISMA diagram (:func:`living_review.prisma.render_diagram`),
the robvis-style RoB 2 plots (:mod:`living_review.rob2.plots`) and the NMA figures
(:mod:`living_review.nma.plots`). An outcome whose fit did not converge gets its network plot
only, never a forest plot or a ranking (the same rule as ``lsr nma``). matplotlib is imported
by those functions only when a figure is drawn.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from living_review.report.build import ReportData


@dataclass
class Figures:
    """The files drawn, by key (``prisma``, ``rob-OS-traffic``, ``nma-OS-forest``, ...)."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> Path | None:
        """The file of a figure, None when it was not drawn."""
        return self.files.get(key)


def draw_figures(data: ReportData, folder: Path) -> Figures:
    """Draw every figure the report shows into ``folder`` (which must exist)."""
    from living_review.nma.plots import (
        forest_plot,
        network_plot,
        rankogram,
        save_figure,
        sucra_plot,
    )
    from living_review.prisma import render_diagram
    from living_review.rob2.algorithm import Judgement
    from living_review.rob2.plots import PlotRow, summary_plot, traffic_light_plot

    figs = Figures(folder)
    figs.files["prisma"] = render_diagram(data.prisma, folder / "prisma.png")
    figs.captions["prisma"] = "PRISMA 2020 flow diagram (counts computed from the store)"
    for rob in data.rob:
        if not rob.assessed:
            continue
        rows = [
            PlotRow(
                r.study, {k: None if v is None else Judgement(v) for k, v in r.judgements.items()}
            )
            for r in rob.rows
        ]
        key = f"rob-{_safe(rob.outcome)}"
        figs.files[f"{key}-traffic"] = traffic_light_plot(
            rows, folder / f"{key}-traffic.png", title=f"RoB 2: {rob.label}"
        )
        figs.captions[f"{key}-traffic"] = f"RoB 2 traffic-light plot, {rob.outcome}"
        figs.files[f"{key}-summary"] = summary_plot(
            rows, folder / f"{key}-summary.png", title=f"RoB 2 summary: {rob.label}"
        )
        figs.captions[f"{key}-summary"] = f"RoB 2 summary plot, {rob.outcome}"
    for a in data.analyses:
        key = f"nma-{a.key}"
        if a.network is not None:
            net_fig = network_plot(a.network, title=f"Evidence network: {a.label}")
            figs.files[f"{key}-network"] = save_figure(net_fig, folder / f"{key}-network.png")
            figs.captions[f"{key}-network"] = f"Network of evidence, {a.name}"
        if a.result is None or not a.converged:
            continue
        res = a.result
        plots = {
            "forest": (forest_plot(res), f"Relative effects vs {res.reference}, {a.name}"),
            "sucra": (sucra_plot(res), f"Ranking ({res.ranking_method}), {a.name}"),
        }
        # A stored result with neither rank probabilities nor a covariance of d: no rankogram.
        with contextlib.suppress(ValueError):
            plots["rankogram"] = (rankogram(res), f"Rankogram, {a.name}")
        for name, (fig, caption) in plots.items():
            figs.files[f"{key}-{name}"] = save_figure(fig, folder / f"{key}-{name}.png")
            figs.captions[f"{key}-{name}"] = caption
    return figs


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)

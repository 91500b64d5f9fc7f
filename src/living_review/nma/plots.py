"""Figures of an NMA: network graph, forest plot vs the reference, SUCRA bars, rankogram,
and the comparison-adjusted funnel plot (:mod:`living_review.nma.funnel`).

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas, never
through ``pyplot``: no global figure registry, no GUI backend selection, safe in worker
threads (the TUI) and in tests. :func:`save_plots` writes PNG and SVG files.

matplotlib (and networkx) are imported inside the functions: importing
:mod:`living_review.nma` must stay light (``tests/unit/test_import_hygiene.py``).

SVG output keeps text as ``<text>`` elements (``svg.fonttype = none``), so treatment names
stay searchable and readable by screen readers, and has a fixed hash salt and no date, so the
same result gives byte-identical files (reproducible reports).

Artists carry ``gid`` values (``forest-row-<i>``, ``sucra-bar-<i>``, ``network-node-<i>``,
``network-edge-<i>``, ``rankogram-panel-<i>``, ``funnel-group-<i>``), which become SVG ``id``
attributes; tests and report tooling can check a figure's structure without image comparison.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from living_review.nma.data import Network
from living_review.nma.result import NMAResult, RankEntry, ranking_from_draws

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "svg")
PLOTS: tuple[str, ...] = ("network", "forest", "sucra", "rankogram", "funnel")

#: Draws for frequentist rank probabilities (netmeta's ``rankogram`` simulates 1000).
N_SIM = 10_000

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "living-review-nma",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib settings for our figures, without touching the global rcParams."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):  # type: ignore[arg-type]  # keys are valid rcParams
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure on an Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# --------------------------------------------------------------------------- network
def network_plot(
    net: Network,
    *,
    seed: int = 20251,
    layout: Literal["auto", "spring", "circle"] = "auto",
    title: str | None = None,
) -> Figure:
    """The evidence network: node area ∝ patients, edge width ∝ number of studies.

    Positions: networkx's spring layout (Fruchterman-Reingold) with a fixed seed, so the same
    network always gives the same picture; ``auto`` switches to a circle (netmeta's
    ``netgraph`` default) above 10 treatments, where a force layout of a star-shaped network
    piles labels on the hub. Patients are known for arm-level studies
    only; when any treatment lacks them (contrast data) all nodes get one size, and the
    caption says so. Edges are labelled with their number of studies (a multi-arm study adds
    one to each of its pairs, as in netmeta's ``netgraph``).
    """
    import networkx as nx

    with plot_style():
        g = nx.Graph()
        g.add_nodes_from(net.treatments)
        edges = net.edges()
        g.add_edges_from(edges)
        k = net.n_treatments
        if layout == "circle" or (layout == "auto" and k > 10):
            # reference at the top, then clockwise in network order
            ang = math.pi / 2 - 2 * math.pi * np.arange(k) / k
            pos: dict[str, Any] = {
                t: np.array([math.cos(a), math.sin(a)])
                for t, a in zip(net.treatments, ang, strict=True)
            }
        else:
            pos = nx.spring_layout(g, seed=seed, iterations=200)
        if k == 2:
            pos = {net.treatments[0]: np.array([-1.0, 0.0]), net.treatments[1]: np.array([1.0, 0])}
        xy = np.array([pos[t] for t in net.treatments], dtype=float)
        span = float(np.ptp(xy, axis=0).max()) or 1.0
        xy = (xy - xy.mean(axis=0)) / span  # about [-0.5, 0.5]

        patients = net.patients()
        known = all(v is not None for v in patients.values())
        n_max = max((v or 0.0) for v in patients.values()) if known else 0.0
        # scatter sizes are areas (points^2): area ∝ patients, with a floor to stay visible
        big = 1850.0 * min(1.0, 8.0 / k)  # largest node shrinks as the network grows
        sizes = [
            0.08 * big + big * (patients[t] or 0.0) / n_max if known and n_max > 0 else big / 3
            for t in net.treatments
        ]
        n_edge_max = max(edges.values()) if edges else 1
        fig = new_figure(6.5, 5.5)
        ax = fig.add_subplot()
        index = {t: i for i, t in enumerate(net.treatments)}
        placed: list[Any] = []
        for e, ((a, b), n) in enumerate(sorted(edges.items())):
            p, q = xy[index[a]], xy[index[b]]
            ax.plot(
                [p[0], q[0]], [p[1], q[1]],
                color="#4a6fa5", lw=1.0 + 7.0 * n / n_edge_max, alpha=0.75,
                solid_capstyle="round", zorder=1, gid=f"network-edge-{e}",
            )  # fmt: skip
            # label at the midpoint, or slid along the edge away from labels already placed
            # (crossing diagonals of a 4-node loop share their midpoint)
            mid = (p + q) / 2
            for f in (0.5, 0.35, 0.65, 0.25, 0.75):
                c = p + f * (q - p)
                if all(float(np.hypot(*(c - o))) > 0.06 for o in placed):
                    mid = c
                    break
            placed.append(mid)
            ax.text(
                mid[0], mid[1], str(n), ha="center", va="center", fontsize=8, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip
        for i, t in enumerate(net.treatments):
            ax.scatter(
                [xy[i, 0]], [xy[i, 1]], s=sizes[i], color="#f2a541", edgecolor="#7a4f0a",
                linewidth=1.0, zorder=2, gid=f"network-node-{i}",
            )  # fmt: skip
            # label just outside the node, pointing away from the centre of the drawing
            r = math.sqrt(sizes[i] / math.pi)  # node radius in points
            direction = xy[i] / (np.linalg.norm(xy[i]) or 1.0)
            ax.annotate(
                t, xy=(xy[i, 0], xy[i, 1]),
                xytext=(direction[0] * (r + 6), direction[1] * (r + 6)),
                textcoords="offset points", fontsize=9, zorder=4,
                ha="left" if direction[0] > 0.3 else ("right" if direction[0] < -0.3 else "center"),
                va="bottom" if direction[1] > 0.3 else ("top" if direction[1] < -0.3 else "center"),
            )  # fmt: skip
        ax.set_xlim(-0.9, 0.9)
        ax.set_ylim(-0.8, 0.8)
        ax.set_aspect("equal")
        ax.axis("off")
        size_note = "node area ∝ patients" if known else "patients unknown (contrast data)"
        ax.set_title(
            title
            or f"Network: {net.n_studies} studies, {net.n_treatments} treatments\n"
            f"({size_note}; edge width and label: number of studies)",
            fontsize=10,
        )
    return fig


# --------------------------------------------------------------------------- forest
def _natural(v: float, log: bool) -> float:
    return math.exp(v) if log else v


def forest_plot(res: NMAResult, *, title: str | None = None) -> Figure:
    """Every treatment vs the reference on the natural scale, with 95% CrI/CI whiskers.

    Point: posterior median (Bayesian) or estimate (frequentist). For ratio measures (OR,
    RR, HR: analysed on the log scale) the axis is logarithmic, so intervals look symmetric
    as they are on the analysis scale, and the line of no effect is at 1; otherwise at 0.
    Frequentist RE fits also show the 95% prediction interval (thin whisker, metafor's
    ``pi.lb``/``pi.ub``). One row per non-reference treatment, in network order, top down.
    """
    log = res.log_scale
    interval = "95% CrI" if res.draws_d is not None else "95% CI"
    rows = [(t, s) for t, s in res.relative_effects.items()]
    pred = res.extra.get("prediction_intervals") or {}
    with plot_style():
        fig = new_figure(7.5, 1.2 + 0.38 * len(rows))
        ax = fig.add_subplot()
        labels = []
        for i, (t, s) in enumerate(rows):
            y = len(rows) - 1 - i
            mid = s.q50 if s.q50 is not None else s.mean
            lo = s.q2_5 if s.q2_5 is not None else mid
            hi = s.q97_5 if s.q97_5 is not None else mid
            if t in pred:
                ax.plot(
                    [_natural(pred[t]["pi_lb"], log), _natural(pred[t]["pi_ub"], log)], [y, y],
                    color="#9aa5b1", lw=1.0, zorder=1,
                )  # fmt: skip
            ax.plot(
                [_natural(lo, log), _natural(hi, log)], [y, y], color="#1f3b5c", lw=2.0,
                solid_capstyle="butt", zorder=2, gid=f"forest-row-{i}",
            )  # fmt: skip
            ax.plot([_natural(mid, log)], [y], "s", color="#1f3b5c", ms=6, zorder=3)
            labels.append(
                f"{_natural(mid, log):.2f} ({_natural(lo, log):.2f}, {_natural(hi, log):.2f})"
            )
        null = 1.0 if log else 0.0
        ax.axvline(null, color="#b03a2e", lw=1.0, ls="--", zorder=0)
        if log:
            ax.set_xscale("log")
            _ratio_ticks(ax)
        ax.set_yticks(range(len(rows)), [t for t, _ in rows][::-1])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        # estimates as a right-hand column, aligned with the rows
        sec = ax.secondary_yaxis("right")
        sec.set_yticks(range(len(rows)), labels[::-1])
        sec.tick_params(length=0)
        sec.spines["right"].set_visible(False)
        measure = f"{res.measure} ({'log scale' if log else 'natural scale'})"
        note = "; grey: 95% prediction interval" if pred else ""
        ax.set_xlabel(f"{measure}, {interval}{note}")
        direction = "higher" if res.higher_is_better else "lower"
        ax.set_title(
            title
            or f"Relative effects vs {res.reference} ({'RE' if res.model == 're' else 'FE'}; "
            f"{direction} is better)",
            fontsize=10,
        )
    return fig


def _ratio_ticks(ax: Any) -> None:
    """Plain ratio ticks (0.5, 1, 2, ...) on a log axis instead of powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = ax.get_xlim()
    nice = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
    ticks = [t for t in nice if lo <= t <= hi]
    if len(ticks) < 3:  # narrow range: add 1.5, 3, 7.5 ... style ticks
        finer = [m * 10.0**e for e in range(-3, 4) for m in (1, 1.5, 2, 3, 5, 7.5)]
        ticks = sorted({*ticks, *(t for t in finer if lo <= t <= hi)})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


# --------------------------------------------------------------------------- ranking
def sucra_plot(res: NMAResult, *, title: str | None = None) -> Figure:
    """SUCRA (Bayesian) or P-score (frequentist) per treatment, best at the top."""
    ranked = sorted(res.ranking, key=lambda r: -r.sucra)
    name = "SUCRA" if res.ranking_method.startswith("SUCRA") else "P-score"
    with plot_style():
        fig = new_figure(6.5, 1.0 + 0.35 * len(ranked))
        ax = fig.add_subplot()
        for i, r in enumerate(ranked):
            y = len(ranked) - 1 - i
            ax.barh([y], [r.sucra], color="#4a6fa5", height=0.65, gid=f"sucra-bar-{i}")
            ax.text(r.sucra + 0.01, y, f"{r.sucra:.2f}", va="center", fontsize=8)
        ax.set_yticks(range(len(ranked)), [r.treatment for r in ranked][::-1])
        ax.set_xlim(0, 1.08)
        direction = "higher" if res.higher_is_better else "lower"
        ax.set_xlabel(f"{name} (1 = certainly best; {direction} outcome values are better)")
        ax.set_title(title or f"Ranking: {res.ranking_method}", fontsize=10)
    return fig


def rank_probabilities(
    res: NMAResult, *, n_sim: int = N_SIM, seed: int = 20251
) -> tuple[list[RankEntry], str]:
    """Rank probabilities per treatment and how they were obtained.

    Bayesian fits carry them (per-draw ranks of the posterior). For the frequentist fit
    they are simulated from the estimates' normal approximation ``N(d_hat, Cov(d_hat))``, as
    netmeta's ``rankogram`` does; their SUCRAs then approximate the P-scores (Rücker &
    Schwarzer 2015 show P-scores equal SUCRAs of this distribution).
    """
    if all(r.rank_probabilities is not None for r in res.ranking):
        return list(res.ranking), "posterior rank probabilities"
    vcov = res.extra.get("vcov_d")
    if vcov is None:
        raise ValueError("the result has neither rank probabilities nor a covariance of d")
    est = np.array([res.relative_effects[t].mean for t in res.treatments[1:]], dtype=float)
    rng = np.random.default_rng(seed)
    sim = rng.multivariate_normal(est, np.asarray(vcov, dtype=float), size=n_sim)
    d = np.concatenate([np.zeros((n_sim, 1)), sim], axis=1)
    ranked = ranking_from_draws(d, res.treatments, higher_is_better=res.higher_is_better, seed=seed)
    return ranked, f"simulated from the estimates' normal distribution ({n_sim} draws)"


def rankogram(res: NMAResult, *, title: str | None = None, seed: int = 20251) -> Figure:
    """Rank probabilities per treatment (bars) with the cumulative ranking curve (line).

    Rank 1 = best in the stated direction. The area under the cumulative curve over ranks
    1..K-1, divided by K-1, is the SUCRA (Salanti, Ades & Ioannidis 2011), printed in each
    panel's title. Panels are ordered by SUCRA, best first.
    """
    ranked, how = rank_probabilities(res, seed=seed)
    ranked = sorted(ranked, key=lambda r: -r.sucra)
    k = len(ranked)
    ncol = min(k, 4 if k > 6 else 3)
    nrow = math.ceil(k / ncol)
    with plot_style():
        fig = new_figure(2.3 * ncol + 0.4, 2.0 * nrow + 0.6)
        axes = fig.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False)
        ranks = np.arange(1, k + 1)
        for i, r in enumerate(ranked):
            ax = axes[i // ncol][i % ncol]
            p = np.asarray(r.rank_probabilities, dtype=float)
            ax.bar(ranks, p, color="#4a6fa5", width=0.8, gid=f"rankogram-panel-{i}")
            ax.plot(ranks, np.cumsum(p), color="#b03a2e", lw=1.2, marker=".", ms=3)
            ax.set_title(f"{r.treatment}\nSUCRA {r.sucra:.2f}", fontsize=8)
            ax.set_ylim(0, 1.02)
            ax.set_xticks(ranks if k <= 10 else ranks[:: math.ceil(k / 10)])
        for j in range(k, nrow * ncol):
            axes[j // ncol][j % ncol].set_visible(False)
        fig.supxlabel("rank (1 = best)", fontsize=9)
        fig.supylabel("probability (bars); cumulative (line)", fontsize=9)
        fig.suptitle(title or f"Rankogram: {how}", fontsize=10)
    return fig


def _funnel(res: NMAResult, net: Network) -> Figure:
    """Comparison-adjusted funnel plot, network order, with Egger's test when n >= 3."""
    from living_review.nma.funnel import egger_test, funnel_plot, funnel_points

    pts = funnel_points(net, res)
    egger = egger_test(pts) if len(pts) >= 3 else None
    return funnel_plot(pts, measure=res.measure, log_scale=res.log_scale, egger=egger)


# --------------------------------------------------------------------------- files
def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix); reproducible bytes for SVG."""
    fmt = path.suffix.lstrip(".").lower()
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
    with plot_style():
        fig.savefig(path, format=fmt, dpi=150, metadata=metadata)
    return path


def save_plots(
    res: NMAResult,
    net: Network,
    outdir: Path | str,
    *,
    formats: Sequence[str] = FORMATS,
    include: Sequence[str] = PLOTS,
) -> list[Path]:
    """Write the figures (``network``, ``forest``, ``sucra``, ``rankogram``, ``funnel``).

    Returns the files written. A fit that is not converged gets the network plot only: its
    estimates must not be presented as conclusions (the same rule as the text report).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    makers = {
        "network": lambda: network_plot(net),
        "forest": lambda: forest_plot(res),
        "sucra": lambda: sucra_plot(res),
        "rankogram": lambda: rankogram(res),
        "funnel": lambda: _funnel(res, net),
    }
    written: list[Path] = []
    for name in include:
        if name not in makers:
            raise ValueError(f"unknown plot {name!r}; choose from {', '.join(makers)}")
        if name != "network" and not res.converged:
            continue
        fig = makers[name]()
        for fmt in formats:
            written.append(save_figure(fig, out / f"{name}.{fmt}"))
    return written

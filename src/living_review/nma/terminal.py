"""The evidence network drawn in terminal characters: Braille-dot edges, numbered nodes.

For the TUI's NMA screen and ``lsr nma show``: the same picture as the network plot (one node
per treatment, one line per direct comparison, heavier for more trials), in the cells of a
terminal. Nodes are numbers (a legend names them): nine long treatment names do not fit forty
columns, numbers do, and a hub-and-spoke network stays readable.

networkx lays the graph out (Kamada-Kawai: deterministic, and it puts a hub in the middle).
The raster is hand-written: it is a Bresenham line on a grid of Braille dots (2 x 4 per cell),
some forty lines; the packages that do this (drawille, unmaintained since 2019; plotext, a
charting package with no graph drawing) would add a dependency for less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

#: Bit of the Braille dot at (row, column) inside one cell (Unicode's dot numbering).
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE = 0x2800


def stored_network(
    result: Mapping[str, Any],
) -> tuple[tuple[str, ...], dict[tuple[str, str], int]] | None:
    """(treatments, trials per comparison) of a stored run's result JSON; None without them."""
    comparisons = (result.get("network") or {}).get("comparisons")
    treatments = result.get("treatments")
    if not comparisons or not treatments:
        return None
    return tuple(treatments), {(str(a), str(b)): int(n) for a, b, n in comparisons}


def layout(
    treatments: Sequence[str], edges: Mapping[tuple[str, str], int]
) -> dict[str, tuple[float, float]]:
    """Node positions in [-1, 1]², deterministic for a given network."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(treatments)
    graph.add_edges_from(edges)
    if len(treatments) == 1:
        return {treatments[0]: (0.0, 0.0)}
    # Kamada-Kawai needs a connected graph (unreachable pairs have no distance to honour).
    place = nx.kamada_kawai_layout if nx.is_connected(graph) else nx.circular_layout
    pos = place(graph)
    xs = [float(p[0]) for p in pos.values()]
    ys = [float(p[1]) for p in pos.values()]

    def scale(v: float, lo: float, hi: float) -> float:
        return 0.0 if hi - lo < 1e-9 else 2 * (v - lo) / (hi - lo) - 1

    return {
        t: (scale(float(pos[t][0]), min(xs), max(xs)), scale(float(pos[t][1]), min(ys), max(ys)))
        for t in treatments
    }


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The pixels of a straight line (Bresenham), both ends included."""
    points = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        points.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return points
        e2 = 2 * err
        if e2 >= dy:
            err, x0 = err + dy, x0 + sx
        if e2 <= dx:
            err, y0 = err + dx, y0 + sy


def network_drawing(
    treatments: Sequence[str],
    edges: Mapping[tuple[str, str], int],
    *,
    width: int = 38,
    height: int = 12,
) -> Text:
    """The network in ``width`` x ``height`` cells; node ``i + 1`` is ``treatments[i]``.

    An edge of one trial is drawn dim, of several bold; a node is its number, reversed.
    """
    pos = layout(treatments, edges)
    codes = {t: str(i + 1) for i, t in enumerate(treatments)}
    label_w = max(len(c) for c in codes.values())
    # Node centres in Braille pixels, kept clear of the edges so that labels fit.
    px_w, px_h = 2 * (width - label_w - 1), 4 * (height - 1)

    def pixel(t: str) -> tuple[int, int]:
        x, y = pos[t]
        return round((x + 1) / 2 * px_w) + 2, round((1 - y) / 2 * px_h) + 1

    dots = [[0] * width for _ in range(height)]
    weight = [[0] * width for _ in range(height)]
    for (a, b), n in edges.items():
        (x0, y0), (x1, y1) = pixel(a), pixel(b)
        for x, y in _line(x0, y0, x1, y1):
            row, col = y // 4, x // 2
            if 0 <= row < height and 0 <= col < width:
                dots[row][col] |= _DOTS[y % 4][x % 2]
                weight[row][col] = max(weight[row][col], n)
    labels: dict[tuple[int, int], str] = {}
    for t in treatments:
        x, y = pixel(t)
        row, col = min(y // 4, height - 1), min(x // 2, width - len(codes[t]))
        for k, ch in enumerate(codes[t]):
            labels[(row, col + k)] = ch
    lines = []
    for row in range(height):
        line = Text()
        for col in range(width):
            if (row, col) in labels:
                line.append(labels[(row, col)], style="bold reverse")
            elif dots[row][col]:
                style = "bold bright_cyan" if weight[row][col] > 1 else "cyan"
                line.append(chr(_BRAILLE + dots[row][col]), style=style)
            else:
                line.append(" ")
        lines.append(line)
    return Text("\n").join(lines)


def legend(treatments: Sequence[str], width: int = 38) -> Text:
    """``1 placebo  2 sorafenib ...``, wrapped at ``width`` between entries, never inside one."""
    lines: list[Text] = [Text()]
    for i, t in enumerate(treatments):
        entry = Text.assemble((str(i + 1), "bold reverse"), f" {t}")
        if lines[-1].cell_len and lines[-1].cell_len + 2 + entry.cell_len > width:
            lines.append(Text())
        if lines[-1].cell_len:
            lines[-1].append("  ")
        lines[-1].append_text(entry)
    return Text("\n").join(lines)

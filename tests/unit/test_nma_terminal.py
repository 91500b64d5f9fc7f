"""The network drawn in terminal cells: every node once, every edge a connected line of dots."""

from __future__ import annotations

import math

import pytest
from rich.text import Text

from living_review.nma.terminal import layout, legend, network_drawing, stored_network

STAR = ("placebo", "regorafenib", "cabozantinib", "ramucirumab", "pembrolizumab", "sorafenib")
STAR_EDGES = {("placebo", t): 1 for t in STAR[1:5]} | {("placebo", "sorafenib"): 3}


def cells(text: Text) -> list[str]:
    return text.plain.split("\n")


def label_cells(rows: list[str], code: str) -> list[tuple[int, int]]:
    """Where ``code`` is printed (its first cell), digits not part of a longer number."""
    out = []
    for r, line in enumerate(rows):
        for c in range(len(line) - len(code) + 1):
            before = line[c - 1] if c else " "
            after = line[c + len(code)] if c + len(code) < len(line) else " "
            if line[c : c + len(code)] == code and not before.isdigit() and not after.isdigit():
                out.append((r, c))
    return out


def connected(rows: list[str], start: tuple[int, int], goal: tuple[int, int]) -> bool:
    """Whether non-blank cells link ``start`` to ``goal`` (8-neighbourhood)."""
    seen, todo = {start}, [start]
    while todo:
        r, c = todo.pop()
        if abs(r - goal[0]) <= 1 and abs(c - goal[1]) <= 1:
            return True
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                n = (r + dr, c + dc)
                if n in seen or not (0 <= n[0] < len(rows) and 0 <= n[1] < len(rows[n[0]])):
                    continue
                if rows[n[0]][n[1]] != " ":
                    seen.add(n)
                    todo.append(n)
    return False


def test_the_drawing_has_the_asked_size_and_every_node_once() -> None:
    rows = cells(network_drawing(STAR, STAR_EDGES, width=30, height=10))
    assert len(rows) == 10 and all(len(r) == 30 for r in rows)
    for i in range(len(STAR)):
        assert len(label_cells(rows, str(i + 1))) == 1


@pytest.mark.parametrize("edge", sorted(STAR_EDGES) + [("sorafenib", "regorafenib")])
def test_each_edge_is_a_connected_line_between_its_nodes(edge: tuple[str, str]) -> None:
    rows = cells(network_drawing(STAR, {edge: 1}))
    a, b = (label_cells(rows, str(STAR.index(t) + 1))[0] for t in edge)
    assert connected(rows, a, b)
    # Nothing is drawn for comparisons without trials: the other nodes stand alone.
    other = next(t for t in STAR if t not in edge)
    c = label_cells(rows, str(STAR.index(other) + 1))[0]
    assert not connected(rows, c, a)


def test_more_trials_draw_a_heavier_line() -> None:
    single = network_drawing(STAR, {("placebo", "sorafenib"): 1})
    several = network_drawing(STAR, {("placebo", "sorafenib"): 3})
    assert not any("bold" in str(s.style) for s in single.spans if s.style != "bold reverse")
    assert any(str(s.style) == "bold bright_cyan" for s in several.spans)


def test_the_layout_is_deterministic_and_puts_the_hub_in_the_middle() -> None:
    pos = layout(STAR, STAR_EDGES)
    assert pos == layout(STAR, STAR_EDGES)
    assert all(-1 <= x <= 1 and -1 <= y <= 1 for x, y in pos.values())
    dist = {t: math.hypot(*p) for t, p in pos.items()}
    assert min(dist, key=dist.__getitem__) == "placebo"


def test_a_disconnected_network_is_still_drawn() -> None:
    edges = {("a", "b"): 1, ("c", "d"): 2}
    rows = cells(network_drawing(("a", "b", "c", "d"), edges))
    assert connected(rows, label_cells(rows, "1")[0], label_cells(rows, "2")[0])
    assert not connected(rows, label_cells(rows, "1")[0], label_cells(rows, "3")[0])


def test_two_digit_nodes_and_a_legend_that_never_splits_an_entry() -> None:
    names = tuple(f"treatment-{i}" for i in range(12))
    edges = {(names[0], t): 1 for t in names[1:]}
    rows = cells(network_drawing(names, edges, width=40, height=14))
    assert all(len(label_cells(rows, str(i + 1))) == 1 for i in range(12))
    lines = legend(names, width=40).plain.split("\n")
    assert all(len(line) <= 40 for line in lines)
    entries = [e for line in lines for e in line.split("  ")]
    assert entries == [f"{i + 1} {n}" for i, n in enumerate(names)]


def test_a_stored_runs_network_is_read_from_its_result() -> None:
    result = {
        "treatments": ["placebo", "sorafenib"],
        "network": {"comparisons": [["placebo", "sorafenib", 3]]},
    }
    assert stored_network(result) == (("placebo", "sorafenib"), {("placebo", "sorafenib"): 3})
    assert stored_network({"treatments": ["a", "b"], "network": {"studies": 2}}) is None
    assert stored_network({"network": {"comparisons": [["a", "b", 1]]}}) is None

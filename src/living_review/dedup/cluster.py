"""Provides clustering: union-find over duplicate pairs, guarded by cannot-link pairs.

Plain transitive closure is how most false merges happen: A~B and B~C join A and C even when
A and C are an erratum and its article. Here duplicate pairs are joined strongest first, and
two groups are joined only if no pair across them is a *cannot-link* (a hard-negative rule, a
strong contradiction or a reviewer's "different"). Pairs across the two groups that were never
scored (blocking did not pair them) are scored on the spot, so the check is complete. Groups
are small (a handful of records), so this costs little.

The record kept as a cluster's representative is the most complete one (abstract, DOI, PMID,
then the other fields); every member stays in the store with all its fields and sources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from living_review.dedup.normalise import NormRecord
from living_review.dedup.scoring import PairScore


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size; members listed."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {}

    def find(self, i: int) -> int:
        """Return the representative of ``i``'s set."""
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def group(self, root: int) -> list[int]:
        """Return the members of the set whose representative is ``root``."""
        return self.members.get(root, [root])

    def union(self, i: int, j: int) -> int:
        """Join the sets of ``i`` and ``j``; return the new representative."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return ri
        gi, gj = self.group(ri), self.group(rj)
        if len(gi) < len(gj):
            ri, rj, gi, gj = rj, ri, gj, gi
        self.parent[rj] = ri
        self.members[ri] = gi + gj
        self.members.pop(rj, None)
        return ri


@dataclass
class Clustering:
    """Groups of record indices and the pairs whose merge was refused by a cannot-link."""

    groups: list[list[int]]
    refused: list[tuple[int, int, str]] = field(default_factory=list)
    extra_scores: dict[tuple[int, int], PairScore] = field(default_factory=dict)


def build_clusters(
    n: int,
    scored: dict[tuple[int, int], PairScore],
    score_pair: Callable[[int, int], PairScore],
    *,
    fixed_same: Iterable[tuple[int, int]] = (),
    fixed_different: Iterable[tuple[int, int]] = (),
) -> Clustering:
    """Cluster ``n`` records from their scored pairs (keys ``(i, j)`` with ``i < j``).

    ``fixed_same`` pairs (earlier merges, reviewers' "same") are joined first and
    unconditionally; ``fixed_different`` pairs (reviewers' "different", splits) are
    cannot-links like the scorer's. Duplicate pairs are then joined in descending score order.
    """
    uf = UnionFind(n)
    cannot: dict[int, set[int]] = {}

    def forbid(i: int, j: int) -> None:
        cannot.setdefault(i, set()).add(j)
        cannot.setdefault(j, set()).add(i)

    for i, j in fixed_different:
        forbid(i, j)
    for (i, j), s in scored.items():
        if s.cannot_link:
            forbid(i, j)
    for i, j in fixed_same:
        uf.union(i, j)

    extra: dict[tuple[int, int], PairScore] = {}

    def blocked(x: int, y: int) -> str | None:
        if y in cannot.get(x, ()):
            return "must stay apart"
        key = (x, y) if x < y else (y, x)
        s = scored.get(key) or extra.get(key)
        if s is None:
            s = score_pair(*key)
            extra[key] = s
            if s.cannot_link:
                forbid(x, y)
        return s.reason if s.cannot_link else None

    refused: list[tuple[int, int, str]] = []
    dups = sorted(
        ((s.score, i, j) for (i, j), s in scored.items() if s.outcome == "duplicate"),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    for _score, i, j in dups:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj:
            continue
        why = None
        for x in uf.group(ri):
            for y in uf.group(rj):
                why = blocked(x, y)
                if why:
                    break
            if why:
                break
        if why:
            refused.append((i, j, f"would join records that must stay apart ({why})"))
            continue
        uf.union(i, j)
    roots: dict[int, list[int]] = {}
    for i in range(n):
        roots.setdefault(uf.find(i), []).append(i)
    return Clustering(groups=list(roots.values()), refused=refused, extra_scores=extra)


def choose_kept(members: Sequence[int], records: Sequence[NormRecord]) -> int:
    """Return the member to show for the cluster: the most complete record, earliest on ties.

    Completeness weighs an abstract, a DOI and a PMID most (they make screening and later
    linking possible), then every other filled field.
    """
    return min(members, key=lambda i: (-records[i].completeness, i))

"""Provides the dedup engine over plain in-memory records: normalise, block, score, cluster.

No database here: the benchmark runs it on a DataFrame's rows, and the store adapter
(:mod:`living_review.dedup.service`) feeds it stored records plus the decisions already made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from living_review.dedup.blocking import candidate_pairs
from living_review.dedup.cluster import build_clusters, choose_kept
from living_review.dedup.normalise import NormRecord, normalise_record
from living_review.dedup.scoring import PairScore, compare


@dataclass
class Resolution:
    """The result of a pass over records given by index.

    ``pairs`` holds every scored pair's final outcome (a duplicate whose merge a cannot-link
    refused is reported as ``possible``); ``groups`` the clusters (index lists, singletons
    included); ``kept`` the representative of each multi-member group.
    """

    pairs: dict[tuple[int, int], PairScore]
    groups: list[list[int]]
    kept: dict[int, int] = field(default_factory=dict)


def resolve(
    records: Sequence[NormRecord],
    *,
    new: Iterable[int] | None = None,
    fixed_same: Iterable[tuple[int, int]] = (),
    fixed_different: Iterable[tuple[int, int]] = (),
    already_decided: set[tuple[int, int]] | None = None,
) -> Resolution:
    """Score candidate pairs among ``records`` and cluster them.

    ``new`` restricts scoring to pairs involving those indices (the incremental pass);
    ``already_decided`` pairs are not re-scored (their stored decision stands).
    """
    decided = already_decided or set()
    pairs = [p for p in candidate_pairs(records, new=new) if p not in decided]
    scored = {(i, j): compare(records[i], records[j]) for i, j in pairs}
    clustering = build_clusters(
        len(records),
        scored,
        lambda i, j: compare(records[i], records[j]),
        fixed_same=fixed_same,
        fixed_different=fixed_different,
    )
    for i, j, why in clustering.refused:
        s = scored[(i, j)]
        scored[(i, j)] = PairScore(s.a, s.b, "possible", s.score, why, cannot_link=False)
    for key, s in clustering.extra_scores.items():
        if key not in decided and s.cannot_link and s.method == "rule":
            scored.setdefault(key, s)
    kept = {
        g[0]: choose_kept(g, records) for g in clustering.groups if len(g) > 1
    }  # keyed by first member
    return Resolution(pairs=scored, groups=clustering.groups, kept=kept)


@dataclass
class DedupResult:
    """Clusters and review pairs over caller keys (e.g. a CSV's record_id)."""

    clusters: list[list[Any]]
    possible: list[PairScore]
    pairs: list[PairScore]
    kept: dict[Any, Any]


def deduplicate(rows: Iterable[Mapping[str, Any]], *, key: str = "id") -> DedupResult:
    """Deduplicate plain records (dicts or DataFrame rows as dicts) without a database.

    ``key`` names the field holding each record's identifier. Returns the multi-record
    clusters as lists of identifiers, the pairs left for review, and every scored pair.
    """
    norms = [normalise_record(r, key=r.get(key)) for r in rows]
    res = resolve(norms)
    clusters = [[norms[i].key for i in g] for g in res.groups if len(g) > 1]
    kept = {norms[g[0]].key: norms[res.kept[g[0]]].key for g in res.groups if len(g) > 1}
    scored = list(res.pairs.values())
    return DedupResult(
        clusters=clusters,
        possible=[s for s in scored if s.outcome == "possible"],
        pairs=scored,
        kept=kept,
    )

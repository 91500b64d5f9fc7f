"""The dedup engine on the shared labelled sets: zero false merges; recall vs bib-dedupe's.

bib-dedupe 0.11's pairwise recall on these sets (measured on this machine, see the issue)
is the bar, counted on *automatic* merges only (not the review queue). Sets where we are
still below it are marked xfail (strict), so the gap stays visible and the mark must be
removed once it is closed.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from living_review.dedup import deduplicate

#: Pairwise recall of bib-dedupe 0.11 on each set (false pairs: 0, 0, 2, 0).
BIB_DEDUPE_RECALL = {
    "asysd_diabetes": 1.000,
    "sra_cytology_screening": 0.985,
    "sra_haematology": 0.828,
    "sra_respiratory": 0.925,
}
#: Sets where our recall is not yet at bib-dedupe's (see the benchmark table), and why. In
#: both, the missing pairs are ones our rules keep apart on purpose and send to review.
RECALL_GAP = {
    # 16 of the 16 missed pairs: two abstracts of one supplement, pages 51 and 52, with
    # different author lists (3 vs 5): two printed items, though the truth calls them one.
    "asysd_diabetes": "two printed abstracts on pages 51/52 are left for review",
    # 31 missed pairs (recall 0.810; bib-dedupe 0.828 would need 3 more), checked one by one:
    # 28 are kinds the hard-negative rules keep apart (errata, two of them titled like
    # their article; a letter and its reply; conference abstracts vs the later article; trial
    # registrations of different populations); 3 are unclear (one abstract at two meetings,
    # one letter under two titles, one abstract on pages 22 and 52). 11 sit in the review
    # queue, 14 are vetoed by a rule, 5 score distinct, 1 shares no blocking key.
    "sra_haematology": "errata, letter/reply, abstract vs article, registrations kept apart",
}


def _pairs(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {p for g in groups for p in itertools.combinations(sorted(g), 2)}


def _run(path: Path) -> tuple[float, int, float]:
    import pandas as pd  # type: ignore[import-untyped]

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = df.rename(columns={"record_id": "id"}).to_dict("records")
    start = time.perf_counter()
    res = deduplicate(rows)
    seconds = time.perf_counter() - start
    truth: dict[str, list[str]] = {}
    for rid, group in zip(df["record_id"], df["duplicate_group"], strict=True):
        truth.setdefault(group, []).append(rid)
    true_pairs = _pairs(list(truth.values()))
    pred_pairs = _pairs(res.clusters)
    recall = len(true_pairs & pred_pairs) / len(true_pairs)
    return recall, len(pred_pairs - true_pairs), seconds


@pytest.mark.parametrize("name", sorted(BIB_DEDUPE_RECALL))
def test_no_false_merges_and_fast(shared: Path, name: str) -> None:
    path = shared / "benchmarks" / "dedup" / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    _recall, false_pairs, seconds = _run(path)
    assert false_pairs == 0
    assert seconds < 5  # bib-dedupe takes 10-14 s on each of these sets


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=RECALL_GAP[n]))
        if n in RECALL_GAP
        else n
        for n in sorted(BIB_DEDUPE_RECALL)
    ],
)
def test_recall_at_least_bib_dedupe(shared: Path, name: str) -> None:
    path = shared / "benchmarks" / "dedup" / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    recall, _false_pairs, _seconds = _run(path)
    assert round(recall, 3) >= BIB_DEDUPE_RECALL[name]

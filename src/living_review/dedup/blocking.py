"""Provides blocking: which pairs are worth scoring at all, in near-linear work.

Comparing every record with every other is quadratic (5 * 10^9 pairs at 100,000 records).
Each record instead gets a few *blocking keys*, and only records sharing a key are compared.
The keys are chosen so that each kind of variation between databases still leaves at least
one key shared:

* ``d:``/``p:`` -- the normalised DOI and PMID;
* ``t:`` -- the first 32 characters of the normalised title (survives changes at the end:
  cut-off titles, appended notes);
* ``e:`` -- its last 32 characters (survives changes at the start: "The effects of" vs
  "Effects of", section labels);
* ``l:`` -- first author, volume and first page (survives a translated or reworded title).

A block larger than :data:`MAX_BLOCK` (a generic title stem in a huge store) is not compared
all-against-all: its records are sorted by title and each is compared with its
:data:`WINDOW` nearest neighbours (the sorted-neighbourhood method), which keeps the work
linear in the number of records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from living_review.dedup.normalise import NormRecord, page_digits

#: Characters of the normalised title used for the prefix and suffix keys.
KEY_CHARS = 32
#: Blocks up to this size are compared all-against-all.
MAX_BLOCK = 60
#: In larger blocks, each record is compared with this many neighbours in title order.
WINDOW = 12


def blocking_keys(r: NormRecord) -> list[str]:
    """Return the blocking keys of one record (see the module docstring)."""
    keys: list[str] = []
    if r.doi:
        keys.append("d:" + r.doi)
    if r.pmid:
        keys.append("p:" + r.pmid)
    if r.comparable:
        tk = r.title_key
        keys.append("t:" + tk[:KEY_CHARS])
        if len(tk) > KEY_CHARS:
            keys.append("e:" + tk[-KEY_CHARS:])
        first_page = page_digits(r.pages.first)
        if r.surnames and first_page and r.volume:
            keys.append(f"l:{r.surnames[0][:8]}:{r.volume}:{first_page}")
    return keys


def _block_pairs(
    members: Sequence[int], records: Sequence[NormRecord]
) -> Iterable[tuple[int, int]]:
    if len(members) <= MAX_BLOCK:
        for x in range(len(members)):
            i = members[x]
            for y in range(x + 1, len(members)):
                yield i, members[y]
        return
    ordered = sorted(members, key=lambda i: records[i].title_key)
    for x, i in enumerate(ordered):
        for j in ordered[x + 1 : x + 1 + WINDOW]:
            yield i, j


def candidate_pairs(
    records: Sequence[NormRecord], *, new: Iterable[int] | None = None
) -> list[tuple[int, int]]:
    """Return the index pairs ``(i, j)``, ``i < j``, that share a blocking key.

    With ``new`` (indices of newly imported records) only pairs involving at least one new
    record are returned: an incremental pass compares the new records with the store and
    with each other, never the store with itself again.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        for k in blocking_keys(r):
            blocks[k].append(i)
    new_set = set(new) if new is not None else None
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2:
            continue
        if new_set is not None and not any(m in new_set for m in members):
            continue
        for i, j in _block_pairs(members, records):
            if new_set is not None and i not in new_set and j not in new_set:
                continue
            pairs.add((i, j) if i < j else (j, i))
    return sorted(pairs)

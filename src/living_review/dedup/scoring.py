"""Provides pair scoring: one of duplicate / possible / distinct for a pair of records, with why.

The decision is built from *evidence* rather than from one weighted sum, because the costs are
asymmetric: a false merge removes a study from the review, a missed duplicate costs a second
look. So:

* The title (rapidfuzz ratio on normalised words) says whether two records *could* be the same.
* Identifiers and the locator (PMID, DOI, journal, volume, first page, year) say whether they
  *are*: each agreement is support, each disagreement a contradiction. A strong contradiction
  (different PMIDs, DOIs or first pages; years more than one apart, which allows for an
  ahead-of-print year) rules out an automatic merge. A disagreement that is a known export
  error rather than evidence of a second item is only a weak contradiction, which more
  agreement must outweigh: page ranges that overlap (:func:`~living_review.dedup.normalise.
  compare_pages`), or a second DOI on a record whose journal, year and first page agree.
* The journal, volume and full page range together identify one printed item. With the same
  authors they outweigh titles that differ because one is MEDLINE's bracketed translation or
  lacks the other's subtitle.
* Hard-negative rules (:mod:`living_review.dedup.rules`) veto automatic merges outright.

An automatic merge needs a near-identical title, compatible authors, no contradiction and at
least two independent pieces of support. Anything that is close but short of that goes to the
review queue; the rest is distinct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rapidfuzz.distance import Indel
from rapidfuzz.fuzz import ratio

from living_review.dedup.normalise import (
    NormRecord,
    compare_pages,
    dois_agree,
    journals_compatible,
)
from living_review.dedup.rules import TRUNCATION_MIN_CHARS, hard_negative, ranged, same_full_locator

Outcome = Literal["duplicate", "possible", "distinct"]

#: Title similarity at or above which two titles are the same title written differently
#: (case, punctuation, a typo, a dropped article); below it they may be a translation.
SAME_TITLE = 0.95
#: Title similarity from which a pair is worth a reviewer's look when the locator agrees.
CLOSE_TITLE = 0.85
#: Title similarity from which a pair with a matching locator (journal, volume, first page)
#: and authors is worth a look: translated titles of one article land here.
TRANSLATED_TITLE = 0.6
#: Author agreement that, with one journal, volume and page range, outweighs different titles.
STRONG_AUTHORS = 0.8
#: Support needed for an automatic merge (each identifier or locator field that agrees).
MIN_SUPPORT = 2


@dataclass(frozen=True, slots=True)
class PairScore:
    """The outcome for one pair, a score in [0, 1] for ordering, and the reason in words.

    ``cannot_link`` marks pairs that positively contradict each other (a hard-negative rule or
    a strong contradiction): clustering never joins groups that contain such a pair, so a
    chain A~B~C cannot drag together an erratum and its article.
    """

    a: Any
    b: Any
    outcome: Outcome
    score: float
    reason: str
    cannot_link: bool = False
    method: str = "auto"


def title_similarity(a: NormRecord, b: NormRecord) -> float:
    """Return how alike two normalised titles are, in [0, 1]; cut-off titles count as equal."""
    if a.title_key == b.title_key:
        return 1.0
    short, long_ = (a, b) if len(a.title_key) <= len(b.title_key) else (b, a)
    if len(short.title_key) >= TRUNCATION_MIN_CHARS and long_.title_key.startswith(
        short.title_key[:-3]
    ):
        return 0.99
    return ratio(a.title, b.title) / 100.0


def _surname_match(x: str, y: str) -> bool:
    if x == y:
        return True
    if len(x) >= 2 and len(y) >= 2 and (x.startswith(y) or y.startswith(x)):
        return True  # "le" / "lequintrec": a surname split at a particle by one database
    return len(x) >= 4 and len(y) >= 4 and Indel.normalized_similarity(x, y) >= 0.8


def author_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float | None:
    """Return the share of the shorter author list found in the longer one (None if unknown).

    The shorter list is used because exports cut author lists ("et al", field limits) and
    some keep only the first author; a surname matches if equal, a prefix of the other
    (particles split differently), or within a typo of it.
    """
    if not a or not b:
        return None
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    short = short[:12]
    long_set = set(long_)
    hits = 0
    for s in short:
        if s in long_set or any(_surname_match(s, t) for t in long_):
            hits += 1
    return hits / len(short)


def _contained(a: NormRecord, b: NormRecord) -> bool:
    """Return True if the shorter title (four words or more) occurs whole in the longer."""
    short, long_ = (a.title, b.title) if len(a.title) <= len(b.title) else (b.title, a.title)
    return len(short.split()) >= 4 and f" {short} " in f" {long_} "


def _retitled(a: NormRecord, b: NormRecord, ts: float) -> bool:
    """Return True when one printed item may carry two titles: the locator is one item and a
    title is MEDLINE's bracketed translation, lacks a subtitle the other has, or is close.

    The original-language title and MEDLINE's English translation of it ("[Comparison of
    amoxicillin and cefamandole ...]" vs "Antibiotic prophylaxis in pulmonary surgery ...")
    can share few words; the journal, volume and full page range say they are one article.
    """
    return same_full_locator(a, b) and (
        a.translated or b.translated or ts >= TRANSLATED_TITLE or _contained(a, b)
    )


#: Words a meeting name needs before it identifies one meeting ("Annual meeting" does not).
MIN_MEETING_WORDS = 4


def same_meeting(a: NormRecord, b: NormRecord) -> bool:
    """Return True when one record cites a meeting that the other names after its journal.

    Embase files a conference abstract as "Journal.Conference: <meeting>"; another source
    cites the same abstract under "<meeting>" alone. The journal names then differ, but the
    meeting agrees, which is as good as one journal. Only this mixed case counts: two records
    that both name a journal *and* the meeting but differ in journal are the abstract printed
    in two journals, which stays a disagreement.
    """
    for x, y in ((a, b), (b, a)):
        if x.meeting and x.meeting == x.journal and y.meeting and y.meeting != y.journal:
            if min(len(x.meeting), len(y.meeting)) < MIN_MEETING_WORDS:
                continue
            if journals_compatible(x.meeting, y.meeting) is True:
                return True
    return False


_DIGITS_ONLY = re.compile(r"\s*0*(\d+)\s*")


def shifted_locator(a: NormRecord, b: NormRecord) -> bool:
    """Return True when one record's locator is the other's shifted by one field.

    An export that loses the volume can move the issue into the volume's place and the issue
    into the pages ("volume -, issue 26, pages 9" for "volume 26, issue 9, pages 1746"). When
    a record has no volume, a single number as its page, its issue equals the other's volume
    and its page the other's issue, both numbers coincide: its "page" is the issue, so its
    pages say nothing, and its volume agrees.
    """
    for x, y in ((a, b), (b, a)):
        if x.volume is not None or not (x.issue and y.volume and y.issue and x.pages.first):
            continue
        if x.pages.last != x.pages.first or x.pages.more:
            continue
        xi, yi, xp = (_DIGITS_ONLY.fullmatch(v) for v in (x.issue, y.issue, x.pages.first))
        if xi and yi and xp and xi.group(1) == y.volume and xp.group(1) == yi.group(1):
            return True
    return False


def compare(a: NormRecord, b: NormRecord) -> PairScore:
    """Return the outcome for one pair of normalised records."""
    pmid_same = a.pmid is not None and a.pmid == b.pmid
    doi_state = dois_agree(a.doi, b.doi)
    if not (a.comparable and b.comparable):
        # Never merged automatically: too little to compare. Identifiers alone earn a look.
        if pmid_same or doi_state is True:
            return PairScore(
                a.key, b.key, "possible", 0.5, "no usable title on one record; same identifier"
            )
        return PairScore(a.key, b.key, "distinct", 0.0, "no usable title")

    ts = title_similarity(a, b)
    retitled = ts < SAME_TITLE and _retitled(a, b, ts)
    if ts < TRANSLATED_TITLE and not pmid_same and not retitled:
        return PairScore(a.key, b.key, "distinct", ts * 0.5, "titles differ")

    support: list[str] = []
    strong: list[str] = []  # contradictions that rule out an automatic merge
    weak: list[str] = []  # contradictions that other agreement can outweigh
    if pmid_same:
        support += ["pmid", "pmid"]
    elif a.pmid and b.pmid:
        strong.append("different PMIDs")
    jc_pre = journals_compatible(a.journal, b.journal)
    if jc_pre is False and same_meeting(a, b):
        jc_pre = True
    dy = abs(a.year - b.year) if a.year is not None and b.year is not None else None
    shifted = shifted_locator(a, b)
    pages = (
        None if shifted else compare_pages(a.pages, b.pages, a_volume=a.volume, b_volume=b.volume)
    )
    if shifted:
        support.append("volume")
    if doi_state is True:
        support += ["doi", "doi"]
    elif doi_state is False:
        if pages == "same" and jc_pre is True and dy == 0:
            # Journal, year and first page name one printed item; a second DOI on it is a
            # database's error (an abstract filed under a sister journal's DOI). Still a
            # contradiction, so the rest of the record must agree all the more.
            weak.append("different DOIs")
        else:
            strong.append("different DOIs")
    if dy == 0:
        support.append("year")
    elif dy is not None and dy > 1:
        strong.append(f"years {a.year} vs {b.year}")
    if pages == "same":
        support.append("pages")
    elif pages == "overlap":
        weak.append(f"pages {a.pages} vs {b.pages}")
    elif pages == "different":
        strong.append(f"first pages {a.pages.first} vs {b.pages.first}")
    if a.volume and b.volume:
        if a.volume == b.volume:
            support.append("volume")
        elif a.volume != b.suppl_no and b.volume != a.suppl_no:
            # (A volume equal to the other's supplement number is Embase's cut-off form.)
            weak.append(f"volumes {a.volume} vs {b.volume}")
    jc = jc_pre
    if jc is True:
        support.append("journal")
    elif jc is False:
        weak.append("journals differ")
    asim = author_similarity(a.surnames, b.surnames)
    # Same identifier, or the same journal, volume and first page: as specific as an
    # identifier, so a clash in author names is a formatting error (given names and surnames
    # swapped, a group name for the authors), not a different article.
    located = (
        pmid_same
        or doi_state is True
        or (
            "pages" in support
            and "volume" in support
            and jc_pre is True
            and ranged(a)
            and ranged(b)
        )
    )
    if asim is not None:
        if asim >= 0.5:
            support.append("authors")
        elif asim < 0.34 and not located:
            strong.append("authors differ")
        else:
            weak.append("authors differ")
    if len(a.abstract) >= 100 and len(b.abstract) >= 100:
        abs_sim = ratio(a.abstract[:300], b.abstract[:300]) / 100.0
        if abs_sim >= 0.9:
            support.append("abstract")
        elif abs_sim < 0.5:
            weak.append("abstracts differ")

    n_support = (
        len(set(support) - {"authors"}) + (1 if pmid_same else 0) + (1 if doi_state is True else 0)
    )
    score = round(
        0.6 * ts + 0.2 * (asim if asim is not None else 0.5) + 0.2 * min(n_support, 4) / 4, 4
    )
    method = "exact_id" if (pmid_same or doi_state is True) else "auto"

    rule = hard_negative(a, b)
    if rule is not None:
        return PairScore(a.key, b.key, "distinct", score, rule, cannot_link=True, method="rule")

    if strong:
        why = "; ".join(strong + weak)
        # Identical title and authors with one contradiction is still worth a look (a typo in
        # a page or year); more than that is a different publication.
        if ts >= SAME_TITLE and len(strong) == 1 and asim is not None and asim >= 0.5:
            return PairScore(a.key, b.key, "possible", score, why, cannot_link=True)
        return PairScore(a.key, b.key, "distinct", score, why, cannot_link=True)

    authors_ok = asim is None or asim >= 0.5 or located
    if ts < SAME_TITLE and "pages" in support and jc is True and _contained(a, b):
        # One database dropped a label or subtitle ("Thrombotic microangiopathy: can ...")
        # and the locator agrees: the same title.
        ts = SAME_TITLE
    why_support = "agree: " + ", ".join(sorted(set(support)))
    if ts >= SAME_TITLE and authors_ok:
        # Weak contradictions (garbled volume, journal variant) need extra agreement.
        need = MIN_SUPPORT + len(weak)
        if n_support >= need:
            return PairScore(a.key, b.key, "duplicate", score, why_support, method=method)
        return PairScore(
            a.key, b.key, "possible", score, why_support + ("; " + "; ".join(weak) if weak else "")
        )
    locator = "pages" in support and "journal" in support
    if retitled and asim is not None and asim >= STRONG_AUTHORS and dy == 0 and not weak:
        return PairScore(
            a.key,
            b.key,
            "duplicate",
            score,
            "one journal, volume and page range; title translated or abridged; " + why_support,
            method=method,
        )
    if ts >= CLOSE_TITLE and authors_ok and not weak and n_support >= MIN_SUPPORT + 1 and locator:
        return PairScore(a.key, b.key, "duplicate", score, why_support, method=method)
    if ts >= CLOSE_TITLE and authors_ok and len(weak) <= 1:
        return PairScore(a.key, b.key, "possible", score, "similar titles; " + why_support)
    if locator and authors_ok and asim is not None:
        return PairScore(a.key, b.key, "possible", score, "same locator, titles differ")
    if pmid_same or doi_state is True:
        return PairScore(a.key, b.key, "possible", score, "same identifier, titles differ")
    return PairScore(a.key, b.key, "distinct", score, "titles differ")

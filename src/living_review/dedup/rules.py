"""Provides the hard-negative rules: pairs that look alike but must never merge automatically.

A false merge silently removes a study from a review, so these rules are explicit and named
rather than left to a similarity threshold. Each rule answers "are these two *different
publications* even though title and authors agree?":

* **notice vs article** -- an erratum, retraction notice, expression of concern, comment or
  reply is its own publication, even when its title repeats the article's.
* **conference abstract vs journal article** -- the same authors and title are routinely
  published first as a meeting abstract and later as a paper; both are kept (and later linked
  to one study), never merged. They merge only when their locators (journal, volume, first
  page) say they are the same printed item, i.e. one database merely labelled it differently,
  or when the "article"'s volume is the abstract's supplement number cut off by an export.
* **different reports of one trial** -- follow-up, extension, subgroup, country or
  population reports, and reports at different time points share a title stem and authors;
  a difference in such qualifiers or in a number ("2-year" vs "5-year") keeps them apart --
  unless both records give the same page range in one volume of one journal, where two
  reports cannot both be printed.

A record that fires a rule can still be merged by a reviewer (``lsr dedup decide``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from living_review.dedup.normalise import NormRecord, Pages

# --- notices ---------------------------------------------------------------------------------

_NOTICE_TITLE = [
    (
        "erratum",
        re.compile(
            r"^\s*(?:\[?(?:published\s+)?errat(?:um|a)\b|corrigend(?:um|a)\b|"
            r"correction(?:s)?\s*(?::|to\b|of\b|for\b|notice)|notice of correction|"
            r"author correction|publisher correction)",
            re.IGNORECASE,
        ),
    ),
    (
        "retraction",
        re.compile(
            r"^\s*(?:retraction\b|notice of retraction|retraction note|withdrawal\b|"
            r"withdrawn\s*:)",
            re.IGNORECASE,
        ),
    ),
    ("concern", re.compile(r"^\s*(?:editorial\s+)?expression of concern", re.IGNORECASE)),
    ("comment", re.compile(r"^\s*(?:comments?|commentary)\s+(?:on|to)\b", re.IGNORECASE)),
    (
        "reply",
        re.compile(
            r"^\s*(?:(?:authors?'?s?\s+)?reply\b|in reply\b|response\s+(?:to|from)\b|re\s*:)"
            r"|\b(?:authors?'?s?'?\s+)?reply\s*\.?\s*$|\breply to\b",
            re.IGNORECASE,
        ),
    ),
]
#: WoS titles a correction "Title (vol 85, pg 553, 2010)"; Embase "Title (Journal (2009) 360
#: (542-544))": the citation of the corrected article in the notice's own title.
_CORRECTION_CITATION = re.compile(
    r"\((?:vol\.?\s*\d+\s*,\s*pg\.?\s*\w+|[^()]*\(\d{4}\)\s*\d+\s*\(\s*\w+(?:-\w+)?\s*\))[^()]*\)"
    r"\s*\.?\s*$",
    re.IGNORECASE,
)
_NOTICE_FLAGS = {
    "erratum": "erratum",
    "retraction": "retraction",
    "expression_of_concern": "concern",
    "comment": "comment",
}
_NOTICE_TYPES = [
    ("erratum", re.compile(r"erratum|correction", re.IGNORECASE)),
    ("retraction", re.compile(r"retraction (?:of publication|notice)", re.IGNORECASE)),
    ("concern", re.compile(r"expression of concern", re.IGNORECASE)),
    ("comment", re.compile(r"^comment$", re.IGNORECASE)),
]


def detect_notice(title: str, flags: Sequence[str], publication_types: Sequence[str]) -> str | None:
    """Return the kind of notice a record is (erratum, retraction, concern, comment, reply).

    Uses the importer's flags and publication types first, then the title's own wording. A
    *retracted article* (flag ``retracted``) and an article *with* an erratum (``has_erratum``,
    "[Erratum appears in ...]") are articles, not notices: they stay mergeable with their
    unflagged copies in other databases.
    """
    for flag in flags:
        kind = _NOTICE_FLAGS.get(flag)
        if kind:
            return kind
    for ptype in publication_types:
        for kind, pattern in _NOTICE_TYPES:
            if pattern.search(ptype):
                return kind
    if not title:
        return None
    for kind, pattern in _NOTICE_TITLE:
        if pattern.search(title):
            return kind
    if _CORRECTION_CITATION.search(title):
        return "erratum"
    return None


# --- conference abstracts --------------------------------------------------------------------

_CONFERENCE_TYPES = re.compile(r"conference|congress|meeting|abstract", re.IGNORECASE)


def detect_conference(
    flags: Sequence[str],
    publication_types: Sequence[str],
    journal: str | None,
    supplement: bool,
    pages: Pages,
) -> bool:
    """Return True when a record is (very likely) a conference abstract.

    Evidence: the importer's ``conference_abstract`` flag, a publication type naming a
    conference or meeting abstract, a journal field naming a conference (Embase writes
    "Journal.Conference: ..."), or a supplement/meeting issue.
    """
    from living_review.dedup.normalise import journal_is_meeting

    if "conference_abstract" in flags:
        return True
    if any(_CONFERENCE_TYPES.search(p) for p in publication_types):
        return True
    if journal_is_meeting(journal):
        return True
    if pages.first and re.fullmatch(r"[as]\d+", pages.first):
        return True  # "S334", "A254": abstract-book pagination of a meeting supplement
    return supplement


# --- different reports of one trial ----------------------------------------------------------

#: Words that distinguish one report of a trial from another report of the same trial.
REPORT_QUALIFIERS = frozenset(
    [
    "follow", "followup", "long", "longterm", "extension", "extended", "subgroup", "subgroups",
    "subanalysis", "subanalyses", "substudy", "subpopulation", "subpopulations", "subset",
    "posthoc", "post", "hoc", "secondary", "exploratory", "final", "interim", "update",
    "updated", "preliminary", "pooled", "part", "phase", "year", "years", "week", "weeks",
    "month", "months", "day", "days", "wave", "baseline", "protocol", "rationale", "design",
    "primary", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "first", "second", "third", "fourth", "fifth", "japanese", "japan", "chinese", "china",
    "korean", "korea", "taiwanese", "taiwan", "asian", "asia", "european", "europe", "american",
    "america", "us", "usa", "uk", "british", "german", "germany", "french", "france", "italian",
    "italy", "spanish", "spain", "canadian", "canada", "australian", "australia", "indian",
    "india", "latin", "brazilian", "brazil", "russian", "russia", "nordic", "scandinavian",
    "african", "africa", "eastern", "western", "global", "international", "multinational",
    "mexican", "turkish", "dutch", "polish", "adult", "adults", "adolescent", "adolescents",
    "child", "children", "paediatric", "pediatric", "elderly", "older", "women", "men",
    "female", "females", "male", "males", "infants", "neonates",
    ]
)  # fmt: skip
#: Words whose presence or absence says nothing about which report it is.
_STOP = frozenset(
    ["a", "an", "the", "of", "in", "on", "for", "and", "or", "with", "to", "by", "at", "from",
     "as", "its", "their", "vs", "versus"]
)  # fmt: skip
#: A title this long that is a prefix of another was probably cut off by an export.
TRUNCATION_MIN_CHARS = 90
#: Titles at least this long may have been cut off at different points by two exports.
CUT_OFF_MIN_CHARS = 120
#: How much of the end of such a title may be cut off or differ for that reason.
TAIL_CHARS = 20


def title_difference(a: NormRecord, b: NormRecord) -> frozenset[str]:
    """Return the significant words one title has and the other lacks.

    Long titles may have been cut off by an export (at different points in different
    databases), so for two titles of :data:`CUT_OFF_MIN_CHARS` or more, words in the last
    :data:`TAIL_CHARS` characters of either are not counted: what is missing there tells
    nothing.
    """
    if a.title_key == b.title_key:
        return frozenset()
    short, long_ = (a, b) if len(a.title_key) <= len(b.title_key) else (b, a)
    if len(short.title_key) >= TRUNCATION_MIN_CHARS and long_.title_key.startswith(
        short.title_key[:-3]
    ):
        return frozenset()  # the shorter one was cut off: its missing tail tells nothing
    shortest = min(len(a.title), len(b.title))
    if shortest < CUT_OFF_MIN_CHARS:
        return (a.title_tokens ^ b.title_tokens) - _STOP
    limit = shortest - TAIL_CHARS
    head_a = frozenset(a.title[:limit].split()[:-1])
    head_b = frozenset(b.title[:limit].split()[:-1])
    return ((head_a - b.title_tokens) | (head_b - a.title_tokens)) - _STOP


def _new_number(word: str, other: NormRecord) -> bool:
    """Return True if ``word`` holds a number that the other title does not have anywhere.

    Databases split "alphavbeta3"/"(alpha)v(beta)3" and "p16INK4a"/"p16(INK4a)" into words
    differently; the numbers are the same and say nothing about the report.
    """
    runs = set(re.findall(r"\d+", word))
    return bool(runs) and not runs <= set(re.findall(r"\d+", other.title))


def different_reports(a: NormRecord, b: NormRecord) -> str | None:
    """Return why two titles name different reports of one study, or None.

    Fires when the words that differ include a report qualifier (follow-up, subgroup, a
    country, a population, a time unit) or a number: "... 52-week results" vs "... 104-week
    results" are two reports even though their titles are 95% alike.
    """
    diff = title_difference(a, b)
    if not diff:
        return None
    qualifiers = sorted(w for w in diff if w in REPORT_QUALIFIERS)
    if qualifiers:
        return "different reports of one study (title differs in: " + ", ".join(qualifiers) + ")"
    numbers = sorted(w for w in diff if _new_number(w, b if w in a.title_tokens else a))
    if numbers:
        return (
            "different reports of one study (title differs in numbers: " + ", ".join(numbers) + ")"
        )
    return None


# --- the rules together ----------------------------------------------------------------------


def _issue_key(issue: str | None) -> str | None:
    from living_review.dedup.normalise import alnum_words

    if not issue:
        return None
    words = alnum_words(issue).replace("supplement", "suppl").split()
    return " ".join(words) or None


def same_printed_item(a: NormRecord, b: NormRecord) -> bool:
    """Return True when the locators say both records are one printed item.

    That is: the same DOI; or the same first page in a compatible journal; or, when a page is
    missing, the same volume and issue of a compatible journal. Volumes alone are not trusted
    to differ (Embase cuts "55 (Suppl 1)" to "1)"), and a missing page alone proves nothing.
    """
    from living_review.dedup.normalise import dois_agree, journals_compatible, page_digits

    if dois_agree(a.doi, b.doi):
        return True
    if journals_compatible(a.journal, b.journal) is False:
        return False
    if a.pages.first and b.pages.first:
        return page_digits(a.pages.first) == page_digits(b.pages.first)
    return (
        a.volume is not None
        and a.volume == b.volume
        and _issue_key(a.issue) is not None
        and _issue_key(a.issue) == _issue_key(b.issue)
    )


def ranged(r: NormRecord) -> bool:
    """Return True for a multi-page item (a letter and its reply can share a single page)."""
    return bool(r.pages.last and r.pages.first and r.pages.last != r.pages.first)


def same_full_locator(a: NormRecord, b: NormRecord) -> bool:
    """Return True when both give the same page range in the same volume of one journal.

    Both first *and* last page must agree on a multi-page range (not inverted, not starting
    at page 1, which online-only PDFs all do): two different articles cannot occupy the same
    pages of one volume, so such records are one printed item whatever their titles say.
    """
    from living_review.dedup.normalise import journals_compatible, page_digits

    pa, pb = a.pages, b.pages
    if not (ranged(a) and ranged(b)) or pa.inverted or pb.inverted:
        return False
    if page_digits(pa.first) != page_digits(pb.first) or page_digits(pa.first) == "1":
        return False
    if page_digits(pa.last) != page_digits(pb.last):
        return False
    if a.volume is None or a.volume != b.volume:
        return False
    return journals_compatible(a.journal, b.journal) is True


def same_supplement(conference: NormRecord, other: NormRecord) -> bool:
    """Return True when ``other``'s volume is the supplement number of ``conference``'s issue.

    Embase cuts "16 (Suppl 1)" to "1)" or "1": a record in "volume 1" of the journal in the
    year of the supplement is that supplement, not a journal article printed apart from it.
    """
    from living_review.dedup.normalise import journals_compatible

    return (
        conference.suppl_no is not None
        and other.volume == conference.suppl_no
        and conference.year is not None
        and conference.year == other.year
        and journals_compatible(conference.journal, other.journal) is True
    )


def _article_like(r: NormRecord) -> bool:
    """Return True when a record has a journal article's locator (volume and a page range).

    A record with no locator at all (a bare citation) is not evidence of a *different*,
    journal-article publication; it is just an incomplete copy.
    """
    return bool(r.volume and r.pages.first and r.pages.last and r.pages.last != r.pages.first)


_PRINTED_APART = {"erratum", "retraction", "concern"}


def hard_negative(a: NormRecord, b: NormRecord) -> str | None:
    """Return the name and reason of the first hard-negative rule the pair fires, or None."""
    if a.notice != b.notice and not (
        {a.notice, b.notice} & _PRINTED_APART and same_printed_item(a, b)
    ):
        # An erratum or retraction notice is never printed on its article's first page, so
        # records with one locator are one notice that one database titled "Erratum: ..." and
        # another by the article's title. Letters and replies do share pages: no exemption.
        kinds = (a.notice or "article", b.notice or "article")
        return f"notice vs article: {kinds[0]} vs {kinds[1]}"
    if a.conference != b.conference:
        conference, article = (a, b) if a.conference else (b, a)
        if (
            _article_like(article)
            and not same_printed_item(a, b)
            and not same_supplement(conference, article)
        ):
            return "conference abstract vs journal article"
    reason = different_reports(a, b)
    if reason and not same_full_locator(a, b):
        # Reports of one study are separate articles: never on the same pages of one volume.
        # Records that are (a cut-off title, an appended group name, "p16(INK4a)" vs
        # "p16INK4a") are one article whatever the words say.
        return reason
    return None

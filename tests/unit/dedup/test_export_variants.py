"""Export artefacts that hide one printed item: a locator shifted by one field, and a
conference abstract cited under its meeting's name instead of Embase's "Journal.Conference:"."""

from __future__ import annotations

from typing import Any

from living_review.dedup.normalise import NormRecord, meeting_tokens, normalise_record
from living_review.dedup.scoring import compare, same_meeting, shifted_locator

TITLE = "Complement blockade in recurrent thrombotic microangiopathy after kidney transplantation"


def rec(key: int, **kw: Any) -> NormRecord:
    row: dict[str, Any] = {
        "id": key,
        "title": TITLE,
        "authors": "Moreau, P. and Lindqvist, K.",
        "year": "2015",
        "journal": "Kidney Research.Conference: 9th Annual Meeting of the Nordic Renal Society",
        "volume": "31",
        "issue": "4",
        "pages": "512-512",
    }
    row.update(kw)
    return normalise_record(row)


# --- a locator shifted by one field -------------------------------------------------------------


def test_locator_shifted_by_one_field_merges() -> None:
    # The volume was lost: the issue moved into its place and the issue into the pages.
    shifted = rec(2, volume="", issue="31", pages="4")
    assert shifted_locator(rec(1), shifted) and shifted_locator(shifted, rec(1))
    s = compare(rec(1), shifted)
    assert s.outcome == "duplicate", s.reason


def test_unshifted_single_page_still_contradicts() -> None:
    # The "page" is not the other's issue: a different first page, not a shifted locator.
    other = rec(2, volume="", issue="31", pages="7")
    assert not shifted_locator(rec(1), other)
    assert compare(rec(1), other).outcome != "duplicate"
    # Both records have a volume: the fields are where they belong.
    assert not shifted_locator(rec(1), rec(3, volume="30", issue="31", pages="4"))
    # A page range is a page range, not an issue number.
    assert not shifted_locator(rec(1), rec(4, volume="", issue="31", pages="4-9"))


# --- a meeting cited under its own name ----------------------------------------------------------

MEETING = "9th Annual Meeting of the Nordic Renal Society"


def test_meeting_tokens() -> None:
    assert meeting_tokens("Kidney Research.Conference: " + MEETING) == (
        "9th", "annual", "meeting", "nordic", "renal", "society",
    )  # fmt: skip
    assert meeting_tokens(MEETING) == meeting_tokens("Kidney Research.Conference: " + MEETING)
    assert meeting_tokens("Kidney Research") == ()


def test_abstract_cited_under_its_meeting_merges() -> None:
    embase = rec(1, pages="", issue="")
    proceedings = rec(2, journal=MEETING + ".", pages="", issue="")
    assert same_meeting(embase, proceedings)
    s = compare(embase, proceedings)
    assert s.outcome == "duplicate", s.reason


def test_meeting_in_two_journals_or_generic_meeting_is_no_agreement() -> None:
    # Both name a journal and the meeting, but the journals differ: printed twice.
    a = rec(1, pages="", issue="")
    b = rec(2, journal="Nephrology Letters.Conference: " + MEETING, pages="", issue="")
    assert not same_meeting(a, b)
    assert compare(a, b).outcome != "duplicate"
    # "Annual Meeting" alone names no particular meeting.
    c = rec(3, journal="Kidney Research.Conference: Annual Meeting", pages="", issue="")
    assert not same_meeting(c, rec(4, journal="Annual Meeting", pages="", issue=""))

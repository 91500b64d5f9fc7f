"""Page comparison: which page differences are typos and which are two different items."""

from __future__ import annotations

import pytest

from living_review.dedup.normalise import Pages, compare_pages, normalise_pages


def rel(a: str, b: str, *, a_volume: str | None = "9", b_volume: str | None = "9") -> str | None:
    return compare_pages(
        normalise_pages(a), normalise_pages(b), a_volume=a_volume, b_volume=b_volume
    )


def test_quoted_and_multi_part_page_fields() -> None:
    # EndNote quotes fields with commas; an item printed in parts lists every range.
    assert normalise_pages('"63-71, vi"') == Pages("63", "71")
    assert normalise_pages('"230-5, 246-51, 233-8"') == Pages("230", "235", ("246", "233"))
    assert normalise_pages("233-238+230-235+246-251") == Pages("233", "238", ("230", "246"))


def test_inverted_range_is_marked() -> None:
    assert normalise_pages("2297-2108").inverted
    assert not normalise_pages("98-2").inverted  # 98-102, a valid abbreviation


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("221-8", "221-228"),
        ("c37-42", "37-42"),  # an electronic page prefix dropped
        ("i428", "1428"),  # OCR read Oxford's supplement page "i428" as "1428"
        ("233-238+230-235+246-251", '"230-5, 246-51, 233-8"'),  # parts in another order
    ],
)
def test_same_first_page(a: str, b: str) -> None:
    assert rel(a, b) == "same"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2141-2147", "2142-2147"),  # ranges sharing pages: two articles cannot
        ("678-684", "676-682"),
        ("359", "356-359"),  # one database kept only the end page
        ("488", "487-488"),
        ("2297-2108", "2097-2108"),  # an inverted range ending where the other ends
    ],
)
def test_overlapping_pages_are_a_typo_not_agreement(a: str, b: str) -> None:
    assert rel(a, b) == "overlap"
    assert rel(b, a) == "overlap"


def test_pagination_systems_that_cannot_be_compared() -> None:
    assert rel("1014", "c1804") == "unknown"  # BMJ print page vs article number
    assert rel("1", "e12724") == "unknown"
    assert rel("1-6", "2422-2427", a_volume=None) == "unknown"  # ahead-of-print PDF pages
    assert rel("1-6", "2422-2427") == "different"  # with a volume, page 1 is a real page


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("246-250", "250-254"),  # consecutive articles share a boundary page
        ("51", "52"),  # neighbouring abstracts in one supplement
        ("S33-38", "1262-1268"),  # supplement page vs a regular issue page
        ("A254", "1254"),  # abstract-book page vs print page
        ("22", "52"),
    ],
)
def test_different_pages(a: str, b: str) -> None:
    assert rel(a, b) == "different"


def test_missing_pages_are_unknown() -> None:
    assert rel("", "12-14") is None

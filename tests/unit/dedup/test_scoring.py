"""Pair scoring: what merges automatically, what goes to review, what stays distinct."""

from __future__ import annotations

from typing import Any

from living_review.dedup import deduplicate
from living_review.dedup.normalise import NormRecord, normalise_record
from living_review.dedup.scoring import author_similarity, compare, title_similarity

TITLE = "Intestinal lipoprotein overproduction in insulin-resistant states"


def rec(key: int, **kw: Any) -> NormRecord:
    row: dict[str, Any] = {
        "id": key,
        "title": TITLE,
        "authors": "Adeli K.Lewis G. F.",
        "year": "2008",
        "journal": "Curr Opin Lipidol",
        "volume": "19",
        "issue": "3",
        "pages": "221-8",
        "doi": "10.1097/MOL.0b013e3282ffaf82",
    }
    row.update(kw)
    return normalise_record(row)


def test_database_variants_of_one_article_merge() -> None:
    other = rec(
        2,
        title=TITLE.upper() + ".",
        authors=["Adeli, Khosrow", "Lewis, Gary F."],
        journal="Current Opinion in Lipidology",
        pages="221-228",
        doi="http://dx.doi.org/10.1097/MOL.0b013e3282ffaf82",
    )
    s = compare(rec(1), other)
    assert s.outcome == "duplicate" and s.method == "exact_id"
    assert 0.9 < s.score <= 1


def test_ahead_of_print_year_off_by_one_still_merges() -> None:
    assert compare(rec(1), rec(2, year="2007")).outcome == "duplicate"
    assert compare(rec(1), rec(2, year="2005", doi=None)).outcome != "duplicate"


def test_same_title_without_locator_goes_to_review() -> None:
    bare = {"journal": None, "volume": None, "issue": None, "pages": None, "doi": None}
    s = compare(rec(1, **bare), rec(2, **bare))
    assert s.outcome == "possible"


def test_supplement_abstracts_sharing_a_doi_are_not_merged() -> None:
    a = rec(1, title="Dapagliflozin attenuates endothelial activation", pages="S353")
    b = rec(2, title="Liraglutide reduces plaque in mice fed a western diet", pages="S30")
    assert compare(a, b).outcome == "distinct"


def test_different_first_pages_are_a_contradiction() -> None:
    s = compare(rec(1), rec(2, pages="330-340", doi=None))
    assert s.outcome != "duplicate" and s.cannot_link


def test_different_authors_same_title_are_distinct() -> None:
    s = compare(
        rec(1, doi=None, pages=None), rec(2, authors="Smith J.Jones P.", doi=None, pages=None)
    )
    assert s.outcome == "distinct"


def test_record_without_title_is_never_merged_automatically() -> None:
    s = compare(rec(1, title=None), rec(2, title=None))
    assert s.outcome == "possible"  # same DOI: a reviewer may look
    assert compare(rec(1, title=""), rec(2, doi=None)).outcome == "distinct"


def test_title_and_author_similarity() -> None:
    assert title_similarity(rec(1), rec(2, title=TITLE.lower())) == 1.0
    assert author_similarity(("adeli", "lewis"), ("adeli",)) == 1.0
    assert author_similarity(("adeli",), ()) is None
    assert author_similarity(("lequintrec", "zuber"), ("le", "zuber")) == 1.0


def test_deduplicate_on_plain_rows_and_transitive_guard() -> None:
    rows = [
        {
            "id": "a",
            "title": TITLE,
            "authors": "Adeli K",
            "year": 2008,
            "journal": "Curr Opin Lipidol",
            "volume": "19",
            "pages": "221-8",
        },
        {
            "id": "b",
            "title": TITLE,
            "authors": "Adeli K",
            "year": 2008,
            "journal": "Current Opinion in Lipidology",
            "volume": "19",
            "pages": "221-228",
        },
        {
            "id": "c",
            "title": f"Erratum: {TITLE}",
            "authors": "Adeli K",
            "year": 2008,
            "journal": "Curr Opin Lipidol",
            "volume": "19",
            "pages": "400",
        },
        {
            "id": "d",
            "title": "Something else entirely about statins",
            "authors": "Smith J",
            "year": 2010,
        },
    ]
    res = deduplicate(rows)
    assert [sorted(c) for c in res.clusters] == [["a", "b"]]
    assert res.kept  # a representative per cluster

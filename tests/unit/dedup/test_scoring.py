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


# --- page, DOI and title variants of one printed item ----------------------------------------


def test_second_doi_on_one_printed_item_still_merges() -> None:
    # One database filed the abstract under a sister journal's DOI: journal, year and first
    # page still name one item, so the DOI conflict is an error, not a second article.
    a = rec(1, doi="10.1016/j.appet.2012.05.003")
    b = rec(2, doi="http://dx.doi.org/10.1016/j.regpep.2012.05.039")
    assert compare(a, b).outcome == "duplicate"


def test_different_dois_with_a_different_locator_stay_apart() -> None:
    a = rec(1, doi="10.1016/j.appet.2012.05.003")
    assert compare(a, rec(2, doi="10.1016/x.1", pages="330-340")).outcome != "duplicate"
    assert compare(a, rec(2, doi="10.1016/x.1", year="2007")).outcome != "duplicate"
    assert compare(a, rec(2, doi="10.1016/x.1", journal=None)).outcome != "duplicate"


def test_end_page_only_merges_only_when_the_rest_agrees() -> None:
    full = rec(1, doi=None)
    assert compare(full, rec(2, doi=None, pages="228")).outcome == "duplicate"
    # A partial page match is a weak contradiction: without the journal it is left for review.
    bare = rec(3, doi=None, journal=None)
    assert compare(bare, rec(4, doi=None, journal=None, pages="228")).outcome == "possible"


def test_ocr_and_article_number_page_variants_merge() -> None:
    assert compare(rec(1, doi=None, pages="i428"), rec(2, doi=None, pages="1428")).outcome == (
        "duplicate"
    )
    assert compare(rec(1, doi=None, pages="1014"), rec(2, doi=None, pages="c1804")).outcome == (
        "duplicate"
    )


def test_neighbouring_abstracts_with_different_authors_stay_in_review() -> None:
    # Two abstracts on pages 51 and 52 of one supplement (which has one DOI for all of it),
    # one with two more authors: two printed items, whatever the titles say. A person decides.
    common = {"journal": "Diabetes Metab Res Rev", "volume": "30", "issue": "SUPPL. 3"}
    common["doi"] = "10.1002/dmrr.2604"
    a = rec(1, authors="Chen R.Wang Y.Liang L.", pages="51", **common)
    b = rec(2, authors="Chen R.Wang J.Yan C.Wang Y.Liang L.", pages="52", **common)
    assert compare(a, b).outcome == "possible"


ENGLISH = (
    "Antibiotic prophylaxis in pulmonary surgery. A controlled double-blind study of "
    "amoxicillin versus cefamandole"
)
TRANSLATED = (
    "[Comparison of amoxicillin and cefamandole in the prevention of bronchopulmonary "
    "infections in pulmonary surgery. A randomized double-blind study]"
)


def located(key: int, **kw: Any) -> NormRecord:
    row: dict[str, Any] = {
        "title": ENGLISH,
        "authors": "Train M.Soulard D.Bouyer L.",
        "journal": "Ann Fr Anesth Reanim",
        "volume": "13",
        "pages": "280-284",
        "doi": None,
        "year": "1994",
    }
    row.update(kw)
    return rec(key, **row)


def test_translated_title_on_one_page_range_merges() -> None:
    a = located(1)
    b = located(2, title=TRANSLATED, journal="Annales Francaises d Anesthesie et de Reanimation")
    s = compare(a, b)
    assert s.outcome == "duplicate" and "translated" in s.reason


def test_abridged_title_on_one_page_range_merges() -> None:
    a = located(1, title="Optimal therapy of malignant pleural effusions")
    b = located(
        2,
        title="Optimal therapy of malignant pleural effusions: report of a randomized trial of "
        "bleomycin, tetracycline, and talc and a meta-analysis",
    )
    assert compare(a, b).outcome == "duplicate"


def test_different_titles_need_the_whole_locator_and_the_authors() -> None:
    a = located(1)
    assert compare(a, located(2, title=TRANSLATED, authors="Smith J.Jones P.")).outcome != (
        "duplicate"
    )
    assert compare(a, located(2, title=TRANSLATED, pages="280-290")).outcome != "duplicate"
    assert compare(a, located(2, title=TRANSLATED, volume="14")).outcome != "duplicate"
    # Online-only PDFs all start at page 1: no evidence of one item.
    one = located(3, pages="1-8")
    assert compare(one, located(4, title=TRANSLATED, pages="1-8")).outcome != "duplicate"
    # Neither a translation nor a shortened form of the other: different articles.
    other = located(5, title="Pleural drainage after lobectomy: a randomised comparison")
    assert compare(a, other).outcome == "distinct"

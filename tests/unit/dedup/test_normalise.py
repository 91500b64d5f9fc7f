"""Each normalisation rule, on small fixtures of our own."""

from __future__ import annotations

import pytest

from living_review.dedup.normalise import (
    Pages,
    author_surname,
    author_surnames,
    clean_title,
    dois_agree,
    fold_unicode,
    journal_tokens,
    journals_compatible,
    normalise_doi,
    normalise_pages,
    normalise_pmid,
    normalise_record,
    normalise_volume,
    normalise_year,
    split_authors,
    strip_markup,
    supplement_number,
    title_words,
)


@pytest.mark.parametrize(
    "raw",
    [
        "10.1056/NEJMoa0708857",
        "https://doi.org/10.1056/NEJMoa0708857",
        "http://dx.doi.org/10.1056/nejmoa0708857",
        "doi:10.1056/NEJMoa0708857.",
        "DOI 10.1056/NEJMoa0708857 [doi]",
        "https://doi.org/10.1056%2FNEJMoa0708857",
    ],
)
def test_doi_forms_and_urls_are_one_doi(raw: str) -> None:
    assert normalise_doi(raw) == "10.1056/nejmoa0708857"


def test_doi_agreement_treats_a_cut_off_doi_as_unknown() -> None:
    assert dois_agree("10.1177/1479164117733626", "10.1177/1479164117733626") is True
    assert dois_agree("10.1177/147916411773", "10.1177/1479164117733626") is None
    assert dois_agree("10.1/a", "10.1/b") is False
    assert dois_agree(None, "10.1/b") is None
    assert normalise_doi("not a doi") is None


def test_pmid_digits_only() -> None:
    assert normalise_pmid("PMID: 0018650514") == "18650514"
    assert normalise_pmid(None) is None


@pytest.mark.parametrize(
    ("raw", "first", "last"),
    [
        ("221-8", "221", "228"),
        ("221-228", "221", "228"),
        ("2267-75", "2267", "2275"),
        ("98-2", "98", "102"),
        ("1911-1911", "1911", "1911"),
        ("pp. 21-28", "21", "28"),
        ("21-Aug", "21", "28"),  # a spreadsheet turned "21-8" into a date
        ("S334", "s334", "s334"),
        ("c37-42", "c37", "c42"),
        ("e12724", "e12724", "e12724"),
    ],
)
def test_page_ranges_are_expanded(raw: str, first: str, last: str) -> None:
    assert normalise_pages(raw) == Pages(first, last)


@pytest.mark.parametrize("raw", ["", None, "no pagination", "Suppl-29", "t-8"])
def test_unusable_pages_are_unknown(raw: str | None) -> None:
    assert normalise_pages(raw) == Pages(None, None)


def test_volume_year() -> None:
    assert normalise_volume("59 (1 Supplement 1)") == "59"
    assert normalise_volume("Vol 38 (Supplement 1)") == "38"
    assert normalise_volume("1)") is None  # the cut-off tail of an Embase field
    assert normalise_year("2019 Jan 28") == 2019
    assert normalise_year("2020//") == 2020
    assert normalise_year("n.d.") is None


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Zuber, J and Le Quintrec, M", ("zuber", "lequintrec")),
        ("Zuber J; Le Quintrec M", ("zuber", "lequintrec")),
        ("Adeli K.Lewis G. F.", ("adeli", "lewis")),
        ("Haverslag R. T.De Groot D.", ("haverslag", "degroot")),
        (["Nürnberger, Jens", "Philipp T"], ("nurnberger", "philipp")),
        ("Smith J, et al.", ("smith",)),
    ],
)
def test_author_name_forms(field: str | list[str], expected: tuple[str, ...]) -> None:
    assert author_surnames(field) == expected


def test_single_author_forms() -> None:
    assert author_surname("Llovet JM") == "llovet"
    assert author_surname("Llovet, Josep M.") == "llovet"
    assert author_surname("van der Berg A") == "vanderberg"
    assert split_authors(None) == []


@pytest.mark.parametrize(
    ("abbrev", "full"),
    [
        ("N Engl J Med", "New England Journal of Medicine"),
        ("Curr Opin Lipidol", "Current Opinion in Lipidology"),
        ("Proc Natl Acad Sci U S A", "Proceedings of the National Academy of Sciences of the USA"),
        ("J Thromb Haemost", "Journal of Thrombosis and Haemostasis.Conference: 23rd Congress"),
        ("Cardiology", "Cardiology (Switzerland)"),
        ("Nephron", "Nephron - Clinical Practice"),
        ("JAMA", "Journal of the American Medical Association"),
        ("Jthoraccardiovascsurg", "The Journal of thoracic and cardiovascular surgery"),
    ],
)
def test_journal_abbreviations_match_full_names(abbrev: str, full: str) -> None:
    assert journals_compatible(journal_tokens(abbrev), journal_tokens(full)) is True


def test_different_journals_do_not_match() -> None:
    a, b = journal_tokens("Diabetes"), journal_tokens("Diabetologia")
    assert journals_compatible(a, b) is False
    assert (
        journals_compatible(
            journal_tokens("Padiatrische Praxis"), journal_tokens("Internistische Praxis")
        )
        is False
    )
    assert journals_compatible((), b) is None
    # A run-together abbreviation must fit the other name word by word.
    run_together = journal_tokens("Jthoraccardiovascsurg")
    assert (
        journals_compatible(run_together, journal_tokens("Journal of Thoracic Oncology")) is False
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[Paroxysmal nocturnal hemoglobinuria]. [French]", "Paroxysmal nocturnal hemoglobinuria"),
        ("Management of cervical lesions. [Review] [43 refs]", "Management of cervical lesions"),
        (
            "Anti-factor H antibodies.[Erratum appears in Am J Transplant. 2009]",
            "Anti-factor H antibodies",
        ),
        ("Cut off note.[Erratum appears in Am", "Cut off note"),
        ("Long-term effect of eculizumab (vol 85, pg 553, 2010)", "Long-term effect of eculizumab"),
        (
            "Eculizumab for aHUS (New England Journal of Medicine (2009) 360 (542-544))",
            "Eculizumab for aHUS",
        ),
        ("Letters on HUS (multiple letters) [1]", "Letters on HUS"),
        (
            "MEDICAL PROGRESS Atypical Hemolytic-Uremic Syndrome",
            "Atypical Hemolytic-Uremic Syndrome",
        ),
        ("Erratum: Gain-of-function mutations", "Gain-of-function mutations"),
        ("[18F]FDG PET in cancer", "[18F]FDG PET in cancer"),
        (  # an EndNote export quoted the field, hiding the note from the end-anchored rules
            '"Timing of chest tube removal.[Erratum appears in J Card Surg. 2011 Mar;26(2):244]"',
            "Timing of chest tube removal",
        ),
    ],
)
def test_bracketed_translations_and_notes_are_removed(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


def test_inline_markup_is_removed_without_spaces() -> None:
    assert (
        strip_markup("ApoE<sup>-/-</sup> mice &amp; K<inf>Ca</inf>3.1") == "ApoE-/- mice & KCa3.1"
    )
    assert title_words("ApoE<sup>-/-</sup> mice") == title_words("ApoE-/- mice")


def test_unicode_and_diacritics_fold() -> None:
    assert fold_unicode("Nürnberger") == "nurnberger"
    assert fold_unicode("TNF-α") == "tnf-alpha"
    assert fold_unicode("Straße Łódź") == "strasse lodz"
    assert title_words("Atypical Hemolytic–Uremic Syndrome") == "atypical hemolytic uremic syndrome"


def test_record_without_title_is_not_comparable() -> None:
    rec = normalise_record({"id": 1, "doi": "10.1/x"})
    assert not rec.comparable
    assert normalise_record({"id": 2, "title": "A real title of a trial"}).comparable


def test_completeness_prefers_abstract_doi_pmid() -> None:
    bare = normalise_record({"id": 1, "title": "A trial of something"})
    full = normalise_record(
        {"id": 2, "title": "A trial of something", "abstract": "x", "doi": "10.1000/x", "pmid": "9"}
    )
    assert full.completeness > bare.completeness + 8


def test_supplement_number_and_translated_title() -> None:
    assert supplement_number("16", "SUPPL. 1") == "1"
    assert supplement_number("24 Suppl 3") == "3"
    assert supplement_number("Supplement 2") == "2"
    assert supplement_number("1)", "5") is None
    rec = normalise_record({"id": 1, "title": "[Antibiotic prophylaxis]. [French]", "issue": "S2"})
    assert rec.translated
    assert rec.suppl_no is None  # "S2" alone may be an issue name, not a supplement number

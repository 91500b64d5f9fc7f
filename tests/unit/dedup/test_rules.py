"""Each hard-negative rule: look-alike pairs that must never merge automatically."""

from __future__ import annotations

from typing import Any

import pytest

from living_review.dedup.normalise import NormRecord, normalise_record
from living_review.dedup.rules import detect_notice, different_reports, hard_negative
from living_review.dedup.scoring import compare

TITLE = "Regorafenib for patients with hepatocellular carcinoma who progressed on sorafenib"


def rec(key: int, **kw: Any) -> NormRecord:
    row: dict[str, Any] = {
        "id": key,
        "title": TITLE,
        "authors": ["Bruix J", "Qin S", "Merle P"],
        "year": 2017,
        "journal": "Lancet",
        "volume": "389",
        "issue": "10064",
        "pages": "56-66",
    }
    row.update(kw)
    return normalise_record(row)


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        (f"Erratum: {TITLE}", "erratum"),
        (f"Correction to: {TITLE}", "erratum"),
        (f"{TITLE} (vol 389, pg 56, 2017)", "erratum"),
        (f"Retraction notice: {TITLE}", "retraction"),
        (f"Expression of concern: {TITLE}", "concern"),
        (f"Comment on: {TITLE}", "comment"),
        (f"{TITLE} - Reply", "reply"),
        (f"{TITLE} AUTHORS REPLY", "reply"),
        (TITLE, None),
        (f"{TITLE}.[Erratum appears in Lancet. 2017]", None),  # an article that has an erratum
    ],
)
def test_notice_detection_from_titles(title: str, kind: str | None) -> None:
    assert detect_notice(title, [], []) == kind


def test_notice_detection_from_flags_and_types() -> None:
    assert detect_notice(TITLE, ["erratum"], []) == "erratum"
    assert detect_notice(TITLE, [], ["Published Erratum"]) == "erratum"
    assert detect_notice(TITLE, [], ["Retraction of Publication"]) == "retraction"
    assert detect_notice(TITLE, ["retracted"], []) is None  # the retracted article itself
    assert detect_notice(TITLE, ["has_erratum"], []) is None


def test_erratum_vs_article_never_merges() -> None:
    article = rec(1)
    erratum = rec(2, title=f"Erratum: {TITLE}", pages="1322", issue="10077")
    assert hard_negative(article, erratum) is not None
    assert compare(article, erratum).outcome == "distinct"
    assert compare(article, erratum).cannot_link


def test_erratum_vs_article_even_without_a_page_to_compare() -> None:
    erratum = rec(2, title=f"Erratum: {TITLE}", pages=None, volume=None, issue=None)
    assert compare(rec(1), erratum).outcome == "distinct"


def test_one_erratum_titled_two_ways_is_one_record() -> None:
    a = rec(1, title=f"Erratum: {TITLE}", pages="1322", issue="10077")
    b = rec(2, pages="1322", issue="10077")  # the same notice, titled as the article
    assert hard_negative(a, b) is None


def test_retraction_and_comment_vs_article() -> None:
    assert "retraction" in (
        hard_negative(rec(1), rec(2, title=f"Retraction: {TITLE}", pages="1700")) or ""
    )
    comment = rec(2, title=f"Comment on: {TITLE}", authors=["Smith A"], pages="1210")
    assert hard_negative(rec(1), comment) is not None


def test_letter_and_reply_on_one_page_stay_apart() -> None:
    letter = rec(1, title="Sorafenib and the liver", authors=["Edey M"], pages="1511")
    reply = rec(2, title="Sorafenib and the liver AUTHORS REPLY", authors=["Esmon C"], pages="1511")
    assert compare(letter, reply).outcome == "distinct"


def test_conference_abstract_vs_journal_article() -> None:
    article = rec(1)
    abstract = rec(
        2,
        year=2016,
        journal="Annals of Oncology. Conference: ESMO 2016",
        volume="27",
        issue="Suppl 6",
        pages="LBA28",
    )
    assert hard_negative(article, abstract) == "conference abstract vs journal article"
    assert compare(article, abstract).outcome == "distinct"


def test_conference_abstract_same_item_in_two_databases_still_merges() -> None:
    embase = rec(1, journal="Diabetologia", volume="55", issue="SUPPL. 1", pages="S334")
    other = rec(2, journal="Diabetologia", volume="1", issue=None, pages="S334")
    assert hard_negative(embase, other) is None
    assert compare(embase, other).outcome == "duplicate"


@pytest.mark.parametrize(
    "other",
    [
        f"{TITLE}: 2-year follow-up",
        f"{TITLE}: Japanese subgroup analysis",
        f"{TITLE}: results in elderly patients",
        TITLE.replace("patients", "Asian patients"),
    ],
)
def test_different_reports_of_one_trial(other: str) -> None:
    a, b = rec(1), rec(2, title=other, pages="100-110")
    assert different_reports(a, b) is not None
    assert compare(a, b).outcome == "distinct"


def test_different_time_points_are_different_reports() -> None:
    a = rec(1, title=f"{TITLE}: 52-week results")
    b = rec(2, title=f"{TITLE}: 104-week results")
    assert different_reports(a, b) is not None


def test_cut_off_title_is_not_a_different_report() -> None:
    long_title = (
        TITLE + " in a randomised, double-blind, placebo-controlled phase 3 trial (RESORCE)"
    )
    a = rec(1, title=long_title)
    b = rec(2, title=long_title[:120])
    assert different_reports(a, b) is None


LINOMIDE = "Linomide in relapsing and secondary progressive MS: part I: trial design and results"


def test_report_rule_yields_to_one_page_range() -> None:
    # An appended group name ("North American ...") or a cut-off title on the same pages of
    # one volume: one article. Reports of one trial are never printed on the same pages.
    a = rec(1, title=LINOMIDE, journal="Neurology", volume="54", pages="1726-1733")
    b = rec(2, title=LINOMIDE + ". North American Linomide Investigators", journal="Neurology")
    b = rec(2, title=b.raw_title, journal="Neurology", volume="54", pages="1726-33")
    assert different_reports(a, b) is not None
    assert hard_negative(a, b) is None
    assert compare(a, b).outcome == "duplicate"
    # Elsewhere in the volume it is another report again.
    c = rec(3, title=b.raw_title, journal="Neurology", volume="54", pages="1800-1810")
    assert hard_negative(a, c) is not None


def test_numbers_split_differently_are_not_different_reports() -> None:
    # Split into words differently *and* worded differently, so the titles are not equal.
    a = rec(1, title="A phase 2 study of etaracizumab (anti-alphavbeta3) +/- dacarbazine")
    b = rec(
        2,
        title="A phase 2 study of etaracizumab (anti-(alpha)v(beta)3) with or without dacarbazine",
    )
    assert different_reports(a, b) is None
    # A number one title lacks altogether still marks another report.
    c = rec(3, title="p6INK4a expression does not predict the outcome of CIN 2")
    d = rec(4, title="p16(INK4a) expression does not predict the outcome of CIN 2")
    assert different_reports(c, d) is not None


EHJ = "European Heart Journal Cardiovascular Imaging"


def test_conference_copy_whose_volume_is_the_supplement_number() -> None:
    # Embase: "16 (Suppl 1)"; another database cut it to volume "1" and gave Oxford's i-pages.
    conf = rec(1, journal=EHJ, year=2015, volume="16", issue="SUPPL. 1", pages=None)
    cut = rec(2, journal=EHJ, year=2015, volume="1", issue=None, pages="i22-i23")
    assert conf.conference and not cut.conference
    assert hard_negative(conf, cut) is None
    assert compare(conf, cut).outcome == "duplicate"


def test_journal_article_is_still_not_its_conference_abstract() -> None:
    conf = rec(1, journal=EHJ, year=2015, volume="16", issue="SUPPL. 1", pages=None)
    article = rec(2, journal=EHJ, year=2015, volume="16", issue="4", pages="410-418")
    assert hard_negative(conf, article) == "conference abstract vs journal article"
    later = rec(3, journal=EHJ, year=2016, volume="1", issue=None, pages="22-30")
    assert hard_negative(conf, later) == "conference abstract vs journal article"

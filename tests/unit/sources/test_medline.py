"""Unit tests for the MEDLINE/.nbib importer, on small records written here."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import medline
from living_review.sources.base import ParsedRecord

RECORD_1 = """\
PMID- 36455168
OWN - NLM
STAT- MEDLINE
IS  - 0732-183X (Print)
IS  - 1527-7755 (Electronic)
VI  - 41
IP  - 7
DP  - 2023 Mar 1
TI  - Pembrolizumab Versus Placebo as Second-Line Therapy in Patients From Asia
      With Advanced Hepatocellular Carcinoma.
PG  - 1434-1443
LID - S0732-183X(22)00001-1 [pii]
LID - 10.1200/JCO.22.00620 [lid-doi]
AB  - Purpose: We evaluated pembrolizumab.
      Methods: A double-blind trial.
FAU - Qin, Shukui
AU  - Qin S
CN  - KEYNOTE-394 Investigators of the Asia Pacific Hepatocellular Carcinoma
      Research Consortium
FAU - Chen, Zhendong
AU  - Chen Z
LA  - eng
LA  - chi
PT  - Clinical Trial, Phase III
PT  - Journal Article
PT  - Randomized Controlled Trial
TT  - Pembrolizumab gegen Placebo.
DEP - 20221201
PL  - United States
TA  - J Clin Oncol
JT  - Journal of clinical oncology : official journal of the American Society of
      Clinical Oncology
JID - 8309333
MH  - *Carcinoma, Hepatocellular/drug therapy/pathology
MH  - Humans
OT  - pembrolizumab
PHST- 2022/12/01 06:00 [pubmed]
PHST- 2023/03/01 06:00 [medline]
AID - S0732-183X(22)00001-1 [pii]
AID - 10.1200/JCO.22.00620 [doi]
SO  - J Clin Oncol. 2023 Mar 1;41(7):1434-1443.
"""

RECORD_2 = """\
PMID- 26095784
DP  - 2015 Jul
TI  - Ramucirumab versus placebo (REACH).
LID - 10.1016/S1470-2045(15)00050-9 [doi]
AU  - Zhu AX
AU  - Park JO
TA  - Lancet Oncol
PT  - Journal Article
"""


def write(tmp_path: Path, text: str | bytes, name: str = "records.nbib") -> Path:
    """Write a fixture file (text as UTF-8) and return its path."""
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def parse_text(tmp_path: Path, text: str | bytes) -> list[ParsedRecord]:
    """Parse text written to a temporary file."""
    return list(medline.parse(write(tmp_path, text)))


def one(tmp_path: Path, text: str) -> ParsedRecord:
    """Parse a file holding exactly one record."""
    (record,) = parse_text(tmp_path, text)
    return record


# --- sniff --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        "\nPMID- 30689646\nOWN - NLM\nSTAT- MEDLINE\n",
        "PMID- 1\nTI  - x\n",
        "\ufeffPMID- 1\nTI  - x\n",
        "DP  - 2015\nTI  - Ramucirumab versus placebo\nLID - 10.1/x [doi]\n",
        "TI  - A title\nAU  - Zhu AX\nTA  - Lancet Oncol\n",
    ],
)
def test_sniff_claims_medline(head: str) -> None:
    assert medline.sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        "TY  - JOUR\nTI  - A title\nAU  - Smith, J\nPY  - 2020\nER  - \n",
        "\ufeffTY  - JOUR\nM3  - Article\nY1  - 2014\n",
        "1.\nTY  - JOUR\nID  - 20203152553\nTI  - x\n",
        "TI  - A title\nAU  - Smith, J\nPY  - 2020\nER  - \n",
        "<3001. >\nVN  - Ovid Technologies\nDB  - Embase\nUI  - 1\nTI  - x\nDP  - 2018\n",
        "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU Li, Wei\n",
        "PMID,TI,AB\n1,x,y\n",
        "title,abstract\nPMID- 1,x\n",
        '<?xml version="1.0"?>\n<PubmedArticleSet>',
        "",
    ],
)
def test_sniff_refuses_ris_ovid_wos_csv_xml(head: str) -> None:
    assert not medline.sniff(head)


# --- fields -------------------------------------------------------------------------------


def test_record_fields(tmp_path: Path) -> None:
    rec = one(tmp_path, RECORD_1)
    assert rec.source_key == rec.pmid == "36455168"
    assert rec.title == (
        "Pembrolizumab Versus Placebo as Second-Line Therapy in Patients From Asia "
        "With Advanced Hepatocellular Carcinoma."
    )
    assert rec.abstract == "Purpose: We evaluated pembrolizumab. Methods: A double-blind trial."
    assert rec.year == 2023
    assert rec.journal_abbrev == "J Clin Oncol"
    assert rec.journal == (
        "Journal of clinical oncology : official journal of the American Society of "
        "Clinical Oncology"
    )
    assert (rec.volume, rec.issue, rec.pages) == ("41", "7", "1434-1443")
    assert rec.language == "eng"
    assert rec.publication_types == [
        "Clinical Trial, Phase III",
        "Journal Article",
        "Randomized Controlled Trial",
    ]
    assert rec.keywords == ["Carcinoma, Hepatocellular", "Humans", "pembrolizumab"]
    assert rec.flags == []


def test_authors_are_full_names_with_group_authors_in_file_order(tmp_path: Path) -> None:
    rec = one(tmp_path, RECORD_1)
    assert rec.authors == [
        "Qin, Shukui",
        "KEYNOTE-394 Investigators of the Asia Pacific Hepatocellular Carcinoma "
        "Research Consortium",
        "Chen, Zhendong",
    ]


def test_authors_fall_back_to_au_without_fau(tmp_path: Path) -> None:
    assert one(tmp_path, RECORD_2).authors == ["Zhu AX", "Park JO"]


def test_doi_from_aid_not_from_joined_lid(tmp_path: Path) -> None:
    assert one(tmp_path, RECORD_1).doi == "10.1200/JCO.22.00620"


def test_doi_from_lid_when_no_aid(tmp_path: Path) -> None:
    assert one(tmp_path, RECORD_2).doi == "10.1016/S1470-2045(15)00050-9"


def test_pii_only_gives_no_doi(tmp_path: Path) -> None:
    text = "PMID- 5\nTI  - x\nLID - S0140-6736(15)00001-1 [pii]\nAID - 10.1/not-tagged [pii]\n"
    assert one(tmp_path, text).doi is None


def test_other_tags_kept_in_extra(tmp_path: Path) -> None:
    extra = one(tmp_path, RECORD_1).extra
    assert extra["TT"] == extra["vernacular_title"] == "Pembrolizumab gegen Placebo."
    assert extra["PHST"] == ["2022/12/01 06:00 [pubmed]", "2023/03/01 06:00 [medline]"]
    assert extra["IS"] == "0732-183X (Print) 1527-7755 (Electronic)"
    assert extra["AU"] == ["Qin S", "Chen Z"]
    assert extra["MH"] == ["*Carcinoma, Hepatocellular/drug therapy/pathology", "Humans"]
    assert extra["SO"] == "J Clin Oncol. 2023 Mar 1;41(7):1434-1443."
    assert extra["LA"] == ["eng", "chi"]
    assert "TI" not in extra and "AB" not in extra and "PMID" not in extra


def test_wrapped_list_field_stays_one_item(tmp_path: Path) -> None:
    """Bio.Medline alone would split a wrapped CN into two list items."""
    extra = one(tmp_path, RECORD_1).extra
    assert extra["CN"] == [
        "KEYNOTE-394 Investigators of the Asia Pacific Hepatocellular Carcinoma Research Consortium"
    ]


def test_raw_and_line_per_record(tmp_path: Path) -> None:
    text = "\n" + RECORD_1 + "\n\n" + RECORD_2 + "\n"
    first, second = parse_text(tmp_path, text)
    assert first.raw == RECORD_1.rstrip("\n")
    assert second.raw == RECORD_2.rstrip("\n")
    assert first.line == 2
    assert second.line == 2 + RECORD_1.count("\n") + 2


def test_crlf_line_endings(tmp_path: Path) -> None:
    first, second = parse_text(tmp_path, (RECORD_1 + "\n" + RECORD_2).replace("\n", "\r\n"))
    assert first.title is not None and first.title.endswith("Carcinoma.")
    assert second.pmid == "26095784"
    assert "\r" not in first.raw


def test_record_without_blank_separator_starts_at_pmid(tmp_path: Path) -> None:
    first, second = parse_text(tmp_path, RECORD_2 + RECORD_1)
    assert (first.pmid, second.pmid) == ("26095784", "36455168")
    assert second.line == RECORD_2.count("\n") + 1


def test_records_without_pmid_are_accepted(tmp_path: Path) -> None:
    text = "DP  - 2015\nTI  - No id here.\nTA  - Lancet Oncol\n\nDP  - 2016\nTI  - Nor here.\n"
    first, second = parse_text(tmp_path, text)
    assert first.source_key is None and first.pmid is None
    assert (first.title, first.year, second.title, second.line) == (
        "No id here.",
        2015,
        "Nor here.",
        5,
    )


def test_empty_tag_value(tmp_path: Path) -> None:
    rec = one(tmp_path, "PMID- 9\nAB  -\nTI  - t\n")
    assert rec.abstract is None and rec.title == "t"


@pytest.mark.parametrize(
    ("lines", "flags"),
    [
        ("PT  - Published Erratum\nEFR - J X. 2020;1:1", ["erratum"]),
        ("PT  - Journal Article\nEIN - J X. 2021;2:2", ["has_erratum"]),
        ("PT  - Retraction of Publication\nROF - J X. 2019;1:1", ["retraction"]),
        ("PT  - Retracted Publication\nRIN - J X. 2022;1:1", ["retracted"]),
        ("PT  - Expression of Concern\nECF - J X", ["expression_of_concern"]),
        ("PT  - Comment\nCON - J X. 2020;1:1", ["comment"]),
        ("PT  - Journal Article\nCIN - J X. 2020;1:1", []),
        ("PT  - Journal Article\nUIN - J X. 2024;1:1", ["updated"]),
        ("PT  - Journal Article\nRIN - J X\nEIN - J Y", ["retracted", "has_erratum"]),
    ],
)
def test_notice_flags(tmp_path: Path, lines: str, flags: list[str]) -> None:
    assert one(tmp_path, f"PMID- 1\nTI  - t\n{lines}\n").flags == flags


def test_parse_is_lazy(tmp_path: Path) -> None:
    records = medline.parse(write(tmp_path, RECORD_2 + "\n" + RECORD_1 + "\ngarbage\n"))
    assert isinstance(records, Iterator)
    assert next(records).pmid == "26095784"


# --- refusals -----------------------------------------------------------------------------


def test_garbage_line_inside_a_record_names_line_and_record(tmp_path: Path) -> None:
    text = RECORD_2 + "\n" + "PMID- 2\nTI  - fine\nthis line is not MEDLINE\nAB  - x\n"
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as err:
        list(medline.parse(path))
    assert err.value.line == RECORD_2.count("\n") + 4
    assert err.value.record == 2
    assert str(path) in str(err.value) and "not a MEDLINE line" in str(err.value)


@pytest.mark.parametrize("bad", ["   indented three", "TI - short dash", "ti  - lower", "\tTI"])
def test_malformed_lines_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, f"PMID- 1\n{bad}\n")
    assert err.value.line == 2


def test_continuation_before_any_tag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, "\n      orphan continuation\nPMID- 1\n")
    assert (err.value.line, err.value.record) == (2, 1)


def test_latin1_bytes_name_the_line(tmp_path: Path) -> None:
    text = RECORD_2 + "\nPMID- 2\nTI  - Caf\xe9 au lait\n"
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, text.encode("latin-1"))
    assert err.value.line == RECORD_2.count("\n") + 3
    assert "Latin-1" in str(err.value)


def test_utf16_with_bom_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="UTF-16"):
        parse_text(tmp_path, codecs.BOM_UTF16_LE + RECORD_2.encode("utf-16-le"))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="empty"):
        parse_text(tmp_path, b"")


def test_binary_garbage(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, b"PMID- 1\nTI  - \x00\x01\x02\x03binary\n")
    assert err.value.line == 2


def test_50_mb_line_is_refused(tmp_path: Path) -> None:
    text = "PMID- 1\nAB  - " + "x" * 50_000_000 + "\n"
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, text)
    assert err.value.line == 2


def test_field_grown_over_the_cap_by_continuations_is_refused(tmp_path: Path) -> None:
    chunk = "      " + "y" * 99_994 + "\n"
    text = "PMID- 1\nTI  - t\nAB  - start\n" + chunk * 52
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, text)
    assert (err.value.line, err.value.record) == (3, 1)
    assert "AB" in str(err.value)

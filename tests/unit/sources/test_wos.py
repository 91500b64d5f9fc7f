"""Unit tests for the Web of Science tagged plain-text importer."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import wos
from living_review.sources.base import ParsedRecord

RECORD = """\
PT J
AU Asampong, E
   Gyeke, MDP
AF Asampong, Emmanuel
   Gyeke, Mavis Dako Plusminus
CA Leprosy Study Group
TI Caregivers' views on stigmatization and discrimination of people
   affected by leprosy in Ghana
SO PLOS NEGLECTED TROPICAL DISEASES
LA English
DT Article; Retracted Publication
DE stigma; leprosy;
   caregivers
ID MENTAL-HEALTH; STIGMA
AB Leprosy is a condition that has long been associated with stigma and
   discrimination.
C1 [Asampong, Emmanuel] Univ Ghana, Legon, Accra, Ghana.
   [Gyeke, Mavis Dako Plusminus] Univ Ghana, Dept Social Work, Legon, Ghana.
TC 4
SN 1935-2735
J9 PLOS NEGLECT TROP D
JI Plos Neglect. Trop. Dis.
PD JAN
PY 2018
VL 12
IS 1
BP 221
EP 228
DI 10.1371/journal.pntd.0006219
UT WOS:000424022700066
PM 29377890
ER
"""


def write(tmp_path: Path, text: str, *, bom: bool = False, name: str = "x.txt") -> Path:
    """Write ``text`` as UTF-8 (optionally with a BOM) and return the path."""
    path = tmp_path / name
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def parse_all(path: Path) -> list[ParsedRecord]:
    """Return every record of a WoS file."""
    return list(wos.parse(path))


def one(tmp_path: Path, record: str = RECORD) -> ParsedRecord:
    """Parse a file with a header, ``record`` and the EF trailer; return its one record."""
    text = "FN Clarivate Analytics Web of Science\nVR 1.0\n" + record + "\nEF\n"
    recs = parse_all(write(tmp_path, text, bom=True))
    assert len(recs) == 1
    return recs[0]


class TestFields:
    """The tag mapping."""

    def test_identity(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.source_key == rec.accession == "WOS:000424022700066"
        assert rec.pmid == "29377890"
        assert rec.doi == "10.1371/journal.pntd.0006219"

    def test_full_author_names_and_group_author(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.authors == [
            "Asampong, Emmanuel",
            "Gyeke, Mavis Dako Plusminus",
            "Leprosy Study Group",
        ]
        assert rec.extra["AU"] == ["Asampong, E", "Gyeke, MDP"]

    def test_short_names_when_no_af(self, tmp_path: Path) -> None:
        text = RECORD.replace("AF Asampong, Emmanuel\n   Gyeke, Mavis Dako Plusminus\n", "")
        rec = one(tmp_path, text)
        assert rec.authors[:2] == ["Asampong, E", "Gyeke, MDP"]

    def test_wrapped_text_is_joined(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.title == (
            "Caregivers' views on stigmatization and discrimination of people "
            "affected by leprosy in Ghana"
        )
        assert rec.abstract == (
            "Leprosy is a condition that has long been associated with stigma and discrimination."
        )

    def test_paragraph_abstract_keeps_its_paragraphs(self, tmp_path: Path) -> None:
        long = "x" * 120
        text = RECORD.replace(
            "AB Leprosy is a condition that has long been associated with stigma and\n"
            "   discrimination.\n",
            f"AB Background\n   {long}\n   Methods\n   {long}\n",
        )
        rec = one(tmp_path, text)
        assert rec.abstract == f"Background\n{long}\nMethods\n{long}"

    def test_journal_pages_year(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.journal == "PLOS NEGLECTED TROPICAL DISEASES"
        assert rec.journal_abbrev == "Plos Neglect. Trop. Dis."
        assert rec.extra["J9"] == "PLOS NEGLECT TROP D"
        assert (rec.volume, rec.issue, rec.pages, rec.year) == ("12", "1", "221-228", 2018)
        assert rec.language == "English"

    def test_keywords_and_lists(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.keywords == ["stigma", "leprosy", "caregivers", "MENTAL-HEALTH"]
        assert rec.extra["C1"] == [
            "[Asampong, Emmanuel] Univ Ghana, Legon, Accra, Ghana.",
            "[Gyeke, Mavis Dako Plusminus] Univ Ghana, Dept Social Work, Legon, Ghana.",
        ]
        assert rec.extra["TC"] == "4"
        assert rec.extra["PT"] == "J"

    def test_types_and_flags(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.publication_types == ["Article", "Retracted Publication"]
        assert rec.flags == ["retracted"]
        rec = one(
            tmp_path, RECORD.replace("DT Article; Retracted Publication", "DT Meeting Abstract")
        )
        assert rec.flags == ["conference_abstract"]
        rec = one(tmp_path, RECORD.replace("DT Article; Retracted Publication", "DT Correction"))
        assert rec.flags == ["erratum"]

    def test_article_number_and_year_from_pd(self, tmp_path: Path) -> None:
        text = RECORD.replace("BP 221\nEP 228\n", "AR UNSP 1722034\n").replace("PY 2018\n", "")
        text = text.replace("PD JAN", "PD DEC 16 2020")
        rec = one(tmp_path, text)
        assert rec.pages == "1722034"
        assert rec.extra["AR"] == "UNSP 1722034"
        assert rec.year == 2020

    def test_raw_and_line(self, tmp_path: Path) -> None:
        rec = one(tmp_path)
        assert rec.line == 3
        assert rec.raw == RECORD.rstrip("\n")


class TestRecords:
    """Splitting into records."""

    def test_several_records_without_header_and_no_final_newline(self, tmp_path: Path) -> None:
        text = "PT J\nTI First\nUT WOS:1\nER\n\nPT B\nTI Second\nUT WOS:2\nER\n\nEF"
        recs = parse_all(write(tmp_path, text))
        assert [(r.title, r.source_key, r.line) for r in recs] == [
            ("First", "WOS:1", 1),
            ("Second", "WOS:2", 6),
        ]
        assert recs[1].extra["PT"] == "B"


class TestBadInput:
    """Bad files raise InputFileError naming the line (and record)."""

    def test_missing_er_before_next_pt(self, tmp_path: Path) -> None:
        path = write(tmp_path, "FN x\nVR 1.0\nPT J\nTI A\nPT J\nTI B\nER\nEF\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert (exc.value.line, exc.value.record) == (5, 1)
        assert "no ER" in str(exc.value)

    def test_missing_er_at_end_of_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "FN x\nVR 1.0\nPT J\nTI A\nER\nPT J\nTI B\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert (exc.value.line, exc.value.record) == (6, 2)

    def test_ef_inside_a_record(self, tmp_path: Path) -> None:
        path = write(tmp_path, "PT J\nTI A\nEF\n")
        with pytest.raises(InputFileError, match="line 3"):
            parse_all(path)

    def test_tag_outside_a_record(self, tmp_path: Path) -> None:
        path = write(tmp_path, "FN x\nTI stray\nPT J\nER\n")
        with pytest.raises(InputFileError, match="line 2"):
            parse_all(path)

    def test_latin1(self, tmp_path: Path) -> None:
        path = tmp_path / "x.txt"
        path.write_bytes("FN x\nPT J\nAU Müller, K\nER\n".encode("latin-1"))
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 3

    def test_binary(self, tmp_path: Path) -> None:
        path = tmp_path / "x.txt"
        path.write_bytes(b"FN x\nPT J\n\x00\x01\x02\x03\x04\nER\n")
        with pytest.raises(InputFileError, match="line 3"):
            parse_all(path)

    def test_utf16_and_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "x.txt"
        path.write_bytes("FN x\nPT J\nER\n".encode("utf-16"))
        with pytest.raises(InputFileError, match="UTF-16"):
            parse_all(path)
        path.write_bytes(b"")
        with pytest.raises(InputFileError, match="empty"):
            parse_all(path)

    def test_50_mb_field(self, tmp_path: Path) -> None:
        path = tmp_path / "x.txt"
        with path.open("wb") as fh:
            fh.write(b"FN x\nVR 1.0\nPT J\nAB ")
            fh.write(b"a" * 50_000_000)
            fh.write(b"\nER\nEF\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 4


class TestSniff:
    """WoS plain text only: never RIS (WoS RIS included), Ovid or MEDLINE."""

    @pytest.mark.parametrize(
        "head",
        [
            "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\n",
            "\ufeffFN Thomson Reuters Web of Science\n",
            "PT J\nAU x\nTI y\nER\n",
            "\r\nPT B\r\nTI y\r\nER\r\n",
        ],
    )
    def test_wos(self, head: str) -> None:
        assert wos.sniff(head)

    @pytest.mark.parametrize(
        "head",
        [
            "TY  - JOUR\nAU  - Larsen, LJ\nAN  - WOS:000082252000006\nER  -\n",
            "PT J\nAU x\n",  # no ER in view: not enough to claim it
            "PT  - JOURNAL ARTICLE\nER  -\n",
            "<1. >\nVN  - Ovid\n",
            "PMID- 123\n",
        ],
    )
    def test_not_wos(self, head: str) -> None:
        assert not wos.sniff(head)

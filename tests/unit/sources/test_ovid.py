"""Unit tests for the Ovid tagged ("Complete Reference") importer and its SO parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import ovid
from living_review.sources.base import ParsedRecord
from living_review.sources.ovid import parse_source

CITAVI = """\
<3001. >
VN  - Ovid Technologies
DB  - Embase
UI  - 621381829
ST  - CONFERENCE ABSTRACT
TI  - Quality of life in patients with primary ciliary dyskinesia: A systematic review.
SO  - BMC Proceedings. Conference: 2nd BEAT-PCD Conference. Spain. 12 (Supplement 3) \
(no pagination), 2018. Date of Publication: 2018.
AU  - Behan L.
AU  - Rubbo B.
IN  - (Behan, Rubbo) NIHR Southampton Biomedical Research Centre, Southampton,
      United Kingdom
      (Behan) School of Applied Psychology, University College Cork, Cork, Ireland
MH  - adult
MH  - *quality of life
AB  - Background: Little is known. Method(s): We searched MEDLINE. Result(s): We found 260.
IS  - 1753-6561
DO  - http://dx.doi.org/10.1186/s12919-018-0099-8
LG  - English
SL  - English
PT  - Conference Abstract
YR  - 2018

<3002. >
VN  - Ovid Technologies
DB  - Embase
UI  - 621381823
TI  - Second record.
SO  - Journal of X. 12 (3) (pp 221-228), 2017. Date of Publication: 2017.
AU  - Dyskinesia P.C.
PT  - Erratum


"""

#: The EndNote variant: the abstract is broken at its section headings, unindented.
ENDNOTE_AB = """\
AB  - Background: Little is known. \nMethod(s): We searched MEDLINE. \nResult(s): We found 260.
"""


def write(tmp_path: Path, text: str, name: str = "x.ovd") -> Path:
    """Write ``text`` as UTF-8 and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def parse_all(path: Path) -> list[ParsedRecord]:
    """Return every record of an Ovid file."""
    return list(ovid.parse(path))


class TestParseSource:
    """The SO string parser, one shape per case."""

    @pytest.mark.parametrize(
        ("so", "expected"),
        [
            (
                "Lancet Oncology. 20(2):282-296, 2019 Feb.",
                ("Lancet Oncology", "20", "2", "282-296", 2019, None),
            ),
            (
                "Journal of X. 12 (3) (pp 221-228), 2018. Date of Publication: 2018.",
                ("Journal of X", "12", "3", "221-228", 2018, None),
            ),
            (
                "BMC Proceedings. Conference: 2nd BEAT-PCD Conference and 3rd PCD Training "
                "School: Part 2. Spain. 12 (Supplement 3) (no pagination), 2018. "
                "Date of Publication: 2018.",
                (
                    "BMC Proceedings",
                    "12",
                    "Supplement 3",
                    None,
                    2018,
                    "2nd BEAT-PCD Conference and 3rd PCD Training School: Part 2. Spain",
                ),
            ),
            ("PLoS ONE. 13(1):e0190000, 2018.", ("PLoS ONE", "13", "1", "e0190000", 2018, None)),
            ("Hepatology. 12:1-9, 2018.", ("Hepatology", "12", None, "1-9", 2018, None)),
            (
                "Journal of Hepatology. 71 (pp 1-5), 2019.",
                ("Journal of Hepatology", "71", None, "1-5", 2019, None),
            ),
            (
                "Journal of Hepatology. (no pagination), 2020. Date of Publication: 2020.",
                ("Journal of Hepatology", None, None, None, 2020, None),
            ),
            (
                "Annals of Oncology. Conference: 44th ESMO Congress. Spain. 30 (Supplement 5) "
                "(pp v253-v254), 2019. Date of Publication: October 2019.",
                (
                    "Annals of Oncology",
                    "30",
                    "Supplement 5",
                    "v253-v254",
                    2019,
                    "44th ESMO Congress. Spain",
                ),
            ),
            ("Lancet. 2019 Feb 12.", ("Lancet", None, None, None, 2019, None)),
        ],
    )
    def test_shapes(self, so: str, expected: tuple[object, ...]) -> None:
        s = parse_source(so)
        assert (s.journal, s.volume, s.issue, s.pages, s.year, s.conference) == expected

    def test_article_number_stands_in_for_pages(self) -> None:
        s = parse_source(
            "Journal of Clinical Oncology. 37 (15 Supplement 1) (no pagination), 2019. "
            "Article Number: 4075. Date of Publication: 20 May 2019."
        )
        assert (s.volume, s.issue, s.pages, s.article_number) == (
            "37",
            "15 Supplement 1",
            "4075",
            "4075",
        )
        assert s.extra == {"Article Number": "4075", "Date of Publication": "20 May 2019"}


class TestRecords:
    """The record mapping."""

    def test_fields(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, CITAVI))[0]
        assert rec.source_key == rec.accession == "621381829"
        assert rec.pmid is None
        assert (
            rec.title
            == "Quality of life in patients with primary ciliary dyskinesia: A systematic review."
        )
        assert rec.authors == ["Behan L.", "Rubbo B."]
        assert (rec.journal, rec.volume, rec.issue, rec.pages) == (
            "BMC Proceedings",
            "12",
            "Supplement 3",
            None,
        )
        assert rec.year == 2018
        assert rec.doi == "10.1186/s12919-018-0099-8"
        assert rec.language == "English"
        assert rec.line == 1

    def test_emtree_major_marker_stripped_but_kept(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, CITAVI))[0]
        assert rec.keywords == ["adult", "quality of life"]
        assert rec.extra["MH"] == ["adult", "*quality of life"]

    def test_types_and_flags(self, tmp_path: Path) -> None:
        first, second = parse_all(write(tmp_path, CITAVI))
        # ST "CONFERENCE ABSTRACT" repeats PT in other case: kept once
        assert first.publication_types == ["Conference Abstract"]
        assert first.flags == ["conference_abstract"]
        assert second.flags == ["erratum"]

    def test_issn_is_not_the_issue_and_other_tags_kept(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, CITAVI))[0]
        assert rec.issue == "Supplement 3"
        assert rec.extra["IS"] == "1753-6561"
        assert rec.extra["SL"] == "English"
        assert rec.extra["VN"] == "Ovid Technologies"
        assert rec.extra["DB"] == "Embase"
        assert rec.extra["ovid_record_number"] == "3001"
        assert rec.extra["conference"] == "2nd BEAT-PCD Conference. Spain"
        assert rec.extra["SO"].startswith("BMC Proceedings. Conference:")

    def test_indented_continuations(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, CITAVI))[0]
        assert rec.extra["IN"] == [
            "(Behan, Rubbo) NIHR Southampton Biomedical Research Centre, Southampton, "
            "United Kingdom",
            "(Behan) School of Applied Psychology, University College Cork, Cork, Ireland",
        ]

    def test_endnote_variant_abstract_is_joined_like_citavi(self, tmp_path: Path) -> None:
        citavi = parse_all(write(tmp_path, CITAVI))[0]
        text = CITAVI.replace(
            "AB  - Background: Little is known. Method(s): We searched MEDLINE. "
            "Result(s): We found 260.\n",
            ENDNOTE_AB,
        )
        endnote = parse_all(write(tmp_path, text, "x.cgi"))[0]
        assert (
            endnote.abstract
            == citavi.abstract
            == (
                "Background: Little is known. Method(s): We searched MEDLINE. "
                "Result(s): We found 260."
            )
        )

    def test_second_record_and_raw(self, tmp_path: Path) -> None:
        second = parse_all(write(tmp_path, CITAVI))[1]
        assert second.line == 23
        assert (second.journal, second.volume, second.issue, second.pages, second.year) == (
            "Journal of X",
            "12",
            "3",
            "221-228",
            2017,
        )
        assert second.raw.startswith("<3002. >\nVN  - Ovid Technologies")
        assert second.raw.endswith("PT  - Erratum")

    def test_ovid_medline_ui_is_the_pmid(self, tmp_path: Path) -> None:
        text = (
            "<1>\nDB  - Ovid MEDLINE(R) ALL\nUI  - 30782397\nTI  - A title.\n"
            "SO  - Lancet Oncology. 20(2):282-296, 2019 Feb.\n"
        )
        rec = parse_all(write(tmp_path, text))[0]
        assert rec.pmid == rec.accession == rec.source_key == "30782397"
        assert (rec.journal, rec.pages, rec.year) == ("Lancet Oncology", "282-296", 2019)

    def test_search_strategy_preamble_is_skipped(self, tmp_path: Path) -> None:
        text = (
            "Database: Embase <1974 to 2019>\nSearch Strategy:\n----\n1     pcd.mp. (12)\n\n"
            + CITAVI
        )
        recs = parse_all(write(tmp_path, text))
        assert [r.accession for r in recs] == ["621381829", "621381823"]


class TestBadInput:
    """Bad files raise InputFileError naming the line (and record)."""

    def test_tag_line_before_any_header(self, tmp_path: Path) -> None:
        with pytest.raises(InputFileError) as exc:
            parse_all(write(tmp_path, "TI  - Orphan\n" + CITAVI))
        assert exc.value.line == 1
        assert "before the first record header" in str(exc.value)

    def test_header_without_fields(self, tmp_path: Path) -> None:
        with pytest.raises(InputFileError) as exc:
            parse_all(write(tmp_path, CITAVI + "<3003. >\n\n"))
        assert exc.value.record == 3

    def test_text_right_after_header(self, tmp_path: Path) -> None:
        with pytest.raises(InputFileError, match="line 2"):
            parse_all(write(tmp_path, "<1>\nnot a tag\nTI  - x\n"))

    def test_no_records(self, tmp_path: Path) -> None:
        with pytest.raises(InputFileError, match="no Ovid records"):
            parse_all(write(tmp_path, "just text\n"))

    def test_latin1(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ovd"
        path.write_bytes("<1>\nUI  - 1\nAU  - Müller K.\n".encode("latin-1"))
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 3

    def test_binary_utf16_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ovd"
        path.write_bytes(b"<1>\nUI  - \x00\x01\x02\n")
        with pytest.raises(InputFileError, match="line 2"):
            parse_all(path)
        path.write_bytes("<1>\nUI  - 1\n".encode("utf-16"))
        with pytest.raises(InputFileError, match="UTF-16"):
            parse_all(path)
        path.write_bytes(b"")
        with pytest.raises(InputFileError, match="empty"):
            parse_all(path)

    def test_50_mb_field(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ovd"
        with path.open("wb") as fh:
            fh.write(b"<1>\nUI  - 1\nAB  - ")
            fh.write(b"a" * 50_000_000)
            fh.write(b"\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 3


class TestSniff:
    """Ovid tagged only; Ovid RIS ("1." then TY) is RIS."""

    @pytest.mark.parametrize(
        "head",
        [
            "<3001. >\nVN  - Ovid Technologies\n",
            "<1>\r\n\r\nUI  - 123\r\n",
            "Database: X\n\n<1>\nDB  - Embase\n",
        ],
    )
    def test_ovid(self, head: str) -> None:
        assert ovid.sniff(head)

    @pytest.mark.parametrize(
        "head",
        [
            "1.\nTY  - JOUR\nID  - 1\n",
            "<1>\nsome text\n",
            "PMID- 1\n",
            "FN Web of Science\nPT J\n",
            "<b>html</b>\n",
        ],
    )
    def test_not_ovid(self, head: str) -> None:
        assert not ovid.sniff(head)

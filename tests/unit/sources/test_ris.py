"""Unit tests for the RIS importer: one small hand-written fixture per flavour and quirk."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import ris
from living_review.sources.base import MAX_FIELD_CHARS, ParsedRecord


def write(tmp_path: Path, text: str, *, bom: bool = False, name: str = "x.ris") -> Path:
    """Write ``text`` as UTF-8 (optionally with a BOM) and return the path."""
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def parse_all(path: Path) -> list[ParsedRecord]:
    """Return every record of a RIS file."""
    return list(ris.parse(path))


def parse_one(tmp_path: Path, text: str, *, bom: bool = False) -> ParsedRecord:
    """Parse a file holding exactly one record and return it."""
    records = parse_all(write(tmp_path, text, bom=bom))
    assert len(records) == 1
    return records[0]


EMBASE_COM = """\
TY  - JOUR
M3  - Conference Abstract
Y1  - 2004
VL  - 102
IS  - 4
SP  - 253
EP  - 258
SN  - 0008-543X
SN  - 1097-0142
JF  - Cancer
JO  - Cancer
UR  - http://www.embase.com/search/results?subaction=viewrecord&from=export&id=L39097156
U2  - L39097156
C5  - 15368318
DB  - Embase
DB  - Medline
DB  -
U4  - 2004-09-12
L2  - http://dx.doi.org/10.1002/cncr.20369
DO  - 10.1002/cncr.20369
A1  - Eloubeidi M.A.
A1  - Cohn M.
M1  - (Eloubeidi M.A.) Div. of Gastroenterol.
T1  - Endoscopic ultrasound-guided fine-needle aspiration
LA  - English
KW  - adult
KW  - aged
N2  - BACKGROUND: Foregut duplication cysts are rare.
ER  -
"""


class TestEmbaseCom:
    """Embase.com native RIS (BOM, T1/A1/Y1/JF/JO/N2, U2 accession, C5 PMID, DB repeated)."""

    def test_fields(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EMBASE_COM, bom=True)
        assert rec.title == "Endoscopic ultrasound-guided fine-needle aspiration"
        assert rec.authors == ["Eloubeidi M.A.", "Cohn M."]
        assert rec.year == 2004
        assert (rec.journal, rec.journal_abbrev) == ("Cancer", "Cancer")
        assert (rec.volume, rec.issue, rec.pages) == ("102", "4", "253-258")
        assert rec.doi == "10.1002/cncr.20369"
        assert rec.abstract == "BACKGROUND: Foregut duplication cysts are rare."
        assert rec.keywords == ["adult", "aged"]
        assert rec.language == "English"

    def test_identity_is_u2_and_pmid_is_c5(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EMBASE_COM)
        assert rec.source_key == rec.accession == "L39097156"
        assert rec.pmid == "15368318"

    def test_repeated_tags_are_lists_in_extra_and_empty_values_dropped(
        self, tmp_path: Path
    ) -> None:
        rec = parse_one(tmp_path, EMBASE_COM)
        assert rec.extra["DB"] == ["Embase", "Medline"]
        assert rec.extra["SN"] == ["0008-543X", "1097-0142"]
        assert rec.extra["U4"] == "2004-09-12"
        assert rec.extra["M1"] == "(Eloubeidi M.A.) Div. of Gastroenterol."
        assert "U2" not in rec.extra and "T1" not in rec.extra

    def test_conference_abstract_flag_and_types(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EMBASE_COM)
        assert rec.publication_types == ["Conference Abstract", "JOUR"]
        assert rec.flags == ["conference_abstract"]

    def test_raw_and_line(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, "\n\n" + EMBASE_COM, bom=True)
        assert rec.line == 3
        assert rec.raw == EMBASE_COM.rstrip("\n")


OVID_RIS = """\
1.
TY  - JOUR
ID  - 2019-65183-001
DO  - http://dx.doi.org/10.1002/cpp.2398
T1  - The influence of self-criticism.
A1  - Trindade, Ines A
Y1  - 2020//
N2  - Considering that self-criticism matters.
M3  - Health & Mental Health Treatment & Prevention [3300]
JF  - Clinical Psychology & Psychotherapy
SP  - No
EP  - Specified
DO  - http://dx.doi.org/10.1002/cpp.2398
L2  - http://ovidsp.ovid.com/ovidweb.cgi?T=JS&PAGE=reference&D=psyc16&NEWS=N&AN=2019-65183-001
ER  -
NL  - Clin Psychol Psychother

Link to the Ovid Full Text or citation: http://ovidsp.ovid.com/ovidweb.cgi?T=JS&AN=2019-65183-001

2.
TY  - JOUR
ID  - 20203152553
T1  - Detection of retention trees.
Y1  - 2019//
ER  -

Link to the Ovid Full Text or citation: http://ovidsp.ovid.com/ovidweb.cgi?AN=20203152553
"""


class TestOvidRis:
    """Ovid RIS: "1." lines, junk after ER, tags after ER, Y1 "2020//", DO as URL, ID."""

    def test_records_and_junk_lines_skipped(self, tmp_path: Path) -> None:
        recs = parse_all(write(tmp_path, OVID_RIS))
        assert [r.title for r in recs] == [
            "The influence of self-criticism.",
            "Detection of retention trees.",
        ]
        assert [r.line for r in recs] == [2, 21]
        assert all("Link to the Ovid" not in r.raw for r in recs)

    def test_id_is_the_accession(self, tmp_path: Path) -> None:
        recs = parse_all(write(tmp_path, OVID_RIS))
        assert [r.source_key for r in recs] == ["2019-65183-001", "20203152553"]
        assert recs[1].accession == "20203152553"

    def test_year_doi_and_placeholder_pages(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, OVID_RIS))[0]
        assert rec.year == 2020
        assert "Y1" not in rec.extra  # "2020//" is fully the year
        assert rec.doi == "10.1002/cpp.2398"
        assert "DO" not in rec.extra
        assert rec.pages is None
        assert (rec.extra["SP"], rec.extra["EP"]) == ("No", "Specified")

    def test_tag_after_er_belongs_to_the_record_before(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, OVID_RIS))[0]
        assert rec.journal_abbrev == "Clin Psychol Psychother"
        assert rec.raw.endswith("ER  -\nNL  - Clin Psychol Psychother")

    def test_psycinfo_classification_is_not_a_publication_type(self, tmp_path: Path) -> None:
        rec = parse_all(write(tmp_path, OVID_RIS))[0]
        assert rec.publication_types == ["JOUR"]
        assert rec.extra["M3"] == "Health & Mental Health Treatment & Prevention [3300]"


ENDNOTE_OVID = """\
TY  - JOUR
AB  - Workers in a noisy department.
AU  - Zohar, D.
DO  - http://dx.doi.org/10.1177/001872088002200108
KW  - auditory system
*ear protection
prevention
LA  - English
PY  - 1980
SN  - 0018-7208
SP  - 69-79
ST  - Promoting ear protectors
T2  - Human Factors
TI  - Promoting ear protectors
UR  - http://journalofvision.org/3/9/133/
http://ovidsp.ovid.com/ovidweb.cgi?T=JS&PAGE=reference&D=emed3&NEWS=N&AN=10041337
VL  - 22
ID  - 3009
ER  - \n\n
"""


class TestEndNoteOvidEmbase:
    """EndNote re-export of Ovid Embase: ID is EndNote's number, the accession is in UR."""

    def test_accession_from_ovid_link_not_id(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, ENDNOTE_OVID, bom=True)
        assert rec.source_key == rec.accession == "10041337"
        assert rec.extra["ID"] == "3009"

    def test_untagged_lines_are_further_values(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, ENDNOTE_OVID)
        assert rec.keywords == ["auditory system", "ear protection", "prevention"]
        assert rec.extra["KW"] == ["auditory system", "*ear protection", "prevention"]
        assert rec.extra["UR"] == [
            "http://journalofvision.org/3/9/133/",
            "http://ovidsp.ovid.com/ovidweb.cgi?T=JS&PAGE=reference&D=emed3&NEWS=N&AN=10041337",
        ]

    def test_fields(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, ENDNOTE_OVID)
        assert rec.title == "Promoting ear protectors"
        assert rec.journal == "Human Factors"
        assert rec.pages == "69-79"
        assert rec.year == 1980
        assert rec.doi == "10.1177/001872088002200108"
        assert rec.extra["ST"] == "Promoting ear protectors"

    def test_ovid_medline_link_gives_pmid(self, tmp_path: Path) -> None:
        text = ENDNOTE_OVID.replace("D=emed3", "D=medl").replace("AN=10041337", "AN=7364420")
        rec = parse_one(tmp_path, text)
        assert rec.pmid == "7364420"


EBSCO = """\
TY  - JOUR
AU  - Rodríguez-Pastor, Ruth
T1  - “Living on the edge”: field margins.
JO  - Agriculture, Ecosystems & Environment
JF  - Agriculture, Ecosystems & Environment
Y1  - 2016/09//
VL  - 231
M3  - Article
AB  - Small rodents are common inhabitants of farmlands.
AB  - Copyright of Agriculture, Ecosystems & Environment is the property of Elsevier.
N1  - Accession Number: 117372971; Rodríguez-Pastor, Ruth 1,2
L3  - 10.1016/j.agee.2016.06.041
UR  - http://search.ebscohost.com/login.aspx?direct=true&db=aph&AN=117372971&site=ehost-live
ER  - \r
"""


class TestEbsco:
    """EBSCO: two AB lines joined, DOI in L3, CRLF line ends, accession from the link."""

    def test_two_abstract_lines_joined(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EBSCO.replace("\n", "\r\n"))
        assert rec.abstract == (
            "Small rodents are common inhabitants of farmlands.\n"
            "Copyright of Agriculture, Ecosystems & Environment is the property of Elsevier."
        )

    def test_doi_from_l3_and_non_ascii(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EBSCO)
        assert rec.doi == "10.1016/j.agee.2016.06.041"
        assert rec.authors == ["Rodríguez-Pastor, Ruth"]
        assert rec.title == "“Living on the edge”: field margins."

    def test_partial_date_kept_and_accession(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, EBSCO)
        assert rec.year == 2016
        assert rec.extra["Y1"] == "2016/09//"
        assert rec.source_key == "117372971"


WOS_RIS = (
    "TY  - JOUR\n"
    "AU  - Larsen, LJ\n"
    "TI  - Microangiography of the humeral condyle\n"
    "T2  - VETERINARY AND COMPARATIVE ORTHOPAEDICS AND TRAUMATOLOGY\n"
    "AB  - The purpose of this study was to evaluate the blood supply.\n"
    "   Microangiography was performed on four dogs.\n"
    "AD  - Kansas State Univ, Manhattan, KS 66506 USA\rAD  - Kansas State Univ, Dept Anat\r"
    "C3  - Kansas State University\n"
    "J9  - VET COMP ORTHOPAED\n"
    "JI  - Vet. Comp. Orthop. Traumatol.\n"
    "DA  - AUG\n"
    "PY  - 1999\n"
    "WE  - Science Citation Index Expanded (SCI-EXPANDED)\rAN  - WOS:000082252000006\n"
    "N1  - Times Cited in Web of Science Core Collection:  13\n"
    "Total Times Cited:  13\n"
    "ER  -\n"
)


class TestWosRis:
    """WoS RIS: bare-CR "run-on" lines are line breaks; AN is the UT."""

    def test_run_on_lines_recovered(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, WOS_RIS, bom=True)
        assert rec.source_key == rec.accession == "WOS:000082252000006"
        assert rec.extra["AD"] == [
            "Kansas State Univ, Manhattan, KS 66506 USA",
            "Kansas State Univ, Dept Anat",
        ]
        assert rec.extra["WE"] == "Science Citation Index Expanded (SCI-EXPANDED)"

    def test_continuations(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, WOS_RIS)
        assert rec.abstract == (
            "The purpose of this study was to evaluate the blood supply.\n"
            "Microangiography was performed on four dogs."
        )
        assert rec.extra["N1"] == [
            "Times Cited in Web of Science Core Collection:  13",
            "Total Times Cited:  13",
        ]

    def test_journal_and_abbreviation(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, WOS_RIS)
        assert rec.journal == "VETERINARY AND COMPARATIVE ORTHOPAEDICS AND TRAUMATOLOGY"
        assert rec.journal_abbrev == "Vet. Comp. Orthop. Traumatol."
        assert rec.year == 1999
        assert rec.extra["DA"] == "AUG"


class TestOtherFlavours:
    """Scopus, Zotero/PubMed, Cochrane and generic synonyms."""

    def test_scopus_eid_pmid_and_article_number(self, tmp_path: Path) -> None:
        rec = parse_one(
            tmp_path,
            "TY  - JOUR\nAU  - Johnson-Pitt, A.\nTI  - Exocrine pancreatic inflammation\n"
            "PY  - 2024\nT2  - Veterinary Journal\nVL  - 308\nC7  - 106241\n"
            "DO  - 10.1016/j.tvjl.2024.106241\n"
            "UR  - https://www.scopus.com/inward/record.uri?eid=2-s2.0-85203626893&doi=x\n"
            "J2  - Vet. J.\nM3  - Review\nC2  - 39243807\nDB  - Scopus\nER  -\n",
            bom=True,
        )
        assert rec.source_key == "2-s2.0-85203626893"
        assert rec.pmid == "39243807"
        assert rec.pages == "106241"
        assert (rec.journal, rec.journal_abbrev) == ("Veterinary Journal", "Vet. J.")
        assert rec.publication_types == ["Review", "JOUR"]

    def test_zotero_pubmed_accession_number_is_the_pmid(self, tmp_path: Path) -> None:
        rec = parse_one(
            tmp_path,
            "TY  - JOUR\nTI  - Outcomes of IBD surgery\nAU  - Hicks, G.\n"
            "T2  - Techniques in coloproctology\nDA  - 2019/10//undefined\nPY  - 2019\n"
            "J2  - Tech Coloproctol\nAN  - 31485766\nDB  - PubMed\nER  -\n",
        )
        assert rec.pmid == "31485766"
        assert rec.accession is None
        assert rec.source_key == "31485766"
        assert rec.extra["DA"] == "2019/10//undefined"

    def test_pmid_from_a_note(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, "TY  - JOUR\nTI  - T\nN1  - PMID: 30123456\nER  -\n")
        assert rec.pmid == "30123456"
        assert rec.extra["N1"] == "PMID: 30123456"

    def test_cochrane_accession(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, "TY  - JOUR\nTI  - A trial\nAN  -  CN-01234567\nER  -\n")
        assert rec.source_key == rec.accession == "CN-01234567"

    def test_title_synonym_priority_keeps_the_other(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, "TY  - JOUR\nT1  - Primary\nTI  - Main\nCT  - Cap\nER  -\n")
        assert rec.title == "Main"
        assert (rec.extra["T1"], rec.extra["CT"]) == ("Primary", "Cap")

    def test_book_title_and_editors(self, tmp_path: Path) -> None:
        rec = parse_one(
            tmp_path,
            "TY  - BOOK\nBT  - A Handbook\nAU  - Writer, A.\nA2  - Editor, E.\nA2  - Other, O.\n"
            "ER  -\n",
        )
        assert rec.title == "A Handbook"
        assert rec.authors == ["Writer, A."]
        assert rec.extra["A2"] == ["Editor, E.", "Other, O."]

    def test_conference_type_and_erratum(self, tmp_path: Path) -> None:
        recs = parse_all(
            write(
                tmp_path,
                "TY  - CONF\nTI  - Poster\nER  -\n\nTY  - JOUR\nTI  - Fix\nM3  - Erratum\nER  -\n",
            )
        )
        assert recs[0].flags == ["conference_abstract"]
        assert recs[1].flags == ["erratum"]

    def test_doi_from_a_doi_org_link(self, tmp_path: Path) -> None:
        rec = parse_one(tmp_path, "TY  - JOUR\nUR  - https://doi.org/10.1000/xyz.1\nER  -\n")
        assert rec.doi == "10.1000/xyz.1"

    def test_every_tag_ends_up_somewhere(self, tmp_path: Path) -> None:
        rec = parse_one(
            tmp_path, "TY  - JOUR\nstray\nTI  - T\nZZ  - one\nQ9  - a\nQ9  - b\nAB  -x\nER  -\n"
        )
        assert rec.title == "T"
        assert rec.extra["ZZ"] == "one"
        # "AB  -x" is no tag line (no space after "-"): it continues the tag before it.
        assert rec.extra["Q9"] == ["a", "b", "AB  -x"]
        assert rec.extra["untagged"] == "stray"
        assert rec.abstract is None


class TestBadInput:
    """Every bad file is an InputFileError naming the line and/or record."""

    def test_record_without_er_at_end_of_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "TY  - JOUR\nTI  - A\nER  -\n\nTY  - JOUR\nTI  - B\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert (exc.value.line, exc.value.record) == (5, 2)
        assert "x.ris, line 5, record 2" in str(exc.value)
        assert "no ER" in str(exc.value)

    def test_new_ty_before_er(self, tmp_path: Path) -> None:
        path = write(tmp_path, "TY  - JOUR\nTI  - A\nTY  - JOUR\nTI  - B\nER  -\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert (exc.value.line, exc.value.record) == (3, 1)

    def test_records_before_a_bad_one_stream_out(self, tmp_path: Path) -> None:
        path = write(tmp_path, "TY  - JOUR\nTI  - A\nER  -\nTY  - JOUR\nTI  - B\n")
        it = ris.parse(path)
        assert next(it).title == "A"
        with pytest.raises(InputFileError):
            next(it)

    def test_er_outside_a_record(self, tmp_path: Path) -> None:
        path = write(tmp_path, "TY  - JOUR\nER  -\nER  -\n")
        with pytest.raises(InputFileError, match="line 3"):
            parse_all(path)

    def test_tag_before_the_first_record(self, tmp_path: Path) -> None:
        path = write(tmp_path, "AU  - Someone\nTY  - JOUR\nER  -\n")
        with pytest.raises(InputFileError, match="line 1"):
            parse_all(path)

    def test_no_records(self, tmp_path: Path) -> None:
        with pytest.raises(InputFileError, match="no RIS records"):
            parse_all(write(tmp_path, "just some text\n"))

    def test_binary_garbage(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ris"
        path.write_bytes(b"TY  - JOUR\nTI  - \x00\x01\x02\xff\xfe\nER  -\n")
        with pytest.raises(InputFileError, match="line 2"):
            parse_all(path)

    def test_latin1_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ris"
        path.write_bytes("TY  - JOUR\nTI  - ok\nAU  - Müller, K.\nER  -\n".encode("latin-1"))
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 3
        assert "Latin-1" in str(exc.value)

    def test_utf16(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ris"
        path.write_bytes("TY  - JOUR\nER  -\n".encode("utf-16"))
        with pytest.raises(InputFileError, match="UTF-16"):
            parse_all(path)

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ris"
        path.write_bytes(b"")
        with pytest.raises(InputFileError, match="empty"):
            parse_all(path)

    def test_50_mb_field_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "x.ris"
        with path.open("wb") as fh:
            fh.write(b"TY  - JOUR\nTI  - T\nAB  - ")
            fh.write(b"a" * 50_000_000)
            fh.write(b"\nER  -\n")
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert exc.value.line == 3

    def test_field_over_the_limit_from_many_lines_names_the_record(self, tmp_path: Path) -> None:
        half = "b" * (MAX_FIELD_CHARS // 2 + 10)
        path = write(
            tmp_path, f"TY  - JOUR\nTI  - T\nER  -\nTY  - JOUR\nAB  - {half}\n{half}\nER  -\n"
        )
        with pytest.raises(InputFileError) as exc:
            parse_all(path)
        assert (exc.value.line, exc.value.record) == (4, 2)
        assert "abstract" in str(exc.value)


class TestSniff:
    """The sniffer claims RIS only."""

    @pytest.mark.parametrize(
        "head",
        ["TY  - JOUR\nTI  - x\nER  - \n", "1.\nTY  - JOUR\n", "Provider: X\r\nTY  - JOUR\r\n"],
    )
    def test_ris(self, head: str) -> None:
        assert ris.sniff(head)

    @pytest.mark.parametrize(
        "head",
        [
            "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU x\nER\n",
            "<1. >\nVN  - Ovid Technologies\nTI  - x\n",
            "PMID- 123\nTI  - x\n",
            "title,authors\nA,B\n",
            "XTY  - JOUR\n",
        ],
    )
    def test_not_ris(self, head: str) -> None:
        assert not ris.sniff(head)


def test_embase_c5_is_the_pmid_without_an_accession(tmp_path: Path) -> None:
    """An Embase.com record without U2 still says "DB - Embase": its C5 is the PMID."""
    f = tmp_path / "e.ris"
    f.write_text(
        "TY  - JOUR\nT1  - A trial\nDB  - Embase\nDB  - Medline\nC5  - 36455168\nER  -\n",
        encoding="utf-8",
    )
    (rec,) = list(ris.parse(f))
    assert rec.pmid == "36455168"
    assert rec.accession is None  # no Embase accession is invented


def test_c5_is_not_a_pmid_outside_embase(tmp_path: Path) -> None:
    f = tmp_path / "o.ris"
    f.write_text("TY  - JOUR\nT1  - A trial\nC5  - 12345\nER  -\n", encoding="utf-8")
    (rec,) = list(ris.parse(f))
    assert rec.pmid is None
    assert rec.extra["C5"] in ("12345", ["12345"])

"""Unit tests for the CSV importer, on small tables written here."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import csv_table
from living_review.sources.base import ParsedRecord

GENERIC = """\
Record_ID,Article Title,ABSTRACT,Authors,Publication Year,Source title,DOI,PMID,Keywords,Notes
r1,Sorafenib in HCC,An abstract.,"Llovet, Josep M; Ricci, Sergio",2008,N Engl J Med,\
https://doi.org/10.1056/NEJMoa0708857,18650514,sorafenib; HCC,first note
r2,"Regorafenib, after sorafenib","Two
lines",Bruix J,2017,Lancet,,,,
"""

EMBASE_HEADER = (
    "Title,Original Title,Author Names,Correspondence Address,Editors,Source,Abstract,"
    "Emtree Drug Index Terms,keywords,Open URL Link,Copyright"
)
EMBASE_ROW = (
    '"Duplication cysts: Diagnosis, management",,"Liu R., Adler D.G.","D.G. Adler, Utah",,'
    '"Endoscopic Ultrasound (2014) 3:3 (152-160). Date of Publication: 2014",'
    '"Duplication cysts are rare.","sorafenib (drug therapy, oral drug administration)",'
    '"article, bronchogenic cyst (diagnosis, surgery), colonoscopy",'
    '"http://sfx.example.org/utrecht?sid=EMBASE&issn=22267190&id=doi:10.4103%2F2303-9027.138783'
    '&atitle=Duplication",Copyright 2014 Elsevier'
)


def write(tmp_path: Path, text: str | bytes, name: str = "table.csv") -> Path:
    """Write a fixture file (text as UTF-8, line endings as given) and return its path."""
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def parse_text(tmp_path: Path, text: str | bytes) -> list[ParsedRecord]:
    """Parse text written to a temporary file."""
    return list(csv_table.parse(write(tmp_path, text)))


# --- sniff --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        "title,abstract\nx,y\n",
        "\ufeffTitle,Author Names,Source\n",
        '"Article Title","Authors"\n',
        "Title;Authors;Year\nx;y;2020\n",
        "Title\tAbstract\n",
        "pmid,note\n123,x\n",
        "DOI,Label\n",
    ],
)
def test_sniff_claims_tables_with_title_or_id_columns(head: str) -> None:
    assert csv_table.sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        "title\nA lone column\n",
        "name,value\nx,1\n",
        "id,value\nx,1\n",
        "TY  - JOUR\nTI  - Title, with comma\nER  - \n",
        "PMID- 1\nTI  - Title, with comma\n",
        "FN Clarivate Analytics Web of Science\nVR 1.0\n",
        '<?xml version="1.0"?>\n<PubmedArticleSet>',
        "",
    ],
)
def test_sniff_refuses_other_text(head: str) -> None:
    assert not csv_table.sniff(head)


# --- fields -------------------------------------------------------------------------------


def test_generic_columns_by_synonym_and_case(tmp_path: Path) -> None:
    first, second = parse_text(tmp_path, GENERIC)
    assert first.source_key == "r1"
    assert first.title == "Sorafenib in HCC"
    assert first.abstract == "An abstract."
    assert first.authors == ["Llovet, Josep M", "Ricci, Sergio"]
    assert first.year == 2008
    assert first.journal == "N Engl J Med"
    assert first.doi == "10.1056/NEJMoa0708857"
    assert first.pmid == "18650514"
    assert first.keywords == ["sorafenib", "HCC"]
    assert first.extra == {"Notes": "first note"}
    assert second.title == "Regorafenib, after sorafenib"
    assert second.abstract == "Two\nlines"
    assert second.authors == ["Bruix J"]
    assert (second.doi, second.pmid, second.keywords, second.extra) == (None, None, [], {})


def test_line_is_where_the_row_starts_even_after_a_multiline_field(tmp_path: Path) -> None:
    text = GENERIC + "r3,Third,,,2019,,,,,\n"
    lines = [r.line for r in parse_text(tmp_path, text)]
    assert lines == [2, 3, 5]


def test_raw_is_the_row_as_csv(tmp_path: Path) -> None:
    first, second = parse_text(tmp_path, GENERIC)
    assert next(csv.reader([first.raw])) == [
        "r1",
        "Sorafenib in HCC",
        "An abstract.",
        "Llovet, Josep M; Ricci, Sergio",
        "2008",
        "N Engl J Med",
        "https://doi.org/10.1056/NEJMoa0708857",
        "18650514",
        "sorafenib; HCC",
        "first note",
    ]
    assert second.raw == 'r2,"Regorafenib, after sorafenib","Two\nlines",Bruix J,2017,Lancet,,,,'


def test_semicolon_delimited_with_bom_and_crlf(tmp_path: Path) -> None:
    text = "\ufeffTitle;Year;Authors\r\nA study, with comma;2020;Smith J\r\n"
    (rec,) = parse_text(tmp_path, text)
    assert (rec.title, rec.year, rec.authors) == ("A study, with comma", 2020, ["Smith J"])


def test_tab_delimited(tmp_path: Path) -> None:
    (rec,) = parse_text(tmp_path, "title\tdoi\nTabbed\t10.1000/abc\n")
    assert (rec.title, rec.doi) == ("Tabbed", "10.1000/abc")


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    records = parse_text(tmp_path, "title,year\n\nOne,2001\n,\n\nTwo,2002\n\n")
    assert [(r.title, r.line) for r in records] == [("One", 3), ("Two", 6)]


def test_embase_export_columns(tmp_path: Path) -> None:
    (rec,) = parse_text(tmp_path, EMBASE_HEADER + "\n" + EMBASE_ROW + "\n")
    assert rec.title == "Duplication cysts: Diagnosis, management"
    assert rec.authors == ["Liu R.", "Adler D.G."]
    assert rec.journal == "Endoscopic Ultrasound"
    assert (rec.year, rec.volume, rec.issue, rec.pages) == (2014, "3", "3", "152-160")
    assert rec.doi == "10.4103/2303-9027.138783"
    assert rec.abstract == "Duplication cysts are rare."
    assert rec.keywords == ["article", "bronchogenic cyst (diagnosis, surgery)", "colonoscopy"]
    assert rec.extra["Source"] == (
        "Endoscopic Ultrasound (2014) 3:3 (152-160). Date of Publication: 2014"
    )
    assert rec.extra["Emtree Drug Index Terms"].startswith("sorafenib")
    assert rec.extra["Open URL Link"].startswith("http://sfx.example.org/")
    assert rec.extra["Correspondence Address"] == "D.G. Adler, Utah"
    assert "Original Title" not in rec.extra  # empty cells are not kept
    assert rec.source_key is None


@pytest.mark.parametrize(
    ("source", "journal", "year", "volume", "issue", "pages"),
    [
        ("Cancer (2004) 102:4 (253-258). Date of Publication: 25 Aug 2004",
         "Cancer", 2004, "102", "4", "253-258"),
        ("International Journal of Surgery Case Reports (2019) 54 (83-86). Date: 1 Jan 2019",
         "International Journal of Surgery Case Reports", 2019, "54", None, "83-86"),
        ("BMC Proceedings (2018) 12 Supplement 3", "BMC Proceedings", 2018, "12", None, None),
        ("Some Journal", "Some Journal", None, None, None, None),
    ],
)  # fmt: skip
def test_embase_source_citation_parsing(
    tmp_path: Path,
    source: str,
    journal: str,
    year: int | None,
    volume: str | None,
    issue: str | None,
    pages: str | None,
) -> None:
    (rec,) = parse_text(tmp_path, f'Title,Source\nT,"{source}"\n')
    assert (rec.journal, rec.year, rec.volume, rec.issue, rec.pages) == (
        journal,
        year,
        volume,
        issue,
        pages,
    )


def test_source_title_beats_a_database_source_column(tmp_path: Path) -> None:
    (rec,) = parse_text(tmp_path, "Title,Source,Source title\nT,Scopus,Hepatology\n")
    assert rec.journal == "Hepatology"
    assert rec.extra == {"Source": "Scopus"}


def test_identifier_only_table_is_accepted(tmp_path: Path) -> None:
    (rec,) = parse_text(tmp_path, "pmid,note\n123,x\n")
    assert (rec.pmid, rec.title, rec.extra) == ("123", None, {"note": "x"})


def test_field_longer_than_csv_default_limit_is_read(tmp_path: Path) -> None:
    long = "a" * 200_000
    (rec,) = parse_text(tmp_path, f"title,abstract\nT,{long}\n")
    assert rec.abstract == long


def test_parse_is_lazy(tmp_path: Path) -> None:
    records = csv_table.parse(write(tmp_path, "title,year\nOne,2001\nTwo,2002,extra\n"))
    assert isinstance(records, Iterator)
    assert next(records).title == "One"


# --- refusals -----------------------------------------------------------------------------


def test_no_title_and_no_identifier_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name,value\nx,1\n")
    with pytest.raises(InputFileError) as err:
        list(csv_table.parse(path))
    assert "no title column" in str(err.value)
    assert "found columns: 'name', 'value'" in str(err.value)
    assert str(path) in str(err.value) and err.value.line == 1


@pytest.mark.parametrize("row", ["One,2001,extra", "Lonely"])
def test_wrong_field_count_names_the_line(tmp_path: Path, row: str) -> None:
    path = write(tmp_path, f'title,year\nFine,2000\n"Two\nlines",1999\n{row}\n')
    with pytest.raises(InputFileError) as err:
        list(csv_table.parse(path))
    assert err.value.line == 5
    assert "fields but the header has 2" in str(err.value)


def test_unterminated_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="malformed CSV") as err:
        parse_text(tmp_path, 'title,year\nFine,2000\n"never closed,2001\nmore\n')
    assert err.value.line == 4


def test_text_after_closing_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="malformed CSV") as err:
        parse_text(tmp_path, 'title,year\n"Quoted"junk,2000\n')
    assert err.value.line == 2


def test_latin1_bytes_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, "title,year\nFine,2000\nCaf\xe9,2001\n".encode("latin-1"))
    assert err.value.line == 3
    assert "Latin-1" in str(err.value)


def test_utf16_with_bom_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="UTF-16"):
        parse_text(tmp_path, codecs.BOM_UTF16_LE + "title,year\nx,1\n".encode("utf-16-le"))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="empty"):
        parse_text(tmp_path, b"")


def test_binary_garbage(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, b"title,year\n\x00\x01\x02,\x03\n")
    assert err.value.line == 2


def test_50_mb_field_is_refused_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, "title,abstract\nT,short\nU," + "z" * 50_000_000 + "\n")
    assert err.value.line == 3


def test_quoted_field_over_the_cap_across_many_lines_is_refused(tmp_path: Path) -> None:
    body = ("w" * 999 + "\n") * 6_000
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, f'title,abstract\nT,"{body}"\n')
    assert "a field is over 5,000,000 characters" in str(err.value)
    assert err.value.line is not None and 5_000 < err.value.line < 6_003

"""Provides the CSV importer: generic tables and the Embase.com CSV export.

A CSV has no fixed schema, so columns are matched by name, case-insensitively, against a
list of synonyms per field (the first synonym present wins, so "Source title" beats a
"Source" column that only names the database). Every column we do not map is kept in
``extra`` under its header, and ``raw`` is the row re-serialised as CSV in header order, so
nothing the file held is lost.

Embase.com's CSV puts the whole citation in one "Source" cell ("Cancer (2004) 102:4
(253-258). Date of Publication: 25 Aug 2004") and the DOI only inside the "Open URL Link";
both are parsed when the cells have that shape, and kept as they were otherwise.

The file is read through :func:`~living_review.sources.base.iter_text_lines`, so encoding
errors are reported like every other format's, and streamed row by row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from living_review.errors import InputFileError
from living_review.sources.base import (
    MAX_FIELD_CHARS,
    ParsedRecord,
    clean_doi,
    iter_text_lines,
    parse_year,
)


def _norm(header: str) -> str:
    """Normalise a header for matching: trimmed, lower case, single spaces, no BOM."""
    return " ".join(header.lstrip("\ufeff").replace("_", " ").split()).lower()


#: Field -> header synonyms (normalised: lower case, single spaces), most specific first.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "document title", "primary title", "ti"),
    "abstract": ("abstract", "abstract note", "ab"),
    "authors": ("authors", "author names", "author", "author(s)", "au"),
    "year": ("year", "publication year", "pub year", "py"),
    "journal": ("journal", "source title", "journal title", "publication title", "source"),
    "volume": ("volume", "vl"),
    "issue": ("issue", "is"),
    "pages": ("pages", "page", "pg"),
    "doi": ("doi", "di"),
    "pmid": ("pmid", "pubmed id", "pubmed_id", "medline pmid"),
    "record_id": ("record_id", "record id", "id", "accession number", "embase accession"),
    "keywords": ("keywords", "author keywords", "kw"),
}
#: Embase.com's OpenURL column: kept in extra, but the DOI inside it is read.
_OPEN_URL = "open url link"
#: Columns that identify a record, so a table of them alone is still importable.
IDENTIFIERS = ("doi", "pmid", "record_id")
_TITLES = frozenset(SYNONYMS["title"])
#: Header names that make a first line a bibliographic table (a bare "id" is too common).
_SNIFF_NAMES = (_TITLES | frozenset(_norm(n) for f in IDENTIFIERS for n in SYNONYMS[f])) - {"id"}
_DELIMITERS = (",", ";", "\t")

#: Embase.com "Source": "Journal (2014) 3:3 (152-160). Date of Publication: 2014".
_EMBASE_SOURCE = re.compile(
    r"^(?P<journal>.+?) \((?P<year>\d{4})\)"
    r"(?: (?P<volume>[^\s:(]+)(?::(?P<issue>[^\s(]+))?)?"
    r"(?: \((?P<pages>[^)]*)\))?"
    r"(?=[.\s]|$)"
)


def _delimiter(header_line: str) -> str:
    """Return the delimiter giving the header the most columns (",", ";" or tab)."""
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        try:
            count = len(next(csv.reader([header_line], delimiter=delimiter), []))
        except csv.Error:  # e.g. bare CR line endings: the row reader reports it, naming the line
            continue
        if count > best_count:
            best, best_count = delimiter, count
    return best


def sniff(head: str) -> bool:
    """Return True when the first line is a CSV header naming a title or identifier column.

    Identifier columns count too, so a plain list of PMIDs or DOIs is recognised.
    """
    lines = head.lstrip("\ufeff").splitlines()
    if not lines:
        return False
    first = lines[0]
    try:
        header = next(csv.reader([first], delimiter=_delimiter(first)), [])
    except csv.Error:
        return False
    if len(header) < 2:
        return False
    names = {_norm(h) for h in header}
    return bool(names & _SNIFF_NAMES)


@dataclass(frozen=True)
class _Columns:
    """Which column index holds each mapped field; the rest are kept in extra."""

    header: list[str]
    index: dict[str, int]
    open_url: int | None

    def header_of(self, name: str) -> str:
        """Return the normalised header of mapped field ``name`` ("" when unmapped)."""
        i = self.index.get(name)
        return "" if i is None else _norm(self.header[i])

    def get(self, row: list[str], name: str) -> str | None:
        """Return the stripped cell of field ``name``, or None when absent or empty."""
        i = self.index.get(name)
        if i is None:
            return None
        value = row[i].strip()
        return value or None


def _columns(path: Path, header: list[str]) -> _Columns:
    """Map fields to columns; refuse a table with neither a title nor an identifier."""
    normalised = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for name, synonyms in SYNONYMS.items():
        for synonym in synonyms:
            wanted = _norm(synonym)
            if wanted in normalised and normalised.index(wanted) not in index.values():
                index[name] = normalised.index(wanted)
                break
    if "title" not in index and not any(f in index for f in IDENTIFIERS):
        found = ", ".join(repr(h) for h in header)
        raise InputFileError(
            path,
            f"no title column and no identifier column (doi, pmid, record_id); "
            f"found columns: {found}",
            line=1,
        )
    open_url = normalised.index(_OPEN_URL) if _OPEN_URL in normalised else None
    return _Columns(header=header, index=index, open_url=open_url)


def _split_list(value: str | None, *, comma: bool) -> list[str]:
    """Split a list cell on ";" (or, when ``comma`` and no ";", on commas outside brackets)."""
    if not value:
        return []
    parts = value.split(";") if ";" in value or not comma else _split_commas(value)
    return [p.strip() for p in parts if p.strip()]


def _split_commas(value: str) -> list[str]:
    """Split on commas at bracket depth 0 ("cyst (diagnosis, surgery), adult" -> 2 items)."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(value):
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _embase_source(source: str) -> dict[str, str] | None:
    """Parse an Embase.com citation string into journal, year, volume, issue and pages."""
    m = _EMBASE_SOURCE.match(source)
    if not m:
        return None
    return {k: v for k, v in m.groupdict().items() if v}


def _doi_from_url(url: str | None) -> str | None:
    """Return the DOI in an OpenURL link's ``id=doi:...`` parameter (Embase.com CSV)."""
    if not url:
        return None
    for value in parse_qs(urlsplit(url).query).get("id", []):
        if value.lower().startswith("doi:"):
            return clean_doi(value[4:])
    return None


def _raw(row: list[str], delimiter: str) -> str:
    """Return the row as CSV text in header order (the record's exact content)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow(row)
    return out.getvalue().rstrip("\n")


def _record(cols: _Columns, row: list[str], raw: str, line: int) -> ParsedRecord:
    """Build the ParsedRecord of one data row."""
    mapped = set(cols.index.values())
    extra: dict[str, Any] = {
        cols.header[i]: cell for i, cell in enumerate(row) if i not in mapped and cell.strip()
    }
    journal = cols.get(row, "journal")
    citation: dict[str, str] = {}
    if journal and cols.header_of("journal") == "source":
        citation = _embase_source(journal) or {}
        if citation:
            extra[cols.header[cols.index["journal"]]] = journal
            journal = citation.get("journal")
    open_url = row[cols.open_url] if cols.open_url is not None else None
    return ParsedRecord(
        source_key=cols.get(row, "record_id"),
        title=cols.get(row, "title"),
        abstract=cols.get(row, "abstract"),
        authors=_split_list(
            cols.get(row, "authors"), comma=cols.header_of("authors") == "author names"
        ),
        year=parse_year(cols.get(row, "year") or citation.get("year")),
        journal=journal,
        volume=cols.get(row, "volume") or citation.get("volume"),
        issue=cols.get(row, "issue") or citation.get("issue"),
        pages=cols.get(row, "pages") or citation.get("pages"),
        doi=clean_doi(cols.get(row, "doi")) or _doi_from_url(open_url),
        pmid=cols.get(row, "pmid"),
        keywords=_split_list(cols.get(row, "keywords"), comma=True),
        extra=extra,
        raw=raw,
        line=line,
    )


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield one record per data row, streaming; errors name the line the row starts on."""
    path = Path(path)
    lines = iter_text_lines(path)
    first = next(lines)  # iter_text_lines refuses an empty file, so there is a first line
    delimiter = _delimiter(first[1])
    feed = _Feed(first, lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    _raise_field_limit()
    try:
        header = next(reader)
        cols = _columns(path, header)
        # Rows may span lines (quoted newlines); a row starts right after the previous one.
        row_start = feed.lineno + 1
        for row in reader:
            line, row_start = row_start, feed.lineno + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputFileError(
                    path,
                    f"the row has {len(row)} fields but the header has {len(header)}",
                    line=line,
                )
            yield _record(cols, row, _raw(row, delimiter), line)
    except csv.Error as exc:
        reason = str(exc)
        if "field limit" in reason:
            reason = f"a field is over {MAX_FIELD_CHARS:,} characters"
        raise InputFileError(path, f"malformed CSV: {reason}", line=feed.lineno) from None


class _Feed:
    """Feeds lines (with "\\n" restored) to csv.reader and remembers the last line number.

    Restoring the newline keeps line breaks inside quoted fields; the line number lets
    errors name the line a bad row starts on (``reader.line_num`` only gives its end).
    """

    def __init__(self, first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> None:
        self._first: tuple[int, str] | None = first
        self._rest = rest
        self.lineno = 0

    def __iter__(self) -> _Feed:
        """Return self: csv.reader iterates over the feed."""
        return self

    def __next__(self) -> str:
        """Return the next line, newline restored."""
        if self._first is not None:
            lineno, text = self._first
            self._first = None
        else:
            lineno, text = next(self._rest)
        self.lineno = lineno
        return text + "\n"


def _raise_field_limit() -> None:
    """Let csv read fields up to our own field cap (its default is 131,072 characters).

    The limit is process-wide; it is only ever raised, never lowered.
    """
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)

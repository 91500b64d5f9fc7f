"""Provides the Ovid tagged importer ("Complete Reference" exports: .ovd, .cgi, .txt).

Ovid writes each record under a header line ``<3001. >`` (or ``<1>``), then one tag per line
(``TI  - ``: the tag padded to four characters, then ``- ``). A value continues on following
lines, indented six spaces in the Citavi variant and *not* indented in the EndNote variant,
which breaks a structured abstract at its section headings ("Method(s): ...") — so any
untagged line inside a record continues the tag before it, and the pieces are joined with a
space (which gives the Citavi variant's one-line abstract back exactly). Lines before the first
header (Ovid's search-strategy preamble) are skipped, but a *tag* line there means the file
was cut or concatenated badly and is an error.

Ovid gives no separate journal, volume, issue and pages fields for Embase: they are all in the
``SO`` string, which :func:`parse_source` takes apart. ``UI`` is the accession (the Embase
accession in Embase, the PMID in Ovid MEDLINE, where it also fills ``pmid``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from living_review.errors import InputFileError
from living_review.sources.base import (
    ParsedRecord,
    check_field,
    clean_doi,
    iter_text_lines,
    parse_year,
)
from living_review.sources.ris import TagBag, notice_flags, strip_major, unique

_HEADER = re.compile(r"^<\s*(\d+)\.?\s*>\s*$")
_TAG = re.compile(r"^([A-Z][A-Z0-9]{1,3}) {0,2}-(?: (.*))?$")
_SNIFF = re.compile(r"(?m)^<\s*\d+\.?\s*>[ \t]*\r?\n(?:[ \t]*\r?\n)*[A-Z][A-Z0-9 ]{3}- ")
#: Tags whose untagged follow-on lines that start with "(" are new items ("(Behan) Univ...").
_LIST_TAGS = {"IN"}
_MEDLINE_DB = re.compile(r"medline|pubmed", re.IGNORECASE)


def _tag_of(line: str) -> re.Match[str] | None:
    """Return the tag match when ``line`` is an Ovid tag line (tag padded to 4, then '-')."""
    m = _TAG.match(line)
    return m if m and len(line) > 4 and line[4] == "-" else None


def sniff(head: str) -> bool:
    """Return True when ``head`` has an Ovid record header followed by a tag line."""
    return bool(_SNIFF.search(head))


# --- the SO ("source") string ---------------------------------------------------------------


@dataclass
class OvidSource:
    """The parts of an Ovid ``SO`` string; ``conference`` is the Embase conference part."""

    journal: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    year: int | None = None
    conference: str | None = None
    article_number: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


#: Trailing labelled parts: "... 2018. Date of Publication: 2018." / "Article Number: e0012."
_LABELLED = re.compile(
    r"\.?\s+(Date of Publication|Article Number|Number of pages|Date of Release)\s*:\s*"
)
#: Embase style tail: "12 (3) (pp 221-228), 2018" / "12 (Supplement 3) (no pagination), 2018".
_EMBASE_TAIL = re.compile(
    r"^(?P<head>.*?\.)\s+"
    r"(?P<vol>[^\s(),:]*\d[^\s(),:]*)?\s*"
    r"(?:\((?!pp\b|no pagination)(?P<issue>[^()]*)\)\s*)?"
    r"(?:\((?:pp\s*(?P<pages>[^()]*)|(?P<nopag>no pagination))\)\s*)?"
    r",\s*(?P<date>[^,]*?)\.?$"
)
#: MEDLINE style tail: "20(2):282-296, 2019 Feb" / "12:1-9, 2018" / "13(1):e0190000, 2018".
_MEDLINE_TAIL = re.compile(
    r"^(?P<head>.*?\.)\s+"
    r"(?P<vol>[^\s(),:]*\d[^\s(),:]*)?\s*(?:\((?P<issue>[^()]*)\))?\s*:\s*(?P<pages>[^\s,]+)"
    r",\s*(?P<date>[^,]*?)\.?$"
)


def _split_labelled(so: str) -> tuple[str, dict[str, str]]:
    """Return ``so`` without its trailing "Label: value" parts, and those parts by label."""
    m = _LABELLED.search(so)
    if not m:
        return so.strip(), {}
    body, rest = so[: m.start()], so[m.start() :]
    parts: dict[str, str] = {}
    pieces = _LABELLED.split(rest)
    # split() gives ["", label1, value1, label2, value2, ...]
    for label, value in zip(pieces[1::2], pieces[2::2], strict=True):
        parts[label] = value.strip().rstrip(".").strip()
    return body.strip(), parts


def _split_head(head: str) -> tuple[str | None, str | None]:
    """Return ``(journal, conference)`` from the part before the volume ("J. Conference: ...")."""
    head = head.strip().rstrip(".").strip()
    m = re.search(r"\.\s+Conference:\s*", head)
    if m:
        return head[: m.start()].strip() or None, head[m.end() :].strip() or None
    return head or None, None


def parse_source(so: str) -> OvidSource:
    """Take apart an Ovid ``SO`` string into journal, volume, issue, pages and year.

    Shapes handled (Embase and Ovid MEDLINE):
    "Lancet Oncology. 20(2):282-296, 2019 Feb.",
    "Journal of X. 12 (3) (pp 221-228), 2018. Date of Publication: 2018.",
    "BMC Proceedings. Conference: ... Spain. 12 (Supplement 3) (no pagination), 2018. ...".
    When no shape fits, the journal is the text before the first ". " and the year is the
    last year in the string, so a new shape degrades instead of failing.
    """
    text = " ".join(so.split())
    body, labelled = _split_labelled(text)
    out = OvidSource(extra=dict(labelled))
    out.article_number = labelled.get("Article Number") or None
    m = _EMBASE_TAIL.match(body) or _MEDLINE_TAIL.match(body)
    if m:
        out.journal, out.conference = _split_head(m.group("head"))
        out.volume = m.group("vol") or None
        out.issue = (m.group("issue") or "").strip() or None
        pages = (m.group("pages") or "").strip()
        out.pages = pages or None
        out.year = parse_year(m.group("date"))
    else:
        first = re.split(r"\.\s", body, maxsplit=1)[0]
        out.journal, out.conference = _split_head(first)
        years = re.findall(r"(?<!\d)(?:1[6-9]|20|21)\d\d(?!\d)", body)
        out.year = int(years[-1]) if years else None
    if out.year is None:
        out.year = parse_year(labelled.get("Date of Publication"))
    if out.pages is None and out.article_number:
        out.pages = out.article_number
    return out


# --- splitting the file into records --------------------------------------------------------


@dataclass
class _RawRecord:
    """One record: its header number, first line, lines, and tag values in file order."""

    number: int
    header: str
    line: int
    lines: list[str] = field(default_factory=list)
    tags: dict[str, list[str]] = field(default_factory=dict)


def _add_line(rec: _RawRecord, last_tag: str | None, text: str) -> None:
    """Add an untagged line to the value of the tag before it."""
    piece = text.strip()
    if not piece or last_tag is None:
        return
    values = rec.tags[last_tag]
    if last_tag in _LIST_TAGS and piece.startswith("("):
        values.append(piece)
    elif values and values[-1]:
        values[-1] = f"{values[-1]} {piece}"
    elif values:
        values[-1] = piece
    else:
        values.append(piece)


def _iter_raw_records(path: Path) -> Iterator[_RawRecord]:
    """Yield each record; raise on a tag line before the first record header."""
    current: _RawRecord | None = None
    last_tag: str | None = None
    count = 0
    for lineno, text in iter_text_lines(path):
        header = _HEADER.match(text)
        if header:
            if current is not None:
                yield current
            count += 1
            current, last_tag = _RawRecord(count, header.group(1), lineno, [text]), None
            continue
        m = _tag_of(text)
        if current is None:
            if m:
                raise InputFileError(
                    path,
                    f"tag line {m.group(1)!r} before the first record header (like '<1>')",
                    line=lineno,
                )
            continue
        current.lines.append(text)
        if m:
            last_tag = m.group(1)
            current.tags.setdefault(last_tag, []).append((m.group(2) or "").strip())
        else:
            if last_tag is None and text.strip():
                raise InputFileError(
                    path,
                    f"untagged text after the header of record {current.number}",
                    line=lineno,
                    record=current.number,
                )
            _add_line(current, last_tag, text)
    if current is not None:
        yield current
    if count == 0:
        raise InputFileError(path, "no Ovid records (no header line like '<1>')", line=1)


# --- the field mapping ----------------------------------------------------------------------


def _publication_types(bag: TagBag) -> list[str]:
    """Return ``PT`` then ``ST`` types without case-insensitive repeats."""
    return unique(bag.take("PT") + bag.take("ST"))


def _identifiers(bag: TagBag) -> tuple[str | None, str | None]:
    """Return ``(accession, pmid)``: ``UI``/``AN``/``ID``; in Ovid MEDLINE the UI is the PMID."""
    accession = bag.text("UI", "AN", "ID")
    medline = any(_MEDLINE_DB.search(v) for v in bag.values("DB"))
    pmid = None
    pm = bag.values("PM")
    if len(pm) == 1 and pm[0].isdigit():
        pmid = bag.take("PM")[0]
    elif medline and accession and accession.isdigit():
        pmid = accession
    return accession, pmid


def _to_record(path: Path, raw: _RawRecord) -> ParsedRecord:
    """Map one record's tags to a :class:`ParsedRecord` (unused tags go to ``extra``)."""
    if not raw.tags:
        raise InputFileError(
            path, f"record {raw.number} has no fields", line=raw.line, record=raw.number
        )
    for tag, values in raw.tags.items():
        for value in values:
            check_field(path, tag, value, line=raw.line, record=raw.number)
    bag = TagBag(raw.tags)
    so_text = " ".join(bag.values("SO"))
    source = parse_source(so_text) if so_text else OvidSource()
    accession, pmid = _identifiers(bag)
    keywords, starred = strip_major(bag.values("MH"))
    if not starred:
        bag.take("MH")
    yr = bag.values("YR")
    year = parse_year(yr[0]) if yr else None
    if year is not None and yr[0].strip() == str(year):
        bag.take("YR")
    dois = [d for d in (clean_doi(v) for v in bag.values("DO")) if d]
    if dois and len(set(dois)) == 1:
        bag.take("DO")
    types = _publication_types(bag)
    rec = ParsedRecord(
        source_key=accession,
        title=bag.text("TI"),
        abstract=bag.text("AB"),
        authors=bag.take("AU") or bag.take("FA"),
        year=year if year is not None else source.year,
        journal=bag.text("JN", "JT") or source.journal,
        journal_abbrev=bag.text("JA", "TA"),
        volume=bag.text("VO") or source.volume,
        issue=bag.text("IP") or source.issue,
        pages=bag.text("PG") or source.pages,
        doi=dois[0] if dois else None,
        pmid=pmid,
        accession=accession,
        publication_types=types,
        keywords=keywords,
        language=bag.text("LG", "LA"),
        flags=notice_flags(types),
        raw="\n".join(raw.lines).rstrip("\n"),
        line=raw.line,
    )
    rec.extra = bag.extra()  # after the mapping: only the tags it did not use
    rec.extra["ovid_record_number"] = raw.header
    if source.conference:
        rec.extra["conference"] = source.conference
    rec.extra.update({f"SO {label}": value for label, value in source.extra.items()})
    return rec


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield the records of an Ovid tagged file one by one."""
    for raw in _iter_raw_records(path):
        yield _to_record(path, raw)

"""Provides the Web of Science tagged plain-text importer (.txt "Other reference software", .ciw).

The layout: a file header (``FN``, ``VR``), then records that start with ``PT`` (``PT J``
journal, ``B`` book, ``S`` series, ``P`` patent) and end with ``ER``; ``EF`` ends the file.
A tag is two characters and a space; a value wraps onto continuation lines indented three
spaces. For list fields (authors, addresses, cited references) each line is one item; for
text fields the lines are one wrapped value and are joined. WoS RIS exports are RIS and are
read by :mod:`living_review.sources.ris`; this sniffer never claims them.

Identity: the UT (``WOS:000424022700066``) is the record's accession and source key, kept with
its ``WOS:`` prefix; the PMID (``PM``) is kept apart.
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
    join_pages,
    parse_year,
)
from living_review.sources.ris import TagBag, notice_flags, unique

_TAG = re.compile(r"^([A-Z][A-Z0-9])(?: (.*))?$")
_FIRST_PT = re.compile(r"\APT [A-Z]\s*$")
_ER_LINE = re.compile(r"(?m)^ER\s*$")
#: Tags whose continuation lines are separate items rather than one wrapped value.
_LIST_TAGS = {"AU", "AF", "BA", "BF", "BE", "CA", "GP", "C1", "C3", "CR", "RP"}
#: Header/trailer tags that live outside records.
_FILE_TAGS = {"FN", "VR", "EF"}
#: An unwrapped (paragraph-per-line) abstract has lines longer than WoS's wrap width.
_WRAP_WIDTH = 100


@dataclass
class _RawRecord:
    """One record's tag lines, as ``(tag, [line values])`` in file order."""

    number: int
    line: int
    lines: list[str] = field(default_factory=list)
    tags: dict[str, list[str]] = field(default_factory=dict)


def sniff(head: str) -> bool:
    """Return True for a WoS tagged file: an ``FN`` header, or ``PT J`` first and an ``ER``."""
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("FN "):
        return True
    first = text.split("\n", 1)[0].rstrip("\r")
    return bool(_FIRST_PT.match(first)) and bool(_ER_LINE.search(text))


def _error_missing_er(path: Path, rec: _RawRecord, where: str, lineno: int) -> InputFileError:
    """Return the error for a record that is not closed by ``ER``."""
    return InputFileError(
        path,
        f"record {rec.number} (PT at line {rec.line}) has no ER line before {where}",
        line=lineno,
        record=rec.number,
    )


def _iter_raw_records(path: Path) -> Iterator[_RawRecord]:
    """Yield each record's tags; raise on a missing ``ER`` or a tag outside a record."""
    current: _RawRecord | None = None
    last_tag: str | None = None
    count = 0
    for lineno, text in iter_text_lines(path):
        m = _TAG.match(text)
        tag = m.group(1) if m else None
        if current is None:
            if not text.strip() or tag in _FILE_TAGS:
                continue
            if tag != "PT":
                raise InputFileError(
                    path,
                    f"{text[:40]!r} outside a record (records start with 'PT ')",
                    line=lineno,
                )
            count += 1
            current = _RawRecord(count, lineno)
        current.lines.append(text)
        if tag == "ER":
            yield current
            current, last_tag = None, None
            continue
        if tag in ("PT", "EF") and len(current.lines) > 1:
            raise _error_missing_er(path, current, f"the {tag} at line {lineno}", lineno)
        if m is not None and tag is not None:
            current.tags.setdefault(tag, []).append((m.group(2) or "").strip())
            last_tag = tag
        elif text.strip():
            if last_tag is None:  # unreachable: a record starts with its PT line
                raise InputFileError(path, "continuation line without a tag", line=lineno)
            current.tags[last_tag].append(text.strip())
    if current is not None:
        raise _error_missing_er(path, current, "the end of the file", current.line)


def _join(tag: str, values: list[str]) -> list[str]:
    """Return a tag's values: one item per line for list tags, else one joined value."""
    values = [v for v in values if v]
    if tag in _LIST_TAGS or not values:
        return values
    if tag == "AB" and len(values) > 1 and max(len(v) for v in values) > _WRAP_WIDTH:
        return ["\n".join(values)]  # a paragraph per line (structured abstract)
    return [" ".join(values)]


def _split_semicolons(values: list[str]) -> list[str]:
    """Return ``"a; b"`` values split into their items."""
    return [p.strip() for v in values for p in v.split(";") if p.strip()]


def _pages(bag: TagBag) -> str | None:
    """Return ``BP-EP``, else the article number ``AR`` (without WoS's "UNSP " marker)."""
    bp, ep = bag.text("BP"), bag.text("EP")
    if bp or ep:
        return join_pages(bp, ep)
    ar = bag.values("AR")
    if not ar:
        return None
    number = re.sub(r"^UNSP\s+", "", ar[0])
    if number == ar[0]:
        bag.take("AR")
    return number


def _to_record(path: Path, raw: _RawRecord) -> ParsedRecord:
    """Map one record's tags to a :class:`ParsedRecord` (unused tags go to ``extra``)."""
    tags = {tag: _join(tag, values) for tag, values in raw.tags.items()}
    for tag, values in tags.items():
        for value in values:
            check_field(path, tag, value, line=raw.line, record=raw.number)
    bag = TagBag(tags)
    authors = bag.take("AF") or bag.take("AU")
    authors = authors + bag.take("CA")
    year = None
    py = bag.values("PY")
    if py:
        year = parse_year(py[0])
        if year is not None and py[0].strip() == str(year):
            bag.take("PY")
    if year is None:
        year = parse_year(" ".join(bag.values("PD") + bag.values("EA")))
    types = _split_semicolons(bag.take("DT"))
    doi_values = bag.values("DI")
    doi = clean_doi(doi_values[0]) if doi_values else None
    if doi is not None:
        bag.take("DI")
    pmid = bag.text("PM")
    accession = bag.text("UT")
    return ParsedRecord(
        source_key=accession,
        title=bag.text("TI"),
        abstract=bag.text("AB"),
        authors=authors,
        year=year,
        journal=bag.text("SO"),
        journal_abbrev=bag.text("JI", "J9"),
        volume=bag.text("VL"),
        issue=bag.text("IS"),
        pages=_pages(bag),
        doi=doi,
        pmid=pmid,
        accession=accession,
        publication_types=unique(types),
        keywords=unique(_split_semicolons(bag.take("DE") + bag.take("ID"))),
        language=bag.text("LA"),
        flags=notice_flags(types),
        extra=bag.extra(),
        raw="\n".join(raw.lines),
        line=raw.line,
    )


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield the records of a WoS tagged file one by one (one record in memory at a time)."""
    for raw in _iter_raw_records(path):
        yield _to_record(path, raw)

"""Provides the MEDLINE / PubMed ".nbib" importer (PubMed's "PubMed format" text export).

The format is a 4-character tag field, "- ", the value; continuation lines are indented six
spaces; a blank line ends a record. We split the file into records ourselves (to know each
record's first line, to keep its exact lines as ``raw`` and to reject a garbage line with its
line number), join continuation lines into one logical field each, and let ``Bio.Medline``
turn those logical lines into its record dictionary. Joining first matters: Bio.Medline only
joins continuations correctly for its "text keys" and a few list keys (MH, AD); a wrapped
CN, GR or COIS would otherwise split into two list items.

Bio.Medline also space-joins repeated text keys (IS, LID), so the DOI is taken from our own
per-field list: first an ``AID`` ending in "[doi]", then a ``LID`` ending in "[doi]".

Authors are the ``FAU`` names ("Last, First", as in the PubMed XML importer), or the ``AU``
names when a file has no FAU (older exports), with ``CN`` group authors in file order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from Bio import Medline

from living_review.errors import InputFileError
from living_review.sources.base import (
    MAX_FIELD_CHARS,
    ParsedRecord,
    clean_doi,
    iter_text_lines,
    parse_year,
)

_TAG_FIELD = re.compile(r"[A-Z][A-Z0-9]{1,3} *")
_CONTINUATION = " " * 6

#: Tags that only MEDLINE uses (RIS and Ovid use neither these nor the 4-letter ones).
_MEDLINE_TAGS = frozenset(
    ("PMID", "STAT", "OWN", "DP", "FAU", "LID", "AID", "TA", "JT", "VI", "IP", "PG", "PT")
    + ("MH", "OT", "EDAT", "CRDT", "PHST", "PST", "MHDA", "JID", "DCOM", "LR", "DEP", "SO")
    + ("PL", "OTO", "GN", "CN", "IR", "FIR", "COIS", "PMC")
)
#: Tags that mark RIS (and RIS-like Ovid exports); one of them means "not MEDLINE".
_RIS_TAGS = frozenset({"TY", "ER"})
#: Ovid tagged exports put a "<1. >" header line before each record.
_OVID_HEADER = re.compile(r"^<\d+\.?\s*>")
_SNIFF_LINES = 40

_PT_FLAGS = {
    "published erratum": "erratum",
    "retraction of publication": "retraction",
    "retracted publication": "retracted",
    "expression of concern": "expression_of_concern",
    "comment": "comment",
}

#: Comment/correction tags -> flag, mirroring the XML importer's RefType rules: "EFR" (erratum
#: for) is an erratum notice, "EIN" (erratum in) an article that has one; "CON" (comment on)
#: is a comment, while "CIN" (comment in: others commented on this) sets no flag.
_LINK_FLAGS = {
    "EFR": "erratum",
    "EIN": "has_erratum",
    "ROF": "retraction",
    "RIN": "retracted",
    "RRI": "retracted",
    "ECF": "expression_of_concern",
    "ECI": "expression_of_concern",
    "CON": "comment",
    "UIN": "updated",
}

#: Tags mapped to a ParsedRecord field with nothing lost; every other tag goes to extra.
_MAPPED = frozenset({"PMID", "TI", "AB", "TA", "JT", "VI", "IP", "PG"})


def sniff(head: str) -> bool:
    """Return True when the first lines are MEDLINE tag lines and not RIS or Ovid tagged.

    RIS lines ("TY  - JOUR") fit the same 4-character field, so the decision rests on the
    set of tags: MEDLINE has PMID/DP/FAU/LID... and never TY/ER; Ovid has record headers.
    """
    seen: set[str] = set()
    lines = [line for line in head.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines or _tag(lines[0]) is None:
        return False
    for line in lines[:_SNIFF_LINES]:
        if _OVID_HEADER.match(line):
            return False
        tag = _tag(line)
        if tag is not None:
            seen.add(tag)
    return not seen & _RIS_TAGS and bool(seen & _MEDLINE_TAGS)


def _tag(line: str) -> str | None:
    """Return the tag of a MEDLINE tag line ("PMID- 1", "TI  - x", "AB  -"), else None."""
    if len(line) < 5 or line[4] != "-" or (len(line) > 5 and line[5] != " "):
        return None
    if not _TAG_FIELD.fullmatch(line[:4]):
        return None
    return line[:4].rstrip()


@dataclass
class _Field:
    """One logical field: its tag, its value with continuations joined, its first line."""

    tag: str
    value: str
    line: int


@dataclass
class _Chunk:
    """One record as read: its number, first line, exact lines and logical fields."""

    number: int
    line: int
    lines: list[str] = field(default_factory=list)
    fields: list[_Field] = field(default_factory=list)


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield the records of a MEDLINE/.nbib file, streaming, one record at a time."""
    path = Path(path)
    for chunk in _chunks(path):
        yield _record(path, chunk)


def _chunks(path: Path) -> Iterator[_Chunk]:
    """Split the file into records at blank lines, validating every line."""
    chunk: _Chunk | None = None
    count = 0
    for lineno, text in iter_text_lines(path):
        if not text.strip():
            if chunk is not None:
                yield chunk
                chunk = None
            continue
        tag = _tag(text)
        if tag is not None:
            if chunk is not None and tag == "PMID" and chunk.fields:
                # A record without the blank separator line: PMID always opens a record.
                yield chunk
                chunk = None
            if chunk is None:
                count += 1
                chunk = _Chunk(number=count, line=lineno)
            chunk.fields.append(_Field(tag, text[6:].strip(), lineno))
        elif text.startswith(_CONTINUATION) and chunk is not None:
            _continue(path, chunk, text)
        else:
            raise InputFileError(
                path,
                "not a MEDLINE line: expected a tag line such as 'TI  - ...' (4-character "
                "tag, '- ', value) or a continuation line indented 6 spaces",
                line=lineno,
                record=chunk.number if chunk is not None else count + 1,
            )
        chunk.lines.append(text)
    if chunk is not None:
        yield chunk


def _continue(path: Path, chunk: _Chunk, text: str) -> None:
    """Append a continuation line to the record's last field (one space between parts)."""
    last = chunk.fields[-1]
    part = text.strip()
    last.value = f"{last.value} {part}" if last.value else part
    if len(last.value) > MAX_FIELD_CHARS:
        raise InputFileError(
            path,
            f"field {last.tag} is over {MAX_FIELD_CHARS:,} characters",
            line=last.line,
            record=chunk.number,
        )


def _bio_record(chunk: _Chunk) -> dict[str, Any]:
    """Return Bio.Medline's dictionary for one record, fed one logical line per field."""
    lines = [f"{f.tag:<4}- {f.value}\n" for f in chunk.fields]
    return dict(next(Medline.parse(lines)))


def _values(chunk: _Chunk, tag: str) -> list[str]:
    """Return the values of every ``tag`` field of the record, in order."""
    return [f.value for f in chunk.fields if f.tag == tag]


def _authors(chunk: _Chunk) -> list[str]:
    """Return FAU names (AU when the file has no FAU) with CN group names, in file order."""
    use_full = any(f.tag == "FAU" for f in chunk.fields)
    person = "FAU" if use_full else "AU"
    return [f.value for f in chunk.fields if f.tag in (person, "CN") and f.value]


def _doi(chunk: _Chunk) -> str | None:
    """Return the DOI from an AID "... [doi]" field, else from a LID "... [doi]" field."""
    for tag in ("AID", "LID"):
        for value in _values(chunk, tag):
            if value.endswith("[doi]"):
                doi = clean_doi(value)
                if doi:
                    return doi
    return None


def _mesh_descriptor(heading: str) -> str:
    """Return the descriptor of a MH value ("Liver Neoplasms/*drug therapy" -> name)."""
    return heading.split("/", 1)[0].lstrip("*").strip()


def _flags(publication_types: list[str], chunk: _Chunk) -> list[str]:
    """Return the notice flags from PT values and the comment/correction link tags."""
    flags: list[str] = []
    for pt in publication_types:
        flag = _PT_FLAGS.get(pt.lower())
        if flag and flag not in flags:
            flags.append(flag)
    for f in chunk.fields:
        flag = _LINK_FLAGS.get(f.tag)
        if flag and flag not in flags:
            flags.append(flag)
    return flags


def _text(value: Any) -> str | None:
    """Return a Bio.Medline value as one string (lists are space-joined), or None."""
    if isinstance(value, list):
        value = " ".join(value)
    return value or None


def _record(path: Path, chunk: _Chunk) -> ParsedRecord:
    """Build the ParsedRecord of one MEDLINE record."""
    bio = _bio_record(chunk)
    pmid = _text(bio.get("PMID"))
    pub_types = _values(chunk, "PT")
    languages = _values(chunk, "LA")
    keywords = [_mesh_descriptor(h) for h in _values(chunk, "MH")] + _values(chunk, "OT")
    extra = {tag: value for tag, value in bio.items() if tag not in _MAPPED}
    if "TT" in extra:
        extra["vernacular_title"] = extra["TT"]
    return ParsedRecord(
        source_key=pmid,
        title=_text(bio.get("TI")),
        abstract=_text(bio.get("AB")),
        authors=_authors(chunk),
        year=parse_year(_text(bio.get("DP"))),
        journal=_text(bio.get("JT")),
        journal_abbrev=_text(bio.get("TA")),
        volume=_text(bio.get("VI")),
        issue=_text(bio.get("IP")),
        pages=_text(bio.get("PG")),
        doi=_doi(chunk),
        pmid=pmid,
        publication_types=pub_types,
        keywords=list(dict.fromkeys(k for k in keywords if k)),
        language=languages[0] if languages else None,
        flags=_flags(pub_types, chunk),
        extra=extra,
        raw="\n".join(chunk.lines),
        line=chunk.line,
    )

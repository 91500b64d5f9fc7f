"""Provides the parsed-record type every importer yields, and the shared reading rules.

All formats meet here so that the store, dedup and screening see one shape. The rules for
reading bytes (UTF-8 only, BOM allowed, clear errors for Latin-1/UTF-16/binary, a cap on field
size) live here once, so that every format fails the same way on the same kind of bad file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from living_review.errors import InputFileError

#: No bibliographic field is this long; a longer one means a corrupt or hostile file.
MAX_FIELD_CHARS = 5_000_000

#: Flags an importer may set from publication types and comment/correction links.
NOTICE_FLAGS = (
    "erratum",
    "retraction",
    "retracted",
    "expression_of_concern",
    "comment",
    "conference_abstract",
    "has_erratum",
    "updated",
)


@dataclass
class ParsedRecord:
    """One bibliographic record as read from an export, before it is stored.

    ``source_key`` is the record's accession in the database it came from (PMID for PubMed,
    the Embase accession, the WoS UT, a CSV's ``record_id``); it is ``None`` when the export
    carries none. ``raw`` is the exact source text of the record, so nothing the file held is
    lost even where we do not map a field. ``extra`` keeps every other tag/column, by name.
    """

    source_key: str | None = None
    title: str | None = None
    abstract: str | None = None
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    journal: str | None = None
    journal_abbrev: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    pmid: str | None = None
    accession: str | None = None
    publication_types: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    language: str | None = None
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the record as plain data (for JSON and the store)."""
        return asdict(self)


# --- reading text ---------------------------------------------------------------------------

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def check_bytes_head(path: Path, head: bytes) -> None:
    """Reject files that are not UTF-8 text from their first bytes, with a clear reason."""
    if not head:
        raise InputFileError(path, "the file is empty", line=1)
    if head.startswith(_UTF16_BOMS) or (len(head) > 3 and head[1:2] == b"\x00" == head[3:4]):
        raise InputFileError(
            path,
            "the file is UTF-16/UTF-32 encoded; re-export it as UTF-8 "
            "(or convert it: iconv -f UTF-16 -t UTF-8)",
            line=1,
        )


def decode_line(path: Path, raw: bytes, lineno: int) -> str:
    """Decode one line of a UTF-8 file, naming the line when it is not UTF-8 or is binary."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1]
        hint = (
            " (it looks like Latin-1/Windows-1252: re-export as UTF-8)"
            if bad and 0x80 <= bad[0] <= 0xFF
            else ""
        )
        raise InputFileError(
            path, f"not valid UTF-8 at byte {exc.start + 1} of the line{hint}", line=lineno
        ) from None
    if "\x00" in text or _CONTROL.search(text):
        raise InputFileError(path, "binary data (control characters) in a text file", line=lineno)
    if len(text) > MAX_FIELD_CHARS:
        raise InputFileError(
            path,
            f"a line of {len(text):,} characters exceeds the {MAX_FIELD_CHARS:,} limit",
            line=lineno,
        )
    return text


def iter_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 text file, streaming.

    A leading UTF-8 BOM is dropped; line endings (``\\n``, ``\\r\\n``) are removed. Errors name
    the file and the line.
    """
    with path.open("rb") as fh:
        head = fh.read(4)
        check_bytes_head(path, head)
        fh.seek(0)
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            yield lineno, decode_line(path, raw, lineno).rstrip("\r\n")


def check_field(path: Path, name: str, value: str, *, line: int | None, record: int | None) -> str:
    """Return ``value`` unless it is longer than any real bibliographic field can be."""
    if len(value) > MAX_FIELD_CHARS:
        raise InputFileError(
            path,
            f"field {name} is {len(value):,} characters, over the {MAX_FIELD_CHARS:,} limit",
            line=line,
            record=record,
        )
    return value


_YEAR = re.compile(r"(?<!\d)(1[6-9]\d\d|20\d\d|21\d\d)(?!\d)")


def parse_year(text: str | None) -> int | None:
    """Return the first plausible four-digit year in ``text`` ("2019 Jan 28", "2020//")."""
    if not text:
        return None
    m = _YEAR.search(text)
    return int(m.group(1)) if m else None


_DOI = re.compile(r"10\.\d{4,9}/\S+", re.IGNORECASE)


def clean_doi(text: str | None) -> str | None:
    """Return the bare DOI from a DOI, URL or tagged form ("https://doi.org/10.1/x [doi]").

    Only the form is normalised here (no case folding): the stored value stays what the
    database gave, and deduplication does its own comparison-time normalisation.
    """
    if not text:
        return None
    m = _DOI.search(text.strip())
    if not m:
        return None
    doi = m.group(0)
    doi = re.sub(r"\s*\[doi\]$", "", doi)
    return doi.rstrip(".,;")


def join_pages(start: str | None, end: str | None) -> str | None:
    """Return a page range "SP-EP" from separate start/end fields (either may be absent)."""
    start = (start or "").strip()
    end = (end or "").strip()
    if start and end and end != start:
        return f"{start}-{end}"
    return start or end or None

"""Provides format detection and dispatch to the one importer module per format.

Each format module exposes ``sniff(head: str) -> bool`` (does this text look like my format?)
and ``parse(path: Path) -> Iterator[ParsedRecord]`` (a streaming parse that raises
:class:`~living_review.errors.InputFileError` naming the line or record on bad input).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from living_review.errors import InputFileError
from living_review.sources.base import ParsedRecord, check_bytes_head

#: Format name -> module; the order is the detection order (most specific first).
FORMATS: dict[str, str] = {
    "pubmed-xml": "living_review.sources.pubmed_xml",
    "medline": "living_review.sources.medline",
    "wos": "living_review.sources.wos",
    "ovid": "living_review.sources.ovid",
    "ris": "living_review.sources.ris",
    "csv": "living_review.sources.csv_table",
}

SNIFF_BYTES = 64 * 1024


def format_module(fmt: str) -> ModuleType:
    """Return the importer module for a format name."""
    try:
        return importlib.import_module(FORMATS[fmt])
    except KeyError:
        known = ", ".join(FORMATS)
        raise InputFileError("-", f"unknown format {fmt!r} (known: auto, {known})") from None


def read_head(path: Path) -> str:
    """Return the start of a file as text for sniffing (after the byte-level sanity checks)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not an export file") from None
    check_bytes_head(path, head)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise InputFileError(path, "the file holds only white space", line=1)
    if "\x00" in text:
        raise InputFileError(
            path, "binary data, not a text export", line=text[: text.index("\x00")].count("\n") + 1
        )
    return text


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its content (never from its extension alone)."""
    head = read_head(path)
    for name in FORMATS:
        if format_module(name).sniff(head):
            return name
    raise InputFileError(
        path,
        "unknown format: not PubMed XML, MEDLINE/.nbib, RIS, Ovid, Web of Science or CSV "
        "(pass --format if you know it)",
        line=1,
    )


def parse_file(path: Path, fmt: str = "auto") -> tuple[str, Iterator[ParsedRecord]]:
    """Return the format used and a streaming iterator over the file's records."""
    if fmt == "auto":
        fmt = detect_format(path)
    else:
        read_head(path)
    return fmt, format_module(fmt).parse(path)

"""Build the example review's saved search exports from ``../shared/example-hcc``.

Why this script exists: the example review needs search exports to import, deduplicate and
screen, but the shared MEDLINE files carry abstracts (publisher and author copyright) and an
assembler's note (``GN``) that is no MEDLINE field. So we ship *derived* exports instead of
copies: identifiers, titles, authors, journals, years, volumes, pages and DOIs only. A user
with internet gets the real records, abstracts included, with ``lsr search run pubmed``.

Two files are written (the date in their names is the run date ``searches.run_date`` reads):

* ``searches/pubmed/pubmed-2026-11-21.nbib`` -- the 27 records of ``records.medline`` (those
  with a PMID) in PubMed's MEDLINE (.nbib) format, without ``AB`` and ``GN``. Two standard
  tags are derived where the record allows it, never guessed: ``AID`` (from a ``LID`` marked
  ``[doi]``) and ``SO`` (from ``TA``, ``DP``, ``VI``, ``IP``, ``PG`` and the DOI).
* ``searches/embase/embase-2026-11-21.ris`` -- an Embase.com-style RIS export (UTF-8 with a
  BOM, tag order as Embase.com writes it) of all 23 records of ``records_nopmid.medline`` and
  18 of the 27 PMID records, so that deduplication across databases has real work: the same
  trials in another format, with Embase's author style ("Zhu A.X."), full page ranges and no
  trailing full stop on titles. There is no ``U2`` (Embase accession): we cannot know the real
  ones and will not invent them, so these records have no source key in Embase.

Run: ``python searches/build_example.py [--shared DIR] [--out DIR]``. The shared folder is
``--shared``, else ``$LSR_SHARED``, else ``../shared`` next to the repository.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

RUN_DATE = "2026-11-21"
HERE = Path(__file__).resolve().parent

#: Tags dropped from the shared records: AB is publisher text, GN is the assembler's note.
DROPPED_TAGS = frozenset({"AB", "GN"})

#: Every third PMID record (positions 2, 5, 8, ... from 0) is left out of the Embase export,
#: which keeps 18 of 27: a fixed rule, so a rebuild gives the same overlap.
EMBASE_SKIP_EVERY = 3

#: MEDLINE publication types whose Embase.com ``M3`` equivalent is certain; others get no M3.
PT_TO_M3 = {"Editorial": "Editorial", "Review": "Review", "Letter": "Letter"}

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}- ?(.*)$")


@dataclass
class MedlineRecord:
    """One record of the shared MEDLINE files: its lines as written, and its fields by tag."""

    lines: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)

    def all(self, tag: str) -> list[str]:
        """Return every value of ``tag`` (continuation lines joined with one space)."""
        return [v for t, v in self.fields if t == tag]

    def first(self, tag: str) -> str | None:
        """Return the first value of ``tag``, if the record has one."""
        values = self.all(tag)
        return values[0] if values else None


def read_medline(path: Path) -> list[MedlineRecord]:
    """Parse a MEDLINE-format file: records split by blank lines, 6-space continuations."""
    records: list[MedlineRecord] = []
    current: MedlineRecord | None = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        if current is None:
            current = MedlineRecord()
            records.append(current)
        current.lines.append(line)
        if line.startswith("      "):
            if not current.fields:
                raise ValueError(f"{path}:{lineno}: continuation line before any tag")
            tag, value = current.fields[-1]
            current.fields[-1] = (tag, f"{value} {line.strip()}")
            continue
        m = _TAG_LINE.match(line)
        if not m:
            raise ValueError(f"{path}:{lineno}: not a MEDLINE tag line: {line[:40]!r}")
        current.fields.append((m.group(1), m.group(2).strip()))
    return records


def _tag_of(line: str) -> str:
    return line[:4].rstrip(" -")


def doi_of(rec: MedlineRecord) -> str | None:
    """Return the record's DOI from its ``LID``/``AID`` lines marked ``[doi]``."""
    for value in rec.all("LID") + rec.all("AID"):
        if value.endswith("[doi]"):
            return value.removesuffix("[doi]").strip()
    return None


def _medline_lines(tag: str, value: str) -> list[str]:
    """Return one field as PubMed writes it: lines of at most 80 characters, 6-space indent."""
    parts = textwrap.wrap(value, width=74, break_long_words=False, break_on_hyphens=False)
    return [f"{tag:<4}- {parts[0]}", *(f"      {p}" for p in parts[1:])]


def _source_line(rec: MedlineRecord) -> str | None:
    """Return PubMed's ``SO`` citation string, only when journal and date are known."""
    ta, dp = rec.first("TA"), rec.first("DP")
    if not ta or not dp:
        return None
    cite = f"{ta}. {dp}"
    vi, ip, pg = rec.first("VI"), rec.first("IP"), rec.first("PG")
    if vi:
        cite += f";{vi}"
        if ip:
            cite += f"({ip})"
    if pg:
        cite += f":{pg}"
    cite += "."
    doi = doi_of(rec)
    if doi:
        cite += f" doi: {doi}."
    return cite


def to_nbib(rec: MedlineRecord) -> list[str]:
    """Return the record as .nbib lines: the shared lines minus AB/GN, plus AID and SO."""
    out: list[str] = []
    keep = True
    for line in rec.lines:
        if not line.startswith("      "):
            keep = _tag_of(line) not in DROPPED_TAGS
        if keep:
            out.append(line)
    doi = doi_of(rec)
    if doi and not rec.all("AID"):
        out.extend(_medline_lines("AID", f"{doi} [doi]"))
    so = _source_line(rec)
    if so:
        out.extend(_medline_lines("SO", so))
    return out


# --- Embase.com RIS -----------------------------------------------------------------------


def embase_author(full: str | None, short: str) -> str:
    """Return an author as Embase.com writes it: "Zhu A.X.", "Ryoo B.-Y.".

    The full name (``FAU`` "Ryoo, Baek-Yeol") gives hyphenated initials; without it the
    ``AU`` form ("Ryoo BY") gives one initial per capital letter. Anything else (a collective
    name) is kept as written.
    """
    if full and ", " in full:
        last, given = full.split(", ", 1)
        parts = []
        for word in given.replace(".", " ").split():
            parts.append("-".join(f"{p[0]}." for p in word.split("-") if p))
        return f"{last} {''.join(parts)}".strip()
    m = re.fullmatch(r"(.+) ([A-Z]{1,4})", short)
    if m:
        return f"{m.group(1)} {''.join(f'{c}.' for c in m.group(2))}"
    return short


def full_pages(pg: str | None) -> tuple[str | None, str | None]:
    """Split a MEDLINE page range into start and end, expanding "1697-707" to 1697, 1707."""
    if not pg:
        return None, None
    start, sep, end = pg.partition("-")
    start, end = start.strip(), end.strip()
    if not sep or not end:
        return start or None, None
    if start.isdigit() and end.isdigit() and len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return start, end


def to_embase_ris(rec: MedlineRecord) -> list[str]:
    """Return the record as Embase.com RIS lines (tags in Embase.com's order, no abstract)."""
    lines = ["TY  - JOUR"]

    def put(tag: str, value: str | None) -> None:
        if value:
            lines.append(f"{tag}  - {value}")

    m3 = next((PT_TO_M3[p] for p in rec.all("PT") if p in PT_TO_M3), None)
    put("M3", m3)
    dp = rec.first("DP")
    year = re.match(r"\d{4}", dp) if dp else None
    put("Y1", year.group(0) if year else None)
    put("VL", rec.first("VI"))
    put("IS", rec.first("IP"))
    sp, ep = full_pages(rec.first("PG"))
    put("SP", sp)
    put("EP", ep)
    # JF is the full journal title; where the shared record has only the NLM abbreviation,
    # that abbreviation is the only journal name we know, so it stands in both fields.
    put("JF", rec.first("JT") or rec.first("TA"))
    put("JO", rec.first("TA") or rec.first("JT"))
    pmid = rec.first("PMID")
    put("C5", pmid)
    put("DB", "Embase")
    if pmid and rec.all("MH"):
        put("DB", "Medline")  # MeSH indexing shows the record is in MEDLINE proper
    doi = doi_of(rec)
    put("L2", f"http://dx.doi.org/{doi}" if doi else None)
    put("DO", doi)
    fau, au = rec.all("FAU"), rec.all("AU")
    for i, short in enumerate(au):
        put("A1", embase_author(fau[i] if len(fau) == len(au) else None, short))
    title = rec.first("TI")
    if title and title.endswith(".") and not title.endswith(".."):
        title = title[:-1]
    put("T1", title)
    lines.append("ER  -")
    return lines


# --- building -------------------------------------------------------------------------------


def shared_dir(given: Path | None) -> Path:
    """Return the shared data folder: --shared, $LSR_SHARED, or ../shared next to the repo."""
    if given is not None:
        return given
    env = os.environ.get("LSR_SHARED")
    if env:
        return Path(env)
    return HERE.parent.parent / "shared"


def build(shared: Path, out: Path) -> dict[str, int]:
    """Write both exports under ``out`` (``out/pubmed``, ``out/embase``); return counts."""
    src = shared / "example-hcc"
    with_pmid = read_medline(src / "records.medline")
    without_pmid = read_medline(src / "records_nopmid.medline")
    missing = [i for i, r in enumerate(with_pmid) if not r.first("PMID")]
    if missing:
        raise ValueError(f"records.medline: records {missing} have no PMID")

    nbib = out / "pubmed" / f"pubmed-{RUN_DATE}.nbib"
    nbib.parent.mkdir(parents=True, exist_ok=True)
    # A PubMed .nbib export starts with a blank line and separates records by one.
    text = "".join("\n" + "\n".join(to_nbib(r)) + "\n" for r in with_pmid)
    nbib.write_text(text, encoding="utf-8", newline="\n")

    overlap = [r for i, r in enumerate(with_pmid) if i % EMBASE_SKIP_EVERY != 2]
    embase_records = without_pmid + overlap
    # Embase lists newest first; ties broken by title so a rebuild is byte-identical.
    embase_records.sort(key=lambda r: (-int((r.first("DP") or "0")[:4]), r.first("TI") or ""))
    ris = out / "embase" / f"embase-{RUN_DATE}.ris"
    ris.parent.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join("\n".join(to_embase_ris(r)) for r in embase_records) + "\n"
    ris.write_text("\ufeff" + body, encoding="utf-8", newline="\n")
    return {
        "pubmed_records": len(with_pmid),
        "embase_records": len(embase_records),
        "embase_with_pmid": len(overlap),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, help="the shared data folder (../shared)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (searches/)")
    args = parser.parse_args(argv)
    shared = shared_dir(args.shared)
    if not (shared / "example-hcc" / "records.medline").is_file():
        print(
            f"build_example: no example data at {shared / 'example-hcc'} "
            "(pass --shared DIR or set LSR_SHARED)",
            file=sys.stderr,
        )
        return 1
    counts = build(shared, args.out)
    print(
        f"wrote {counts['pubmed_records']} PubMed records and {counts['embase_records']} "
        f"Embase records ({counts['embase_with_pmid']} also in the PubMed export) under "
        f"{args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

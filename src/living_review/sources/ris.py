"""Provides the RIS importer (Embase.com, Ovid RIS, Scopus, EBSCO, WoS RIS, Zotero, EndNote).

RIS is one format in name only: every exporter uses its own subset of tags and its own
synonyms (title in ``TI``/``T1``, journal in ``JF``/``T2``/``JO``, the Embase accession in
``U2``, the Ovid accession in ``ID`` or in an ovidsp link, the WoS UT in ``AN``). So:

* We split the file into records ourselves, line by line (``TY`` starts, ``ER`` ends). This
  keeps memory bounded on large exports, lets us name the line of a broken record, and lets us
  skip the non-RIS lines some exporters write between records (Ovid's ``1.`` counter and its
  "Link to the Ovid Full Text..." lines). Tag lines *after* ``ER`` (Ovid PsycINFO writes
  ``NL  - <journal abbreviation>`` there) belong to the record before them.
* Each record's lines are handed to ``rispy``'s line parser with an identity tag mapping and
  every tag read as a list, so rispy renames nothing and drops nothing; our own synonym rules
  (below) then pick the fields, and every tag they do not fully use goes to ``extra`` by name.
* Lines that carry no tag continue the tag before them: each is a new value (EndNote puts one
  keyword or URL per untagged line) and text fields join the values (abstract: with a line
  break, title: with a space).
* WoS RIS exports end some lines with a bare carriage return (``...USA\\rAD  - ...`` read as
  one "run-on" line); a bare ``\\r`` is a line break there, so lines are split on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rispy import RisParser

from living_review.errors import InputFileError
from living_review.sources.base import (
    ParsedRecord,
    check_field,
    clean_doi,
    iter_text_lines,
    join_pages,
    parse_year,
)

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
_SNIFF = re.compile(r"(?:^|[\r\n])TY  - ")
#: Ovid RIS numbers its records with a line like "12." before ``TY``.
_OVID_COUNTER = re.compile(r"^\s*\d+\.\s*$")

#: Publication types (lower-cased, exact) that mark a notice rather than a research report.
_TYPE_FLAGS = {
    "conference abstract": "conference_abstract",
    "conference paper": "conference_abstract",
    "meeting abstract": "conference_abstract",
    "proceedings paper": "conference_abstract",
    "erratum": "erratum",
    "published erratum": "erratum",
    "correction": "erratum",
    "retraction": "retraction",
    "retraction notice": "retraction",
    "retraction of publication": "retraction",
    "retracted": "retracted",
    "retracted article": "retracted",
    "retracted publication": "retracted",
    "expression of concern": "expression_of_concern",
    "editorial expression of concern": "expression_of_concern",
}
#: RIS reference types that are conference items whatever M3 says.
_CONFERENCE_TY = {"CONF", "CPAPER", "ABST"}
_BOOK_TY = {"BOOK", "EBOOK", "EDBOOK", "CHAP", "ECHAP"}
#: PsycINFO (via Ovid) puts its classification code in M3: "Health Psychology [3360]".
_CLASSIFICATION = re.compile(r"\[\d{4}\]\s*$")
_PMID_NOTE = re.compile(r"\bPMID:\s*(\d{1,9})\b")
_PUBMED_URL = re.compile(r"ncbi\.nlm\.nih\.gov/(?:pubmed/|entrez/\S*?uids?=)?(\d{1,9})\b")
_OVID_URL_AN = re.compile(r"ovidsp\.ovid\.com/.*?[?&]AN=([^&\s]+)", re.IGNORECASE)
_OVID_URL_DB = re.compile(r"[?&]D=([a-z]+)", re.IGNORECASE)
_OVID_MEDLINE_SEGMENTS = ("medl", "mesz", "medp", "mede", "medc", "prem", "ppez")
_SCOPUS_EID = re.compile(r"[?&]eid=(2-s2\.0-\d+)")
_EBSCO_AN = re.compile(r"ebscohost\.com/.*?[?&]AN=(\d+)", re.IGNORECASE)
_EBSCO_NOTE_AN = re.compile(r"Accession Number:\s*([\w-]+)")
_EMBASE_ACCESSION = re.compile(r"^L\d{6,}$")
_URL_TAGS = ("UR", "L1", "L2", "L3", "L4", "LK")
_PUBMED_CONTEXT = re.compile(r"pubmed|medline|\bNLM\b", re.IGNORECASE)


# --- helpers shared with the other tagged formats (ovid, wos) ------------------------------


def notice_flags(types: Iterable[str]) -> list[str]:
    """Return the notice flags implied by publication types, in a stable order."""
    found = {_TYPE_FLAGS[t.strip().lower()] for t in types if t.strip().lower() in _TYPE_FLAGS}
    return [f for f in _FLAG_ORDER if f in found]


_FLAG_ORDER = ("conference_abstract", "erratum", "retraction", "retracted", "expression_of_concern")


def unique(values: Iterable[str]) -> list[str]:
    """Return ``values`` without case-insensitive repeats, keeping the first spelling."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    return out


def strip_major(terms: Iterable[str]) -> tuple[list[str], bool]:
    """Drop the leading ``*`` (major-topic marker) from subject terms; say whether any had one."""
    out: list[str] = []
    starred = False
    for t in terms:
        if t.startswith("*"):
            starred = True
            t = t.lstrip("*").strip()
        if t:
            out.append(t)
    return out, starred


class TagBag:
    """The tag values of one record, remembering which tags the field mapping fully used.

    Whatever is not marked used ends up in ``ParsedRecord.extra`` by tag name: one string for a
    tag seen once, a list for a repeated tag. That is how "every tag ends up somewhere" holds
    without listing every tag a vendor might invent.
    """

    def __init__(self, tags: dict[str, list[str]]) -> None:
        self.tags = {t: [v for v in vs if v] for t, vs in tags.items()}
        self.used: set[str] = set()

    def values(self, tag: str) -> list[str]:
        """Return the non-empty values of ``tag`` without marking it used."""
        return self.tags.get(tag, [])

    def take(self, tag: str) -> list[str]:
        """Return the values of ``tag`` and mark it used."""
        self.used.add(tag)
        return self.values(tag)

    def first(self, *tags: str, sep: str = " ") -> tuple[str | None, str | None]:
        """Return ``(tag, joined value)`` for the first of ``tags`` with a value; mark it used."""
        for tag in tags:
            vals = self.values(tag)
            if vals:
                self.used.add(tag)
                return tag, sep.join(vals)
        return None, None

    def text(self, *tags: str, sep: str = " ") -> str | None:
        """Return the joined value of the first of ``tags`` that has one (marking it used)."""
        return self.first(*tags, sep=sep)[1]

    def extra(self) -> dict[str, Any]:
        """Return the unused tags: a string for a single value, a list for repeated ones."""
        out: dict[str, Any] = {}
        for tag, vals in self.tags.items():
            if tag in self.used or not vals:
                continue
            out[tag] = vals[0] if len(vals) == 1 else list(vals)
        return out


# --- splitting the file into records --------------------------------------------------------


@dataclass
class _RawRecord:
    """The lines of one RIS record (``TY`` .. ``ER``) and where it sits in the file."""

    number: int
    line: int
    lines: list[str]
    ovid_numbered: bool
    trailing: list[str] = field(default_factory=list)


def sniff(head: str) -> bool:
    """Return True when a line of ``head`` starts with the RIS type tag ``TY  - ``."""
    return bool(_SNIFF.search(head))


def _split_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)``, splitting on bare carriage returns (WoS RIS run-ons)."""
    for lineno, text in iter_text_lines(path):
        if "\r" in text:
            for part in text.split("\r"):
                yield lineno, part
        else:
            yield lineno, text


def _iter_raw_records(path: Path) -> Iterator[_RawRecord]:
    """Yield each record's lines; raise on a record without ``ER`` or a stray tag line."""
    current: _RawRecord | None = None
    pending: _RawRecord | None = None
    previous = ""
    count = 0
    for lineno, text in _split_lines(path):
        m = _TAG_LINE.match(text)
        tag = m.group(1) if m else None
        if current is not None:
            if tag == "TY":
                raise InputFileError(
                    path,
                    f"record {current.number} (TY at line {current.line}) has no ER line "
                    "before the next TY",
                    line=lineno,
                    record=current.number,
                )
            current.lines.append(text)
            if tag == "ER":
                pending, current = current, None
            continue
        if tag == "TY":
            if pending is not None:
                yield pending
                pending = None
            count += 1
            current = _RawRecord(count, lineno, [text], bool(_OVID_COUNTER.match(previous)))
        elif tag == "ER":
            raise InputFileError(path, "ER line outside a record (no TY before it)", line=lineno)
        elif tag is not None:
            if pending is None:
                raise InputFileError(
                    path,
                    f"tag line {tag!r} before the first record (records start with 'TY  - ')",
                    line=lineno,
                )
            pending.trailing.append(text)
        if text.strip():
            previous = text
    if current is not None:
        raise InputFileError(
            path,
            f"record {current.number} has no ER line before the end of the file",
            line=current.line,
            record=current.number,
        )
    if pending is not None:
        yield pending
    if count == 0:
        raise InputFileError(path, "no RIS records (no line starts with 'TY  - ')", line=1)


# --- reading one record's tags with rispy ---------------------------------------------------


class _IdentityMapping(dict[str, str]):
    """A rispy tag mapping that keeps every tag under its own name (rispy renames otherwise)."""

    def __missing__(self, key: str) -> str:
        return key


class _EveryTag:
    """A rispy ``list_tags`` that holds every tag, so repeats and continuations are lists."""

    def __contains__(self, _tag: object) -> bool:
        return True


def _make_parser() -> RisParser:
    """Return a rispy parser that renames, splits and drops nothing."""
    return RisParser(
        mapping=_IdentityMapping(),
        list_tags=_EveryTag(),
        delimiter_tags_mapping={},
        ignore=[],
        skip_unknown_tags=False,
    )


def _read_tags(parser: RisParser, raw: _RawRecord) -> dict[str, list[str]]:
    """Return the record's tag -> values (trailing tags after ``ER`` included)."""
    lines = raw.lines[:-1] + raw.trailing + raw.lines[-1:]
    # A line our splitter calls untagged must be untagged for rispy too ("AB  -x" is a
    # continuation for us, a tag for rispy): a leading space makes that certain.
    fed = [ln if _TAG_LINE.match(ln) else " " + ln for ln in lines]
    parsed = parser.parse_lines(iter(fed))
    record: dict[str | None, Any] = parsed[0] if parsed else {}
    tags: dict[str, list[str]] = {}
    for tag, value in record.items():
        key = tag if tag is not None else "untagged"
        tags[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    return tags


# --- the field mapping ----------------------------------------------------------------------


def _year(bag: TagBag) -> int | None:
    """Return the year from ``PY``/``Y1``/``DA``; a tag holding only the year is used up."""
    for tag in ("PY", "Y1", "DA"):
        for value in bag.values(tag):
            year = parse_year(value)
            if year is not None:
                if len(bag.values(tag)) == 1 and value.strip(" /") == str(year):
                    bag.take(tag)
                return year
    return None


def _pages(bag: TagBag) -> str | None:
    """Return pages from ``SP``/``EP`` (or the article number ``C7``)."""
    sp, ep = bag.values("SP"), bag.values("EP")
    if sp == ["No"] and ep == ["Specified"]:  # PsycINFO's "No Specified" pages
        return None
    if sp or ep:
        bag.take("SP")
        bag.take("EP")
        return join_pages(" ".join(sp), " ".join(ep))
    return bag.text("C7")


def _doi(bag: TagBag) -> str | None:
    """Return the DOI from ``DO``/``L3``/``M3`` or a doi.org link."""
    for tag in ("DO", "L3", "M3"):
        values = bag.values(tag)
        found = [d for d in (clean_doi(v) for v in values) if d]
        if found:
            if len(set(found)) == 1 and len(found) == len(values):
                bag.take(tag)
            return found[0]
    for tag in _URL_TAGS:
        for value in bag.values(tag):
            if "doi.org/" in value:
                doi = clean_doi(value)
                if doi:
                    return doi
    return None


def _urls(bag: TagBag) -> list[str]:
    """Return every link the record holds (ovidsp, Scopus, EBSCO, PubMed...)."""
    return [v for tag in _URL_TAGS for v in bag.values(tag)]


def _pubmed_context(bag: TagBag) -> bool:
    """Return True when the record says it came from PubMed/MEDLINE (Zotero, EndNote)."""
    return any(_PUBMED_CONTEXT.search(v) for tag in ("DB", "DP") for v in bag.values(tag))


def _is_scopus(bag: TagBag) -> bool:
    """Return True for a Scopus record (``DB  - Scopus`` or a scopus.com link)."""
    return "Scopus" in bag.values("DB") or any("scopus.com/" in u for u in _urls(bag))


def _pmid(bag: TagBag, embase_com: bool) -> str | None:
    """Return the PMID: Embase.com ``C5``, Scopus ``C2``, a PubMed ``AN`` or link, a note."""
    c5 = bag.values("C5")
    if embase_com and len(c5) == 1 and c5[0].isdigit():
        return bag.take("C5")[0]
    c2 = bag.values("C2")
    if len(c2) == 1 and c2[0].isdigit() and _is_scopus(bag):
        return bag.take("C2")[0]
    an = bag.values("AN")
    if len(an) == 1 and an[0].isdigit() and _pubmed_context(bag):
        return bag.take("AN")[0]
    for url in _urls(bag):
        m = _PUBMED_URL.search(url)
        if m:
            return m.group(1)
        m = _OVID_URL_AN.search(url)
        seg = _OVID_URL_DB.search(url)
        if m and seg and seg.group(1).lower().startswith(_OVID_MEDLINE_SEGMENTS):
            return m.group(1)
    for tag in ("N1", "AN", "M2", "C1"):
        for value in bag.values(tag):
            m = _PMID_NOTE.search(value)
            if m:
                return m.group(1)
    return None


def _accession(bag: TagBag, raw: _RawRecord) -> str | None:
    """Return the record's accession in the database it came from (see the module rules)."""
    u2 = bag.values("U2")
    if len(u2) == 1 and _EMBASE_ACCESSION.match(u2[0]):  # Embase.com
        return bag.take("U2")[0]
    an = bag.values("AN")
    if len(an) == 1 and not an[0].isdigit():  # WoS "WOS:...", Cochrane "CN-..."
        return bag.take("AN")[0]
    ids = bag.values("ID")
    if raw.ovid_numbered and len(ids) == 1:  # Ovid RIS: ID is the accession
        return bag.take("ID")[0]
    for url in _urls(bag):  # EndNote re-export of Ovid: ID is EndNote's number, AN in the link
        m = _OVID_URL_AN.search(url)
        if m:
            return m.group(1)
    for url in _urls(bag):
        m = _SCOPUS_EID.search(url) or _EBSCO_AN.search(url)
        if m:
            return m.group(1)
    for value in bag.values("N1"):
        m = _EBSCO_NOTE_AN.search(value)
        if m:
            return m.group(1)
    if len(an) == 1 and not _pubmed_context(bag):
        return bag.take("AN")[0]
    return None


def _publication_types(bag: TagBag, ty: str | None) -> list[str]:
    """Return ``M3`` types (not DOIs or PsycINFO class codes) and the ``TY`` code."""
    m3 = bag.values("M3")
    types = [v for v in m3 if not clean_doi(v) and not _CLASSIFICATION.search(v)]
    if types and len(types) == len(m3):
        bag.take("M3")
    if ty:
        types.append(ty)
    return unique(types)


def _journal(bag: TagBag) -> tuple[str | None, str | None]:
    """Return ``(journal, abbreviation)`` from the vendor-specific synonyms."""
    jtag, journal = bag.first("JF", "T2", "JO", "JA", "J1", "J2")
    abbrev_tags = [t for t in ("JA", "J2", "J1", "JI", "J9", "NL", "JO") if t != jtag]
    return journal, bag.text(*abbrev_tags)


def _to_record(path: Path, parser: RisParser, raw: _RawRecord) -> ParsedRecord:
    """Map one record's tags to a :class:`ParsedRecord` (unused tags go to ``extra``)."""
    tags = _read_tags(parser, raw)
    for tag, values in tags.items():
        for value in values:
            check_field(path, tag, value, line=raw.line, record=raw.number)
    bag = TagBag(tags)
    ty = bag.text("TY")
    title = bag.text("TI", "T1", "CT")
    if title is None and ty in _BOOK_TY:
        title = bag.text("BT")
    abstract = bag.text("AB", "N2", sep="\n")
    if abstract is not None:
        check_field(path, "abstract", abstract, line=raw.line, record=raw.number)
    journal, abbrev = _journal(bag)
    keywords, starred = strip_major(bag.values("KW"))
    if not starred:
        bag.take("KW")
    # Embase.com marks itself by its accession in U2, or by "DB - Embase" when an export (or a
    # record) carries no accession; either way C5 is then the MEDLINE PMID.
    embase_com = (
        bool(bag.values("U2")) and bool(_EMBASE_ACCESSION.match(bag.values("U2")[0]))
    ) or any(v.strip().lower() == "embase" for v in bag.values("DB"))
    pmid = _pmid(bag, embase_com)
    accession = _accession(bag, raw)
    pub_types = _publication_types(bag, ty)
    flags = notice_flags(pub_types)
    if ty in _CONFERENCE_TY and "conference_abstract" not in flags:
        flags.insert(0, "conference_abstract")
    rec = ParsedRecord(
        title=title,
        abstract=abstract,
        authors=_authors(bag),
        year=_year(bag),
        journal=journal,
        journal_abbrev=abbrev,
        volume=bag.text("VL"),
        issue=bag.text("IS"),
        pages=_pages(bag),
        doi=_doi(bag),
        pmid=pmid,
        accession=accession,
        publication_types=pub_types,
        keywords=keywords,
        language=bag.text("LA", "LG"),
        flags=flags,
        raw="\n".join(raw.lines + raw.trailing),
        line=raw.line,
    )
    rec.source_key = accession or (pmid if _pubmed_context(bag) else None)
    rec.extra = bag.extra()
    return rec


def _authors(bag: TagBag) -> list[str]:
    """Return the authors from ``AU`` (else ``A1``); ``A2`` (editors) stays in ``extra``."""
    for tag in ("AU", "A1"):
        if bag.values(tag):
            return bag.take(tag)
    return []


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield the records of a RIS file one by one (memory holds one record at a time)."""
    parser = _make_parser()
    for raw in _iter_raw_records(path):
        yield _to_record(path, parser, raw)

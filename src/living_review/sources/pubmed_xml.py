"""Provides the PubMed XML importer (efetch ``PubmedArticleSet`` files and live replies).

PubMed XML is the richest PubMed export: it carries structured abstracts, collective authors,
vernacular titles and the comment/correction links that tell an erratum or a retraction from
the article it concerns. Files reach 100,000 records, so the parse streams with
``lxml.etree.iterparse`` and clears each article once read (memory stays bounded), walks
children directly instead of running XPath per record (speed), and never touches the network:
old efetch files name an ``http://`` DTD that must not be fetched.

Author names are written ``"Last, ForeName"`` (``"Last, Initials"`` when the forename is
missing, ``"Last"`` alone when both are); a collective author is its name. The parts
(last name, forename, initials, suffix, ORCID) are kept in ``extra["author_details"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeAlias

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs

from living_review.errors import InputFileError
from living_review.sources.base import (
    MAX_FIELD_CHARS,
    ParsedRecord,
    check_bytes_head,
    check_field,
    clean_doi,
    join_pages,
    parse_year,
)

#: lxml has no type stubs; elements are typed loosely rather than pulling in lxml-stubs.
_Element: TypeAlias = Any

#: Record elements; their end events drive the parse.
_ARTICLE = "PubmedArticle"
_BOOK = "PubmedBookArticle"
_DELETE = "DeleteCitation"
#: E-utilities replies that hold PMIDs or a history key, never records.
_EUTILS_REPLIES = ("eSearchResult", "ePostResult")
_ROOTS = ("PubmedArticleSet", _ARTICLE, _BOOK)

_SNIFF = re.compile(
    r"\A\ufeff?\s*"
    r"(?:<\?xml[^>]*\?>\s*)?"
    r"(?:<!--.*?-->\s*)*"
    r"(?:<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)?"
    r"(?:<!--.*?-->\s*)*"
    r"<(PubmedArticleSet|PubmedArticle|PubmedBookArticle|eSearchResult|ePostResult)[\s>/]",
    re.DOTALL,
)

#: Publication types that mark a notice rather than (or besides) a research report.
_PT_FLAGS = {
    "published erratum": "erratum",
    "retraction of publication": "retraction",
    "retracted publication": "retracted",
    "expression of concern": "expression_of_concern",
    "comment": "comment",
}

#: CommentsCorrections RefType -> flag. ``ErratumFor`` means "this is the erratum for X",
#: ``ErratumIn`` means "X is an erratum to this article". An expression of concern flags both
#: the notice and the article it concerns (the links in extra tell which).
_REF_FLAGS = {
    "ErratumFor": "erratum",
    "ErratumIn": "has_erratum",
    "RetractionOf": "retraction",
    "RetractionIn": "retracted",
    "RetractedandRepublishedIn": "retracted",
    "ExpressionOfConcernFor": "expression_of_concern",
    "ExpressionOfConcernIn": "expression_of_concern",
    "CommentOn": "comment",
    "UpdateIn": "updated",
}

_NAME_PARTS = frozenset(("LastName", "ForeName", "Initials", "Suffix"))

#: libxml2 messages meaning the input stopped inside an element.
_TRUNCATION_SIGNS = ("Premature end", "Couldn't find end", "EndTag", "end of data")

_LXML_WHERE = re.compile(r",? line \d+, column \d+$")


def sniff(head: str) -> bool:
    """Return True when the first element is a PubMed record set or an E-utilities reply.

    The replies are claimed too so that importing one gives the clear "this holds PMIDs, not
    records" error rather than "unknown format".
    """
    return _SNIFF.match(head) is not None


def parse(path: Path) -> Iterator[ParsedRecord]:
    """Yield the records of a PubMed XML file, streaming."""
    path = Path(path)
    with path.open("rb") as fh:
        yield from parse_stream(fh, str(path))


def parse_stream(stream: IO[bytes], name: str) -> Iterator[ParsedRecord]:
    """Yield the records of PubMed XML read from ``stream`` (a file or an efetch reply).

    ``name`` is what errors call the input (a path, or e.g. "efetch reply").
    """
    return PubmedXmlReader(stream, name).records()


class _Prefixed:
    """A read-only byte stream that first returns ``head`` then the rest of ``stream``.

    Lets us inspect the first bytes of a non-seekable stream (encoding checks) without
    losing them for the XML parser.
    """

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all remaining when negative)."""
        if self._head:
            if size < 0:
                out, self._head = self._head + self._stream.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._stream.read(size)


class PubmedXmlReader:
    """One pass over a PubMed XML stream; ``deleted_pmids`` fills from ``<DeleteCitation>``.

    A class rather than a bare generator so that a caller (the living update) can read the
    PMIDs PubMed asks us to delete once the records have been consumed.
    """

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.stream = stream
        self.name = name
        self.deleted_pmids: list[str] = []
        self.count = 0

    def records(self) -> Iterator[ParsedRecord]:
        """Yield each article/book record; raise InputFileError on bad or non-record input."""
        head = self.stream.read(4)
        check_bytes_head(Path(self.name), head)
        context = etree.iterparse(
            _Prefixed(head, self.stream),
            events=("start", "end"),
            tag=(*_ROOTS, _DELETE, *_EUTILS_REPLIES),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_blank_text=False,
        )
        try:
            for event, elem in context:
                record = self._handle(event, elem)
                if record is not None:
                    yield record
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc) from None
        root = context.root
        if root is None or root.tag not in _ROOTS:
            tag = "none" if root is None else f"<{root.tag}>"
            raise InputFileError(
                self.name, f"not a PubMed XML file: the root element is {tag}", line=1
            )

    def _handle(self, event: str, elem: _Element) -> ParsedRecord | None:
        """Act on one iterparse event; return a record when one is complete."""
        tag = elem.tag
        if event == "start":
            if tag in _EUTILS_REPLIES:
                self._eutils_reply(elem)
            return None
        if tag == _DELETE:
            self.deleted_pmids.extend(_text(p) for p in elem if p.tag == "PMID")
            _release(elem)
            return None
        if tag not in (_ARTICLE, _BOOK):
            return None
        self.count += 1
        try:
            if tag == _ARTICLE:
                record = _article(elem, self.name, self.count)
            else:
                record = _book(elem, self.name, self.count)
        finally:
            _release(elem)
        return record

    def _eutils_reply(self, elem: _Element) -> None:
        """Refuse an esearch/epost reply with a message that says what to do instead."""
        kind = "esearch" if elem.tag == "eSearchResult" else "epost"
        raise InputFileError(
            self.name,
            f"this is an E-utilities {kind} reply (<{elem.tag}>): it holds PMIDs or a history "
            "key, not records. Use `lsr search run pubmed`, or fetch the records with efetch "
            "(rettype=xml) and import that file",
            line=elem.sourceline,
        )

    def _syntax_error(self, exc: etree.XMLSyntaxError) -> InputFileError:
        """Turn lxml's error into one naming the input, line and record being read."""
        msg = _LXML_WHERE.sub("", exc.msg or str(exc)).strip()
        line, column = exc.position if exc.position else (exc.lineno, 0)
        hint = ""
        if any(sign in msg for sign in _TRUNCATION_SIGNS):
            hint = " (the file looks truncated or damaged)"
        elif "Text node too long" in msg or "huge" in msg.lower():
            hint = " (a field is longer than any real bibliographic field)"
        elif "encoding" in msg.lower() or "UTF-8" in msg:
            hint = " (the file is not UTF-8: re-export it as UTF-8)"
        return InputFileError(
            self.name,
            f"not well-formed XML at column {column}: {msg}{hint}",
            line=line or None,
            record=self.count + 1,
        )


# --- element helpers ----------------------------------------------------------------------


def _release(elem: _Element) -> None:
    """Free a finished record and the already-read siblings before it (bounded memory)."""
    elem.clear(keep_tail=True)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _text(elem: _Element | None) -> str:
    """Return all text inside ``elem`` (inline markup kept as text), whitespace-collapsed."""
    if elem is None:
        return ""
    if len(elem):
        return " ".join(_markup_text(elem).split())
    text = elem.text
    if not text:
        return ""
    # A leaf: its text is all of itertext(); collapse only when layout whitespace is inside.
    return " ".join(text.split()) if "\n" in text or "\t" in text else text.strip()


def _markup_text(elem: _Element) -> str:
    """Return ``"".join(elem.itertext())`` for an element with children, computed in C.

    Abstracts with MathML or <sub>/<i> markup are the costliest fields of a record to read:
    libxml2's text serialiser is about 9x faster than ``itertext`` there (measured: 32 us down
    to 3.5 us on one AbstractText holding 53 MathML elements) and yields the same string,
    except at an unexpanded entity reference (``&nbsp;`` from a DTD we do not load), which
    ``itertext`` keeps as ``"&nbsp;"`` and the serialiser would expand or drop. So a C-level
    scan for entity references picks the path: same text as before, and no entity is ever
    expanded (billion laughs, XXE).
    """
    if next(elem.iter(etree.Entity), None) is None:
        text: str = etree.tostring(elem, method="text", encoding="unicode", with_tail=False)
        return text
    return "".join(elem.itertext())


def _leaf(elem: _Element) -> str:
    """Return the text of an element the DTD declares as text only (PMID, LastName...).

    Faster than :func:`_text` on the hot paths (MeSH, links, author parts); anything that
    may hold markup (titles, abstracts, keywords) goes through :func:`_text`.
    """
    text = elem.text
    return text.strip() if text else ""


def _child(elem: _Element | None, tag: str) -> _Element | None:
    """Return the first direct child named ``tag`` (``find`` without path compilation)."""
    if elem is None:
        return None
    for child in elem:
        if child.tag == tag:
            return child
    return None


def _index(elem: _Element | None) -> dict[Any, _Element]:
    """Map each child tag to its child, in one pass (for tags the DTD allows once)."""
    if elem is None:
        return {}
    return {child.tag: child for child in elem}


def _children(elem: _Element | None, tag: str) -> list[_Element]:
    """Return the direct children named ``tag``.

    ``iterchildren(tag)`` matches in C, so the siblings we skip (AffiliationInfo, History...)
    never get a Python proxy.
    """
    if elem is None:
        return []
    return list(elem.iterchildren(tag))


def _opt(text: str) -> str | None:
    """Return ``text`` or None when empty."""
    return text or None


# --- field extraction ---------------------------------------------------------------------


def _abstract(abstract: _Element | None) -> str | None:
    """Join the AbstractText parts, each prefixed with its label ("METHODS: ...")."""
    parts = []
    for part in _children(abstract, "AbstractText"):
        text = _text(part)
        label = part.get("Label")
        if label and text:
            parts.append(f"{label}: {text}")
        elif text:
            parts.append(text)
    return " ".join(parts) or None


def _authors(author_list: _Element | None) -> tuple[list[str], list[dict[str, str]]]:
    """Return display names and the detailed parts of each Author of an AuthorList."""
    names: list[str] = []
    details: list[dict[str, str]] = []
    if author_list is None:
        return names, details
    # The hottest loop of the parser (a record has ~7 authors of ~5 parts): leaf text is
    # read inline rather than through _leaf, which profiled at a third of this function.
    for author in author_list.iterchildren("Author"):
        parts: dict[str, str] = {}
        for child in author:
            tag = child.tag
            if tag in _NAME_PARTS:
                text = child.text
                parts[tag] = text.strip() if text else ""
            elif tag == "CollectiveName":
                parts[tag] = _text(child)
            elif tag == "Identifier" and child.get("Source") == "ORCID":
                parts["ORCID"] = _leaf(child)
        name = _display_name(parts)
        if name:
            names.append(name)
            details.append(parts)
    return names, details


def _display_name(parts: dict[str, str]) -> str:
    """Return "Last, ForeName" (or Initials), or the collective name."""
    if parts.get("CollectiveName"):
        return parts["CollectiveName"]
    last = parts.get("LastName", "")
    given = parts.get("ForeName") or parts.get("Initials") or ""
    if last and given:
        return f"{last}, {given}"
    return last or given


def _pub_date_year(pub_date: _Element | None) -> tuple[int | None, str | None]:
    """Return the year and the date as written, from Year or MedlineDate ("1998 Dec-1999 Jan")."""
    if pub_date is None:
        return None, None
    written = " ".join(_text(child) for child in pub_date)
    year = _child(pub_date, "Year")
    if year is not None:
        return parse_year(_text(year)), written or None
    return parse_year(_text(_child(pub_date, "MedlineDate"))), written or None


def _article_ids(id_list: _Element | None) -> dict[str, str]:
    """Return ``{IdType: value}`` from an ArticleIdList (first value per type)."""
    ids: dict[str, str] = {}
    for item in _children(id_list, "ArticleId"):
        kind = item.get("IdType", "")
        if kind and kind not in ids:
            ids[kind] = _text(item)
    return ids


def _elocations(parent: _Element | None) -> dict[str, str]:
    """Return ``{EIdType: value}`` from the ELocationID children (first per type)."""
    locations: dict[str, str] = {}
    for item in _children(parent, "ELocationID"):
        kind = item.get("EIdType", "")
        if kind and kind not in locations:
            locations[kind] = _text(item)
    return locations


def _pages(pagination: _Element | None, locations: dict[str, str]) -> str | None:
    """Return MedlinePgn, else Start/EndPage, else a non-DOI ELocationID (an e-locator)."""
    if pagination is not None:
        pgn = _text(_child(pagination, "MedlinePgn"))
        if pgn:
            return pgn
        joined = join_pages(
            _text(_child(pagination, "StartPage")), _text(_child(pagination, "EndPage"))
        )
        if joined:
            return joined
    for kind, value in locations.items():
        if kind != "doi" and value:
            return value
    return None


def _comments_corrections(corrections: _Element | None) -> list[dict[str, str]]:
    """Return the CommentsCorrections links: ref type, citation text and PMID."""
    links: list[dict[str, str]] = []
    if corrections is None:
        return links
    # Heavily commented articles carry 50+ links; leaf text is read inline (see _authors).
    for item in corrections.iterchildren("CommentsCorrections"):
        link = {"ref_type": item.get("RefType", "")}
        for child in item:
            tag = child.tag
            if tag == "RefSource" or tag == "PMID":
                text = child.text
                link["ref_source" if tag == "RefSource" else "pmid"] = text.strip() if text else ""
        links.append(link)
    return links


def _flags(publication_types: list[str], links: list[dict[str, str]]) -> list[str]:
    """Return the notice flags from publication types and comment/correction links."""
    flags: list[str] = []
    for pt in publication_types:
        flag = _PT_FLAGS.get(pt.lower())
        if flag and flag not in flags:
            flags.append(flag)
    for link in links:
        flag = _REF_FLAGS.get(link["ref_type"])
        if flag and flag not in flags:
            flags.append(flag)
    return flags


def _keywords(mesh: _Element | None, keyword_lists: list[_Element]) -> list[str]:
    """Return MeSH descriptor names then author/other KeywordList terms, without repeats."""
    words: list[str] = []
    if mesh is not None:
        for heading in mesh.iterchildren("MeshHeading"):
            # The first DescriptorName only (as _child), matched in C; text inline (hot loop).
            for descriptor in heading.iterchildren("DescriptorName"):
                text = descriptor.text
                words.append(text.strip() if text else "")
                break
    for keyword_list in keyword_lists:
        words.extend(_text(k) for k in keyword_list if k.tag == "Keyword")
    return list(dict.fromkeys(w for w in words if w))


def _languages(parent: _Element | None) -> list[str]:
    """Return the Language codes of an Article/BookDocument."""
    return [t for t in (_text(lang) for lang in _children(parent, "Language")) if t]


def _raw(elem: _Element) -> str:
    """Return the exact XML of the record element (no tail, no pretty-printing)."""
    raw: str = etree.tostring(elem, encoding="unicode", with_tail=False)
    return raw


def _checked(name: str, field: str, value: str | None, line: int | None, n: int) -> str | None:
    """Return ``value`` after the field-size check (a corrupt file must not fill the store)."""
    if value is None or len(value) <= MAX_FIELD_CHARS:
        return value
    return check_field(Path(name), field, value, line=line, record=n)


# --- records ------------------------------------------------------------------------------


def _article(elem: _Element, name: str, n: int) -> ParsedRecord:
    """Build the record of one PubmedArticle."""
    line = elem.sourceline
    top = _index(elem)
    citation = top.get("MedlineCitation")
    if citation is None:
        raise InputFileError(name, "PubmedArticle without MedlineCitation", line=line, record=n)
    cit = _index(citation)
    article = cit.get("Article")
    art = _index(article)
    journal = art.get("Journal")
    jour = _index(journal)
    issue = _index(jour.get("JournalIssue"))
    pmid = _text(cit.get("PMID")) or None
    ids = _article_ids(_child(top.get("PubmedData"), "ArticleIdList"))
    locations = _elocations(article)
    year, written_date = _pub_date_year(issue.get("PubDate"))
    if year is None:
        year = parse_year(_text(_child(art.get("ArticleDate"), "Year")))
    names, details = _authors(art.get("AuthorList"))
    pub_types = [_text(p) for p in _children(art.get("PublicationTypeList"), "PublicationType")]
    links = _comments_corrections(cit.get("CommentsCorrectionsList"))
    languages = _languages(article)
    extra: dict[str, Any] = {"author_details": details}
    _put(extra, "vernacular_title", _text(art.get("VernacularTitle")))
    _put(extra, "pub_date", written_date)
    _put(extra, "languages", languages if len(languages) > 1 else None)
    _put(extra, "comments_corrections", links)
    _put(extra, "article_ids", ids)
    _put(extra, "elocation_ids", locations)
    _put(extra, "status", citation.get("Status"))
    _put(extra, "issn", _text(jour.get("ISSN")))
    _put(extra, "medline_ta", _text(_child(cit.get("MedlineJournalInfo"), "MedlineTA")))
    if "OtherAbstract" in cit:
        _put(extra, "other_abstracts", [_abstract(a) for a in _children(citation, "OtherAbstract")])
    return ParsedRecord(
        source_key=pmid,
        title=_checked(name, "ArticleTitle", _opt(_text(art.get("ArticleTitle"))), line, n),
        abstract=_checked(name, "Abstract", _abstract(art.get("Abstract")), line, n),
        authors=names,
        year=year,
        journal=_opt(_text(jour.get("Title"))),
        journal_abbrev=_opt(_text(jour.get("ISOAbbreviation"))),
        volume=_opt(_text(issue.get("Volume"))),
        issue=_opt(_text(issue.get("Issue"))),
        pages=_pages(art.get("Pagination"), locations),
        doi=clean_doi(ids.get("doi") or locations.get("doi")),
        pmid=pmid,
        publication_types=[p for p in pub_types if p],
        keywords=_keywords(cit.get("MeshHeadingList"), _children(citation, "KeywordList")),
        language=languages[0] if languages else None,
        flags=_flags(pub_types, links),
        extra=extra,
        raw=_raw(elem),
        line=line,
    )


def _book(elem: _Element, name: str, n: int) -> ParsedRecord:
    """Build the record of one PubmedBookArticle (a book or a chapter of one)."""
    line = elem.sourceline
    doc = _child(elem, "BookDocument")
    if doc is None:
        raise InputFileError(name, "PubmedBookArticle without BookDocument", line=line, record=n)
    book = _child(doc, "Book")
    pmid = _text(_child(doc, "PMID")) or None
    ids = _article_ids(_child(_child(elem, "PubmedBookData"), "ArticleIdList"))
    ids = {**_article_ids(_child(doc, "ArticleIdList")), **ids}
    locations = {**_elocations(book), **_elocations(doc)}
    book_title = _text(_child(book, "BookTitle"))
    chapter_title = _text(_child(doc, "ArticleTitle"))
    year, written_date = _pub_date_year(_child(book, "PubDate"))
    authors: list[str] = []
    details: list[dict[str, str]] = []
    editors: list[str] = []
    for author_list in _children(book, "AuthorList") + _children(doc, "AuthorList"):
        names, parts = _authors(author_list)
        if author_list.get("Type", "authors") == "editors":
            editors.extend(names)
        else:
            authors.extend(names)
            details.extend(parts)
    pub_types = [_text(p) for p in _children(doc, "PublicationType")]
    pub_types += [
        _text(p) for p in _children(_child(doc, "PublicationTypeList"), "PublicationType")
    ]
    languages = _languages(doc)
    extra: dict[str, Any] = {"author_details": details, "book": True}
    _put(extra, "book_title", book_title)
    _put(extra, "editors", editors)
    _put(extra, "vernacular_title", _text(_child(doc, "VernacularTitle")))
    _put(extra, "pub_date", written_date)
    _put(extra, "publisher", _text(_child(_child(book, "Publisher"), "PublisherName")))
    _put(extra, "article_ids", ids)
    _put(extra, "elocation_ids", locations)
    _put(extra, "languages", languages if len(languages) > 1 else None)
    return ParsedRecord(
        source_key=pmid,
        title=_checked(name, "Title", _opt(chapter_title or book_title), line, n),
        abstract=_checked(name, "Abstract", _abstract(_child(doc, "Abstract")), line, n),
        authors=authors,
        year=year,
        volume=_opt(_text(_child(book, "Volume"))),
        pages=_pages(_child(doc, "Pagination"), locations),
        doi=clean_doi(ids.get("doi") or locations.get("doi")),
        pmid=pmid,
        publication_types=[p for p in pub_types if p],
        keywords=_keywords(None, _children(doc, "KeywordList")),
        language=languages[0] if languages else None,
        flags=_flags(pub_types, []),
        extra=extra,
        raw=_raw(elem),
        line=line,
    )


def _put(extra: dict[str, Any], key: str, value: Any) -> None:
    """Store ``value`` under ``key`` unless it is empty (keeps extra small per record)."""
    if value:
        extra[key] = value

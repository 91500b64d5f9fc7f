"""Unit tests for the PubMed XML importer, on small XML we write here (no shared data)."""

from __future__ import annotations

import codecs
import io
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import pubmed_xml
from living_review.sources.base import ParsedRecord

DECL = '<?xml version="1.0" ?>\n'
DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)

ARTICLE = """<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">111</PMID>
<Article PubModel="Print"><Journal><ISSN IssnType="Electronic">1234-5678</ISSN>
<JournalIssue CitedMedium="Internet"><Volume>12</Volume><Issue>3</Issue>
<PubDate><Year>2021</Year><Month>Mar</Month></PubDate></JournalIssue>
<Title>Journal of Tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>
<ArticleTitle>Sorafenib <i>versus</i> placebo.</ArticleTitle>
<Pagination><StartPage>100</StartPage><EndPage>110</EndPage><MedlinePgn>100-10</MedlinePgn></Pagination>
<ELocationID EIdType="doi" ValidYN="Y">10.1000/eloc.doi</ELocationID>
<Abstract>
<AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND"
>Use of &#946;<sub>2</sub>-agonists.</AbstractText>
<AbstractText Label="METHODS" NlmCategory="METHODS">We randomised <i>n</i> = 10.</AbstractText>
</Abstract>
<AuthorList CompleteYN="Y">
<Author ValidYN="Y"><LastName>Smith</LastName><ForeName>Jane A</ForeName>
<Initials>JA</Initials><Suffix>Jr</Suffix>
<Identifier Source="ORCID">0000-0001-0000-0000</Identifier></Author>
<Author ValidYN="Y"><LastName>Doe</LastName><Initials>J</Initials></Author>
<Author ValidYN="Y"><CollectiveName>HCC <i>Trial</i> Group</CollectiveName></Author>
</AuthorList>
<Language>eng</Language><Language>fre</Language>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
<PublicationType UI="D016449">Randomized Controlled Trial</PublicationType></PublicationTypeList>
<VernacularTitle>Sorafénib contre placebo.</VernacularTitle>
</Article>
<MedlineJournalInfo><MedlineTA>J Tests</MedlineTA></MedlineJournalInfo>
<CommentsCorrectionsList>
<CommentsCorrections RefType="CommentIn"><RefSource>J Tests. 2021;12:200</RefSource>
<PMID Version="1">222</PMID></CommentsCorrections>
</CommentsCorrectionsList>
<MeshHeadingList>
<MeshHeading>
<DescriptorName UI="D006528" MajorTopicYN="Y">Carcinoma, Hepatocellular</DescriptorName>
<QualifierName UI="Q000188" MajorTopicYN="N">drug therapy</QualifierName></MeshHeading>
<MeshHeading><DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName></MeshHeading>
</MeshHeadingList>
<KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N">sorafenib</Keyword>
<Keyword MajorTopicYN="N">Humans</Keyword></KeywordList>
</MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">111</ArticleId>
<ArticleId IdType="doi">10.1000/articleid.doi</ArticleId>
<ArticleId IdType="pmc">PMC1</ArticleId></ArticleIdList>
<ReferenceList><Reference><Citation>Other paper.</Citation><ArticleIdList>
<ArticleId IdType="doi">10.9999/reference.doi</ArticleId></ArticleIdList></Reference>
</ReferenceList>
</PubmedData></PubmedArticle>"""


def article(
    pmid: str = "1",
    *,
    title: str = "A title.",
    pub_date: str = "<Year>2020</Year>",
    body: str = "",
    pub_types: tuple[str, ...] = ("Journal Article",),
    links: tuple[str, ...] = (),
    data: str | None = None,
) -> str:
    """Return a minimal PubmedArticle; ``body`` goes inside Article, ``data`` in PubmedData."""
    pts = "".join(f"<PublicationType>{pt}</PublicationType>" for pt in pub_types)
    refs = "".join(
        f'<CommentsCorrections RefType="{ref}"><RefSource>X</RefSource>'
        f"<PMID>9{i}</PMID></CommentsCorrections>"
        for i, ref in enumerate(links)
    )
    refs = f"<CommentsCorrectionsList>{refs}</CommentsCorrectionsList>" if refs else ""
    if data is None:
        data = f'<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList>'
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal>"
        f"<JournalIssue><PubDate>{pub_date}</PubDate></JournalIssue><Title>J</Title></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle>{body}"
        f"<PublicationTypeList>{pts}</PublicationTypeList></Article>{refs}</MedlineCitation>"
        f"<PubmedData>{data}</PubmedData></PubmedArticle>"
    )


def article_set(*items: str, decl: str = DECL + DOCTYPE) -> str:
    """Wrap articles in a PubmedArticleSet document."""
    return decl + "<PubmedArticleSet>\n" + "\n".join(items) + "\n</PubmedArticleSet>\n"


def write(tmp_path: Path, text: str | bytes, name: str = "pubmed.xml") -> Path:
    """Write a fixture file (text as UTF-8) and return its path."""
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def parse_text(tmp_path: Path, text: str | bytes) -> list[ParsedRecord]:
    """Parse a document written to a temporary file."""
    return list(pubmed_xml.parse(write(tmp_path, text)))


def one(tmp_path: Path, item: str) -> ParsedRecord:
    """Parse a set holding one article and return its record."""
    (record,) = parse_text(tmp_path, article_set(item))
    return record


# --- sniff --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        DECL + DOCTYPE + "<PubmedArticleSet>\n<PubmedArticle>",
        "<PubmedArticleSet><PubmedArticle>",
        "\ufeff" + DECL + "<PubmedArticle><MedlineCitation>",
        DECL + "<!-- fetched 2025 -->\n<PubmedBookArticle>",
        DECL + '<!DOCTYPE eSearchResult PUBLIC "x" "y">\n<eSearchResult><Count>1</Count>',
        DECL + '<!DOCTYPE ePostResult PUBLIC "x" "y"><ePostResult>',
        DECL + "<!DOCTYPE PubmedArticleSet [ <!ENTITY x 'y'> ]>\n<PubmedArticleSet>",
    ],
)
def test_sniff_claims_pubmed_xml_and_eutils_replies(head: str) -> None:
    assert pubmed_xml.sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        DECL + "<html><body>PubmedArticleSet</body></html>",
        DECL + "<eSummaryResult><DocSum>",
        "PMID- 123\nTI  - <PubmedArticleSet>\n",
        "TY  - JOUR\nTI  - x\nER  - \n",
        "title,abstract\n<PubmedArticle>,x\n",
        "",
    ],
)
def test_sniff_refuses_other_text(head: str) -> None:
    assert not pubmed_xml.sniff(head)


# --- fields -------------------------------------------------------------------------------


def test_article_fields(tmp_path: Path) -> None:
    rec = one(tmp_path, ARTICLE)
    assert rec.source_key == rec.pmid == "111"
    assert rec.title == "Sorafenib versus placebo."
    assert rec.authors == ["Smith, Jane A", "Doe, J", "HCC Trial Group"]
    assert rec.year == 2021
    assert rec.journal == "Journal of Tests"
    assert rec.journal_abbrev == "J Tests"
    assert (rec.volume, rec.issue, rec.pages) == ("12", "3", "100-10")
    assert rec.language == "eng"
    assert rec.extra["languages"] == ["eng", "fre"]
    assert rec.publication_types == ["Journal Article", "Randomized Controlled Trial"]
    assert rec.keywords == ["Carcinoma, Hepatocellular", "Humans", "sorafenib"]
    assert rec.extra["vernacular_title"] == "Sorafénib contre placebo."
    assert rec.extra["issn"] == "1234-5678"
    assert rec.extra["article_ids"]["pmc"] == "PMC1"
    assert rec.flags == []


def test_author_details_keep_the_name_parts(tmp_path: Path) -> None:
    details = one(tmp_path, ARTICLE).extra["author_details"]
    assert details[0] == {
        "LastName": "Smith",
        "ForeName": "Jane A",
        "Initials": "JA",
        "Suffix": "Jr",
        "ORCID": "0000-0001-0000-0000",
    }
    assert details[1] == {"LastName": "Doe", "Initials": "J"}
    assert details[2] == {"CollectiveName": "HCC Trial Group"}


def test_structured_abstract_keeps_labels_and_inline_markup_text(tmp_path: Path) -> None:
    rec = one(tmp_path, ARTICLE)
    assert rec.abstract == "BACKGROUND: Use of β2-agonists. METHODS: We randomised n = 10."


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # Comments and processing instructions add nothing; CDATA is text; layout collapses.
        ("a<!-- c -->b<?pi x?><i>c<![CDATA[<d>]]></i>\n  e", "abc<d> e"),
        # An entity the (unloaded) DTD would define stays as written and is never expanded.
        ("H<sub>2</sub>O&nbsp;<i>in&nbsp;vivo</i>", "H2O&nbsp;in&nbsp;vivo"),
    ],
)
def test_marked_up_text_as_itertext_gives_it(tmp_path: Path, title: str, expected: str) -> None:
    """Marked-up fields are read by libxml2's text serialiser (speed) unless an entity
    reference is inside: either way the text is what ``itertext`` gives."""
    assert one(tmp_path, article(title=title)).title == expected


def test_unlabelled_abstract_and_missing_abstract(tmp_path: Path) -> None:
    body = "<Abstract><AbstractText>Plain <sup>text</sup> here.</AbstractText></Abstract>"
    first, second = parse_text(tmp_path, article_set(article("1", body=body), article("2")))
    assert first.abstract == "Plain text here."
    assert second.abstract is None


def test_raw_is_the_exact_article_xml_and_line_is_where_it_starts(tmp_path: Path) -> None:
    text = article_set(article("1"), article("2", title="Second &amp; last"))
    first, second = parse_text(tmp_path, text)
    assert first.raw == article("1")
    assert second.raw == article("2", title="Second &amp; last")
    assert second.title == "Second & last"
    assert (first.line, second.line) == (4, 5)


@pytest.mark.parametrize(
    ("pub_date", "year"),
    [
        ("<Year>1999</Year><Month>Jan</Month>", 1999),
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", 1998),
        ("<Year>2001</Year><Season>Spring</Season>", 2001),
        ("<MedlineDate>Spring</MedlineDate>", None),
    ],
)
def test_year_from_pub_date(tmp_path: Path, pub_date: str, year: int | None) -> None:
    assert one(tmp_path, article(pub_date=pub_date)).year == year


def test_year_falls_back_to_article_date(tmp_path: Path) -> None:
    body = '<ArticleDate DateType="Electronic"><Year>2019</Year></ArticleDate>'
    rec = one(tmp_path, article(pub_date="<MedlineDate>Spring</MedlineDate>", body=body))
    assert rec.year == 2019


def test_doi_prefers_article_id_list_over_elocation_and_ignores_references(
    tmp_path: Path,
) -> None:
    assert one(tmp_path, ARTICLE).doi == "10.1000/articleid.doi"


def test_doi_falls_back_to_elocation(tmp_path: Path) -> None:
    body = '<ELocationID EIdType="doi" ValidYN="Y">10.5555/only.eloc</ELocationID>'
    data = '<ArticleIdList><ArticleId IdType="pubmed">1</ArticleId></ArticleIdList>'
    rec = one(tmp_path, article(body=body, data=data))
    assert rec.doi == "10.5555/only.eloc"


def test_no_doi_anywhere(tmp_path: Path) -> None:
    assert one(tmp_path, article()).doi is None


def test_pages_from_elocation_when_no_pagination(tmp_path: Path) -> None:
    body = (
        '<ELocationID EIdType="doi">10.1371/journal.pone.1</ELocationID>'
        '<ELocationID EIdType="pii">e0209483</ELocationID>'
    )
    assert one(tmp_path, article(body=body)).pages == "e0209483"


def test_pages_from_start_and_end_page(tmp_path: Path) -> None:
    body = "<Pagination><StartPage>5</StartPage><EndPage>9</EndPage></Pagination>"
    assert one(tmp_path, article(body=body)).pages == "5-9"


def test_doi_only_elocation_is_not_a_page(tmp_path: Path) -> None:
    body = '<ELocationID EIdType="doi">10.1/x</ELocationID>'
    assert one(tmp_path, article(body=body)).pages is None


@pytest.mark.parametrize(
    ("pub_types", "links", "flags"),
    [
        (("Published Erratum",), (), ["erratum"]),
        (("Journal Article",), ("ErratumFor",), ["erratum"]),
        (("Journal Article",), ("ErratumIn",), ["has_erratum"]),
        (("Retraction of Publication",), ("RetractionOf",), ["retraction"]),
        (("Retracted Publication",), (), ["retracted"]),
        (("Journal Article",), ("RetractionIn",), ["retracted"]),
        (("Expression of Concern",), (), ["expression_of_concern"]),
        (("Journal Article",), ("ExpressionOfConcernIn",), ["expression_of_concern"]),
        (("Comment",), (), ["comment"]),
        (("Journal Article",), ("CommentOn",), ["comment"]),
        (("Journal Article",), ("CommentIn",), []),
        (("Journal Article",), ("UpdateIn",), ["updated"]),
        (("Journal Article",), ("UpdateOf", "Cites"), []),
        (("Retracted Publication",), ("RetractionIn", "ErratumIn"), ["retracted", "has_erratum"]),
    ],
)
def test_notice_flags(
    tmp_path: Path, pub_types: tuple[str, ...], links: tuple[str, ...], flags: list[str]
) -> None:
    assert one(tmp_path, article(pub_types=pub_types, links=links)).flags == flags


def test_comments_corrections_kept_in_extra(tmp_path: Path) -> None:
    rec = one(tmp_path, ARTICLE)
    assert rec.extra["comments_corrections"] == [
        {"ref_type": "CommentIn", "ref_source": "J Tests. 2021;12:200", "pmid": "222"}
    ]


BOOK = """<PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>
<ArticleIdList><ArticleId IdType="bookaccession">NBK1116</ArticleId></ArticleIdList>
<Book><Publisher><PublisherName>Univ Press</PublisherName></Publisher>
<BookTitle book="gene">GeneReviews</BookTitle><PubDate><Year>1993</Year></PubDate>
<AuthorList Type="editors">
<Author><LastName>Pagon</LastName><ForeName>Roberta A</ForeName></Author></AuthorList>
</Book>
{chapter}
<Language>eng</Language>
<Abstract><AbstractText>GeneReviews are <b>expert</b>-authored.</AbstractText></Abstract>
</BookDocument>
<PubmedBookData><ArticleIdList><ArticleId IdType="pubmed">20301295</ArticleId></ArticleIdList>
</PubmedBookData>
</PubmedBookArticle>"""


def test_book_without_chapter_uses_book_title_and_keeps_editors_apart(tmp_path: Path) -> None:
    rec = one(tmp_path, BOOK.format(chapter=""))
    assert rec.source_key == rec.pmid == "20301295"
    assert rec.title == "GeneReviews"
    assert rec.authors == []
    assert rec.extra["editors"] == ["Pagon, Roberta A"]
    assert rec.extra["book_title"] == "GeneReviews"
    assert rec.extra["article_ids"]["bookaccession"] == "NBK1116"
    assert rec.year == 1993
    assert rec.abstract == "GeneReviews are expert-authored."
    assert rec.language == "eng"
    assert rec.raw.startswith("<PubmedBookArticle>") and rec.raw.endswith("</PubmedBookArticle>")


def test_book_chapter_title_and_authors(tmp_path: Path) -> None:
    chapter = (
        "<ArticleTitle>Wilson Disease</ArticleTitle>"
        '<AuthorList Type="authors"><Author><LastName>Weiss</LastName>'
        "<ForeName>Karl H</ForeName></Author></AuthorList>"
    )
    rec = one(tmp_path, BOOK.format(chapter=chapter))
    assert rec.title == "Wilson Disease"
    assert rec.authors == ["Weiss, Karl H"]
    assert rec.extra["editors"] == ["Pagon, Roberta A"]


def test_books_and_articles_mix(tmp_path: Path) -> None:
    records = parse_text(tmp_path, article_set(article("5"), BOOK.format(chapter="")))
    assert [r.pmid for r in records] == ["5", "20301295"]


def test_single_article_root(tmp_path: Path) -> None:
    (rec,) = parse_text(tmp_path, DECL + article("77"))
    assert rec.pmid == "77"


def test_delete_citation_is_read_not_fatal(tmp_path: Path) -> None:
    text = article_set(
        article("1"), "<DeleteCitation><PMID>900</PMID><PMID>901</PMID></DeleteCitation>"
    )
    reader = pubmed_xml.PubmedXmlReader(io.BytesIO(text.encode()), "efetch reply")
    assert [r.pmid for r in reader.records()] == ["1"]
    assert reader.deleted_pmids == ["900", "901"]


def test_parse_stream_reads_bytes_in_memory_and_non_seekable_streams(tmp_path: Path) -> None:
    data = article_set(article("1"), article("2")).encode()

    class Pipe:
        """A stream without seek(), like an HTTP response body."""

        def __init__(self) -> None:
            self._buf = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._buf.read(size)

    assert [r.pmid for r in pubmed_xml.parse_stream(io.BytesIO(data), "reply")] == ["1", "2"]
    assert [r.pmid for r in pubmed_xml.parse_stream(Pipe(), "reply")] == ["1", "2"]  # type: ignore[arg-type]


def test_parse_is_lazy(tmp_path: Path) -> None:
    text = article_set(article("1"), article("2")) + "<garbage"
    records = pubmed_xml.parse(write(tmp_path, text))
    assert isinstance(records, Iterator)
    assert next(records).pmid == "1"
    with pytest.raises(InputFileError):
        list(records)


def test_old_http_dtd_and_external_entities_are_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    decl = (
        DECL + '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD x//EN" '
        '"http://127.0.0.1:9/corehtml/query/DTD/pubmed_130101.dtd" '
        f'[ <!ENTITY xxe SYSTEM "{secret.as_uri()}"> ]>\n'
    )
    (rec,) = parse_text(tmp_path, article_set(article(title="Leak &xxe;?"), decl=decl))
    assert "TOP-SECRET" not in (rec.title or "")
    assert "TOP-SECRET" not in rec.raw


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            DECL + '<!DOCTYPE eSearchResult PUBLIC "x" "y">\n'
            "<eSearchResult><Count>2</Count><IdList><Id>1</Id><Id>2</Id></IdList></eSearchResult>",
            "esearch",
        ),
        (DECL + "<ePostResult><QueryKey>1</QueryKey><WebEnv>M</WebEnv></ePostResult>", "epost"),
    ],
)
def test_eutils_replies_are_refused_with_advice(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as err:
        list(pubmed_xml.parse(path))
    message = str(err.value)
    assert str(path) in message
    assert f"E-utilities {kind} reply" in message
    assert "PMIDs" in message and "not records" in message
    assert "lsr search run pubmed" in message and "efetch" in message
    assert err.value.line in (2, 3)


def test_unknown_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="root element is <html>"):
        parse_text(tmp_path, DECL + "<html><body/></html>")


def test_truncated_file_names_the_line(tmp_path: Path) -> None:
    text = article_set(article("1"), article("2"))
    cut = text[: text.index("<PubmedArticle>", text.index("</PubmedArticle>")) + 60]
    path = write(tmp_path, cut)
    with pytest.raises(InputFileError) as err:
        list(pubmed_xml.parse(path))
    assert err.value.line == cut.count("\n") + 1
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert err.value.record == 2


def test_binary_garbage(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, bytes(range(7, 256)) * 20)
    assert err.value.line is not None


def test_latin1_bytes_name_the_line(tmp_path: Path) -> None:
    text = article_set(article("1"), article("2", title="Caf\xe9 study"))
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, text.encode("latin-1"))
    assert err.value.line == 5
    assert "UTF-8" in str(err.value)


def test_utf16_with_bom_is_refused(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + article_set(article()).encode("utf-16-le")
    with pytest.raises(InputFileError, match="UTF-16"):
        parse_text(tmp_path, data)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="empty"):
        parse_text(tmp_path, b"")


def test_50_mb_abstract_is_refused_naming_the_line(tmp_path: Path) -> None:
    huge = "x" * 50_000_000
    body = f"<Abstract><AbstractText>{huge}</AbstractText></Abstract>"
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, article_set(article("1"), article("2", body=body)))
    assert err.value.line == 5
    assert "longer than any real bibliographic field" in str(err.value)


def test_field_over_our_cap_but_under_lxml_limit_is_refused(tmp_path: Path) -> None:
    body = f"<Abstract><AbstractText>{'y' * 6_000_000}</AbstractText></Abstract>"
    with pytest.raises(InputFileError) as err:
        parse_text(tmp_path, article_set(article("1", body=body)))
    assert err.value.line == 4 and err.value.record == 1
    assert "Abstract" in str(err.value)


def test_memory_is_released_as_records_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    release = pubmed_xml._release
    held: list[int] = []
    leftovers: list[int] = []

    def spy(elem: object) -> None:
        release(elem)
        held.append(len(elem.getparent()))  # type: ignore[attr-defined]
        leftovers.append(len(elem) + (elem.getprevious() is not None))  # type: ignore[attr-defined,arg-type]

    monkeypatch.setattr(pubmed_xml, "_release", spy)
    total = 3000
    text = article_set(*(article(str(i)) for i in range(total)))
    records = pubmed_xml.parse_stream(io.BytesIO(text.encode()), "reply")
    last = deque(records, maxlen=1).pop()
    assert last.raw == article(str(total - 1))  # raw taken before clearing
    assert len(held) == total
    assert max(leftovers) == 0  # each article emptied, and no finished article left before it
    assert max(held) < total // 5  # the set element only holds the articles of one read chunk

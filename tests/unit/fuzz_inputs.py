"""Small valid export files (written for these tests, invented content) and mutations of them.

Used by the fuzz tests and ``benchmarks/fuzz.py``. A mutation is *structured*: it works on
lines and fields (drop, repeat, swap, truncate, retag, replace a value with odd text, change
line endings or encoding, splice in binary) so that most cases get past the first line and
exercise the parser's handling of each field, rather than failing at detection every time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PUBMED_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PubmedArticleSet>
<PubmedArticle>
<MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">90000001</PMID>
<Article PubModel="Print">
<Journal>
<ISSN IssnType="Print">0000-0000</ISSN>
<JournalIssue CitedMedium="Print"><Volume>12</Volume><Issue>3</Issue>
<PubDate><Year>2019</Year><Month>Mar</Month></PubDate></JournalIssue>
<Title>Journal of Invented Hepatology</Title>
<ISOAbbreviation>J Invent Hepatol</ISOAbbreviation>
</Journal>
<ArticleTitle>An invented trial of drug A versus placebo in liver cancer.</ArticleTitle>
<Pagination><MedlinePgn>101-9</MedlinePgn></Pagination>
<Abstract><AbstractText Label="BACKGROUND">Invented text one.</AbstractText>
<AbstractText Label="RESULTS">Invented <i>text</i> two.</AbstractText></Abstract>
<AuthorList CompleteYN="Y">
<Author ValidYN="Y"><LastName>Doe</LastName><ForeName>Jane</ForeName><Initials>J</Initials></Author>
<Author ValidYN="Y"><CollectiveName>Invented Study Group</CollectiveName></Author>
</AuthorList>
<Language>eng</Language>
<PublicationTypeList><PublicationType UI="D016449">Randomized Controlled Trial</PublicationType>
</PublicationTypeList>
</Article>
</MedlineCitation>
<PubmedData>
<ArticleIdList><ArticleId IdType="pubmed">90000001</ArticleId>
<ArticleId IdType="doi">10.9999/invented.1</ArticleId></ArticleIdList>
</PubmedData>
</PubmedArticle>
<PubmedArticle>
<MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">
<PMID Version="1">90000002</PMID>
<Article PubModel="Electronic">
<Journal><JournalIssue><PubDate><MedlineDate>2020 Jan-Feb</MedlineDate></PubDate></JournalIssue>
<Title>Invented Oncology Letters</Title></Journal>
<ArticleTitle>A second invented record &amp; its title.</ArticleTitle>
<AuthorList><Author><LastName>Roe</LastName><Initials>R</Initials></Author></AuthorList>
<Language>fre</Language>
</Article>
</MedlineCitation>
</PubmedArticle>
</PubmedArticleSet>
"""

MEDLINE = """PMID- 90000001
OWN - NLM
STAT- MEDLINE
DP  - 2019 Mar
TI  - An invented trial of drug A versus placebo in liver cancer: a long title that
      continues on a second line.
PG  - 101-9
LID - 10.9999/invented.1 [doi]
AB  - Invented abstract text.
FAU - Doe, Jane
AU  - Doe J
LA  - eng
PT  - Journal Article
PT  - Randomized Controlled Trial
TA  - J Invent Hepatol
JT  - Journal of Invented Hepatology
VI  - 12
IP  - 3
AID - 10.9999/invented.1 [doi]

PMID- 90000002
DP  - 2020
TI  - A second invented record.
AU  - Roe R
PT  - Review
TA  - Invent Oncol Lett
"""

RIS = """TY  - JOUR
ID  - 1
T1  - An invented trial of drug A versus placebo in liver cancer
A1  - Doe, Jane
A1  - Roe, Richard
Y1  - 2019///
JF  - Journal of Invented Hepatology
JA  - J Invent Hepatol
VL  - 12
IS  - 3
SP  - 101
EP  - 109
DO  - 10.9999/invented.1
AN  - 2001000001
KW  - hepatocellular carcinoma
KW  - invented
AB  - Invented abstract text.
ER  -

TY  - CONF
T1  - A second invented record, a conference abstract
AU  - Roe, R.
PY  - 2020
T2  - Invented Congress 2020
AN  - 2001000002
ER  -
"""

OVID = """<1>
VN  - Ovid Technologies
DB  - Embase
UI  - 2001000001
TI  - An invented trial of drug A versus placebo in liver cancer.
SO  - Journal of Invented Hepatology. 12(3) (pp 101-109), 2019. Date of Publication: March 2019.
AU  - Doe J.
AU  - Roe R.
AB  - Invented abstract text.
DO  - http://dx.doi.org/10.9999/invented.1
LG  - English
PT  - Journal: Article
YR  - 2019

<2>
VN  - Ovid Technologies
DB  - Ovid MEDLINE(R)
UI  - 90000002
TI  - A second invented record.
SO  - Invented Oncology Letters. 3(1):1-2, 2020 Jan.
AU  - Roe R
YR  - 2020
"""

WOS = """FN Clarivate Analytics Web of Science
VR 1.0
PT J
AU Doe, J
   Roe, R
AF Doe, Jane
   Roe, Richard
TI An invented trial of drug A versus placebo in liver
   cancer
SO JOURNAL OF INVENTED HEPATOLOGY
LA English
DT Article
AB Invented abstract text.
PY 2019
VL 12
IS 3
BP 101
EP 109
DI 10.9999/invented.1
UT WOS:000000000000001
PM 90000001
ER

PT J
AU Roe, R
TI A second invented record
SO INVENTED ONCOLOGY LETTERS
PY 2020
UT WOS:000000000000002
ER

EF
"""

CSV = (
    "record_id,title,authors,year,journal,doi,abstract\n"
    'EMB1,"An invented trial of drug A versus placebo, in liver cancer","Doe J; Roe R",2019,'
    'J Invent Hepatol,10.9999/invented.1,"Invented ""quoted"" text."\n'
    "EMB2,A second invented record,Roe R,2020,Invent Oncol Lett,,\n"
)

SEEDS: dict[str, str] = {
    "pubmed-xml": PUBMED_XML,
    "medline": MEDLINE,
    "ris": RIS,
    "ovid": OVID,
    "wos": WOS,
    "csv": CSV,
}
DATABASE = {"pubmed-xml": "pubmed", "medline": "pubmed", "ris": "embase", "ovid": "embase",
            "wos": "wos", "csv": "other"}  # fmt: skip

#: Odd values a field may be given: empty, white space, unicode, control characters,
#: markup, numbers out of range, very long text.
_ODD = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\t",
            "-",
            "0",
            "-1",
            "99999999999999999999",
            "9999",
            "1e308",
            "NaN",
            "<",
            "&",
            "&amp;",
            "&#0;",
            "&bogus;",
            "]]>",
            "<![CDATA[x]]>",
            '"',
            '""',
            ",",
            ";",
            "ER  - ",
            "TY  - ",
            "PMID- ",
            "<1>",
            "\u2028",
            "\ufeff",
            "\x00",
            "\x1b[31m",
            "é",
            "\ud7ff",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
            "A" * 5000,
        ]
    ),  # fmt: skip
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=20),
)
_TAGS = st.one_of(
    st.sampled_from(["TY", "ER", "PMID", "TI", "AU", "FAU", "DP", "PY", "Y1", "DO", "LID", "UI",
                     "SO", "DB", "PT", "UT", "FN", "EF", "AN", "KW", "AB", "VL", "SP"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=4),
)  # fmt: skip
_XML_BITS = st.sampled_from(
    [
        "<PubmedArticle>", "</PubmedArticle>", "<MedlineCitation>", "</MedlineCitation>",
        "<PMID>", "</PMID>", "<PMID Version=\"1\">abc</PMID>", "<ArticleTitle/>",
        "<Year>20x9</Year>", "<DeleteCitation><PMID>1</PMID></DeleteCitation>",
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;", "&b;",
        "<?xml version=\"1.0\"?>", "<eSearchResult><IdList><Id>1</Id></IdList></eSearchResult>",
        "<PubmedBookArticle>", "<Author><LastName/></Author>", "<AbstractText>",
    ]
)  # fmt: skip


def _line_ops(fmt: str) -> st.SearchStrategy[tuple[str, Any, Any]]:
    extra = (
        [st.tuples(st.just("xml"), st.integers(0, 10_000), _XML_BITS)]
        if fmt == "pubmed-xml"
        else []
    )
    return st.one_of(
        st.tuples(st.just("drop"), st.integers(0, 10_000), st.none()),
        st.tuples(st.just("repeat"), st.integers(0, 10_000), st.integers(1, 3)),
        st.tuples(st.just("swap"), st.integers(0, 10_000), st.integers(0, 10_000)),
        st.tuples(st.just("value"), st.integers(0, 10_000), _ODD),
        st.tuples(st.just("retag"), st.integers(0, 10_000), _TAGS),
        st.tuples(st.just("insert"), st.integers(0, 10_000), st.tuples(_TAGS, _ODD)),
        st.tuples(st.just("cut"), st.integers(0, 10_000), st.integers(0, 200)),
        *extra,
    )


def _apply(lines: list[str], op: tuple[str, Any, Any], fmt: str) -> list[str]:
    kind, at, arg = op
    if not lines:
        return lines
    i = at % len(lines)
    line = lines[i]
    if kind == "drop":
        return lines[:i] + lines[i + 1 :]
    if kind == "repeat":
        return lines[: i + 1] + [line] * arg + lines[i + 1 :]
    if kind == "swap":
        j = arg % len(lines)
        out = list(lines)
        out[i], out[j] = out[j], out[i]
        return out
    if kind == "value":  # keep the line's tag/key, replace what follows it
        for sep in ("  - ", "- ", " ", ">", ","):
            if sep in line:
                head = line[: line.index(sep) + len(sep)]
                return [*lines[:i], head + arg, *lines[i + 1 :]]
        return [*lines[:i], arg, *lines[i + 1 :]]
    if kind == "retag":
        if fmt in ("ris", "medline", "ovid") and len(line) >= 4:
            return [*lines[:i], f"{arg:<4}" + line[4:], *lines[i + 1 :]]
        if fmt == "wos" and len(line) >= 2:
            return [*lines[:i], f"{arg[:2]:<2}" + line[2:], *lines[i + 1 :]]
        return lines
    if kind == "insert":
        tag, value = arg
        text = {"ris": f"{tag:<4}- {value}", "medline": f"{tag:<4}- {value}",
                "ovid": f"{tag:<4}- {value}", "wos": f"{tag[:2]:<2} {value}",
                "csv": f"{tag},{value}"}.get(fmt, f"<{tag}>{value}</{tag}>")  # fmt: skip
        return [*lines[:i], text, *lines[i:]]
    if kind == "cut":
        return [*lines[:i], line[: arg % (len(line) + 1)]]  # the file ends mid-line
    if kind == "xml":
        return [*lines[:i], arg, *lines[i:]]
    return lines


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> bytes:
    """One structured mutation (1-4 edits) of the format's seed, then an encoding choice."""
    lines = SEEDS[fmt].split("\n")
    for op in draw(st.lists(_line_ops(fmt), min_size=1, max_size=4)):
        lines = _apply(lines, op, fmt)
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(lines)
    enc = draw(
        st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "raw"])
    )
    if enc == "raw":  # splice arbitrary bytes in (invalid UTF-8, NULs)
        data = text.encode("utf-8", "surrogatepass")
        pos = draw(st.integers(0, len(data)))
        return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    return text.encode(enc, errors="replace" if enc == "latin-1" else "surrogatepass")

"""Provides comparison-time normalisation of every field that varies between databases.

PubMed, Embase, CENTRAL and Web of Science export the same article with different DOI forms
(``https://doi.org/10.1/X`` vs ``10.1/x``), page styles (``221-8`` vs ``221-228``), author forms
(``Adeli K`` vs ``Adeli, Khosrow``), journal names (``N Engl J Med`` vs ``New England Journal of
Medicine``), bracketed translated titles (``[Title]. [French]``), inline markup
(``ApoE<sup>-/-</sup>``) and Unicode forms. These functions map each variant onto one
comparable form. They never change what the store holds: the stored record stays as the
database gave it, and normalisation happens only when records are compared.

Everything here is a pure function over strings, so it can be tested rule by rule and used on
plain in-memory rows (the benchmark) as well as on stored records.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Literal
from urllib.parse import unquote

# --- text ------------------------------------------------------------------------------------

#: Letters that NFKD does not decompose into ASCII, and Greek letters as they are spelt in
#: titles that other databases transliterate ("TNF-α" vs "TNF-alpha").
_TRANSLIT = {
    "ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o", "ł": "l",
    "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i", "ŀ": "l",
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "µ": "mu",
    "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau",
    "υ": "upsilon", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
    "Α": "alpha", "Β": "beta", "Γ": "gamma", "Δ": "delta", "Κ": "kappa", "Ω": "omega",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "‘": "'", "’": "'", "“": '"', "”": '"', "×": "x",
}  # fmt: skip
_TRANSLIT_TABLE = str.maketrans(_TRANSLIT)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_LATEX = re.compile(r"\\(?:textit|textbf|emph|mathrm|textsuperscript|textsubscript)\s*")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")


def fold_unicode(text: str) -> str:
    """Return ``text`` as lower-case ASCII: diacritics dropped, Greek letters spelt out.

    Databases disagree on "Nürnberger"/"Nurnberger"/"Nuernberger" and "α"/"alpha"; folding
    both sides the same way makes the first two equal and the third close.
    """
    if text.isascii():  # the common case, and ten times faster
        return text.lower()
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLIT_TABLE)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def strip_markup(text: str) -> str:
    """Remove inline HTML/XML tags, LaTeX commands and entities (``K<inf>Ca</inf>`` -> ``KCa``).

    Embase and Scopus keep sub/superscripts as tags; PubMed gives plain text. Tags are removed
    without a space so that ``ApoE<sup>-/-</sup>`` and ``ApoE-/-`` normalise alike.
    """
    if "<" in text:
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text:
        text = _LATEX.sub("", text)
    return text.replace("{", "").replace("}", "")


def alnum_words(text: str) -> str:
    """Return the lower-case ASCII alphanumeric words of ``text``, single-spaced."""
    return _NON_ALNUM.sub(" ", fold_unicode(strip_markup(text))).strip()


# --- titles ----------------------------------------------------------------------------------

#: Bracketed notes databases append to a title; they are not part of it.
_TITLE_NOTE = re.compile(
    r"\s*\[(?:[^\[\]]*(?:erratum|retract|comment|corrected|correction|see |published|update|"
    r"article in|abstract|letter|editorial|author'?s? transl|translat|english|french|german|"
    r"spanish|italian|portuguese|russian|chinese|japanese|polish|dutch|czech|hungarian|danish|"
    r"norwegian|swedish|finnish|turkish|korean|hebrew|greek|romanian|croatian|serbian|"
    r"slovak|slovenian|bulgarian|persian|arabic|lithuanian|ukrainian|multiple letters)"
    r"[^\[\]]*\]?|\d{1,2}\])\s*\.?\s*$",
    re.IGNORECASE,
)
#: "(vol 85, pg 553, 2010)" and "(Journal (2009) 360 (542-544))": WoS/Embase erratum citations.
_TITLE_CITATION_NOTE = re.compile(
    r"\s*\((?:vol\.? ?\d+[^()]*|[^()]*\(\d{4}\)\s*\d+[^()]*(?:\([^()]*\))?[^()]*)\)\s*\.?\s*$",
    re.IGNORECASE,
)
#: "(multiple letters)" and similar WoS/Embase annotations in parentheses.
_TITLE_PAREN_NOTE = re.compile(r"\s*\((?:multiple letters|letter|editorial)\)", re.IGNORECASE)
#: The label a notice puts before the title it is about ("Erratum: Title", "Retracted: Title").
#: Removed so that notice and article titles compare equal; the notice rule tells them apart.
_NOTICE_LABEL = re.compile(
    r"^\s*(?:erratum|errata|corrigendum|correction|retraction(?: note)?|retracted(?: article)?|"
    r"expression of concern|notice of retraction|comment(?:s)? on|reply to|response to)"
    r"\s*(?::|to\b|-)\s*",
    re.IGNORECASE,
)
#: Any trailing "[...]" (or a cut-off "[Erratum appears in Am") after some title text.
_TRAILING_BRACKET = re.compile(r"^(.*?\S)\s*\[[^\[\]]*\]?\s*\.?\s*$")
_WHOLE_BRACKETS = re.compile(r"^\s*\[(.+?)\]\s*\.?\s*$")
#: Ovid appends "... N Engl J Med. 2009 Jan 29;360(5):544-6" to comments on that article.
_TITLE_REF_TAIL = re.compile(r"\.{2,}.*$")
#: Leading section labels some databases prefix to a title ("MEDICAL PROGRESS Atypical ...").
_SECTION_LABEL = re.compile(r"^(?:[A-Z][A-Z-]+ ){1,3}(?=[A-Z][a-z])")


def _has_text(text: str) -> bool:
    """Return True if ``text`` still has letters or digits (a note must not eat the title)."""
    return bool(re.search(r"[A-Za-z0-9]", text))


def clean_title(title: str | None) -> str:
    """Return the title text with database notes, markup and translation brackets removed.

    ``[Paroxysmal nocturnal hemoglobinuria]. [French]`` -> ``Paroxysmal nocturnal
    hemoglobinuria``: MEDLINE brackets titles translated into English and appends the original
    language; Embase does not. ``[Erratum appears in ...]`` and similar notes describe the
    record, not its title. The case of the text is kept (the caller folds it).
    """
    if not title:
        return ""
    # EndNote/CSV exports wrap titles holding commas in quotes, which would hide a trailing
    # "[Erratum appears in ...]" note from the patterns below (they are anchored at the end).
    text = strip_markup(title).strip().strip('"').strip()
    text = _TITLE_REF_TAIL.sub("", text)
    text = _TITLE_PAREN_NOTE.sub("", text)
    for _ in range(6):  # notes can be stacked: "Title. [Review] [33 refs]"
        new = _TITLE_NOTE.sub("", text)
        if not _has_text(new):  # "[Whole translated title]." is the title, not a note
            new = text
        new = _TITLE_CITATION_NOTE.sub("", new)
        m = _TRAILING_BRACKET.match(new)
        if m and _has_text(m.group(1)):
            new = m.group(1)
        if new == text:
            break
        text = new
    m = _WHOLE_BRACKETS.match(text)
    if m:
        text = m.group(1)
    text = _SECTION_LABEL.sub("", text)
    text = _NOTICE_LABEL.sub("", text)
    return text.strip().rstrip(".").strip()


def title_words(title: str | None) -> str:
    """Return the comparable form of a title: cleaned, folded, alphanumeric words."""
    return alnum_words(clean_title(title))


# --- DOI and PMID ----------------------------------------------------------------------------

_DOI_IN_TEXT = re.compile(r"10\.\d{4,9}/\S+", re.IGNORECASE)


def normalise_doi(doi: str | None) -> str | None:
    """Return the bare, lower-cased DOI from any of its written forms, or None.

    ``http://dx.doi.org/10.1097/MOL.0b013e3282ffaf82``, ``doi:10.1097/mol.0b013e3282ffaf82``,
    ``10.1097%2FMOL...`` and ``10.1097/MOL.0b013e3282ffaf82 [doi]`` are one DOI. DOIs are
    case-insensitive by definition (DOI Handbook 2.4), so folding case is safe.
    """
    if not doi:
        return None
    text = unquote(doi.strip())
    m = _DOI_IN_TEXT.search(text)
    if not m:
        return None
    value = m.group(0).lower()
    value = re.sub(r"\[doi\]$", "", value)
    return value.rstrip(".,;)]}>'\"") or None


def dois_agree(a: str | None, b: str | None) -> bool | None:
    """Return True (same DOI), False (different DOIs) or None (unknown).

    One DOI being a prefix of the other counts as unknown, not as a conflict: some exports cut
    long fields (``10.1177/147916411773`` for ``10.1177/1479164117733626``).
    """
    if not a or not b:
        return None
    if a == b:
        return True
    if a.startswith(b) or b.startswith(a):
        return None
    return False


def normalise_pmid(pmid: str | int | None) -> str | None:
    """Return the PMID's digits without leading zeros ("PMID: 012345" -> "12345")."""
    if pmid is None:
        return None
    digits = re.sub(r"\D", "", str(pmid)).lstrip("0")
    return digits or None


# --- pages -----------------------------------------------------------------------------------

_MONTHS = {
    "jan": "1", "feb": "2", "mar": "3", "apr": "4", "may": "5", "jun": "6",
    "jul": "7", "aug": "8", "sep": "9", "oct": "10", "nov": "11", "dec": "12",
}  # fmt: skip
_PAGE_SPLIT = re.compile(r"\s*[-/:]+\s*|\s+to\s+|\s+")
#: Separators between the ranges of an item printed in parts ("233-8, 246-51", "233-238+246-251").
_RANGE_SEP = re.compile(r"\s*[,;+&]\s*|\s+and\s+")
_PAGE_TOKEN = re.compile(r"[a-z0-9]*\d[a-z0-9]*", re.IGNORECASE)
_PAGE_PREFIX = re.compile(r"^(?:pp?\.?|pages?)\s*")
_DIGIT_RUN = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Pages:
    """A normalised page range: ``first``/``last`` keep a letter prefix ("S334", "e1234").

    ``more`` holds the first pages of further ranges when an item is printed in parts
    ("230-5, 246-51, 233-8": a bilingual article whose databases list the parts in different
    orders). ``inverted`` marks a range whose end is before its start ("2297-2108"): one of the
    two numbers is a typo, so neither is trusted alone.
    """

    first: str | None
    last: str | None
    more: tuple[str, ...] = ()
    inverted: bool = False

    def __str__(self) -> str:
        if self.first and self.last and self.last != self.first:
            return f"{self.first}-{self.last}"
        return self.first or ""


def _expand_end(first: str, last: str) -> str:
    """Expand an abbreviated end page ("221-8" -> "228", "c37-42" -> "c42")."""
    mf = re.fullmatch(r"([a-z]*)(\d+)", first)
    m = re.fullmatch(r"([a-z]*)(\d+)([a-z]?)", last)
    if not m or not mf:
        return last
    pre_f, num_f = mf.groups()
    pre_l, num_l, suffix = m.groups()
    if len(num_l) < len(num_f) and (not pre_l or pre_l == pre_f):
        num_l = num_f[: len(num_f) - len(num_l)] + num_l
        if int(num_l) < int(num_f):  # "98-2" means 98-102
            num_l = str(int(num_l) + 10 ** len(last.lstrip(pre_l).rstrip(suffix)))
    return (pre_l or pre_f) + num_l + suffix


def _page_tokens(text: str) -> list[str]:
    """Return the first and (if any) last page tokens of one range, month names read as days."""
    parts = [p for p in _PAGE_SPLIT.split(text) if p]
    if not parts or (not any(ch.isdigit() for ch in parts[0]) and parts[0][:3] not in _MONTHS):
        # "Suppl-29", "t-8": the start page was lost in the export; the end alone is no
        # evidence about which page the item starts on.
        return []
    tokens: list[str] = []
    for part in parts[:2]:
        if part[:3] in _MONTHS and (len(part) == 3 or part[3:4] == "."):
            tokens.append(_MONTHS[part[:3]])
            continue
        m = _PAGE_TOKEN.fullmatch(part)
        if m and any(ch.isdigit() for ch in part):
            tokens.append(part.lstrip("0") or "0")
    return tokens


def normalise_pages(pages: str | None) -> Pages:
    """Return the page range with abbreviated ends expanded (221-8 -> 221-228).

    Also handles: "1911-1911" -> 1911; "pp. 21-28"; an end page that a spreadsheet turned into a
    date ("21-Aug" is 21-28, as Excel reads "21-8" as 21 August); "no pagination" -> none; a
    value wrapped in quotes by a CSV/EndNote export; an item printed in several ranges.
    """
    if not pages:
        return Pages(None, None)
    text = fold_unicode(pages).strip().strip("\"'").strip()
    if text[:1] == "p":
        text = _PAGE_PREFIX.sub("", text)
    if not text or "no pagination" in text or text in {"na", "n/a", "-"}:
        return Pages(None, None)
    # Most fields are one range; split into parts only when a separator is there.
    ranges = [r for r in _RANGE_SEP.split(text) if r] if _RANGE_SEP.search(text) else [text]
    if not ranges:
        return Pages(None, None)
    tokens = _page_tokens(ranges[0])
    if not tokens:
        return Pages(None, None)
    first = tokens[0]
    last = _expand_end(first, tokens[1]) if len(tokens) > 1 else first
    more = tuple(t[0] for t in (_page_tokens(r) for r in ranges[1:]) if t)
    inverted = False
    if last != first:
        lf, ll = page_digits(first), page_digits(last)
        inverted = bool(lf and ll and int(ll) < int(lf))
    return Pages(first, last, more, inverted)


def page_digits(page: str | None) -> str | None:
    """Return a page's last run of digits ("S334" -> "334", "c37" -> "37", "2S37" -> "37")."""
    if not page:
        return None
    runs = _DIGIT_RUN.findall(page)
    return runs[-1].lstrip("0") or "0" if runs else None


#: Characters OCR and re-keying confuse with digits ("i428" read as "1428", "2O1" as "201").
_OCR_DIGITS = str.maketrans({"i": "1", "l": "1", "o": "0"})
#: An electronic article number ("c1804", "e0123456"): a letter, then three or more digits.
#: "s" (supplement) and "a" (abstract book) pages are real page numbers of a printed
#: supplement, not article numbers, so they are not counted here.
_ARTICLE_NUMBER = re.compile(r"[b-rt-z]\d{3,}")

PageRelation = Literal["same", "overlap", "unknown", "different"]


def _span(p: Pages) -> tuple[int, int] | None:
    """Return the numeric span of a plain page range (no letter prefix, not inverted)."""
    if not p.first or not p.last or p.inverted:
        return None
    if not (p.first.isdigit() and p.last.isdigit()):
        return None
    return int(p.first), int(p.last)


def compare_pages(
    a: Pages, b: Pages, *, a_volume: str | None = None, b_volume: str | None = None
) -> PageRelation | None:
    """Return how two page fields relate, or None when either is missing.

    * ``same`` -- the same first page, allowing a dropped letter prefix ("c37"/"37"), an OCR
      confusion ("i428"/"1428") or a part listed in another order ("230-5, 233-8"/"233-8");
    * ``overlap`` -- not the same first page, but the ranges share at least two pages or one
      field's single page lies inside the other's range ("359" / "356-359"), or an inverted
      range ends where the other does. Two different articles cannot share more than a
      boundary page, so this is a typo or a database keeping only one end -- but as it is not
      agreement either, it counts as a weak contradiction, not as support;
    * ``unknown`` -- two numbering systems that cannot be compared: an electronic article
      number against a print page ("c1804"/"1014"), or page 1 of an online-first PDF (no volume
      yet) against the print pages;
    * ``different`` -- anything else, a strong contradiction.
    """
    fa, fb = a.first, b.first
    if not fa or not fb:
        return None
    if fa == fb or page_digits(fa) == page_digits(fb):
        return "same"
    if fa.translate(_OCR_DIGITS) == fb.translate(_OCR_DIGITS):
        return "same"
    starts_a = {page_digits(x) for x in (fa, *a.more)}
    starts_b = {page_digits(x) for x in (fb, *b.more)}
    if (a.more or b.more) and starts_a & starts_b:
        return "same"
    sa, sb = _span(a), _span(b)
    if sa and sb:
        if min(sa[1], sb[1]) - max(sa[0], sb[0]) >= 1:
            return "overlap"
        # One single page inside the other's range (not on its first page: that is "same").
        if (sa[0] == sa[1] and sb[0] < sa[0] <= sb[1]) or (
            sb[0] == sb[1] and sa[0] < sb[0] <= sa[1]
        ):
            return "overlap"
    if (a.inverted or b.inverted) and a.last and page_digits(a.last) == page_digits(b.last):
        return "overlap"
    for x, y, vol_x in ((fa, fb, a_volume), (fb, fa, b_volume)):
        if _ARTICLE_NUMBER.fullmatch(x) and y.isdigit():
            return "unknown"
        if x == "1" and (y.startswith("e") or len(y) >= 5 or vol_x is None):
            # Online-only journals number articles; some databases give the PDF's pages
            # (1-6) instead, as do ahead-of-print records that have no volume yet.
            return "unknown"
    return "different"


# --- volume, issue, year ---------------------------------------------------------------------

_SUPPLEMENT = re.compile(r"supp|suppl|supplement|meeting|abstracts|congress|\bs\d", re.IGNORECASE)


def normalise_volume(volume: str | None) -> str | None:
    """Return the volume number, or None when the field is missing or visibly garbled.

    "59 (1 Supplement 1)" -> "59"; "Vol 38" -> "38"; "2016 (no pagination)" -> "2016". A value
    with an unmatched closing parenthesis ("1)") is the tail of a cut-off field (an Embase
    artefact) and is not evidence of anything, so it is dropped.
    """
    if not volume:
        return None
    text = volume.strip()
    if text.count(")") > text.count("("):
        return None
    m = re.match(r"^(?:vol(?:ume)?\.?\s*)?(\d+)", text, re.IGNORECASE)
    return m.group(1).lstrip("0") or "0" if m else None


_SUPPLEMENT_NUMBER = re.compile(r"\bsup(?:p(?:l(?:ement)?)?)?\.?\s*(\d+)", re.IGNORECASE)


def supplement_number(*values: str | None) -> str | None:
    """Return the supplement number a volume or issue field names ("SUPPL. 1" -> "1").

    Embase cuts "16 (Suppl 1)" to "1)" or "1", so another copy's volume can be this number.
    """
    for v in values:
        if v:
            m = _SUPPLEMENT_NUMBER.search(v)
            if m:
                return m.group(1).lstrip("0") or "0"
    return None


def is_supplement(*values: str | None) -> bool:
    """Return True when a volume/issue/page field marks a supplement or meeting issue."""
    return any(v and _SUPPLEMENT.search(v) for v in values)


_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2[01]\d\d)(?!\d)")


def normalise_year(year: str | int | None) -> int | None:
    """Return a plausible publication year, or None ("2019 Jan 28", "2020//", 2020)."""
    if year is None:
        return None
    if isinstance(year, int):
        return year if 1500 <= year <= 2200 else None
    m = _YEAR.search(str(year))
    return int(m.group(1)) if m else None


# --- authors ---------------------------------------------------------------------------------

_INITIALS = re.compile(r"^(?:[A-Z]\.?-?){1,4}$|^[A-Z][a-z]?\.$")
_ASYSD_SPLIT = re.compile(r"(?<=[A-Z]\.)(?=[A-Z][a-z'\u00C0-\u024F])")
_NON_LETTER = re.compile(r"[^a-z]")
_ET_AL = re.compile(r"(?i)et\.? al\.?|others|anonymous|\[?anonymous\]?")
_ET_AL_TAIL = re.compile(r"[,;]?\s*et\.?\s*al\.?\s*$", re.IGNORECASE)
_PARTICLES = {"van", "von", "de", "der", "den", "da", "del", "della", "di", "du", "la", "le"}


def split_authors(authors: str | Sequence[str] | None) -> list[str]:
    """Return the individual author strings from a list or any joined author field.

    Joined forms seen in exports: "Zuber, J and Le Quintrec, M" (BibTeX), "Zuber J; Le
    Quintrec M" (RIS/WoS), and "Adeli K.Lewis G. F." (ASySD's CSV, where the separator was lost
    and a new name starts after an initial's full stop).
    """
    if not authors:
        return []
    if not isinstance(authors, str):
        return [a for a in (str(x).strip() for x in authors) if a]
    text = _ET_AL_TAIL.sub("", authors.strip())
    if " and " in text:
        parts = text.split(" and ")
    elif ";" in text:
        parts = text.split(";")
    elif "|" in text:
        parts = text.split("|")
    elif _ASYSD_SPLIT.search(text):
        parts = _ASYSD_SPLIT.split(text)
    elif text.count(",") >= 2 and not re.search(r",\s*[A-Z]\.?(?:\s|$)", text):
        parts = text.split(",")  # "Adeli K, Lewis GF, Smith J"
    else:
        parts = [text]
    return [p.strip() for p in parts if p.strip()]


@lru_cache(maxsize=262144)
def author_surname(author: str) -> str:
    """Return an author's surname, folded to ASCII letters ("Le Quintrec, M." -> "lequintrec").

    "Surname, Given" and MEDLINE's "Surname GF" are both understood; for "Given Surname" (no
    comma, no trailing initials) the last word is taken.
    """
    text = strip_markup(author).strip().rstrip(",")
    if "," in text:
        surname = text.split(",", 1)[0]
    else:
        words = text.split()
        while len(words) > 1 and _INITIALS.match(words[-1]):
            words.pop()
        if len(words) > 1 and not any(w.lower() in _PARTICLES for w in words[:-1]):
            # "Adeli K" handled above; "Jens Nurnberger": the surname is last, unless the
            # remaining words look like a multi-word surname ("De Kleijn", "van der Berg").
            surname = words[-1] if len(words) == 2 and len(words[0]) > 2 else " ".join(words)
        else:
            surname = " ".join(words)
    return _NON_LETTER.sub("", fold_unicode(surname))


def author_surnames(authors: str | Sequence[str] | None) -> tuple[str, ...]:
    """Return the folded surnames of all authors, in order, dropping "et al" and blanks."""
    out: list[str] = []
    for a in split_authors(authors):
        if _ET_AL.fullmatch(a.strip()):
            continue
        s = author_surname(a)
        if s:
            out.append(s)
    return tuple(out)


# --- journals --------------------------------------------------------------------------------

_JOURNAL_STOP = {
    "of", "the", "and", "in", "for", "on", "de", "la", "des", "der", "und", "et", "du", "le",
    "d", "l", "y", "e", "a", "an",
}  # fmt: skip
_CONFERENCE_IN_JOURNAL = re.compile(
    r"\b(?:conference|congress|meeting|symposium|proceedings of the .*meeting|abstracts?\b)",
    re.IGNORECASE,
)


@lru_cache(maxsize=65536)
def journal_tokens(journal: str | None) -> tuple[str, ...]:
    """Return a journal name's significant words, with conference details and places removed.

    "European Journal of Immunology.Conference: 2nd European Congress..." -> ("european",
    "journal", "immunology"); "Cardiology (Switzerland)" -> ("cardiology",); "Nephrologia." ->
    ("nephrologia",).
    """
    if not journal:
        return ()
    text = strip_markup(journal)
    text = re.split(r"\.?\s*(?:conference|congress)\s*:", text, maxsplit=1, flags=re.I)[0]
    text = re.sub(r"\([^()]*\)", " ", text)
    words = alnum_words(text).split()
    return tuple(w for w in words if w not in _JOURNAL_STOP)


@lru_cache(maxsize=65536)
def meeting_tokens(journal: str | None) -> tuple[str, ...]:
    """Return the significant words of the meeting a journal field names, or ``()``.

    Embase files a conference abstract under "Journal.Conference: <meeting>"; other sources
    cite the same abstract under the meeting's name alone ("23rd Congress of the ..."). The
    meeting is the part after "Conference:"/"Congress:", or the whole field when the field
    itself names a meeting.
    """
    if not journal or not journal_is_meeting(journal):
        return ()
    text = strip_markup(journal)
    parts = re.split(r"\.?\s*(?:conference|congress)\s*:", text, maxsplit=1, flags=re.I)
    text = parts[1] if len(parts) > 1 else parts[0]
    words = alnum_words(re.sub(r"\([^()]*\)", " ", text)).split()
    return tuple(w for w in words if w not in _JOURNAL_STOP)


def journal_is_meeting(journal: str | None) -> bool:
    """Return True when the journal field names a conference (Embase's "Conference:" form)."""
    return bool(journal and _CONFERENCE_IN_JOURNAL.search(journal))


def _abbreviates(short: str, full: str) -> bool:
    """Return True when ``short`` can abbreviate ``full`` (ISO 4 style: "natl" for "national").

    The abbreviation must start like the word and keep its letters in order; this accepts
    "engl"/"england", "j"/"journal", "natl"/"national", "paediatr"/"paediatrics".
    """
    if short == full:
        return True
    if not short or not full or short[0] != full[0] or len(short) > len(full):
        return False
    it = iter(full)
    return all(ch in it for ch in short)


def _run_together(token: str, words: tuple[str, ...]) -> bool:
    """Return True if ``token`` is abbreviations of ``words`` written without spaces.

    Some exports run ISO abbreviations together ("Jthoraccardiovascsurg" for "J Thorac
    Cardiovasc Surg"): the token must split into two or more pieces, each abbreviating the
    next word in order; words left over at the end are allowed, as for spaced names.
    """

    @cache
    def fits(k: int, j: int) -> bool:
        if k == len(token):
            return j >= 2
        if j == len(words) or token[k] != words[j][0]:
            return False
        return any(
            _abbreviates(token[k:end], words[j]) and fits(end, j + 1)
            for end in range(len(token), k, -1)
        )

    return fits(0, 0)


@lru_cache(maxsize=65536)
def journals_compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool | None:
    """Return True if one journal name can be an abbreviation of the other, else False.

    None when either is missing. The shorter name's words must each abbreviate a word of the
    longer name, in order ("N Engl J Med" / "New England Journal of Medicine"), or the shorter
    name is the longer one's initials ("JAMA"). Extra trailing words on the longer name are
    allowed ("Nephron" / "Nephron Clinical Practice"), as databases differ on section titles.
    """
    if not a or not b:
        return None
    if a == b:
        return True
    short, full = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) == 1 and len(full) > 1:
        initials = "".join(w[0] for w in full)
        if short[0] == initials:
            return True
        if len(short[0]) > len(full[0]) and _run_together(short[0], full):
            return True
    j = 0
    for word in short:
        while j < len(full) and not (_abbreviates(word, full[j]) or _abbreviates(full[j], word)):
            j += 1
        if j == len(full):
            return False
        j += 1
    return True


# --- the normalised record -------------------------------------------------------------------


@dataclass(slots=True)
class NormRecord:
    """One record's comparable form, computed once per record (never stored).

    ``key`` is the caller's identifier (a store id or a benchmark record_id). ``comparable`` is
    False for records that must never be merged automatically (no usable title).
    """

    key: Any
    title: str  # cleaned title words, single-spaced
    title_key: str  # the same without spaces
    title_tokens: frozenset[str]
    raw_title: str
    surnames: tuple[str, ...]
    year: int | None
    journal: tuple[str, ...]
    volume: str | None
    issue: str | None
    pages: Pages
    doi: str | None
    pmid: str | None
    abstract: str
    notice: str | None = None  # erratum | retraction | comment | reply | concern
    conference: bool = False
    supplement: bool = False
    suppl_no: str | None = None  # the supplement number named in volume/issue ("Suppl 1")
    translated: bool = False  # MEDLINE's "[Title translated into English]" form
    meeting: tuple[str, ...] = ()  # the meeting the journal field names (see meeting_tokens)
    comparable: bool = True
    completeness: int = 0
    database: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: Titles shorter than this (alphanumerics) are too generic to match on ("Editorial").
MIN_TITLE_CHARS = 8


def _get(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    if isinstance(value, str):
        value = value.strip()
        return value if value and value.upper() not in {"NA", "NAN", "UNKNOWN", "NULL"} else None
    return value


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[;|]", value) if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value if v]
    return [str(value)]


def normalise_record(row: Mapping[str, Any], key: Any = None) -> NormRecord:
    """Return the comparable form of one record given as a mapping of field names.

    Field names are the store's (``title``, ``authors``, ``year``, ``journal``,
    ``journal_abbrev``, ``volume``, ``issue``, ``pages``, ``doi``, ``pmid``, ``abstract``,
    ``publication_types``, ``flags``); ``author`` and ``number`` are accepted as aliases.
    """
    from living_review.dedup.rules import detect_conference, detect_notice

    raw_title = _get(row, "title") or ""
    words = title_words(raw_title)
    title_key = words.replace(" ", "")
    authors = _get(row, "authors")
    if authors is None:
        authors = _get(row, "author")
    journal = _get(row, "journal") or _get(row, "journal_abbrev")
    volume_raw = _get(row, "volume")
    issue_raw = _get(row, "issue") or _get(row, "number")
    pages_raw = _get(row, "pages")
    doi = normalise_doi(_get(row, "doi"))
    pmid = normalise_pmid(_get(row, "pmid"))
    abstract = _get(row, "abstract") or ""
    flags = _as_list(_get(row, "flags"))
    pub_types = _as_list(_get(row, "publication_types"))
    volume_s = str(volume_raw) if volume_raw is not None else None
    issue_s = str(issue_raw) if issue_raw is not None else None
    pages_s = str(pages_raw) if pages_raw is not None else None
    pages = normalise_pages(pages_s)
    supplement = is_supplement(volume_s, issue_s)
    rec = NormRecord(
        key=row.get("id", key) if key is None else key,
        title=words,
        title_key=title_key,
        title_tokens=frozenset(words.split()),
        raw_title=str(raw_title),
        surnames=author_surnames(authors),
        year=normalise_year(_get(row, "year")),
        journal=journal_tokens(str(journal) if journal else None),
        volume=normalise_volume(volume_s),
        issue=issue_s,
        pages=pages,
        doi=doi,
        pmid=pmid,
        abstract=alnum_words(str(abstract))[:600] if abstract else "",
        supplement=supplement,
        suppl_no=supplement_number(volume_s, issue_s),
        translated=str(raw_title).strip().strip('"').startswith("["),
        meeting=meeting_tokens(str(journal) if journal else None),
        database=_get(row, "database"),
    )
    rec.notice = detect_notice(str(raw_title), flags, pub_types)
    rec.conference = detect_conference(
        flags, pub_types, str(journal) if journal else None, supplement, pages
    )
    rec.comparable = len(title_key) >= MIN_TITLE_CHARS
    rec.completeness = (
        (4 if abstract else 0)
        + (3 if doi else 0)
        + (3 if pmid else 0)
        + sum(1 for v in (rec.surnames, rec.year, journal, rec.volume, issue_s, pages.first) if v)
    )
    return rec

"""Provides the live PubMed search: the saved strategy run through NCBI E-utilities.

``run_pubmed_search(ws)`` runs ``searches/pubmed/strategy.txt`` as an ESearch with
``usehistory=y``, fetches the hits as PubMed XML with EFetch in batches through the history
server (``WebEnv``/``query_key``/``retstart``/``retmax``), parses them with
:mod:`living_review.sources.pubmed_xml` and stores them as one search run (one transaction).

Living updates: every run searches one window of Entrez dates (``datetype=edat``). The first
run of a strategy covers the protocol's ``search.start_date`` (else 1800/01/01) to today; a
later run starts at the previous run's ``date_to``. The window's two ends are inclusive, so
consecutive windows overlap by one day: a record entered on that day after the previous run
is caught, and one caught twice is *linked* by the importer, never copied.

Why the transport is ours and not ``Bio.Entrez.esearch``/``efetch`` (checked in the source of
Biopython 1.88, ``Bio/Entrez/__init__.py``):

* the base URL is not configurable: each function hard-codes
  ``https://eutils.ncbi.nlm.nih.gov/entrez/eutils/<utility>.fcgi`` and hands it to the private
  ``_build_request``/``_open``. Pointing it at a test server would mean monkeypatching module
  internals; here the base URL is one setting (``LSR_EUTILS_URL``) and the utility URL is
  ``f"{base}/{utility}.fcgi"``;
* ``_open`` rate-limits once per call (0.37 s between calls, 0.1 s with an API key) but then
  retries HTTP 429 and 5xx *immediately*, with no pause and outside the limiter (hammering a
  server that just said "too many requests"), sleeps a fixed 15 s only on connection errors,
  ignores ``Retry-After``, and calls ``urlopen`` without a timeout (a stalled connection hangs
  for ever). Its settings (``max_tries``, ``sleep_between_tries``) are process-wide globals.

So the HTTP layer below keeps Biopython's limits (the same 0.37 s / 0.1 s spacing: NCBI allows
3 requests/s without a key, 10/s with one) and adds what it lacks: a timeout, exponential
backoff that honours ``Retry-After``, and the limiter applied to every attempt. Biopython
still parses and checks the ESearch replies (``Bio.Entrez.read``, which also turns an
``<ERROR>`` reply into an exception).

The API key comes only from ``NCBI_API_KEY`` in the environment, never from the repository,
and is never printed: it is kept out of ``repr``, and any server text quoted in an error has
it masked.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError

from living_review.errors import LsrError
from living_review.workspace import Workspace

if TYPE_CHECKING:
    from living_review.searches import SearchOutcome
    from living_review.sources.base import ParsedRecord

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
#: Environment variable that points the client at another E-utilities server (tests: a local
#: replay server). The value is the folder holding ``esearch.fcgi`` and ``efetch.fcgi``.
BASE_URL_ENV = "LSR_EUTILS_URL"
EMAIL_ENV = "NCBI_EMAIL"
API_KEY_ENV = "NCBI_API_KEY"

#: PubMed serves at most the first 9,999 hits of one search (ESearch refuses a ``retstart``
#: past 9,998, and EFetch from a history set is reported to stop at the same point since
#: late 2022), so a window with more hits is split by entry date until every piece fits.
SEARCH_WINDOW = 9_999
#: Records per EFetch request: NCBI suggests batches of a few hundred for XML.
BATCH_SIZE = 500
#: The first day a window can start on when the protocol gives no ``start_date``.
EARLIEST = date(1800, 1, 1)

#: Seconds between requests (Biopython's values: 1/3 s plus a margin that NCBI's counters
#: need in practice without a key; 1/10 s with a key).
INTERVAL_NO_KEY = 0.37
INTERVAL_WITH_KEY = 0.1
#: Attempts per request (the first plus retries), for 429, 5xx and network failures.
MAX_TRIES = 5
#: The wait before the first retry; doubled for each later one, capped at MAX_BACKOFF.
BACKOFF_SECONDS = 2.0
MAX_BACKOFF = 60.0
#: Seconds to wait for a reply before treating the attempt as failed (then retried).
TIMEOUT_SECONDS = 120.0
#: Above this length of encoded parameters, send a POST (NCBI's advice; long strategies).
POST_ABOVE = 1000

#: How this module waits (the limiter and the backoff); tests replace it to run instantly.
_sleep: Callable[[float], None] = time.sleep

#: Called as ``progress(records_fetched, records_found)`` while the run downloads.
Progress = Callable[[int, int], None]

_DATE = re.compile(r"^\s*(\d{4})(?:[/-](\d{1,2})(?:[/-](\d{1,2}))?)?\s*$")


class EutilsError(LsrError):
    """E-utilities could not be reached or refused the request; nothing was stored."""


class _BadReply(Exception):
    """A 200 reply that is not what was asked for (truncated, an error page): retried."""


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EutilsSettings:
    """Where and as whom to call E-utilities.

    ``api_key`` is excluded from ``repr`` so that logging a settings object cannot leak it.
    """

    base_url: str = DEFAULT_BASE_URL
    tool: str = "living-review"
    email: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def interval(self) -> float:
        """Seconds between two requests under NCBI's rate limit for this caller."""
        return INTERVAL_WITH_KEY if self.api_key else INTERVAL_NO_KEY

    @classmethod
    def for_workspace(cls, ws: Workspace) -> EutilsSettings:
        """Settings from the protocol's ``[search]`` section and the environment.

        ``NCBI_EMAIL`` overrides the protocol's e-mail; ``NCBI_API_KEY`` is the only source of
        the key (a key in the repository would be published with it).
        """
        search = ws.protocol.search
        return cls(
            base_url=base_url(),
            tool=search.tool,
            email=os.environ.get(EMAIL_ENV) or search.email,
            api_key=os.environ.get(API_KEY_ENV) or None,
        )


def base_url() -> str:
    """Return the E-utilities base URL: ``$LSR_EUTILS_URL`` if set, else NCBI's.

    Under pytest the real host is refused: a test that forgot to start the replay server
    must fail at once rather than query NCBI.
    """
    url = os.environ.get(BASE_URL_ENV, "").strip()
    if not url:
        if os.environ.get("PYTEST_CURRENT_TEST"):
            raise EutilsError(
                f"refusing to contact NCBI from a test: set {BASE_URL_ENV} to a local server"
            )
        return DEFAULT_BASE_URL
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EutilsError(f"{BASE_URL_ENV}={url!r} is not an http(s) URL")
    return url.rstrip("/")


# --- HTTP: rate limit, retries with backoff -------------------------------------------------


class _RateLimiter:
    """Spaces requests at least ``interval`` seconds apart, across every client in the process.

    NCBI counts requests per caller (IP or key), so the budget is the process's, not one
    client's: one limiter is shared, and a lock serialises callers from several threads
    (the TUI runs searches in a worker).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, interval: float) -> None:
        """Block until a request may be sent, then book the next slot."""
        with self._lock:
            now = time.monotonic()
            if self._next > now:
                _sleep(self._next - now)
                now = self._next
            self._next = now + interval


_LIMITER = _RateLimiter()


def _retry_after(headers: Message | None) -> float:
    """Return a ``Retry-After`` of a number of seconds (0 when absent or a date)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


class EutilsClient:
    """A small E-utilities client: ESearch into the history server, EFetch out of it."""

    def __init__(self, settings: EutilsSettings) -> None:
        self.settings = settings
        self.requests = 0
        self.retries = 0

    def _mask(self, text: str) -> str:
        """Return ``text`` with the API key masked (NCBI echoes a bad key in its error)."""
        key = self.settings.api_key
        return text.replace(key, "***") if key else text

    def request(
        self,
        utility: str,
        params: dict[str, Any],
        check: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """Call ``utility`` (``esearch``, ``efetch``) and return the reply's bytes.

        Retried with exponential backoff on HTTP 429, 5xx, network errors, timeouts and
        replies that ``check`` rejects; other 4xx answers fail at once (a retry cannot
        change them). Raises :class:`EutilsError` with a message safe to print.
        """
        s = self.settings
        query = {"db": "pubmed", **params, "tool": s.tool, "email": s.email, "api_key": s.api_key}
        body = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        url = f"{s.base_url}/{utility}.fcgi"
        headers = {"User-Agent": f"{s.tool} (living-review; E-utilities client)"}

        def make_request() -> urllib.request.Request:
            if len(body) > POST_ABOVE:
                return urllib.request.Request(
                    url,
                    data=body.encode("utf-8"),
                    method="POST",
                    headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                )
            return urllib.request.Request(f"{url}?{body}", method="GET", headers=headers)

        problem = "no attempt made"
        for attempt in range(1, MAX_TRIES + 1):
            wait_hint = 0.0
            _LIMITER.wait(s.interval)
            self.requests += 1
            try:
                with urllib.request.urlopen(make_request(), timeout=TIMEOUT_SECONDS) as reply:
                    data: bytes = reply.read()
                if check is not None:
                    check(data)
                return data
            except HTTPError as exc:
                text = _error_text(exc)
                exc.close()
                if exc.code != 429 and exc.code < 500:
                    raise EutilsError(
                        f"PubMed {utility} refused the request: HTTP {exc.code} {exc.reason}"
                        + (f": {self._mask(text)}" if text else "")
                    ) from None
                problem = f"HTTP {exc.code} {exc.reason}"
                wait_hint = _retry_after(exc.headers)
            except _BadReply as exc:
                problem = self._mask(str(exc))
            except (URLError, http.client.HTTPException, OSError) as exc:
                # URLError (refused, DNS), TimeoutError, IncompleteRead, RemoteDisconnected...
                reason = exc.reason if isinstance(exc, URLError) else exc
                problem = self._mask(f"{type(exc).__name__}: {reason}")
            if attempt < MAX_TRIES:
                self.retries += 1
                backoff = BACKOFF_SECONDS * 2 ** (attempt - 1)
                _sleep(min(MAX_BACKOFF, max(backoff, wait_hint)))
        raise EutilsError(
            f"PubMed {utility} failed after {MAX_TRIES} tries ({problem}); "
            "nothing was stored, try again later"
        )

    # --- the two utilities ------------------------------------------------------------------

    def esearch(self, term: str, mindate: date, maxdate: date) -> SearchPage:
        """Search ``term`` among records entered from ``mindate`` to ``maxdate`` (inclusive).

        The hits stay on NCBI's history server (``usehistory=y``); only the count and the
        ``WebEnv``/``query_key`` that EFetch needs come back (``retmax=0``).
        """
        pages: list[SearchPage] = []

        def check(data: bytes) -> None:
            pages.append(SearchPage.from_xml(data, mindate, maxdate))

        self.request(
            "esearch",
            {
                "term": term,
                "usehistory": "y",
                "retmax": 0,
                "datetype": "edat",
                "mindate": fmt_date(mindate),
                "maxdate": fmt_date(maxdate),
            },
            check=check,
        )
        return pages[-1]

    def efetch(self, page: SearchPage, retstart: int, retmax: int, name: str) -> tuple[bytes, int]:
        """Fetch hits ``retstart .. retstart+retmax-1`` of ``page`` as PubMed XML.

        Returns the reply and the number of records it holds; a reply that is not a whole,
        well-formed PubmedArticleSet (cut off, an error document) counts as a failed attempt.
        """
        counted: list[int] = []

        def check(data: bytes) -> None:
            _check_pubmed_xml(data)
            counted.append(_count_records(data, name))

        data = self.request(
            "efetch",
            {
                "query_key": page.query_key,
                "WebEnv": page.webenv,
                "retstart": retstart,
                "retmax": retmax,
                "retmode": "xml",
            },
            check=check,
        )
        return data, counted[-1]


def _error_text(exc: HTTPError) -> str:
    """Return the start of an HTTP error's body as one line (NCBI explains errors there)."""
    try:
        raw = exc.read(500)
    except Exception:  # the body is a courtesy: the status already says what went wrong
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())[:300]


_ERROR_TAG = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)


def _check_pubmed_xml(data: bytes) -> None:
    """Reject an EFetch reply that is not a whole PubmedArticleSet (so that it is retried).

    NCBI answers some failures with status 200 and an ``<ERROR>`` document, and a reply cut
    off mid-transfer is not rare; either would otherwise become a silently short import.
    """
    head = data[:4096]
    if b"<PubmedArticleSet" not in head:
        m = _ERROR_TAG.search(data[:4096])
        detail = m.group(1).decode("utf-8", "replace").strip() if m else "no PubmedArticleSet"
        raise _BadReply(f"efetch answered with an error: {detail[:200]}")
    if not data.rstrip().endswith(b"</PubmedArticleSet>"):
        raise _BadReply("efetch reply was cut off (no closing </PubmedArticleSet>)")


# --- ESearch replies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    """One ESearch over one date window: its count and its handle on the history server."""

    mindate: date
    maxdate: date
    count: int
    webenv: str
    query_key: str
    query_translation: str = ""

    @classmethod
    def from_xml(cls, data: bytes, mindate: date, maxdate: date) -> SearchPage:
        """Read an ESearch reply with ``Bio.Entrez.read`` (validated against NCBI's DTD).

        An ``<ERROR>`` reply (which NCBI sends with status 200, e.g. "Search Backend failed")
        or an unreadable one raises ``_BadReply``, so the request is retried.
        """
        from Bio import Entrez

        try:
            rec = Entrez.read(io.BytesIO(data))
        except RuntimeError as exc:  # Bio.Entrez raises RuntimeError for an <ERROR> reply
            raise _BadReply(f"esearch answered with an error: {str(exc)[:200]}") from None
        except Exception as exc:  # Entrez raises several parser error types; all mean "bad"
            raise _BadReply(
                f"esearch reply is not an eSearchResult ({type(exc).__name__})"
            ) from None
        try:
            count = int(rec["Count"])
            webenv = str(rec["WebEnv"])
            query_key = str(rec["QueryKey"])
        except (KeyError, TypeError, ValueError):
            raise _BadReply("esearch reply lacks Count/WebEnv/QueryKey") from None
        return cls(
            mindate=mindate,
            maxdate=maxdate,
            count=count,
            webenv=webenv,
            query_key=query_key,
            query_translation=str(rec.get("QueryTranslation", "")),
        )


# --- dates -----------------------------------------------------------------------------------


def fmt_date(d: date) -> str:
    """Return ``d`` as E-utilities writes dates (``YYYY/MM/DD``)."""
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


def parse_date(text: str, what: str) -> date:
    """Read ``YYYY/MM/DD`` (or ``YYYY-MM-DD``, ``YYYY/MM``, ``YYYY``: the first such day)."""
    m = _DATE.match(text)
    try:
        if not m:
            raise ValueError(text)
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise LsrError(f"{what}: {text!r} is not a date (write YYYY/MM/DD)") from None


def ncbi_today() -> date:
    """Return today's date where NCBI stamps entry dates (US Eastern time).

    A window's end is stored as the next window's start; taking the date in UTC would, in
    the US evening, end the window a day *after* NCBI's today and skip records entered later
    that evening. The Eastern date is never ahead of NCBI's, so no gap can open.
    """
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("America/New_York")).date()
    except Exception:  # no time-zone database: UTC-5 is never ahead of US Eastern time
        return (datetime.now(UTC) - timedelta(hours=5)).date()


# --- planning and fetching --------------------------------------------------------------------


@dataclass
class FetchResult:
    """What a download produced: the EFetch replies on disk and what the searches said."""

    files: list[Path]
    found: int
    fetched: int
    pieces: list[SearchPage]
    query_translation: str = ""
    warnings: list[str] = field(default_factory=list)


def _split(client: EutilsClient, term: str, top: SearchPage) -> Iterator[SearchPage]:
    """Yield date windows covering ``top`` whose hits each fit in one PubMed search.

    Halves the window by entry date, recursively, until each piece has at most
    SEARCH_WINDOW hits. Pieces come in date order and each is fetched before the next is
    searched, so no history-server handle is left waiting (they expire).
    """
    if top.count <= SEARCH_WINDOW:
        yield top
        return
    if top.mindate >= top.maxdate:
        raise EutilsError(
            f"the strategy finds {top.count:,} records entered on {fmt_date(top.mindate)} "
            f"alone, more than PubMed serves from one search ({SEARCH_WINDOW:,}); "
            "narrow the strategy"
        )
    middle = top.mindate + (top.maxdate - top.mindate) // 2
    for lo, hi in ((top.mindate, middle), (middle + timedelta(days=1), top.maxdate)):
        yield from _split(client, term, client.esearch(term, lo, hi))


def _count_records(data: bytes, name: str) -> int:
    """Return how many records one EFetch reply holds, checking that it is well-formed XML.

    A quick lxml pass that only counts record elements: the full parse (``pubmed_xml``)
    runs once, at import time, so a download is not parsed twice. The DTD is never loaded
    and no entity resolved (nothing is fetched from the network).
    """
    from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs

    count = 0
    try:
        for _, elem in etree.iterparse(
            io.BytesIO(data),
            events=("end",),
            tag=("PubmedArticle", "PubmedBookArticle"),
            load_dtd=False,
            no_network=True,
            resolve_entities=False,
        ):
            count += 1
            elem.clear(keep_tail=True)
    except etree.XMLSyntaxError as exc:
        raise _BadReply(f"{name}: the reply is not well-formed XML ({exc.msg})") from None
    return count


def fetch(
    client: EutilsClient,
    term: str,
    mindate: date,
    maxdate: date,
    spool: Path,
    *,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """Search ``term`` in one entry-date window and save every hit's XML under ``spool``.

    Replies are written to files (one per batch) rather than held in memory: a first run of
    a broad strategy can bring tens of thousands of records, each with its raw XML.
    """
    batch_size = batch_size or BATCH_SIZE
    top = client.esearch(term, mindate, maxdate)
    result = FetchResult(
        files=[], found=top.count, fetched=0, pieces=[], query_translation=top.query_translation
    )
    if progress is not None:
        progress(0, top.count)
    if top.count == 0:
        result.pieces.append(top)
        return result
    for piece in _split(client, term, top):
        result.pieces.append(piece)
        for retstart in range(0, piece.count, batch_size):
            expected = min(batch_size, piece.count - retstart)
            name = (
                f"PubMed efetch {fmt_date(piece.mindate)}-{fmt_date(piece.maxdate)} "
                f"records {retstart + 1}-{retstart + expected}"
            )
            data, got = client.efetch(piece, retstart, expected, name)
            if got < expected:
                # NCBI sometimes sends a short batch; ask once more before believing it.
                again, got_again = client.efetch(piece, retstart, expected, name)
                if got_again > got:
                    data, got = again, got_again
                if got < expected:
                    result.warnings.append(
                        f"{name}: PubMed sent {got} of {expected} records "
                        "(records deleted since the search, or a short reply)"
                    )
            path = spool / f"efetch-{len(result.files) + 1:05d}.xml"
            path.write_bytes(data)
            result.files.append(path)
            result.fetched += got
            if progress is not None:
                progress(result.fetched, top.count)
    if result.fetched != result.found and not result.warnings:
        result.warnings.append(f"found {result.found:,} records but fetched {result.fetched:,}")
    return result


def _records(files: list[Path]) -> Iterator[ParsedRecord]:
    """Yield the parsed records of the saved EFetch replies, in order, one file at a time."""
    from living_review.sources.pubmed_xml import parse_stream

    for path in files:
        with path.open("rb") as fh:
            yield from parse_stream(fh, path.name)


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviousRun:
    """The newest earlier PubMed run of the same strategy, where the next window starts."""

    id: int
    until: date


def previous_run(ws: Workspace, strategy: str) -> PreviousRun | None:
    """Return the newest PubMed run of exactly this strategy, if any.

    A run's end is its ``date_to`` (live runs store it) or, for an imported export, the
    day it was run. A changed strategy is a new search: its first run covers everything.
    """
    from sqlalchemy import select
    from sqlmodel import Session

    from living_review.store.models import SearchRun

    with Session(ws.engine) as session:
        run = session.scalars(
            select(SearchRun)
            .where(SearchRun.database == "pubmed", SearchRun.strategy == strategy)  # type: ignore[arg-type]
            .order_by(SearchRun.run_at.desc(), SearchRun.id.desc())  # type: ignore[attr-defined,union-attr]
        ).first()
    if run is None or run.id is None:
        return None
    if run.date_to:
        until = parse_date(run.date_to, f"search run {run.id} date_to")
    else:
        until = run.run_at.date()
    return PreviousRun(id=run.id, until=until)


def identified_before(ws: Workspace, strategy: str) -> set[str]:
    """Return the PMIDs earlier runs of this strategy already identified.

    Consecutive runs overlap by one entry day (so nothing entered late on that day is
    missed); a record an earlier run already counted must not be counted again in PRISMA's
    "records identified", so the new run leaves it out.
    """
    from sqlalchemy import select
    from sqlmodel import Session, col

    from living_review.store.models import Record, RecordSource, SearchRun

    with Session(ws.engine) as session:
        rows = session.scalars(
            select(col(Record.source_key))
            .join(RecordSource, col(RecordSource.record_id) == col(Record.id))
            .join(SearchRun, col(SearchRun.id) == col(RecordSource.search_run_id))
            .where(
                col(SearchRun.database) == "pubmed",
                col(SearchRun.strategy) == strategy,
                col(Record.database) == "pubmed",
            )
        )
        return {k for k in rows if k}


def run_pubmed_search(
    ws: Workspace,
    *,
    progress: Progress | None = None,
    actor: str | None = None,
    today: date | None = None,
) -> SearchOutcome:
    """Run the saved PubMed strategy live and import what is new since its last run.

    Everything is downloaded first and then imported in one transaction: a failure at any
    point (after retries) raises :class:`EutilsError` and leaves the store unchanged, and no
    write lock is held while waiting on the network.
    """
    from living_review.importing import RunInfo, import_records
    from living_review.searches import SearchOutcome, read_strategy

    strategy = read_strategy(ws, "pubmed")
    settings = EutilsSettings.for_workspace(ws)
    end = today or ncbi_today()
    prev = previous_run(ws, strategy)
    if prev is not None:
        start = min(prev.until, end)
    elif ws.protocol.search.start_date:
        start = parse_date(ws.protocol.search.start_date, "protocol search.start_date")
    else:
        start = EARLIEST
    if start > end:
        raise LsrError(f"protocol search.start_date {fmt_date(start)} is after today")

    client = EutilsClient(settings)
    warnings = []
    if not settings.email:
        warnings.append(
            f"no contact e-mail sent to NCBI: set search.email in the protocol or {EMAIL_ENV}"
        )
    with tempfile.TemporaryDirectory(prefix="lsr-eutils-") as tmp:
        got = fetch(client, strategy, start, end, Path(tmp), progress=progress)
        before = identified_before(ws, strategy) if prev is not None else set()
        skipped = 0

        def fresh() -> Iterator[ParsedRecord]:
            nonlocal skipped
            for rec in _records(got.files):
                if rec.pmid in before:
                    skipped += 1
                    continue
                yield rec

        result = import_records(
            ws.engine,
            fresh(),
            RunInfo(
                database="pubmed",
                strategy=strategy,
                file_format="pubmed-xml",
                date_from=fmt_date(start),
                date_to=fmt_date(end),
                origin="eutils",
                actor=actor,
            ),
        )

    since = f" (since search run #{prev.id})" if prev else " (first run of this strategy)"
    lines = [
        f"PubMed: {strategy}",
        f"  entry dates {fmt_date(start)} to {fmt_date(end)}{since}",
        f"  found {got.found:,} records"
        + (f" in {len(got.pieces)} date slices" if len(got.pieces) > 1 else "")
        + f"; fetched {result.records_in_file + skipped:,}"
        + (f" ({skipped:,} already identified by the previous run, left out)" if skipped else ""),
        f"  search run #{result.search_run_id}: {result.new_records:,} new, "
        f"{result.linked_records:,} already in the store (linked)",
        *(f"  warning: {w}" for w in warnings + got.warnings),
    ]
    return SearchOutcome(
        database="pubmed",
        message="\n".join(lines),
        imported=result,
        details={
            "query": strategy,
            "query_translation": got.query_translation,
            "datetype": "edat",
            "date_from": fmt_date(start),
            "date_to": fmt_date(end),
            "previous_run_id": prev.id if prev else None,
            "found": got.found,
            "fetched": result.records_in_file + skipped,
            "already_identified": skipped,
            "date_slices": [
                {"mindate": fmt_date(p.mindate), "maxdate": fmt_date(p.maxdate), "count": p.count}
                for p in got.pieces
            ],
            "requests": client.requests,
            "retries": client.retries,
            "api_key_used": settings.api_key is not None,
            "warnings": warnings + got.warnings,
        },
    )

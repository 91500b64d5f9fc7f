"""The live PubMed search, run against a local E-utilities replay server (never the internet).

``FakeEutils`` answers ``esearch.fcgi`` and ``efetch.fcgi`` on 127.0.0.1 the way NCBI does,
from the reply templates in ``tests/data/eutils/`` (synthetic records written for these tests,
in the exact shapes E-utilities returns) filled from a corpus of (PMID, entry date) pairs:
ESearch counts the corpus within the requested ``mindate..maxdate`` and keeps the hits under
a new ``WebEnv``; EFetch pages through that history by ``retstart``/``retmax`` and, like
PubMed, never serves a hit past the first 9,999 of one search. It records every request it
gets, and can be told to fail (HTTP status, cut-off reply, ``<ERROR>`` document, short batch).

An autouse guard makes any name lookup other than the loopback one fail, so a test that
forgot ``LSR_EUTILS_URL`` cannot reach NCBI; the client also refuses NCBI under pytest.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from living_review.cli import app
from living_review.searches import SearchOutcome, run_saved_search
from living_review.sources import eutils
from living_review.sources.eutils import EutilsError, run_pubmed_search
from living_review.store.models import Record, RecordSource, SearchRun
from living_review.workspace import Workspace

DATA = Path(__file__).resolve().parents[1] / "data" / "eutils"
TEMPLATES = {
    name: Template((DATA / f"{name}.xml").read_text("utf-8"))
    for name in ("esearch_result", "esearch_error", "efetch_set", "efetch_article", "efetch_error")
}
PREFIX = "/entrez/eutils/"
STRATEGY = '(sorafenib OR regorafenib OR "second-line") AND hepatocellular carcinoma'
EMAIL = "team@example.org"
SECRET = "TESTKEY0123456789abcdef"
TODAY = date(2026, 3, 10)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

#: What a fault hook may answer: an HTTP status, (status, headers), or one of
#: "truncated" (a reply cut off mid-transfer), "error-doc" (status 200 with an <ERROR>
#: document), "short" (a well-formed efetch reply missing its last record).
Fault = int | tuple[int, dict[str, str]] | str


@dataclass
class Seen:
    """One request the server got."""

    utility: str
    method: str
    params: dict[str, str]
    at: float


@dataclass
class FakeEutils:
    """A tiny E-utilities: a corpus, a history server, a request log and fault injection."""

    base_url: str = ""
    corpus: list[tuple[str, date]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    histories: dict[str, list[tuple[str, date]]] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)
    #: Called as fault(utility, params, n) with n counting that utility's requests from 1.
    fault: Callable[[str, dict[str, str], int], Fault | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, day: date, n: int = 1, *, first: int | None = None) -> list[str]:
        """Add ``n`` records entered on ``day``; return their PMIDs."""
        start = first if first is not None else 40_000_000 + len(self.corpus)
        pmids = [str(start + i) for i in range(n)]
        self.corpus.extend((p, day) for p in pmids)
        return pmids

    def fail_first(self, utility: str, *faults: Fault) -> None:
        """Make the first requests to ``utility`` fail, one fault each, then answer normally."""
        self.fault = lambda u, _p, n: faults[n - 1] if u == utility and n <= len(faults) else None

    def of(self, utility: str) -> list[Seen]:
        """The requests made to one utility, in order."""
        return [r for r in self.requests if r.utility == utility]

    # --- answering -------------------------------------------------------------------------

    def handle(
        self, utility: str, method: str, params: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append(Seen(utility, method, params, time.monotonic()))
            n = len(self.of(utility))
        fault = self.fault(utility, params, n) if self.fault else None
        if isinstance(fault, int | tuple):
            status, headers = fault if isinstance(fault, tuple) else (fault, {})
            # NCBI's 429/400 bodies echo the caller's API key: the client must not print it.
            body = json.dumps({"error": "API key invalid", "api-key": params.get("api_key", "")})
            return status, headers, body.encode()
        if utility == "esearch":
            status, headers, data = self.esearch(params, fault)
        elif utility == "efetch":
            status, headers, data = self.efetch(params, fault)
        else:
            return 404, {}, b"unknown utility"
        if fault == "truncated":
            data = data[: len(data) * 2 // 3]
        return status, headers, data

    def esearch(self, p: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        if fault == "error-doc":
            body = TEMPLATES["esearch_error"].substitute(message="Search Backend failed")
            return 200, {}, body.encode()
        assert p["db"] == "pubmed" and p["usehistory"] == "y" and p["datetype"] == "edat"
        lo, hi = (parse_day(p["mindate"]), parse_day(p["maxdate"]))
        hits = [(pmid, d) for pmid, d in self.corpus if lo <= d <= hi]
        hits.sort(key=lambda h: (h[1], h[0]), reverse=True)  # PubMed: newest first
        webenv = f"MCID_{uuid.uuid4().hex[:24]}"
        self.histories[webenv] = hits
        translation = f"({p['term']}) AND {p['mindate']}:{p['maxdate']}[Date - Entry]"
        body = TEMPLATES["esearch_result"].substitute(
            count=len(hits), query_key=1, webenv=webenv, translation=escape(translation)
        )
        return 200, {}, body.encode()

    def efetch(self, p: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        if fault == "error-doc":
            body = TEMPLATES["efetch_error"].substitute(message="Unable to obtain query #1")
            return 200, {}, body.encode()
        assert p["db"] == "pubmed" and p["retmode"] == "xml" and p["query_key"] == "1"
        hits = self.histories.get(p["WebEnv"])
        if hits is None:
            return 400, {}, b"unknown WebEnv"
        start, count = int(p["retstart"]), int(p["retmax"])
        # Like PubMed: nothing past the first 9,999 hits of one search is ever served.
        page = hits[start : min(start + count, 9_999)]
        if fault == "short":
            page = page[:-1]
        body = TEMPLATES["efetch_set"].substitute(articles="".join(article(*h) for h in page))
        return 200, {}, body.encode()


def parse_day(text: str) -> date:
    y, m, d = (int(x) for x in text.split("/"))
    return date(y, m, d)


def article(pmid: str, day: date) -> str:
    """One synthetic PubmedArticle from the template."""
    return (
        TEMPLATES["efetch_article"].substitute(
            pmid=pmid,
            year=day.year,
            month=f"{day.month:02d}",
            month_name=MONTHS[day.month - 1],
            day=f"{day.day:02d}",
            month_int=day.month,
            day_int=day.day,
            arm="A" if int(pmid) % 2 else "B",
            page=int(pmid) % 900 + 1,
            end_page=int(pmid) % 900 + 9,
        )
        + "\n"
    )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve(urlsplit(self.path).query)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._serve(self.rfile.read(length).decode("utf-8"))

    def _serve(self, query: str) -> None:
        path = urlsplit(self.path).path
        headers: dict[str, str] = {}
        if not (path.startswith(PREFIX) and path.endswith(".fcgi")):
            status, body = 404, b"not an E-utility"
        else:
            utility = path[len(PREFIX) : -len(".fcgi")]
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            status, headers, body = self.server.fake.handle(utility, self.command, params)
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Keep the test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeEutils


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any name lookup but the loopback one: no test here may reach the internet."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test tried to reach {host!r}: the internet is off limits")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEutils]:
    """A replay server on a random free port, with LSR_EUTILS_URL pointing at it.

    Waits are recorded instead of slept (the backoff is asserted on, the run is instant)
    and the rate limit's spacing is zero; ``test_rate_limit`` restores both.
    """
    fake = FakeEutils()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    monkeypatch.setenv("LSR_EUTILS_URL", fake.base_url)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    monkeypatch.setattr(eutils, "_sleep", fake.sleeps.append)
    monkeypatch.setattr(eutils, "_LIMITER", eutils._RateLimiter())
    monkeypatch.setattr(eutils, "INTERVAL_NO_KEY", 0.0)
    monkeypatch.setattr(eutils, "INTERVAL_WITH_KEY", 0.0)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


def save_strategy(ws: Workspace, strategy: str) -> None:
    """Write ``searches/pubmed/strategy.txt``."""
    folder = ws.searches_dir / "pubmed"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "strategy.txt").write_text(f"# PubMed, saved strategy\n{strategy}\n", "utf-8")


def prepare(
    ws: Workspace,
    strategy: str = STRATEGY,
    *,
    start_date: str | None = "2026/01/01",
    email: str | None = EMAIL,
) -> None:
    """Write the saved strategy and the protocol's [search] settings into a fresh ``ws``."""
    save_strategy(ws, strategy)
    text = ws.protocol_path.read_text("utf-8")
    lines = [f'email = "{email}"'] if email else []
    lines += [f'start_date = "{start_date}"'] if start_date else []
    head, sep, tail = text.partition('[search]\ndatabases = ["pubmed"]\n')
    assert sep, "the protocol template's [search] section changed"
    ws.protocol_path.write_text(head + sep + "".join(f"{ln}\n" for ln in lines) + tail, "utf-8")
    ws.__dict__.pop("protocol", None)  # drop the cached protocol


@pytest.fixture
def ws(workspace: Workspace, fake: FakeEutils) -> Workspace:
    """A fresh workspace with the saved PubMed strategy and a replay server to run it on."""
    prepare(workspace)
    return workspace


def store(ws: Workspace) -> tuple[list[SearchRun], set[str]]:
    """The search runs and the PMIDs of the records in the store."""
    with Session(ws.engine) as s:
        runs = list(s.scalars(select(SearchRun).order_by(SearchRun.id)))  # type: ignore[arg-type]
        pmids = set(s.scalars(select(Record.pmid)))  # type: ignore[call-overload]
    return runs, pmids


def run(ws: Workspace, today: date = TODAY, **kw: Any) -> SearchOutcome:
    return run_pubmed_search(ws, today=today, **kw)


# --- first and later runs --------------------------------------------------------------------


def test_first_run_imports_every_hit_in_batches(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eutils, "BATCH_SIZE", 3)
    fake.add(date(2025, 12, 15), 2)  # entered before the protocol's start_date: not wanted
    wanted = fake.add(date(2026, 1, 5), 3) + fake.add(date(2026, 2, 20), 4)
    seen: list[tuple[int, int]] = []

    outcome = run(ws, progress=lambda done, total: seen.append((done, total)))

    assert outcome.imported is not None
    assert (outcome.imported.records_in_file, outcome.imported.new_records) == (7, 7)
    assert outcome.imported.linked_records == 0
    (search,) = fake.of("esearch")
    assert search.params["term"] == STRATEGY
    assert search.params["mindate"] == "2026/01/01" and search.params["maxdate"] == "2026/03/10"
    assert search.params["tool"] == "living-review" and search.params["email"] == EMAIL
    assert "api_key" not in search.params
    (webenv,) = fake.histories
    fetches = fake.of("efetch")
    assert [(f.params["retstart"], f.params["retmax"]) for f in fetches] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "1"),
    ]
    assert {(f.params["WebEnv"], f.params["query_key"]) for f in fetches} == {(webenv, "1")}
    assert all(f.params["email"] == EMAIL for f in fetches)

    runs, pmids = store(ws)
    assert pmids == set(wanted)
    (sr,) = runs
    assert (sr.origin, sr.database, sr.strategy) == ("eutils", "pubmed", STRATEGY)
    assert (sr.date_from, sr.date_to, sr.records_in_file) == ("2026/01/01", "2026/03/10", 7)
    assert sr.id == outcome.imported.search_run_id
    with Session(ws.engine) as s:
        rec = s.scalars(select(Record).where(Record.pmid == wanted[0])).one()  # type: ignore[arg-type]
    assert rec.title and rec.title.startswith(f"Synthetic record {wanted[0]}")
    assert rec.doi == f"10.5555/synthetic.{wanted[0]}" and rec.raw.startswith("<PubmedArticle")
    assert seen[0] == (0, 7) and seen[-1] == (7, 7)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    for part in (STRATEGY, "2026/01/01 to 2026/03/10", "found 7", f"search run #{sr.id}"):
        assert part in outcome.message
    assert outcome.details["found"] == 7 and outcome.details["retries"] == 0


def test_later_run_asks_only_for_newly_entered_records(ws: Workspace, fake: FakeEutils) -> None:
    old = fake.add(date(2026, 1, 20), 3) + fake.add(TODAY, 1)
    first = run(ws)
    assert first.imported is not None and first.imported.new_records == 4
    late_same_day = fake.add(TODAY, 1)  # entered after the first run, on its last day
    new = late_same_day + fake.add(date(2026, 3, 12), 2)

    second = run(ws, today=date(2026, 3, 25))

    search = fake.of("esearch")[-1]
    assert search.params["mindate"] == "2026/03/10" and search.params["maxdate"] == "2026/03/25"
    assert second.imported is not None
    # The window overlaps the first run's last day: the record found then was identified by
    # the first run already, so it is left out (PRISMA counts it once), not copied or linked.
    assert second.details["fetched"] == 4 and second.details["already_identified"] == 1
    assert second.imported.records_in_file == 3
    assert (second.imported.new_records, second.imported.linked_records) == (3, 0)
    assert second.details["previous_run_id"] == first.imported.search_run_id
    runs, pmids = store(ws)
    assert pmids == set(old + new) and len(runs) == 2
    assert (runs[1].date_from, runs[1].date_to) == ("2026/03/10", "2026/03/25")
    with Session(ws.engine) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 7
        assert s.scalar(select(func.count()).select_from(RecordSource)) == 7


def test_a_run_that_finds_nothing_still_moves_the_window(ws: Workspace, fake: FakeEutils) -> None:
    empty = run(ws)
    assert empty.imported is not None and empty.imported.records_in_file == 0
    assert fake.of("efetch") == []
    fake.add(date(2026, 3, 15), 2)
    later = run(ws, today=date(2026, 3, 20))
    assert fake.of("esearch")[-1].params["mindate"] == "2026/03/10"
    assert later.imported is not None and later.imported.new_records == 2
    assert len(store(ws)[0]) == 2


def test_a_changed_strategy_is_a_new_search_over_the_whole_window(
    ws: Workspace, fake: FakeEutils
) -> None:
    fake.add(date(2026, 2, 1), 2)
    run(ws)
    save_strategy(ws, STRATEGY + " AND randomized")
    again = run(ws, today=date(2026, 3, 20))
    assert fake.of("esearch")[-1].params["mindate"] == "2026/01/01"
    assert again.imported is not None and again.imported.linked_records == 2
    assert again.details["previous_run_id"] is None


def test_first_run_without_start_date_starts_in_1800(
    workspace: Workspace, fake: FakeEutils
) -> None:
    prepare(workspace, start_date=None)
    run(workspace)
    assert fake.of("esearch")[0].params["mindate"] == "1800/01/01"


def test_run_saved_search_dispatches_pubmed_here(ws: Workspace, fake: FakeEutils) -> None:
    fake.add(date(2026, 2, 1), 1)
    outcome = run_saved_search(ws, "pubmed")
    assert outcome.imported is not None and outcome.imported.new_records == 1
    assert outcome.as_json()["imported"]["search_run_id"] == outcome.imported.search_run_id


# --- the 9,999-hit window ----------------------------------------------------------------------


def test_more_than_9999_hits_are_split_by_entry_date(
    workspace: Workspace, fake: FakeEutils
) -> None:
    prepare(workspace, start_date="2026/02/01")
    days = [date(2026, 2, 1) + timedelta(days=i) for i in range(10)]
    for i, day in enumerate(days):
        fake.add(day, 1_000, first=30_000_000 + i * 1_000)

    outcome = run(workspace, today=date(2026, 2, 10))

    windows = [(s.params["mindate"], s.params["maxdate"]) for s in fake.of("esearch")]
    assert windows == [
        ("2026/02/01", "2026/02/10"),  # 10,000 hits: too many for one search
        ("2026/02/01", "2026/02/05"),
        ("2026/02/06", "2026/02/10"),
    ]
    slices = outcome.details["date_slices"]
    assert [s["count"] for s in slices] == [5_000, 5_000]
    first_webenv = next(iter(fake.histories))
    for f in fake.of("efetch"):
        assert int(f.params["retstart"]) + int(f.params["retmax"]) <= 9_999
        assert f.params["WebEnv"] != first_webenv  # only the pieces are fetched
    assert outcome.imported is not None and outcome.imported.new_records == 10_000
    assert outcome.details["warnings"] == []
    assert len(store(workspace)[1]) == 10_000


def test_more_than_9999_hits_on_one_day_is_a_clear_error(ws: Workspace, fake: FakeEutils) -> None:
    fake.add(date(2026, 2, 3), 10_000)
    with pytest.raises(EutilsError, match=r"10,000 records entered on 2026/02/03 alone"):
        run(ws)
    assert fake.of("efetch") == []
    assert store(ws) == ([], set())


# --- retries, failures, the API key ------------------------------------------------------------


@pytest.mark.parametrize(
    ("utility", "status"),
    [("esearch", 429), ("efetch", 429), ("esearch", 500), ("efetch", 503)],
)
def test_429_and_5xx_are_retried_after_a_backoff(
    ws: Workspace, fake: FakeEutils, utility: str, status: int
) -> None:
    fake.add(date(2026, 2, 1), 3)
    fake.fail_first(utility, status)
    outcome = run(ws)
    assert outcome.imported is not None and outcome.imported.new_records == 3
    assert len(fake.of(utility)) == 2
    assert fake.sleeps == [eutils.BACKOFF_SECONDS]
    assert outcome.details["retries"] == 1


def test_backoff_doubles_and_honours_retry_after(ws: Workspace, fake: FakeEutils) -> None:
    fake.add(date(2026, 2, 1), 3)
    fake.fail_first("efetch", (429, {"Retry-After": "7"}), 500, 502)
    outcome = run(ws)
    assert outcome.imported is not None and outcome.imported.new_records == 3
    b = eutils.BACKOFF_SECONDS
    assert fake.sleeps == [max(7.0, b), 2 * b, 4 * b]


@pytest.mark.parametrize("fault", ["truncated", "error-doc"])
@pytest.mark.parametrize("utility", ["esearch", "efetch"])
def test_a_bad_200_reply_is_retried(
    ws: Workspace, fake: FakeEutils, utility: str, fault: str
) -> None:
    fake.add(date(2026, 2, 1), 3)
    fake.fail_first(utility, fault)
    outcome = run(ws)
    assert outcome.imported is not None and outcome.imported.new_records == 3
    assert len(fake.of(utility)) == 2 and outcome.details["retries"] == 1


def test_a_short_batch_is_asked_again_then_reported(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eutils, "BATCH_SIZE", 3)
    fake.add(date(2026, 2, 1), 7)
    fake.fault = lambda u, p, _n: "short" if u == "efetch" and p["retstart"] == "3" else None
    outcome = run(ws)
    assert [f.params["retstart"] for f in fake.of("efetch")] == ["0", "3", "3", "6"]
    assert outcome.imported is not None and outcome.imported.records_in_file == 6
    (warning,) = outcome.details["warnings"]
    assert "sent 2 of 3 records" in warning and "warning:" in outcome.message


def test_persistent_failure_is_an_error_and_stores_nothing(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eutils, "BATCH_SIZE", 2)
    fake.add(date(2026, 2, 1), 2)
    run(ws)
    before = store(ws)
    fake.add(date(2026, 3, 15), 5)
    # The search works and the first batch comes; every later batch fails.
    fake.fault = lambda u, p, _n: 503 if u == "efetch" and p["retstart"] != "0" else None
    with pytest.raises(EutilsError) as err:
        run(ws, today=date(2026, 3, 20), progress=lambda d, t: None)
    assert "efetch failed after 5 tries (HTTP 503" in str(err.value)
    assert "nothing was stored" in str(err.value)
    assert store(ws) == before
    assert len([f for f in fake.of("efetch") if f.params["retstart"] != "0"]) == eutils.MAX_TRIES


def test_connection_refused_is_retried_then_an_error(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LSR_EUTILS_URL", f"http://127.0.0.1:{port}/entrez/eutils")
    with pytest.raises(EutilsError, match=r"esearch failed after 5 tries \(URLError"):
        run(ws)
    assert len(fake.sleeps) == eutils.MAX_TRIES - 1
    assert store(ws) == ([], set())


def test_a_4xx_is_not_retried_and_never_shows_the_key(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    fake.fail_first("esearch", 400)
    with pytest.raises(EutilsError) as err:
        run(ws)
    message = str(err.value)
    assert "HTTP 400" in message and "API key invalid" in message and "***" in message
    assert SECRET not in message
    assert len(fake.of("esearch")) == 1 and fake.sleeps == []


def test_key_and_email_come_from_the_environment_and_are_sent(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    monkeypatch.setenv("NCBI_EMAIL", "override@example.org")
    fake.add(date(2026, 2, 1), 2)
    outcome = run(ws)
    assert fake.requests
    for r in fake.requests:
        assert r.params["api_key"] == SECRET and r.params["email"] == "override@example.org"
    assert outcome.details["api_key_used"] is True
    assert SECRET not in json.dumps(outcome.as_json()) + outcome.message
    assert SECRET not in repr(eutils.EutilsSettings.for_workspace(ws))


def test_no_email_is_run_but_warned(workspace: Workspace, fake: FakeEutils) -> None:
    prepare(workspace, email=None)
    outcome = run(workspace)
    assert all("email" not in r.params for r in fake.requests)
    assert any("no contact e-mail" in w for w in outcome.details["warnings"])


@pytest.mark.parametrize(("key", "spacing"), [(None, 0.37), (SECRET, 0.1)])
def test_rate_limit_spaces_requests(
    ws: Workspace,
    fake: FakeEutils,
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    spacing: float,
) -> None:
    """NCBI: at most 3 requests/s without a key, 10/s with one."""
    monkeypatch.setattr(eutils, "_sleep", time.sleep)
    monkeypatch.setattr(eutils, "INTERVAL_NO_KEY", 0.37)
    monkeypatch.setattr(eutils, "INTERVAL_WITH_KEY", 0.1)
    monkeypatch.setattr(eutils, "BATCH_SIZE", 1)
    if key:
        monkeypatch.setenv("NCBI_API_KEY", key)
    fake.add(date(2026, 2, 1), 3)
    run(ws)
    times = [r.at for r in fake.requests]
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= spacing - 0.02, gaps


def test_long_strategies_are_posted(workspace: Workspace, fake: FakeEutils) -> None:
    long = " OR ".join(f'"drug {i}"[tiab]' for i in range(120))
    prepare(workspace, long)
    fake.add(date(2026, 2, 1), 1)
    run(workspace)
    (search,) = fake.of("esearch")
    assert search.method == "POST" and search.params["term"] == long
    assert [f.method for f in fake.of("efetch")] == ["GET"]


def test_tests_never_reach_ncbi(
    ws: Workspace, fake: FakeEutils, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LSR_EUTILS_URL")
    with pytest.raises(EutilsError, match="refusing to contact NCBI from a test"):
        run(ws)
    monkeypatch.setenv("LSR_EUTILS_URL", "ftp://127.0.0.1/eutils")
    with pytest.raises(EutilsError, match="not an http"):
        run(ws)
    assert fake.requests == []


# --- the command line --------------------------------------------------------------------------


def test_cli_search_run_pubmed_json(workspace: Workspace, fake: FakeEutils) -> None:
    prepare(workspace, start_date="2020/01/01")
    fake.add(date(2020, 6, 1), 2)
    fake.add(date(2021, 6, 1), 1)
    res = CliRunner().invoke(
        app, ["--workspace", str(workspace.root), "search", "run", "pubmed", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["database"] == "pubmed"
    assert data["imported"]["new_records"] == 3 and data["imported"]["records_in_file"] == 3
    assert data["details"]["found"] == 3 and data["details"]["date_from"] == "2020/01/01"
    assert data["dedup"]["records_compared"] == 3  # a live run is deduplicated like an import
    runs, _ = store(workspace)
    assert [r.id for r in runs] == [data["imported"]["search_run_id"]]


def test_cli_network_failure_is_one_line_and_exit_1(workspace: Workspace, fake: FakeEutils) -> None:
    prepare(workspace, start_date="2020/01/01")
    fake.fault = lambda _u, _p, _n: 503
    res = CliRunner().invoke(
        app, ["--workspace", str(workspace.root), "search", "run", "pubmed", "--json"]
    )
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.startswith("lsr: error: PubMed esearch failed after 5 tries (HTTP 503")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert store(workspace) == ([], set())

"""Pilot tests of the duplicates stage: the review queue, decisions by key, merged records, splits.

The workspace holds two imports (PubMed, Embase) of the same three trials: one pair the
automatic pass merges (same DOI) and two pairs it queues for review (no DOI, small differences
in authors, pages and title). Each test drives the screens with keys and checks both what they
show and the ``DuplicateLink`` rows the core stored.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rich.text import Text
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col
from textual.binding import Binding
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerState

from living_review.dedup import service
from living_review.importing import RunInfo, import_records
from living_review.sources.base import ParsedRecord
from living_review.store.models import DuplicateLink, Record
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens import dedup as dedup_screen
from living_review_tui.screens.dedup import (
    DEFAULT_REASON,
    DIFF_STYLE,
    DedupScreen,
    FieldRow,
    MergedScreen,
)
from tests.tui.test_app import SIZE, settle, static_text, table_rows, widget_text

SHARP = "Sorafenib in advanced hepatocellular carcinoma"
RESORCE = "Regorafenib for patients with hepatocellular carcinoma who progressed on sorafenib"
REFLECT = (
    "Lenvatinib versus sorafenib in first-line treatment of unresectable hepatocellular carcinoma"
)
NO_IDS: dict[str, object] = {"doi": None, "journal": None, "volume": None, "issue": None}


def article(key: str, **kw: object) -> ParsedRecord:
    """A trial report as one database exports it (SHARP unless told otherwise)."""
    base: dict[str, object] = {
        "source_key": key,
        "title": SHARP,
        "authors": ["Llovet JM", "Ricci S", "Mazzaferro V"],
        "year": 2008,
        "journal": "N Engl J Med",
        "volume": "359",
        "issue": "4",
        "pages": "378-90",
        "doi": "10.1056/NEJMoa0708857",
        "raw": f"raw {key}",
    }
    base.update(kw)
    return ParsedRecord(**base)  # type: ignore[arg-type]


def record_ids(engine: Engine) -> dict[str, int]:
    """Store id of each record by its source key (unique across the two fixture imports)."""
    with Session(engine) as s:
        rows = s.execute(select(col(Record.source_key), col(Record.id)))
        return {str(key): int(rid) for key, rid in rows}


def build_review(ws: Workspace) -> dict[str, int]:
    """Import PubMed then Embase, run the automatic pass: one merge and two pairs to review."""
    pubmed = [
        article("18650514"),
        article("2", title=RESORCE, authors=["Bruix J", "Qin S"], year=2017, pages=None, **NO_IDS),
        article("3", title=REFLECT, authors=["Kudo M", "Finn RS"], year=2018, pages=None, **NO_IDS),
    ]
    embase = [
        article("L1", title=f"{SHARP}.", pages="378-390"),
        article("L2", title=RESORCE, authors=["Bruix J", "Qin S", "Merle P"], year=2017,
                pages="56-66", **NO_IDS),
        article("L3", title=REFLECT.replace("unresectable", "advanced unresectable"),
                authors=["Kudo M", "Finn RS"], year=2018, pages=None, **NO_IDS),
    ]  # fmt: skip
    import_records(ws.engine, pubmed, RunInfo(database="pubmed"))
    import_records(ws.engine, embase, RunInfo(database="embase"))
    service.run_dedup(ws.engine)
    ids = record_ids(ws.engine)
    assert [(p.record_a, p.record_b) for p in service.possible_pairs(ws.engine)] == [
        (ids["2"], ids["L2"]),
        (ids["3"], ids["L3"]),
    ]
    assert [sorted(c.source_keys) for c in service.list_clusters(ws.engine)] == [["18650514", "L1"]]
    return ids


def reviewer_links(engine: Engine) -> list[tuple[int, int, str, str, str | None, str | None]]:
    """Every link a person wrote (reviewer verdicts and splits), oldest first."""
    with Session(engine) as s:
        rows = s.execute(
            select(
                col(DuplicateLink.record_a),
                col(DuplicateLink.record_b),
                col(DuplicateLink.decision),
                col(DuplicateLink.method),
                col(DuplicateLink.actor),
                col(DuplicateLink.reason),
            )
            .where(col(DuplicateLink.method).in_(["reviewer", "split"]))
            .order_by(col(DuplicateLink.id))
        )
        return [tuple(row) for row in rows]


def link_count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(DuplicateLink)) or 0)


async def settle_all(app: LivingReviewApp, pilot: Pilot[None]) -> None:
    """Settle until no worker runs: a finished worker here often starts the next one."""
    for _ in range(20):
        await settle(app, pilot)
        if not [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]:
            return
    raise AssertionError("workers kept starting")


def highlighted(app: LivingReviewApp, selector: str) -> list[str]:
    """The words of a field widget that the screen highlighted as differing."""
    content = app.screen.query_one(selector, Static).content
    assert isinstance(content, Text)
    return [content.plain[s.start : s.end] for s in content.spans if s.style == DIFF_STYLE]


def notes(messages: list[Message]) -> list[str]:
    """Notification texts, once each (the hook sees a message at every node it reaches)."""
    found = {id(m): m.notification.message for m in messages if isinstance(m, Notify)}
    return list(found.values())


async def open_queue(app: LivingReviewApp, pilot: Pilot[None]) -> DedupScreen:
    await settle_all(app, pilot)
    await pilot.press("p")
    await settle_all(app, pilot)
    screen = app.screen
    assert isinstance(screen, DedupScreen)
    return screen


@pytest.mark.parametrize("screen", [DedupScreen, MergedScreen])
def test_no_key_of_the_stage_traps_the_user(screen: type[DedupScreen | MergedScreen]) -> None:
    # Screen bindings win over the app's: the dashboard, help and quit must stay reachable (the
    # verdict keys y/n and skip k may shadow the NMA and KM sections here: dashboard first).
    section_keys = {"d", "question_mark", "q"}
    for binding in screen.BINDINGS:
        assert isinstance(binding, Binding)
        assert not set(binding.key.split(",")) & section_keys, binding


async def test_reviewer_decides_same_and_not_the_same(workspace: Workspace) -> None:
    ids = build_review(workspace)
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot)
        assert screen.sub_title == "Duplicates · ana"
        assert not screen.query_one("#dedup-notice").display
        heading = static_text(app, "#pair-heading")
        assert "Pair 1 of 2" in heading and "score 0.850" in heading and "agree:" in heading
        assert f"record {ids['2']}" in static_text(app, "#record-a")
        assert f"record {ids['L2']}" in static_text(app, "#record-b")

        await pilot.press("y")  # same: the next pair is on view before the core answers
        assert f"record {ids['3']}" in static_text(app, "#record-a")
        await settle_all(app, pilot)
        assert "Pair 1 of 1" in static_text(app, "#pair-heading")
        assert f"Records {ids['2']} and {ids['L2']}: same" in static_text(app, "#last-decision")

        await pilot.press("w", *"different populations", "enter", "n")
        await settle_all(app, pilot)
        assert screen.query_one("#no-pairs").display
        assert not screen.query_one("#pair").display
        assert screen.query_one("#reason", Input).value == ""

    assert reviewer_links(workspace.engine) == [
        (ids["2"], ids["L2"], "duplicate", "reviewer", "ana", DEFAULT_REASON),
        (ids["3"], ids["L3"], "distinct", "reviewer", "ana", "different populations"),
    ]
    assert service.possible_pairs(workspace.engine) == []
    assert sorted(sorted(c.source_keys) for c in service.list_clusters(workspace.engine)) == [
        ["18650514", "L1"],
        ["2", "L2"],
    ]


async def test_differing_words_are_highlighted_field_by_field(workspace: Workspace) -> None:
    build_review(workspace)
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(app, pilot)
        # First pair: Embase lists one more author and the pages PubMed lacks.
        assert highlighted(app, "#a-authors") == ["S"]
        assert highlighted(app, "#b-authors") == ["S; Merle P"]
        assert highlighted(app, "#b-pages") == ["56-66"]
        assert str(screen.query_one("#a-pages", Static).content) == "—"  # missing, not blank
        assert highlighted(app, "#a-title") == highlighted(app, "#b-title") == []
        assert screen.query_one("#row-authors", FieldRow).has_class("-differs")
        assert not screen.query_one("#row-title", FieldRow).has_class("-differs")
        assert static_text(app, "#label-authors") == "≠ Authors"
        assert not screen.query_one("#row-doi").display  # neither record has one

        await pilot.press("k")  # skip: the second pair, whose titles differ by one word
        await settle_all(app, pilot)
        assert "Pair 2 of 2" in static_text(app, "#pair-heading")
        assert highlighted(app, "#a-title") == []
        assert highlighted(app, "#b-title") == ["advanced"]
        assert highlighted(app, "#a-authors") == []
        assert not screen.query_one("#row-pages").display

        await pilot.press("k")  # the queue is circular
        await settle_all(app, pilot)
        assert "Pair 1 of 2" in static_text(app, "#pair-heading")
        await pilot.press("b")
        assert "Pair 2 of 2" in static_text(app, "#pair-heading")
    assert reviewer_links(workspace.engine) == []  # skipping stores nothing


async def test_without_a_reviewer_nothing_is_stored(workspace: Workspace) -> None:
    build_review(workspace)
    before = link_count(workspace.engine)
    messages: list[Message] = []
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        screen = await open_queue(app, pilot)
        assert screen.query_one("#dedup-notice").display
        assert "lsr tui --reviewer NAME" in widget_text(screen.query_one("#dedup-notice"))
        await pilot.press("y", "n")
        await settle_all(app, pilot)
        assert "Pair 1 of 2" in static_text(app, "#pair-heading")  # still on the first pair
        await pilot.press("m")
        await settle_all(app, pilot)
        assert isinstance(app.screen, MergedScreen)
        await pilot.press("x")
        await settle_all(app, pilot)
    said = notes(messages)
    assert len(said) == 3
    assert all("lsr tui --reviewer NAME" in text for text in said)
    assert link_count(workspace.engine) == before
    assert len(service.possible_pairs(workspace.engine)) == 2


async def test_a_merge_is_split_with_its_history_shown(workspace: Workspace) -> None:
    ids = build_review(workspace)
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(app, pilot)
        await pilot.press("m")
        await settle_all(app, pilot)
        screen = app.screen
        assert isinstance(screen, MergedScreen)
        table = screen.query_one("#clusters", DataTable)
        rows = table_rows(table)
        assert [(r[1], r[2], r[3], r[6]) for r in rows] == [
            (str(ids["18650514"]), "pubmed", "18650514", "✓"),
            (str(ids["L1"]), "embase", "L1", ""),
        ]
        shown = static_text(app, "#history")
        assert f"Records {ids['18650514']} and {ids['L1']}" in shown
        assert "duplicate" in shown and "exact_id by dedup" in shown

        await pilot.press("down")  # the Embase record
        await pilot.press("w", *"different printings", "enter", "x")
        await settle_all(app, pilot)
        result = static_text(app, "#split-result")
        assert f"Record {ids['L1']} split from its cluster · 1 link(s) reversed" in result
        assert "distinct  split by ana" in result and "different printings" in result
        assert table.row_count == 0
        assert screen.query_one("#no-clusters").display

        await pilot.press("escape")  # back to the queue, unchanged by the split
        await settle_all(app, pilot)
        assert isinstance(app.screen, DedupScreen)
        assert "Pair 1 of 2" in static_text(app, "#pair-heading")

    history = service.link_history(workspace.engine, ids["18650514"], ids["L1"])
    assert [(h["decision"], h["method"], h["actor"]) for h in history] == [
        ("duplicate", "exact_id", "dedup"),
        ("distinct", "split", "ana"),
    ]
    assert history[-1]["reason"] == "different printings"
    assert service.list_clusters(workspace.engine) == []


async def test_the_next_pair_shows_while_the_core_records_the_decision(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = build_review(workspace)
    started, release = threading.Event(), threading.Event()

    def slow_decide(engine: Engine, *args: Any, **kwargs: Any) -> int:
        started.set()
        assert release.wait(10), "the test never released the decision"
        return service.decide(engine, *args, **kwargs)

    monkeypatch.setattr(dedup_screen, "decide", slow_decide)
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(app, pilot)
        await pilot.press("y")
        assert started.wait(5)
        await pilot.pause()
        assert f"record {ids['3']}" in static_text(app, "#record-a")
        assert "Pair 1 of 1" in static_text(app, "#pair-heading")
        await pilot.press("ctrl+r")  # a reload meanwhile does not bring the decided pair back
        await pilot.pause(0.2)
        assert "Pair 1 of 1" in static_text(app, "#pair-heading")
        release.set()
        await settle_all(app, pilot)
        assert "Pair 1 of 1" in static_text(app, "#pair-heading")
    assert [link[:3] for link in reviewer_links(workspace.engine)] == [
        (ids["2"], ids["L2"], "duplicate")
    ]


async def test_a_refused_decision_is_reported_and_the_pair_comes_back(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = build_review(workspace)

    def refused(*_args: Any, **_kwargs: Any) -> int:
        raise service.DedupError("no record with id 999")

    monkeypatch.setattr(dedup_screen, "decide", refused)
    messages: list[Message] = []
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_queue(app, pilot)
        await pilot.press("y")
        await settle_all(app, pilot)
        # The reviewer stays on the pair on view; the refused one is back in the queue.
        assert "Pair 2 of 2" in static_text(app, "#pair-heading")
        await pilot.press("b")
        await settle_all(app, pilot)
        assert f"record {ids['2']}" in static_text(app, "#record-a")
        assert app.is_running
    assert notes(messages) == ["no record with id 999"]
    assert reviewer_links(workspace.engine) == []

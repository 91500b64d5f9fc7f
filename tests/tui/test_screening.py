"""Pilot tests of the screening stages: reviewers screen by key, a lead resolves conflicts.

A workspace with three reviewers (ana the lead, ben and chloe who screen) and four records
imported from a CSV export. Each test drives the app with key presses, as a reviewer would, and
checks both what the screen shows and the append-only events the core stored.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from sqlalchemy import select
from sqlmodel import Session, col
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList
from textual.worker import WorkerState

from living_review.intake import import_export
from living_review.screening.conflicts import unblind_stage
from living_review.screening.decisions import record_decision
from living_review.screening.fulltext import set_fulltext
from living_review.screening.reviewers import add_reviewer
from living_review.store.models import Record, Resolution, ScreeningDecision
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens import screening as screening_module
from living_review_tui.screens.conflicts import ConflictsScreen
from living_review_tui.screens.screening import (
    FullTextScreen,
    NoteModal,
    ReasonPicker,
    ReviewerPicker,
    ScreeningScreen,
    TermText,
    term_pattern,
)
from tests.tui.test_app import SIZE, settle, table_rows, widget_text

CSV_HEADER = "record_id,title,abstract,authors,year,journal,doi,pmid\n"
CSV_ROWS = (
    "r1,Regorafenib after sorafenib in hepatocellular carcinoma,"
    '"In this randomised, double-blind trial the reviewer saw no review of earlier data.",'
    '"Bruix J; Qin S",2017,Lancet,10.1000/a1,28000001\n'
    "r2,Sorafenib-induced hepatitis: a case report,"
    '"We describe a case  report of hepatitis after sorafenib.",'
    '"Zhu AX",2018,Hepatology,10.1000/a2,28000002\n'
    "r3,Cabozantinib in advanced HCC,"
    '"A randomized phase 3 trial of cabozantinib versus placebo.",'
    '"Abou-Alfa GK",2018,N Engl J Med,10.1000/a3,28000003\n'
    "r4,Ramucirumab after sorafenib in HCC with high AFP,"
    '"A randomised placebo-controlled trial (REACH-2).",'
    '"Zhu AX",2019,Lancet Oncol,10.1000/a4,28000004\n'
)
TEAM = '\n[[reviewers]]\nname = "ana"\nrole = "lead"\n\n[[reviewers]]\nname = "ben"\n'


def setup_review(ws: Workspace, tmp_path: Path) -> list[int]:
    """Name ana (lead) and ben in the protocol, add chloe, import four records; their ids."""
    ws.protocol_path.write_text(ws.protocol_path.read_text(encoding="utf-8") + TEAM)
    add_reviewer(engine=ws.engine, protocol=ws.protocol, name="chloe")
    export = tmp_path / "pubmed.csv"
    export.write_text(CSV_HEADER + CSV_ROWS, encoding="utf-8")
    import_export(ws.engine, export, database="pubmed", fmt="csv")
    with Session(ws.engine) as session:
        return list(session.scalars(select(col(Record.id)).order_by(col(Record.id))))


def events(ws: Workspace, reviewer: str, stage: str = "ta") -> list[tuple[int, str, str | None]]:
    """A reviewer's stored decision events, oldest first: (record, decision, note or reason)."""
    from living_review.store.models import Reviewer

    with Session(ws.engine) as session:
        who = session.scalar(select(col(Reviewer.id)).where(col(Reviewer.name) == reviewer))
        rows = session.scalars(
            select(ScreeningDecision)
            .where(col(ScreeningDecision.reviewer_id) == who, col(ScreeningDecision.stage) == stage)
            .order_by(col(ScreeningDecision.id))
        ).all()
        return [(r.record_id, r.decision, r.note or r.reason) for r in rows]


def decide(ws: Workspace, rid: int, who: str, decision: str) -> None:
    """Record a title/abstract decision through the core, as another session would."""
    record_decision(
        engine=ws.engine, protocol=ws.protocol, record_id=rid, stage="ta", reviewer=who,
        decision=decision,
    )  # fmt: skip


async def settle_all(app: LivingReviewApp, pilot: Pilot[None]) -> None:
    """Settle until no worker runs: showing a record starts the prefetch of the next."""
    for _ in range(30):
        await settle(app, pilot)
        if not [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]:
            return
    raise AssertionError("workers kept starting")


async def press(app: LivingReviewApp, pilot: Pilot[None], *keys: str) -> None:
    """Press keys one at a time, letting the screen settle after each (as a reader would)."""
    for key in keys:
        await pilot.press(key)
        await settle_all(app, pilot)


async def open_stage(app: LivingReviewApp, pilot: Pilot[None], key: str) -> ScreeningScreen:
    await pilot.press(key)
    await settle_all(app, pilot)
    screen = app.screen
    assert isinstance(screen, ScreeningScreen)
    return screen


async def recounted(app: LivingReviewApp, pilot: Pilot[None]) -> None:
    """Wait for the core's recount, which runs once the writes pause."""
    await pilot.pause(screening_module.PROGRESS_DELAY_S + 0.1)
    await settle_all(app, pilot)


def record_text(screen: ScreeningScreen) -> str:
    """What the record panel shows: title, authors and journal line, abstract."""
    return "\n".join(
        widget_text(screen.query_one(part))
        for part in ("#record-title", "#record-meta", "#abstract")
    )


def shown(screen: ScreeningScreen) -> int | None:
    return None if screen.current is None else screen.current.id


async def test_ben_screens_title_abstract_by_keys(workspace: Workspace, tmp_path: Path) -> None:
    r1, r2, r3, r4 = setup_review(workspace, tmp_path)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        assert screen.sub_title == "Screening · ben"
        assert shown(screen) == r1
        text = record_text(screen)
        assert "Regorafenib after sorafenib in hepatocellular carcinoma" in text
        assert "Bruix J, Qin S\nLancet 2017 · PMID 28000001 · DOI 10.1000/a1" in text
        assert "double-blind trial" in text
        assert widget_text(screen.query_one("#record")).startswith("╭─ Record 1 · title/abstract")
        await recounted(app, pilot)
        assert "0 of 4 decided · 4 left" in widget_text(screen.query_one("#counts"))

        # The next record was prefetched while ben read this one: it is on screen at once,
        # before the decision's write has even been looked at.
        await pilot.press("i")
        assert shown(screen) == r2
        assert app.current_mode == "screening"  # i includes here; it does not open Import
        await settle_all(app, pilot)
        await press(app, pilot, "e", "m")
        assert shown(screen) == r4
        await press(app, pilot, "u")  # withdraw the maybe: r3 comes back to decide again
        assert shown(screen) == r3
        await press(app, pilot, "e")
        assert shown(screen) == r4
        await press(app, pilot, "n")
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"HCC second line", "enter")
        await settle_all(app, pilot)
        assert "Note: HCC second line" in widget_text(screen.query_one("#record-status"))
        await press(app, pilot, "i")
        assert shown(screen) is None
        assert "Nothing left to screen at title/abstract for ben" in widget_text(
            screen.query_one("#screen-message")
        )
        await recounted(app, pilot)
        counts = widget_text(screen.query_one("#counts"))
        assert "4 of 4 decided · 0 left" in counts
        assert "this session: include 2 exclude 2 maybe 0" in counts

    assert events(workspace, "ben") == [
        (r1, "include", None),
        (r2, "exclude", None),
        (r3, "maybe", None),
        (r3, "undo", None),
        (r3, "exclude", None),
        (r4, "include", "HCC second line"),
    ]
    with Session(workspace.engine) as session:  # the undo names the decision it withdraws
        maybe, undo = session.scalars(
            select(ScreeningDecision)
            .where(col(ScreeningDecision.record_id) == r3)
            .order_by(col(ScreeningDecision.id))
        ).all()[:2]
        assert undo.decision == "undo" and undo.supersedes_id == maybe.id
    assert events(workspace, "chloe") == []


async def test_chloe_screens_blinded_to_bens_decisions(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, r2, r3, r4 = setup_review(workspace, tmp_path)
    for rid, decision in zip(
        (r1, r2, r3, r4), ("include", "exclude", "exclude", "include"), strict=True
    ):
        decide(workspace, rid, "ben", decision)
    app = LivingReviewApp(workspace, reviewer="chloe")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        assert shown(screen) == r1
        assert screen.current is not None and screen.current.others is None  # the core hides
        assert "ben" not in record_text(screen) + widget_text(screen.query_one("#record-status"))
        await press(app, pilot, "e", "e", "i", "i")
        assert shown(screen) is None
    assert [d for _rid, d, _ in events(workspace, "chloe")] == [
        "exclude", "exclude", "include", "include"
    ]  # fmt: skip


async def test_others_decisions_show_only_once_the_core_unblinds(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, *_ = setup_review(workspace, tmp_path)
    decide(workspace, r1, "ben", "include")
    unblind_stage(engine=workspace.engine, protocol=workspace.protocol, stage="ta", reviewer="ana")
    app = LivingReviewApp(workspace, reviewer="chloe")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        assert shown(screen) == r1
        assert "Others: ben: include" in widget_text(screen.query_one("#record-status"))


async def test_lead_resolves_a_conflict_on_the_conflicts_screen(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, r2, r3, r4 = setup_review(workspace, tmp_path)
    for rid, ben, chloe in ((r1, "include", "exclude"), (r2, "exclude", "exclude"),
                            (r3, "exclude", "maybe"), (r4, "include", "include")):  # fmt: skip
        decide(workspace, rid, "ben", ben)
        decide(workspace, rid, "chloe", chloe)

    # A screener does not see the conflicts on records they screened (blinding).
    app = LivingReviewApp(workspace, reviewer="chloe")
    async with app.run_test(size=SIZE) as pilot:
        await press(app, pilot, "c")
        assert isinstance(app.screen, ConflictsScreen)
        assert app.screen.query_one("#conflict-list", DataTable).row_count == 0
        assert "No open conflicts at title/abstract for chloe" in widget_text(
            app.screen.query_one("#conflicts-message")
        )

    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await press(app, pilot, "c")
        screen = app.screen
        assert isinstance(screen, ConflictsScreen)
        rows = table_rows(screen.query_one("#conflict-list", DataTable))
        assert [(row[0], row[2]) for row in rows] == [
            (str(r1), "ben: include · chloe: exclude"),
            (str(r3), "ben: exclude · chloe: maybe"),
        ]
        votes = widget_text(screen.query_one("#conflict-votes"))
        assert f"Record {r1} · include vs exclude" in votes
        assert "ben: include" in votes and "chloe: exclude" in votes
        assert "Regorafenib after sorafenib" in widget_text(screen.query_one("#conflict-title"))
        await press(app, pilot, "i")
        assert app.current_mode == "conflicts"  # i resolves here; it does not open Import
        assert isinstance(app.screen, NoteModal)
        await pilot.press(*"agreed: RCT", "enter")
        await settle_all(app, pilot)
        assert app.screen is screen
        rows = table_rows(screen.query_one("#conflict-list", DataTable))
        assert [row[0] for row in rows] == [str(r3)]

    with Session(workspace.engine) as session:
        resolutions = session.scalars(select(Resolution)).all()
        assert [(r.record_id, r.stage, r.decision, r.method, r.note) for r in resolutions] == [
            (r1, "ta", "include", "third_reviewer", "agreed: RCT")
        ]


async def test_full_text_exclusion_needs_a_reason_from_the_picker(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, r2, r3, r4 = setup_review(workspace, tmp_path)
    for rid in (r1, r4):
        decide(workspace, rid, "ben", "include")
        decide(workspace, rid, "chloe", "include")
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "f")  # opening full text moves r1, r4 there
        assert isinstance(screen, FullTextScreen)
        assert shown(screen) == r1
        assert "No full text linked" in widget_text(screen.query_one("#fulltext"))
        set_fulltext(
            engine=workspace.engine, protocol=workspace.protocol, record_id=r4,
            pdf="/papers/reach2.pdf", url="https://example.org/reach2",
        )  # fmt: skip

        await press(app, pilot, "e")
        assert isinstance(app.screen, ReasonPicker)
        options = app.screen.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "wrong-design", "wrong-population"
        ]  # fmt: skip
        await press(app, pilot, "escape")  # changed their mind: nothing is written
        assert app.screen is screen and shown(screen) == r1
        assert events(workspace, "ben", "ft") == []

        await press(app, pilot, "e")
        await press(app, pilot, "down", "enter")  # the second reason: wrong population
        assert app.screen is screen
        assert shown(screen) == r4
        fulltext = widget_text(screen.query_one("#fulltext"))
        assert "PDF  /papers/reach2.pdf" in fulltext
        assert "URL  https://example.org/reach2" in fulltext
        await press(app, pilot, "i")
        assert shown(screen) is None
    assert events(workspace, "ben", "ft") == [
        (r1, "exclude", "wrong-population"),
        (r4, "include", None),
    ]


async def test_include_and_exclude_terms_are_highlighted_in_two_colours(
    workspace: Workspace, tmp_path: Path
) -> None:
    # The template protocol's terms: include "randomised", "randomized"; exclude "case
    # report", "review".
    r1, r2, *_ = setup_review(workspace, tmp_path)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        abstract = screen.query_one("#abstract", TermText)
        include = abstract.get_component_rich_style("term--include", partial=True)
        exclude = abstract.get_component_rich_style("term--exclude", partial=True)
        assert include != exclude and include.bgcolor is not None

        def marked(widget: TermText) -> list[tuple[str, str]]:
            content = widget.content
            assert isinstance(content, Text)
            kinds = {include: "include", exclude: "exclude"}
            return [
                (content.plain[s.start : s.end], kinds[s.style])  # type: ignore[index]
                for s in content.spans
                if s.style in kinds
            ]

        # Whole words only: "reviewer" is not the exclude term "review".
        assert marked(abstract) == [("randomised", "include"), ("review", "exclude")]
        await press(app, pilot, "space")  # skip to r2: a phrase across a double space
        assert shown(screen) == r2
        assert marked(abstract) == [("case  report", "exclude")]
        title = screen.query_one("#record-title", TermText)
        assert marked(title) == [("case report", "exclude")]


def test_term_pattern_matches_words_phrases_and_stems() -> None:
    pattern = term_pattern(["randomi*", "case report", "review", " "])
    assert pattern is not None
    text = "Randomization; a CASE\nREPORT; reviews; review."
    assert [m.group(0) for m in pattern.finditer(text)] == [
        "Randomization",
        "CASE\nREPORT",
        "review",
    ]
    assert term_pattern([]) is None


async def test_without_a_reviewer_the_screen_asks_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, *_ = setup_review(workspace, tmp_path)
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await press(app, pilot, "s")
        picker = app.screen
        assert isinstance(picker, ReviewerPicker)
        options = picker.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "ana", "ben", "chloe"
        ]  # fmt: skip
        await press(app, pilot, "down", "enter")
        assert app.reviewer == "ben"
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        assert shown(screen) == r1 and screen.sub_title == "Screening · ben"
        await press(app, pilot, "c")  # the other stages use the same reviewer: no question
        assert isinstance(app.screen, ConflictsScreen)
        assert app.screen.sub_title == "Conflicts · ben"


async def test_a_refused_decision_is_shown_and_its_record_comes_back(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, r2, *_ = setup_review(workspace, tmp_path)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        # The core refuses the write (here: a reviewer the review does not know).
        assert screen.current is not None
        screen.current = replace(screen.current, viewer="zed")
        await press(app, pilot, "i")
        assert shown(screen) == r1
        message = widget_text(screen.query_one("#screen-message"))
        assert "reviewer 'zed' is not in this review" in message
    assert events(workspace, "ben") == []

"""Pilot tests of the NMA screen and the app's background refits (the living loop in the TUI).

The example review's verified trial data are loaded; KEYNOTE-394's report is linked to its
trial but not yet included at full text, so the OS network starts without it. Including it
(both reviewers, as their sessions would) must refit OS in the background, store a new
version, and show that version and its diff on the NMA screen, without a key being pressed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from living_review import living
from living_review.extraction.service import find_study
from living_review.intake import import_export
from living_review.refit import WorkerOptions
from living_review.screening.decisions import record_decision
from living_review.screening.fulltext import link_study
from living_review.store.models import Record
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens.nma import NMAScreen
from tests.tui.test_app import widget_text
from tests.unit.test_refit import example_review

SIZE = (160, 50)
KN394 = (
    "record_id,title,abstract,authors,year,journal,doi,pmid\n"
    "kn394,Pembrolizumab versus placebo as second-line therapy in patients from Asia with "
    'advanced hepatocellular carcinoma (KEYNOTE-394),,"Qin S",2023,J Clin Oncol,'
    "10.1200/JCO.22.00620,36455168\n"
)


def keynote_394_awaiting_full_text(ws: Workspace, tmp_path: Path) -> int:
    """Import KEYNOTE-394's record, include it at title/abstract, link it to its trial."""
    export = tmp_path / "pubmed-kn394.csv"
    export.write_text(KN394, encoding="utf-8")
    import_export(ws.engine, export, database="pubmed", fmt="csv")
    with Session(ws.engine) as session:
        rid = int(session.exec(select(Record.id)).one() or 0)
        study_id = find_study(session, "KEYNOTE-394").id
    for who in ("ben", "chloe"):
        record_decision(engine=ws.engine, protocol=ws.protocol, record_id=rid, stage="ta",
                        reviewer=who, decision="include")  # fmt: skip
    link_study(engine=ws.engine, protocol=ws.protocol, record_id=rid, study_id=study_id)
    return rid


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 90) -> None:
    """Let the app run until ``check()`` holds (the refit runs in another process)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.1)


def history_rows(app: LivingReviewApp) -> list[list[str]]:
    table = app.screen.query_one("#history", DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]  # fmt: skip


def make_app(ws: Workspace, *, bayes: bool) -> LivingReviewApp:
    app = LivingReviewApp(ws, reviewer="ana")
    app.refits.engines = ("frequentist", "bayes") if bayes else ("frequentist",)
    app.refits.options = WorkerOptions(warm=bayes, prewarm=False)
    return app


async def test_including_a_trial_refits_in_the_background_and_shows_the_diff(
    workspace: Workspace, shared: Path, tmp_path: Path
) -> None:
    ws = example_review(workspace, shared)
    rid = keynote_394_awaiting_full_text(ws, tmp_path)
    assert "KEYNOTE-394" not in living.current_input(ws, "OS").studies

    app = make_app(ws, bayes=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, NMAScreen)
        # The start-up check found OS never fitted: v1 arrives without a key being pressed.
        await until(pilot, lambda: any(r[0] == "OS v1 (frequentist)" for r in history_rows(app)))
        league = screen.query_one("#league", DataTable)
        v1 = living.latest_run(ws, "OS", "frequentist")
        assert v1 is not None and "KEYNOTE-394" not in v1.studies
        assert league.row_count == len(v1.result["treatments"])
        nat = v1.result["relative_effects"]["ramucirumab"]["natural"]  # vs placebo, stored
        expected = f"{nat['median']:.2f} ({nat['q2.5']:.2f}, {nat['q97.5']:.2f})"
        assert str(league.get_row("ramucirumab")[1]) == expected
        # The status grows from one line to three: wait for the layout, not only the data.
        await until(pilot, lambda: "Bayesian fit not yet available"
                    in widget_text(screen.query_one("#nma-status")))  # fmt: skip

        # Both reviewers include KEYNOTE-394 at full text; the screening screen publishes it.
        for who in ("ben", "chloe"):
            record_decision(engine=ws.engine, protocol=ws.protocol, record_id=rid, stage="ft",
                            reviewer=who, decision="include")  # fmt: skip
        app.store_changed.publish("screening-ft")
        await until(pilot, lambda: history_rows(app)[0][0] == "OS v2 (frequentist)")
        newest = history_rows(app)[0]
        assert newest[3] == str(len(v1.studies) + 1)
        assert newest[4].startswith("+KEYNOTE-394")  # what changed: the trial, then effects
        assert "pembrolizumab vs placebo" in newest[4]
        await until(pilot, lambda: all(
            part in widget_text(screen.query_one("#nma-status"))
            for part in ("OS v2 (frequentist)", "+KEYNOTE-394")))  # fmt: skip
        v2 = living.latest_run(ws, "OS", "frequentist")
        assert v2 is not None and "KEYNOTE-394" in v2.studies and v2.version == 2
        assert str(screen.query_one("#network", Static).content).count("trial") >= 8


@pytest.mark.slow
async def test_bayesian_numbers_replace_the_frequentist_ones_when_ready(
    workspace: Workspace, shared: Path
) -> None:
    if workspace.engine.dialect.name != "sqlite":  # the background refit on PostgreSQL: above
        pytest.skip("the sampler does not depend on the store's engine")
    ws = example_review(workspace, shared)
    app = make_app(ws, bayes=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, NMAScreen)
        await until(pilot, lambda: living.latest_run(ws, "OS", "frequentist") is not None)
        await until(pilot, lambda: any(r[0] == "OS v1 (bayes)" for r in history_rows(app)
                                       if "NOT CONVERGED" not in r[0]) or
                    any(r[0] == "OS v1 (bayes) NOT CONVERGED" for r in history_rows(app)),
                    timeout=300)  # fmt: skip
        bayes = living.latest_run(ws, "OS", "bayes")
        assert bayes is not None
        await until(pilot, lambda: all(
            part in widget_text(screen.query_one("#diagnostics"))
            for part in ("OS v1 (bayes)", "max R-hat", "divergences")))  # fmt: skip
        diagnostics = widget_text(screen.query_one("#diagnostics"))
        title = str(screen.query_one("#league", DataTable).border_title)
        if bayes.converged:
            assert "OS v1 (bayes)" in title  # the Bayesian numbers replaced the frequentist
        else:  # never shown as a conclusion: the frequentist estimate stays, and why
            assert "NOT CONVERGED" in diagnostics
            assert "frequentist" in title
            await until(pilot, lambda: "NOT CONVERGED"
                        in widget_text(screen.query_one("#nma-status")))  # fmt: skip


async def test_changes_that_cannot_move_an_analysis_schedule_no_check(
    workspace: Workspace,
) -> None:
    # The staleness check reads every study's data: title/abstract screening, imports, merges
    # and extraction drafts must not trigger it (a full-text decision or a final value must).
    app = LivingReviewApp(workspace)
    async with app.run_test(size=SIZE):
        scheduled: list[str] = []

        class Recorder:
            def schedule(self, reason: str) -> None:
                scheduled.append(reason)

            def close(self) -> None:
                pass

        assert app.refits.runner is not None
        app.refits.runner.close()
        app.refits.runner = Recorder()  # type: ignore[assignment]
        for reason in ("import", "dedup", "screening-ta", "extraction-form"):
            app.refits._store_changed(reason)
        for reason in ("screening-ft", "resolution", "extraction", "rob2", "km"):
            app.refits._store_changed(reason)
        assert scheduled == ["screening-ft", "resolution", "extraction", "rob2", "km"]

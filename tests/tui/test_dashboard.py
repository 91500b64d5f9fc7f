"""Pilot tests of the dashboard's screening panel: PRISMA 2020 boxes and kappa, kept live.

Two reviewers (ben and chloe) screen titles and abstracts through the core, as their own
sessions would; the dashboard must show the core's counts and kappa, and follow new decisions
when the store changes, without recounting at every key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from living_review.agreement import stage_agreement
from living_review.prisma import prisma_counts
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens import dashboard
from living_review_tui.screens.dashboard import DashboardScreen
from tests.tui.test_app import SIZE, widget_text
from tests.tui.test_screening import decide, settle_all, setup_review


def panel(app: LivingReviewApp, selector: str) -> str:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return widget_text(screen.query_one(selector))


def core_kappa(ws: Workspace) -> str:
    kappa = stage_agreement(engine=ws.engine, stage="ta").stats.kappa
    assert kappa is not None
    return f"κ = {kappa:.2f}"


async def test_screening_panel_shows_the_cores_counts_and_follows_decisions(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, r2, r3, r4 = setup_review(workspace, tmp_path)
    for rid, ben, chloe in ((r1, "include", "include"), (r2, "exclude", "exclude"),
                            (r3, "include", "exclude")):  # fmt: skip
        decide(workspace, rid, "ben", ben)
        decide(workspace, rid, "chloe", chloe)
    counts = prisma_counts(engine=workspace.engine, protocol=workspace.protocol)
    assert (counts["records_screened"], counts["records_excluded"]) == (4, 1)

    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle_all(app, pilot)
        flow = panel(app, "#screening-flow")
        assert "PRISMA 2020 · Screening" in flow
        assert "Records screened (n = 4)" in flow
        assert "→ Records excluded (n = 1)" in flow
        assert "Reports sought for retrieval (n = 1)" in flow
        assert "Studies included in review (n = 0)" in flow
        assert "2 records awaiting title/abstract screening" in flow
        agreement = panel(app, "#agreement")
        assert f"Title/abstract: {core_kappa(workspace)} (95% CI" in agreement
        assert "66.7% agreement · n = 3 paired decisions" in agreement
        assert "Full text: not enough data" in agreement

        # Both reviewers exclude the last record in their own sessions; the screening screen
        # of this app would publish the change, as here.
        decide(workspace, r4, "ben", "exclude")
        decide(workspace, r4, "chloe", "exclude")
        app.store_changed.publish("screening")
        await pilot.pause(dashboard.RELOAD_INTERVAL_S + 0.2)
        await settle_all(app, pilot)
        flow = panel(app, "#screening-flow")
        assert "→ Records excluded (n = 2)" in flow
        assert "1 record awaiting title/abstract screening" in flow  # r3: a conflict
        agreement = panel(app, "#agreement")
        assert f"Title/abstract: {core_kappa(workspace)} (95% CI" in agreement
        assert "n = 4 paired decisions" in agreement


async def test_a_burst_of_store_changes_reloads_at_most_once_a_second(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_review(workspace, tmp_path)
    loads: list[int] = []

    def counted(**kwargs: Any) -> dict[str, Any]:
        loads.append(1)
        return prisma_counts(**kwargs)

    monkeypatch.setattr(dashboard, "prisma_counts", counted)
    # A window long enough that the first load (slower on PostgreSQL, on a busy machine) is
    # surely still inside it when the burst comes: the test must not depend on the clock.
    monkeypatch.setattr(dashboard, "RELOAD_INTERVAL_S", 4.0)
    app = LivingReviewApp(workspace, reviewer="ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle_all(app, pilot)
        assert len(loads) == 1
        for _ in range(20):  # a reviewer deciding fast
            app.store_changed.publish("screening")
        await pilot.pause()
        assert len(loads) == 1  # the first load was under a second ago: one reload, later
        await pilot.pause(dashboard.RELOAD_INTERVAL_S + 0.2)
        await settle_all(app, pilot)
        assert len(loads) == 2


async def test_the_panel_catches_up_after_screening_on_the_screening_screen(
    workspace: Workspace, tmp_path: Path
) -> None:
    r1, *_ = setup_review(workspace, tmp_path)
    decide(workspace, r1, "chloe", "exclude")
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        await settle_all(app, pilot)
        assert "Title/abstract: not enough data" in panel(app, "#agreement")
        await pilot.press("s")
        await settle_all(app, pilot)
        await pilot.press("e")  # ben excludes r1 too: the first pair of decisions
        await settle_all(app, pilot)
        await pilot.press("d")
        await settle_all(app, pilot)
        assert "→ Records excluded (n = 1)" in panel(app, "#screening-flow")
        agreement = panel(app, "#agreement")
        assert "Title/abstract: not enough data" in agreement  # one category throughout
        assert "n = 1 paired decisions" in agreement

"""The screening screen follows the prioritised queue and shows the stopping estimate.

A previous session's ranking orders the queue from the first record; the screen re-ranks in a
worker when it opens and after an include, and the dashboard states the stopping rule.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from living_review.screening.prioritise import PrioritySettings, compute_ranking
from living_review.store.models import PriorityRanking
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens.dashboard import DashboardScreen
from tests.integration.test_screening import add_records, decide, queue_ids, setup_review
from tests.tui.test_app import SIZE, widget_text
from tests.tui.test_screening import open_stage, press, settle_all, shown

STATIN = "Statin therapy and cholesterol lowering: a randomised lipid trial in adults"
SOIL = "Soil bacteria diversity in alpine meadows measured by amplicon sequencing"


def rankings(ws: Workspace) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(PriorityRanking)) or 0)


async def test_screen_uses_the_ranking_and_states_the_stopping_rule(
    workspace: Workspace,
) -> None:
    setup_review(workspace)
    soil = add_records(workspace, 14, abstract=SOIL, start=1)  # lower ids: first by record order
    statin = add_records(workspace, 6, abstract=STATIN, start=101, database="embase")
    queue_ids(workspace, "ben")  # assign
    for who in ("ben", "chloe"):  # 12 reconciled labels, both classes
        for rid in statin[:2]:
            decide(workspace, rid, who, "include")
        for rid in soil[:10]:
            decide(workspace, rid, who, "exclude")
    compute_ranking(
        engine=workspace.engine, protocol=workspace.protocol, stage="ta",
        settings=PrioritySettings(exploration=0.0),
    )  # fmt: skip
    assert rankings(workspace) == 1

    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        assert shown(screen) in statin[2:]  # not soil[10], the first by record order
        assert rankings(workspace) == 2  # re-ranked when the stage opened
        line = " ".join(widget_text(screen.query_one("#priority")).split())
        assert "Order: predicted relevance (svm, learnt from 12 decisions, 2 includes)" in line
        # last 10 labels are excludes: K_tar = 1 in a pool of 18, P(0) = 8/18
        assert "≥ 95% recall not yet shown at 95% confidence after 12 of 20 (p = 0.44)" in line
        await press(app, pilot, "i")  # an include re-ranks at once
        assert rankings(workspace) == 3
        assert shown(screen) in statin[2:]

        await pilot.press("d")
        await settle_all(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        agreement = widget_text(app.screen.query_one("#agreement"))
        assert "Stopping · title/abstract" in agreement
        assert "not yet shown" in agreement


async def test_too_few_labels_keep_record_order(workspace: Workspace) -> None:
    setup_review(workspace)
    ids = add_records(workspace, 4, abstract=SOIL)
    app = LivingReviewApp(workspace, reviewer="ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(app, pilot, "s")
        assert shown(screen) == ids[0]
        assert "Order: record order until 10 reconciled decisions" in widget_text(
            screen.query_one("#priority")
        )
    assert rankings(workspace) == 0

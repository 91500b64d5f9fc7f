"""Pilot test of the survival (KM) screen: the synthetic example attached with one key, the
reconstruction's diagnostics and the ΔRMST contrasts shown, an overlay written, a figure
attached through the form, and a bad file reported in place (nothing written)."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input

from living_review.extraction.service import add_study
from living_review.survival.service import list_curves
from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp
from living_review_tui.screens.km import KMScreen
from tests.tui.test_app import widget_text
from tests.tui.test_nma_screen import until
from tests.tui.test_screening import press, settle_all

REPO = Path(__file__).resolve().parents[2]
SIZE = (160, 50)


async def focus_attach(app: LivingReviewApp, pilot: Pilot[None]) -> None:
    """Focus the Attach button and wait until an Enter will press it.

    Focus is applied on a later tick (an Enter before that goes to the input), and a Button
    ignores presses during its 0.2 s "-active" effect after the previous one: a second
    attach pressed that soon (a fast machine, a quick first attach) attached nothing.
    """
    button = app.screen.query_one("#km-attach", Button)
    button.focus()
    await until(pilot, lambda: app.focused is button and not button.has_class("-active"), 10)


async def test_km_screen_example_overlay_and_attach(workspace: Workspace, tmp_path: Path) -> None:
    shutil.copy(REPO / "protocol" / "review.toml", workspace.protocol_path)
    for label in ("REACH", "REACH-2", "RESORCE", "KEYNOTE-240"):
        add_study(engine=workspace.engine, label=label, actor="ana")
    app = LivingReviewApp(workspace, reviewer="ana")
    app.refits.auto = False  # no NMA refit process: not under test here
    async with app.run_test(size=SIZE) as pilot:
        await press(app, pilot, "k")
        screen = app.screen
        assert isinstance(screen, KMScreen)
        assert "No curves yet" in widget_text(screen.query_one("#km-detail"))

        await press(app, pilot, "x")
        table = screen.query_one("#km-curves", DataTable)
        assert table.row_count == 8
        effects = widget_text(screen.query_one("#km-effects"))
        assert "ΔRMST at τ" in effects
        assert "Pooled active - placebo (4 studies)" in effects
        assert "REACH-2      ramucirumab - placebo" in effects
        detail = widget_text(screen.query_one("#km-detail"))
        assert "REACH · ramucirumab: reconstructed n = 283" in detail
        await press(app, pilot, "down")
        assert "REACH · placebo: reconstructed n = 282" in widget_text(
            screen.query_one("#km-detail")
        )

        await press(app, pilot, "o")
        svg = workspace.root / "REACH_OS_km_overlay.svg"
        assert svg.exists() and "<svg" in svg.read_text()

        # attach a figure through the form: a bad file is reported in place, nothing written
        bad = tmp_path / "bad.csv"
        bad.write_text("arm,time,survival\nplacebo,0,1\nplacebo,1,0.5\nplacebo,2,0.9\n")
        nar = tmp_path / "nar.csv"
        nar.write_text("arm,time,n_risk\nplacebo,0,10\n")
        screen.query_one("#km-study", Input).value = "REACH"
        screen.query_one("#km-points", Input).value = str(bad)
        screen.query_one("#km-atrisk", Input).value = str(nar)
        # Focus + Enter, not a mouse click: a refit toast may cover the button's corner.
        await focus_attach(app, pilot)
        await press(app, pilot, "enter")
        await settle_all(app, pilot)
        # the write runs in a worker that may start after a settle on a loaded machine
        await until(pilot, lambda: "error:" in widget_text(screen.query_one("#km-status")), 30)
        status = widget_text(screen.query_one("#km-status"))
        assert "error:" in status and "line 4" in status
        assert len(list_curves(engine=workspace.engine)) == 8

        good = tmp_path / "good.csv"
        good.write_text("arm,time,survival\nplacebo,0,1\nplacebo,1,0.5\nplacebo,2,0.4\n")
        screen.query_one("#km-points", Input).value = str(good)
        # Focus + Enter, not a mouse click: a refit toast may cover the button's corner.
        await focus_attach(app, pilot)
        await press(app, pilot, "enter")
        await settle_all(app, pilot)
        await until(pilot, lambda: "attached" in widget_text(screen.query_one("#km-status")), 30)
        assert "REACH: placebo attached" in widget_text(screen.query_one("#km-status"))
        rows = {(c["study"], c["treatment"]): c for c in list_curves(engine=workspace.engine)}
        assert (
            rows[("REACH", "placebo")]["n"] == 10
            and rows[("REACH", "placebo")]["created_by"] == "ana"
        )

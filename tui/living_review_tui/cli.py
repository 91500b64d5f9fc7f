"""Provides ``tui``, the entry point ``lsr tui`` loads (group ``living_review.commands``).

The core's CLI finds this function through its entry point, so the core never imports Textual.
"""

from __future__ import annotations

from living_review.workspace import Workspace
from living_review_tui.app import LivingReviewApp


def tui(ws: Workspace, *, reviewer: str | None = None) -> None:
    """Run the Textual app on ``ws`` until the user quits.

    Parameters
    ----------
    ws
        The workspace the CLI found (its protocol already validated).
    reviewer
        Who is working; recorded as the actor of what they do (imports, later decisions).
    """
    LivingReviewApp(ws, reviewer=reviewer).run()

"""Provides ``ReviewScreen``: what every stage's screen shares (the app, the store, errors)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from living_review_tui.app import LivingReviewApp


class ReviewScreen(Screen[None]):
    """Base of the stage screens: typed access to the app and one route for worker failures."""

    SECTION: ClassVar[str] = ""
    """The stage's name, shown as the header's sub-title."""

    @property
    def review_app(self) -> LivingReviewApp:
        """The app, typed (``Screen.app`` is typed as a generic ``App``)."""
        return cast("LivingReviewApp", self.app)

    def on_mount(self) -> None:
        """Show the stage (and who is working) in the header."""
        reviewer = self.review_app.reviewer
        self.sub_title = f"{self.SECTION} · {reviewer}" if reviewer else self.SECTION

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Send every failed worker of this screen to the app's one error reporter.

        Textual calls this handler for each class in the MRO, so subclasses that handle their
        own workers' states do not need to call it.
        """
        if event.state is WorkerState.ERROR:
            shown = self.worker_failed(event.worker, event.worker.error)
            self.review_app.report_worker_error(
                event.worker, shown_in_place=shown and self.is_current
            )

    def worker_failed(self, worker: Worker[Any], error: BaseException | None) -> bool:
        """Hook for a screen to also show a failure in place (e.g. under its form).

        Returns
        -------
        bool
            Whether the screen showed the error itself (then a user error needs no toast).
        """
        return False

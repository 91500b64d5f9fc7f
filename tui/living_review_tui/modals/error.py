"""Provides ``ErrorModal``: an unexpected failure, with its traceback, that does not end the app."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ErrorModal(ModalScreen[None]):
    """Shows a failure the user did not cause (a bug), so it can be reported and the work goes on.

    User errors (a bad file, a bad protocol) are notifications or inline messages instead: they
    say what to fix and need no traceback.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close-error", tooltip="Close this report"),
    ]

    def __init__(self, *, title: str, message: str, detail: str = "") -> None:
        super().__init__()
        self.error_title = title
        """What failed, in words (the worker's description)."""
        self.message = message
        """The exception's type and text."""
        self.detail = detail
        """The traceback, for a bug report."""

    def compose(self) -> ComposeResult:
        """Build the dialog: message, scrollable traceback and a close button."""
        with Vertical(id="error-dialog", classes="dialog") as dialog:
            dialog.border_title = self.error_title
            yield Static(self.message, id="error-message", markup=False)
            if self.detail:
                with VerticalScroll(id="error-detail"):
                    yield Static(self.detail, markup=False)
            yield Button("Close", id="error-close", variant="error")

    @on(Button.Pressed, "#error-close")
    def _close(self) -> None:
        self.dismiss()

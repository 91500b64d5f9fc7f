"""Provides ``HelpModal``: every key active on the current screen and what it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


@dataclass(frozen=True)
class KeyHelp:
    """One row of the help: a key as displayed, its action's name and its tooltip."""

    key: str
    description: str
    tooltip: str = ""


class HelpModal(ModalScreen[None]):
    """Lists the bindings active where the user pressed ``?``.

    The rows are collected by the app *before* this modal opens, because once it is on top the
    active bindings are the modal's own.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="close-help",
                tooltip="Close the key help"),
    ]  # fmt: skip

    def __init__(self, rows: Sequence[KeyHelp]) -> None:
        super().__init__()
        self.rows = list(rows)
        """The keys to list, in the order the footer shows them."""

    def compose(self) -> ComposeResult:
        """Build a table of keys inside a bordered dialog."""
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            yield DataTable(id="help-keys", cursor_type="none", zebra_stripes=True)
            yield Static("Press Esc or ? to close.", classes="dialog-hint")

    def on_mount(self) -> None:
        """Fill the table from the rows the app collected."""
        table = self.query_one(DataTable)
        table.add_columns("Key", "Action", "What it does")
        for row in self.rows:
            table.add_row(row.key, row.description, row.tooltip)

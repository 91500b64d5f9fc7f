"""Provides the messages the screens send each other and the app.

Workers run in threads and must not touch widgets; they report through these messages instead
(``post_message`` is thread-safe), so every widget update happens on the UI thread.
"""

from __future__ import annotations

from textual.message import Message

from living_review.dedup.service import PassResult
from living_review.importing import ImportResult
from living_review.status import Status


class StatusLoaded(Message):
    """The dashboard's status was computed by the core (sent from a worker thread)."""

    def __init__(self, status: Status) -> None:
        super().__init__()
        self.status = status
        """The review's status as :func:`living_review.status.review_status` returned it."""


class ImportProgress(Message):
    """An import advanced; throttled by the sender so the UI thread is not flooded."""

    def __init__(self, records_done: int, fraction: float | None) -> None:
        super().__init__()
        self.records_done = records_done
        """Records read from the file so far."""
        self.fraction = fraction
        """Share of the file read (0..1), or ``None`` when the format cannot tell."""


class ImportFinished(Message):
    """An import committed (or found the file already imported).

    It bubbles from the import screen to the app, which tells every screen showing the store
    that the store changed.
    """

    def __init__(self, result: ImportResult, dedup: PassResult | None = None) -> None:
        super().__init__()
        self.result = result
        """What the core's import reported."""
        self.dedup = dedup
        """What the dedup pass after the import found (``None`` when nothing was new)."""

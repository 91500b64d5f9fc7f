"""Provides the named errors a user can meet.

Every failure a user can cause (a bad file, a bad protocol, an unknown record) is raised as a
subclass of :class:`LsrError`; the CLI turns these into one clear line and exit code 1.
Anything else escaping is a bug in living-review, not in the user's input.
"""

from __future__ import annotations

from pathlib import Path


class LsrError(Exception):
    """A user-facing error: the message alone must tell the user what to fix."""


class InputFileError(LsrError):
    """A file the user gave us cannot be read as what it claims to be.

    The message always names the file and, where known, the line and the record number
    (1-based), so the user can open the file at the right place.
    """

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        line: int | None = None,
        record: int | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.record = record
        self.detail = message
        where = [self.path]
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        super().__init__(f"{', '.join(where)}: {message}")


class ProtocolError(LsrError):
    """The review protocol (protocol/review.toml) is missing or invalid; names key and line."""


class WorkspaceError(LsrError):
    """No workspace was found, or the workspace is not usable."""


class NotFoundError(LsrError):
    """A record, run or reviewer named by the user does not exist."""


class BusyError(LsrError):
    """Another process is already running a job that must run alone on this review."""

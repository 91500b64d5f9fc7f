"""Provides what every ``lsr`` command module shares: the invocation's workspace and output.

It sits below :mod:`living_review.cli` (which mounts the command modules), so the command
modules import these at the top instead of reaching back into ``cli`` from inside functions
(a circular import otherwise) or keeping their own copies.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NoReturn

import typer

from living_review.workspace import Workspace, find_workspace

#: The ``--workspace`` option of this one invocation (tests run many in one process).
WORKSPACE: ContextVar[Path | None] = ContextVar("lsr_workspace", default=None)


def open_workspace() -> Workspace:
    """Find the workspace for this invocation."""
    return find_workspace(WORKSPACE.get())


def emit_json(obj: Any) -> None:
    """Print one JSON object (the scripting contract)."""
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line to stderr and exit with ``code``."""
    typer.echo(f"lsr: error: {message}", err=True)
    raise typer.Exit(code)


def warn(messages: list[str]) -> None:
    """Print each message as one ``lsr: warning:`` line on stderr."""
    for m in messages:
        typer.echo(f"lsr: warning: {m}", err=True)

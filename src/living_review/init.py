"""Provides ``init_workspace``: a new, empty review folder with a protocol to fill in."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from living_review.errors import WorkspaceError
from living_review.protocol import PROTOCOL_PATH, parse_protocol


def init_workspace(directory: Path, *, title: str = "A new living review") -> Path:
    """Create ``directory`` as a workspace; refuses to overwrite an existing protocol."""
    root = Path(directory).expanduser().resolve()
    protocol = root / PROTOCOL_PATH
    if protocol.exists():
        raise WorkspaceError(f"{root}: already a workspace ({PROTOCOL_PATH} exists)")
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root}: exists and is not a folder")
    template = files("living_review").joinpath("templates/review.toml").read_text("utf-8")
    text = template.replace("A new living review", title.replace('"', "'"))
    parse_protocol(text, protocol)  # the template must always be a valid protocol
    for sub in ("protocol", "searches", "db"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    protocol.write_text(text, encoding="utf-8")
    (root / ".gitignore").write_text("db/*.sqlite*\n", encoding="utf-8")
    return root

"""Workspace discovery: --workspace, then $LSR_WORKSPACE, then walking up to the protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from living_review.errors import WorkspaceError
from living_review.init import init_workspace
from living_review.workspace import find_workspace


def test_walks_up_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = init_workspace(tmp_path / "r")
    deep = root / "searches" / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.delenv("LSR_WORKSPACE", raising=False)
    assert find_workspace(start=deep).root == root


def test_explicit_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = init_workspace(tmp_path / "a")
    b = init_workspace(tmp_path / "b")
    monkeypatch.setenv("LSR_WORKSPACE", str(b))
    assert find_workspace(a).root == a
    assert find_workspace().root == b


def test_explicit_path_must_be_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a workspace"):
        find_workspace(tmp_path)


def test_none_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LSR_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceError, match="no workspace found"):
        find_workspace(start=tmp_path)


def test_store_is_created_in_db_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    ws = find_workspace(init_workspace(tmp_path / "r"))
    ws.engine  # noqa: B018 - opening creates and migrates the store
    assert (ws.root / "db" / "review.sqlite").is_file()
    ws.close()


def test_bad_database_url_never_echoes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSR_DATABASE_URL", "postgresql+psycopg://user:s3cret@:::bad/x?=")
    ws = find_workspace(init_workspace(tmp_path / "r"))
    with pytest.raises(Exception) as info:
        ws.engine  # noqa: B018
    assert "s3cret" not in str(info.value)

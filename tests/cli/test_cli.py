"""The ``lsr`` command contract: exit codes, one-line errors, JSON keys scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from living_review.cli import app

runner = CliRunner()


def lsr(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_init_then_status_json(tmp_path: Path) -> None:
    code, out, _ = lsr("init", str(tmp_path / "r"))
    assert code == 0 and "created a workspace" in out
    code, out, _ = lsr("--workspace", str(tmp_path / "r"), "status", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["records"] == 0 and data["search_runs"] == []


def test_init_refuses_existing_workspace(tmp_path: Path) -> None:
    lsr("init", str(tmp_path / "r"))
    code, _, err = lsr("init", str(tmp_path / "r"))
    assert code == 1 and "already a workspace" in err


def test_no_workspace_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSR_WORKSPACE", raising=False)
    code, _, err = lsr("status")
    assert code == 1 and "no workspace found" in err


def test_workspace_from_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lsr("init", str(tmp_path / "r"))
    monkeypatch.setenv("LSR_WORKSPACE", str(tmp_path / "r"))
    monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    code, out, _ = lsr("status", "--json")
    assert code == 0 and json.loads(out)["records"] == 0


def test_import_missing_file_exit_1(tmp_path: Path) -> None:
    lsr("init", str(tmp_path / "r"))
    code, _, err = lsr(
        "-w", str(tmp_path / "r"), "import", str(tmp_path / "nope.ris"), "-d", "embase"
    )
    assert code == 1
    assert "nope.ris" in err and "no such file" in err


def test_import_without_database_is_usage_error(tmp_path: Path) -> None:
    lsr("init", str(tmp_path / "r"))
    (tmp_path / "x.ris").write_text("TY  - JOUR\nER  - \n")
    code, _, _ = lsr("-w", str(tmp_path / "r"), "import", str(tmp_path / "x.ris"))
    assert code == 2


def test_unknown_database_exit_1(tmp_path: Path) -> None:
    lsr("init", str(tmp_path / "r"))
    (tmp_path / "x.ris").write_text("TY  - JOUR\nER  - \n")
    code, _, err = lsr("-w", str(tmp_path / "r"), "import", str(tmp_path / "x.ris"), "-d", "zz")
    assert code == 1 and "unknown database" in err


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed ``lsr`` entry point works and reports errors with exit code 1."""
    exe = Path(sys.executable).parent / "lsr"
    res = subprocess.run([str(exe), "-w", str(tmp_path), "status"], capture_output=True, text=True)
    assert res.returncode == 1
    assert "not a workspace" in res.stderr
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "import" in res.stdout and "tui" in res.stdout

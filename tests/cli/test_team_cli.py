"""Team commands and rules: ``lsr audit``, ``lsr export`` / ``import-review``, lead-only actions,
and database credentials that never show up in messages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from living_review import cli
from living_review.access import (
    EligibilityChangedError,
    approve_eligibility,
    check_eligibility,
    eligibility_status,
    require_lead,
)
from living_review.audit import timeline, unaudited_tables
from living_review.cli_team import register
from living_review.export import table_digests
from living_review.init import init_workspace
from living_review.screening import NotLeadError
from living_review.screening.conflicts import unblind_stage
from living_review.screening.decisions import record_decision
from living_review.store.models import AuditEvent, Resolution, ScreeningDecision, Unblinding
from living_review.workspace import Workspace
from tests.integration.team_data import populate

runner = CliRunner()
Lsr = Callable[..., tuple[int, str, str]]


def make_app() -> typer.Typer:
    app = typer.Typer(cls=cli._Group, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """Team commands under test."""

    register(app)
    return app


@pytest.fixture
def lsr(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Lsr:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    app = make_app()

    def run(*args: str) -> tuple[int, str, str]:
        res = runner.invoke(app, list(args))
        return res.exit_code, res.stdout, res.stderr

    return run


def _count(ws: Workspace, model: type) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --- audit -----------------------------------------------------------------------------------


def test_audit_is_one_timeline_without_duplicates(workspace: Workspace, lsr: Lsr) -> None:
    populate(workspace)
    code, out, _ = lsr("audit", "--json")
    assert code == 0
    data = json.loads(out)
    events = data["events"]
    assert data["count"] == len(events)
    origins = [e["origin"] for e in events]
    assert len(origins) == len(set(origins))  # every row appears once
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    actions = Counter(e["action"] for e in events)
    # Event tables are read where they are; every row of each is on the timeline once.
    assert actions["screening_decision"] + actions["screening_undo"] == _count(
        workspace, ScreeningDecision
    )
    assert actions["conflict_resolve"] == _count(workspace, Resolution) == 1
    assert actions["unblind"] == _count(workspace, Unblinding) == 1
    assert actions["import"] == 2 and actions["dedup_pass"] >= 1
    assert actions["reviewer_add"] == 1 and actions["study_add"] == 1
    assert sum(1 for o in origins if o.startswith("audit_event:")) == _count(workspace, AuditEvent)
    assert unaudited_tables(workspace.engine) == []  # every table with rows is traceable
    undo = next(e for e in events if e["action"] == "screening_undo")
    assert undo["actor"] in {"ana", "ben", "chloe"} and undo["detail"]["supersedes"]


def test_audit_filters_by_actor_and_time(workspace: Workspace, lsr: Lsr) -> None:
    populate(workspace)
    code, out, _ = lsr("audit", "--json", "--actor", "ana")
    assert code == 0
    events = json.loads(out)["events"]
    assert events and {e["actor"] for e in events} == {"ana"}
    assert "unblind" in {e["action"] for e in events}
    code, out, _ = lsr("audit", "--json", "--since", "2999-01-01")
    assert code == 0 and json.loads(out) == {"events": [], "count": 0}
    code, out, _ = lsr("audit", "--json", "--limit", "3")
    assert len(json.loads(out)["events"]) == 3
    code, out, _ = lsr("audit")
    assert code == 0 and "unblind" in out and "ana" in out
    code, _, err = lsr("audit", "--since", "yesterday")
    assert code == 1 and "--since 'yesterday'" in err
    first = timeline(workspace.engine)[0]
    assert timeline(workspace.engine, since=first.at)[0].origin == first.origin


# --- export / import-review --------------------------------------------------------------------


def test_export_then_import_review_into_a_new_workspace(
    workspace: Workspace, lsr: Lsr, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(workspace)
    before = table_digests(workspace.engine)
    code, out, _ = lsr("export", str(tmp_path / "out"), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["tables"]["record"] == before["record"][0]
    assert summary["total_rows"] == sum(n for n, _ in before.values())
    code, _, err = lsr("import-review", str(tmp_path / "out"))
    assert code == 1 and "not empty" in err  # never on top of a review
    assert table_digests(workspace.engine) == before
    # Into a new SQLite workspace (from PostgreSQL too, when that is the source).
    monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    target = init_workspace(tmp_path / "copy")
    monkeypatch.setenv("LSR_WORKSPACE", str(target))
    code, out, err = lsr("import-review", str(tmp_path / "out"), "--json", "--with-protocol")
    assert code == 0, err
    assert json.loads(out)["total_rows"] == summary["total_rows"]
    assert json.loads(out)["protocol_restored"] is True
    assert (
        target / "protocol" / "review.toml"
    ).read_bytes() == workspace.protocol_path.read_bytes()
    copy = Workspace(target)
    assert table_digests(copy.engine) == before
    copy.close()
    code, _, err = lsr("import-review", str(tmp_path / "nowhere"))
    assert code == 1 and "not a living-review export" in err


# --- roles -----------------------------------------------------------------------------------


def test_only_a_lead_unblinds_or_changes_eligibility(workspace: Workspace, lsr: Lsr) -> None:
    p = populate(workspace)
    with pytest.raises(NotLeadError, match="only a lead may delete.*'ben' is a reviewer"):
        require_lead(workspace.engine, p, "ben", "delete")
    assert require_lead(workspace.engine, p, "ana", "delete").name == "ana"
    with pytest.raises(NotLeadError, match="only a lead may unblind"):
        unblind_stage(engine=workspace.engine, protocol=p, stage="ft", reviewer="ben")
    code, _, err = lsr("eligibility", "approve", "--reviewer", "ben")
    assert code == 1 and "only a lead may change the protocol's eligibility rules" in err
    assert eligibility_status(workspace.engine, p).approved_fingerprint is None
    code, out, _ = lsr("eligibility", "approve", "--reviewer", "ana", "--json")
    assert code == 0 and json.loads(out)["changed"] is False
    check_eligibility(workspace.engine, p)  # as approved: goes on
    # Someone edits the rules in the file: refused until a lead approves them.
    path = workspace.protocol_path
    rules = path.read_text()
    new_rule = 'exclude = ["Not randomised", "Phase 1"]'
    path.write_text(rules.replace('exclude = ["Not randomised"]', new_rule))
    workspace.__dict__.pop("protocol", None)
    edited = workspace.protocol
    with pytest.raises(EligibilityChangedError, match="differ from the ones ana approved"):
        check_eligibility(workspace.engine, edited)
    code, out, _ = lsr("eligibility", "status", "--json")
    assert json.loads(out)["changed"] is True
    # Screening goes on only under approved rules (the core refuses, whoever asks).
    with pytest.raises(EligibilityChangedError):
        record_decision(engine=workspace.engine, protocol=edited, record_id=1, stage="ta",
                        reviewer="ana", decision="include")  # fmt: skip
    with pytest.raises(NotLeadError):
        approve_eligibility(workspace.engine, edited, "chloe")
    approve_eligibility(workspace.engine, edited, "ana")
    assert check_eligibility(workspace.engine, edited).changed is False
    approvals = [e for e in timeline(workspace.engine) if e.action == "eligibility_approve"]
    assert [e.actor for e in approvals] == ["ana", "ana"]
    assert approvals[1].detail["rules"]["eligibility"]["exclude"][-1] == "Phase 1"


# --- credentials -------------------------------------------------------------------------------

SECRET = "S3cr3t-pa55word"


@pytest.mark.parametrize("how", ["env", "file"])
def test_database_password_never_appears_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    root = init_workspace(tmp_path / "review")
    url = f"postgresql+psycopg://reviewer:{SECRET}@127.0.0.1:1/review?connect_timeout=2"
    monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    if how == "env":
        monkeypatch.setenv("LSR_DATABASE_URL", url)
    else:
        secret = tmp_path / "db-url"
        secret.write_text(url + "\n")
        monkeypatch.setenv("LSR_DATABASE_URL_FILE", str(secret))
    monkeypatch.setenv("LSR_WORKSPACE", str(root))
    res = runner.invoke(make_app(), ["audit", "--json"])
    assert res.exit_code == 1
    assert "cannot open the store at postgresql+psycopg://reviewer:***@127.0.0.1:1" in res.stderr
    assert SECRET not in res.stderr + res.stdout
    assert not (root / "db" / "review.sqlite").exists()  # the server was used, not the file


def test_unreadable_url_file_and_bad_url_are_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_workspace(tmp_path / "review")
    monkeypatch.delenv("LSR_DATABASE_URL", raising=False)
    monkeypatch.setenv("LSR_WORKSPACE", str(root))
    monkeypatch.setenv("LSR_DATABASE_URL_FILE", str(tmp_path / "missing"))
    res = runner.invoke(make_app(), ["audit"])
    assert res.exit_code == 1 and "LSR_DATABASE_URL_FILE" in res.stderr
    monkeypatch.setenv("LSR_DATABASE_URL", f"postgres ql://x:{SECRET}@h/d")
    res = runner.invoke(make_app(), ["audit"])
    assert res.exit_code == 1 and "not a valid database URL" in res.stderr
    assert SECRET not in res.stderr

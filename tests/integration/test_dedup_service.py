"""The dedup service on a real store: merge, queue, decide, split, incremental, JSON shape."""

from __future__ import annotations

import json

import pytest
import typer
from sqlalchemy import func, select
from sqlmodel import Session, col
from typer.testing import CliRunner

from living_review.cli_dedup import dedup_app
from living_review.dedup import service
from living_review.importing import RunInfo, import_records
from living_review.sources.base import ParsedRecord
from living_review.store.models import DuplicateLink, Record
from living_review.workspace import Workspace

TITLE = "Sorafenib in advanced hepatocellular carcinoma"
OTHER = "Regorafenib for patients with hepatocellular carcinoma who progressed on sorafenib"
AUTHORS = ["Llovet JM", "Ricci S", "Mazzaferro V"]


def article(key: str, **kw: object) -> ParsedRecord:
    """The SHARP trial as different databases write it (our own small fixture)."""
    base: dict[str, object] = {
        "source_key": key,
        "title": TITLE,
        "authors": list(AUTHORS),
        "year": 2008,
        "journal": "N Engl J Med",
        "volume": "359",
        "issue": "4",
        "pages": "378-90",
        "doi": "10.1056/NEJMoa0708857",
        "raw": f"raw {key}",
    }
    base.update(kw)
    return ParsedRecord(**base)  # type: ignore[arg-type]


def ids_by_key(ws: Workspace) -> dict[tuple[str, str], int]:
    with Session(ws.engine) as s:
        rows = s.execute(select(col(Record.database), col(Record.source_key), col(Record.id)))
        return {(db, key): rid for db, key, rid in rows}


def import_(ws: Workspace, database: str, records: list[ParsedRecord]) -> list[int]:
    import_records(ws.engine, records, RunInfo(database=database))
    keys = ids_by_key(ws)
    return [keys[(database, r.source_key)] for r in records if r.source_key]


def test_cross_database_duplicate_is_merged_with_provenance(workspace: Workspace) -> None:
    import_(workspace, "pubmed", [article("18650514")])
    import_(
        workspace,
        "embase",
        [
            article(
                "L352093645",
                title="Sorafenib in advanced hepatocellular carcinoma.",
                authors=["Llovet, J.M.", "Ricci, S.", "Mazzaferro, V."],
                journal="New England Journal of Medicine",
                pages="378-390",
                doi="http://dx.doi.org/10.1056/NEJMoa0708857",
            )
        ],
    )
    result = service.run_dedup(workspace.engine)
    assert result.merged_pairs == 1
    clusters = service.list_clusters(workspace.engine)
    assert [sorted(c.source_keys) for c in clusters] == [["18650514", "L352093645"]]
    assert all(m.runs for m in clusters[0].members)  # every member keeps its search runs
    counts = service.duplicate_counts(workspace.engine)
    assert (counts.identified, counts.unique, counts.removed) == (2, 1, 1)


def test_uncertain_pair_goes_to_the_queue_and_a_reviewer_decides(workspace: Workspace) -> None:
    (a,) = import_(
        workspace, "pubmed", [article("1", doi=None, pages=None, volume=None, journal=None)]
    )
    (b,) = import_(
        workspace, "embase", [article("E1", doi=None, pages=None, volume=None, journal=None)]
    )
    service.run_dedup(workspace.engine)
    pending = service.possible_pairs(workspace.engine)
    assert [(p.record_a, p.record_b) for p in pending] == [(a, b)]
    assert 0 < pending[0].score <= 1
    view = {f.name: f for f in service.pair_view(workspace.engine, a, b)}
    # Provenance travels with the pair: each side names the search run that found it.
    assert view["found_by"].value_a.startswith("pubmed ")
    assert view["found_by"].value_b.startswith("embase ")
    assert not view["found_by"].same
    service.decide(workspace.engine, a, b, "same", reviewer="ana", reason="same trial report")
    assert service.possible_pairs(workspace.engine) == []
    assert [sorted(c.source_keys) for c in service.list_clusters(workspace.engine)] == [["1", "E1"]]
    history = service.link_history(workspace.engine, a, b)
    assert [h["method"] for h in history] == ["auto", "reviewer"]
    assert history[-1]["actor"] == "ana"


def test_split_reverses_a_merge_and_is_recorded(workspace: Workspace) -> None:
    (a,) = import_(workspace, "pubmed", [article("1")])
    (b,) = import_(workspace, "embase", [article("E1")])
    service.run_dedup(workspace.engine)
    assert len(service.list_clusters(workspace.engine)) == 1
    n = service.split(workspace.engine, b, reviewer="lead", reason="different printings")
    assert n == 1
    assert service.list_clusters(workspace.engine) == []
    history = service.link_history(workspace.engine, a, b)
    assert [(h["decision"], h["method"]) for h in history] == [
        ("duplicate", "exact_id"),
        ("distinct", "split"),
    ]
    assert history[-1]["reason"] == "different printings"
    # A later pass never re-merges a split pair.
    import_(workspace, "wos", [article("WOS:1", title=TITLE.upper())])
    service.run_dedup(workspace.engine)
    assert all(
        not {"1", "E1"} <= set(c.source_keys) for c in service.list_clusters(workspace.engine)
    )


def test_reviewer_different_inside_a_cluster_splits_it(workspace: Workspace) -> None:
    (a,) = import_(workspace, "pubmed", [article("1")])
    (b,) = import_(workspace, "embase", [article("E1")])
    (c,) = import_(workspace, "wos", [article("W1")])
    service.run_dedup(workspace.engine)
    assert sorted(service.list_clusters(workspace.engine)[0].source_keys) == ["1", "E1", "W1"]
    service.decide(workspace.engine, a, c, "different", reviewer="ana")
    groups = [sorted(cl.source_keys) for cl in service.list_clusters(workspace.engine)]
    assert groups == [["1", "E1"]]
    assert b  # the remaining pair still holds


def test_incremental_pass_compares_only_new_records(workspace: Workspace) -> None:
    import_(
        workspace,
        "pubmed",
        [
            article("1"),
            article("2", title="Another trial", doi="10.1/x", authors=["Zhu AX"], pages="9-19"),
        ],
    )
    first = service.run_dedup(workspace.engine)
    assert first.records_compared == 2
    again = service.run_dedup(workspace.engine)
    assert again.records_compared == 0 and again.pairs_scored == 0
    (new,) = import_(workspace, "embase", [article("E1")])
    third = service.dedup_new_records(workspace.engine, [new])
    assert third.records_compared == 1
    assert third.pairs_scored == 1  # the new record against its one look-alike only
    assert service.dedup_new_records(workspace.engine, [new]).records_compared == 0


def test_records_without_title_are_never_merged_automatically(workspace: Workspace) -> None:
    import_(workspace, "pubmed", [article("1", title=None)])
    import_(workspace, "embase", [article("E1", title=None)])
    service.run_dedup(workspace.engine)
    assert service.list_clusters(workspace.engine) == []
    pending = service.possible_pairs(workspace.engine)
    assert len(pending) == 1  # same DOI: shown to a reviewer, not merged


def test_hard_negative_is_kept_apart_and_explained(workspace: Workspace) -> None:
    import_(workspace, "pubmed", [article("1")])
    import_(
        workspace,
        "embase",
        [
            article(
                "E9",
                title=f"Erratum: {TITLE}",
                pages="1201",
                volume="359",
                issue="11",
                doi="10.1056/NEJMx080030",
                flags=["erratum"],
            )
        ],
    )
    result = service.run_dedup(workspace.engine)
    assert result.merged_pairs == 0
    with Session(workspace.engine) as s:
        reasons = s.scalars(select(col(DuplicateLink.reason))).all()
    assert any(r and "notice vs article" in r for r in reasons)


def test_record_found_by_two_runs_is_a_cluster_of_one_key(workspace: Workspace) -> None:
    import_(workspace, "pubmed", [article("1")])
    import_(workspace, "pubmed", [article("1")])
    clusters = service.list_clusters(workspace.engine)
    assert [c.source_keys for c in clusters] == [["1"]]
    assert len(clusters[0].members[0].runs) == 2
    counts = service.duplicate_counts(workspace.engine)
    assert (counts.identified, counts.removed_at_import, counts.removed) == (2, 1, 1)


def test_unknown_record_is_a_user_error(workspace: Workspace) -> None:
    with pytest.raises(service.DedupError, match="no record with id 999"):
        service.split(workspace.engine, 999, reviewer="ana")


def _app() -> typer.Typer:
    from living_review.cli import _Group

    app = typer.Typer(cls=_Group)

    @app.callback()
    def _root() -> None:
        """Test root."""

    app.add_typer(dedup_app, name="dedup")
    return app


def test_cli_json_contract_and_decide_split(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    other: dict[str, object] = {
        "title": OTHER,
        "doi": None,
        "pages": None,
        "volume": None,
        "journal": None,
    }
    import_(workspace, "pubmed", [article("1"), article("2", **other)])
    ids = import_(workspace, "embase", [article("E1"), article("E2", **other)])
    runner = CliRunner()
    app = _app()
    out = runner.invoke(app, ["dedup", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert sorted(sorted(c) for c in data["clusters"]) == [["1", "E1"]]
    assert len(data["possible"]) == 1 and 0 < data["possible"][0]["score"] <= 1
    keys = ids_by_key(workspace)
    a, b = keys[("pubmed", "2")], ids[1]
    out = runner.invoke(app, ["dedup", "decide", str(a), str(b), "same", "--reviewer", "ana"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["dedup", "split", str(b), "--reviewer", "ana", "--reason", "no"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["dedup", "split", "999", "--reviewer", "ana"])
    assert out.exit_code == 1 and "no record with id 999" in out.output
    out = runner.invoke(app, ["dedup", "split", str(b)])  # who decided is never left out
    assert out.exit_code == 2
    out = runner.invoke(app, ["dedup"])
    assert out.exit_code == 0 and "duplicates removed" in out.stdout
    with Session(workspace.engine) as s:
        assert (s.scalar(select(func.count()).select_from(DuplicateLink)) or 0) >= 4


def test_cli_review_loop(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSR_WORKSPACE", str(workspace.root))
    import_(workspace, "pubmed", [article("1", doi=None, pages=None, volume=None, journal=None)])
    import_(workspace, "embase", [article("E1", doi=None, pages=None, volume=None, journal=None)])
    service.run_dedup(workspace.engine)
    out = CliRunner().invoke(_app(), ["dedup", "review", "--reviewer", "ana"], input="s\n")
    assert out.exit_code == 0, out.output
    assert "A = record" in out.stdout and "1 decision(s) recorded" in out.stdout
    assert service.possible_pairs(workspace.engine) == []

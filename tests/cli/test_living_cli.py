"""``lsr nma fit/show/history/diff`` on stored runs, and ``lsr update`` (the living cycle).

PubMed is the local E-utilities replay server of ``tests/integration/test_eutils.py``; no test
here reaches the internet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from living_review.cli import app
from living_review.sources import eutils
from living_review.workspace import Workspace
from tests.integration.test_eutils import FakeEutils, _no_internet, fake  # noqa: F401 - fixtures
from tests.integration.test_living import KN394, decide, example, report_at_fulltext

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def lsr(ws: Workspace, *args: str, code: int = 0) -> Any:
    res = runner.invoke(app, ["-w", str(ws.root), *args])
    assert res.exit_code == code, (res.stdout, res.stderr)
    return res


def lsr_json(ws: Workspace, *args: str, code: int = 0) -> dict[str, Any]:
    return json.loads(lsr(ws, *args, "--json", code=code).stdout)  # type: ignore[no-any-return]


def test_fit_records_runs_and_show_history_diff_read_them(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    res = lsr(workspace, "nma", "show", code=1)
    assert "OS: no stored analysis run yet" in res.stderr
    rid = report_at_fulltext(workspace, KN394, "pubmed-kn394")
    first = lsr_json(workspace, "nma", "fit", "--engine", "frequentist")
    assert first["run"]["version"] == 1 and "KEYNOTE-394" not in first["run"]["studies"]
    assert first["relative_effects"]["pembrolizumab"]["natural"]["median"] > 0
    assert first["analysis_set_excluded"] == {"KEYNOTE-394": "not yet included at full text"}
    decide(workspace, rid, "ft", "include")
    shown = lsr(workspace, "nma", "show").stdout
    assert "OS v1 (frequentist)" in shown and "STALE" in shown and "+KEYNOTE-394" in shown
    # the run's network, drawn: a header, Braille edges, and every treatment in the legend
    network = shown[shown.index("Network: ") :]
    assert network.startswith(f"Network: {len(first['treatments'])} treatments")
    assert any("\u2800" < ch <= "\u28ff" for ch in network)
    assert all(f"{i + 1} {t}" in network for i, t in enumerate(first["treatments"]))
    text = lsr(workspace, "nma", "fit", "--engine", "frequentist").stdout
    assert "OS v2 (frequentist), recorded." in text.replace("Run 2: ", "")
    assert "OS v2 (frequentist), +KEYNOTE-394: " in text and "pembrolizumab vs placebo HR" in text
    shown = lsr_json(workspace, "nma", "show", "--outcome", "OS")
    assert shown["version"] == 2 and shown["staleness"]["stale"] is False and shown["latest"]
    assert shown["diff"]["studies_added"] == ["KEYNOTE-394"]
    hist = lsr_json(workspace, "nma", "history", "--outcome", "OS")
    assert [r["version"] for r in hist["runs"]] == [1, 2]
    assert "+KEYNOTE-394" in hist["runs"][1]["summary"]
    ids = [r["id"] for r in hist["runs"]]
    back = lsr_json(workspace, "nma", "diff", "--from", str(ids[1]), "--to", str(ids[0]))
    assert back["studies_removed"] == ["KEYNOTE-394"]
    assert "KEYNOTE-394" in lsr(workspace, "nma", "diff").stdout
    lsr(workspace, "nma", "show", "--run", "999", code=1)
    lsr(workspace, "nma", "show", "--engine", "magic", code=1)


def searches_and_example(ws: Workspace, shared: Path) -> None:
    example(ws, shared)
    shutil.copytree(REPO / "searches" / "pubmed", ws.searches_dir / "pubmed", dirs_exist_ok=True)
    shutil.copytree(REPO / "searches" / "embase", ws.searches_dir / "embase", dirs_exist_ok=True)
    text = ws.protocol_path.read_text("utf-8")
    ws.protocol_path.write_text(text.replace("[search]\n", '[search]\nemail = "t@example.org"\n'))
    ws.__dict__.pop("protocol", None)


def test_update_runs_the_cycle_once_and_then_does_nothing_new(
    workspace: Workspace,
    shared: Path,
    fake: FakeEutils,  # noqa: F811 - the fixture
) -> None:
    searches_and_example(workspace, shared)
    fake.add(eutils.ncbi_today(), 3)
    out = lsr_json(workspace, "update", "--engine", "frequentist")
    assert out["ok"] is True and out["errors"] == []
    pubmed, embase = out["searches"]
    assert (pubmed["database"], pubmed["live"], pubmed["new_records"]) == ("pubmed", True, 3)
    assert embase["live"] is False and "Embase" in embase["instructions"]
    assert "added since" in embase["message"]
    assert {i["file"] for i in out["imports"]} == {
        "pubmed-2026-11-21.nbib", "embase-2026-11-21.ris"
    }  # fmt: skip
    assert out["awaiting_screening"] > 3 and out["new_records"] >= out["awaiting_screening"]
    assert {r["outcome"]: r["reasons"] for r in out["refits"]} == {
        "OS": ["no run yet"], "PFS": ["no run yet"]
    }  # fmt: skip
    again = lsr_json(workspace, "update", "--engine", "frequentist")
    assert again["ok"] and again["new_records"] == 0 and again["imports"] == []
    assert again["refits"] == [] and again["awaiting_screening"] == out["awaiting_screening"]
    text = lsr(workspace, "update", "--engine", "frequentist").stdout
    assert "nothing to refit" in text and "embase (no API):" in text
    assert "searches/embase/embase-" in text  # where to save the next export


def test_update_refits_what_an_inclusion_made_stale_and_shows_the_diff(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    rid = report_at_fulltext(workspace, KN394, "pubmed-kn394")
    first = lsr_json(workspace, "update", "--no-search", "--engine", "frequentist")
    assert [r["version"] for r in first["refits"]] == [1, 1]
    decide(workspace, rid, "ft", "include")
    text = lsr(workspace, "update", "--no-search", "--engine", "frequentist").stdout
    assert "refitted OS (+KEYNOTE-394): OS v2 (frequentist), +KEYNOTE-394: " in text
    assert "refitted PFS (+KEYNOTE-394)" in text
    assert lsr_json(workspace, "update", "--no-search", "--no-refit")["refits"] == []


def test_update_failure_is_a_clear_message_exit_1_and_stores_nothing_partial(
    workspace: Workspace,
    shared: Path,
    fake: FakeEutils,  # noqa: F811 - the fixture
) -> None:
    searches_and_example(workspace, shared)
    fake.add(eutils.ncbi_today(), 3)
    fake.fault = lambda utility, _p, _n: 400 if utility == "efetch" else None
    res = lsr(workspace, "update", "--engine", "frequentist", code=1)
    assert "lsr: error: search pubmed:" in res.stderr
    out = lsr_json(workspace, "update", "--no-refit", code=1)
    assert out["ok"] is False and out["searches"][0]["database"] == "embase"
    # the live search stored nothing; the saved exports and the refits went ahead
    fake.fault = None
    ok = lsr_json(workspace, "update", "--engine", "frequentist")
    assert ok["searches"][0]["new_records"] == 3 and ok["refits"] == []
    lsr(workspace, "update", "--engine", "nope", code=1)


def test_a_second_update_while_one_runs_exits_1_and_does_nothing(
    workspace: Workspace, shared: Path
) -> None:
    from living_review.store.exclusive import exclusive

    example(workspace, shared)
    with exclusive(workspace, "update"):  # a first run holds the review's update lock
        res = lsr(workspace, "update", "--no-search", "--engine", "frequentist", code=1)
        assert "another 'lsr update' is running on this review; nothing was done" in res.stderr
        assert lsr_json(workspace, "nma", "history")["runs"] == []
    # released on exit (and by the kernel or the server if the holder dies): runs again
    assert (
        len(lsr_json(workspace, "update", "--no-search", "--engine", "frequentist")["refits"]) == 2
    )

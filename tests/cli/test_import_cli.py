"""``lsr import`` end to end: the JSON contract, idempotence, and every kind of bad input
failing with exit code 1, one message naming the file and line or record, and no write."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from living_review.cli import app
from living_review.workspace import Workspace

runner = CliRunner()

RIS = """TY  - JOUR
T1  - Ramucirumab after sorafenib
A1  - Zhu A.X.
Y1  - 2015
JF  - Lancet Oncology
DO  - 10.1016/S1470-2045(15)00050-9
U2  - L1000001
ER  -

TY  - JOUR
T1  - Regorafenib after sorafenib
A1  - Bruix J.
Y1  - 2017
U2  - L1000002
ER  -
"""

XML_HEAD = (
    '<?xml version="1.0"?>\n<PubmedArticleSet>\n<PubmedArticle><MedlineCitation>'
    "<PMID>101</PMID><Article><ArticleTitle>T</ArticleTitle>"
)


def lsr(ws: Workspace, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["--workspace", str(ws.root), *args])
    return res.exit_code, res.stdout, res.stderr


def status(ws: Workspace) -> dict:  # type: ignore[type-arg]
    code, out, _ = lsr(ws, "status", "--json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def test_import_json_contract_and_idempotence(workspace: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "embase-2026-01-01.ris"
    f.write_text(RIS, encoding="utf-8")
    code, out, _ = lsr(workspace, "import", str(f), "--database", "embase", "--json")
    assert code == 0
    first = json.loads(out)
    assert first["records_in_file"] == 2 and first["new_records"] == 2
    assert first["linked_records"] == 0 and isinstance(first["search_run_id"], int)
    code, out, _ = lsr(workspace, "import", str(f), "--database", "embase", "--json")
    again = json.loads(out)
    assert again["new_records"] == 0 and again["search_run_id"] == first["search_run_id"]
    st = status(workspace)
    assert st["records"] == 2
    assert len(st["search_runs"]) == 1
    run = st["search_runs"][0]
    assert run["database"] == "embase" and run["records_in_file"] == 2
    assert len(run["file_sha256"]) == 64


def test_same_records_in_a_new_export_are_linked(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.ris").write_text(RIS, encoding="utf-8")
    (tmp_path / "b.ris").write_text(RIS.replace("L1000002", "L1000003"), encoding="utf-8")
    lsr(workspace, "import", str(tmp_path / "a.ris"), "-d", "embase")
    code, out, _ = lsr(workspace, "import", str(tmp_path / "b.ris"), "-d", "embase", "--json")
    res = json.loads(out)
    assert (res["new_records"], res["linked_records"]) == (1, 1)
    assert status(workspace)["records"] == 3


def _truncated_xml(p: Path) -> None:
    p.write_text(XML_HEAD + "<Abstract><AbstractText>cut here", encoding="utf-8")


def _ris_without_er(p: Path) -> None:
    p.write_text(RIS.rsplit("ER  -", 1)[0], encoding="utf-8")


def _binary(p: Path) -> None:
    p.write_bytes(bytes(range(256)) * 40)


def _latin1(p: Path) -> None:
    p.write_bytes(RIS.replace("Regorafenib", "Régorafénib").encode("latin-1"))


def _utf16(p: Path) -> None:
    p.write_bytes(RIS.encode("utf-16"))


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _huge_field(p: Path) -> None:
    p.write_text(RIS.replace("T1  - Regorafenib", "T1  - " + "x" * 50_000_000), "utf-8")


def _unknown(p: Path) -> None:
    p.write_text("Dear reviewer,\nplease find the results attached.\n", encoding="utf-8")


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated-xml": (_truncated_xml, r"line \d+"),
    "ris-without-er": (_ris_without_er, r"record 2"),
    "binary": (_binary, r"line \d+"),
    "latin-1": (_latin1, r"line 11\b.*UTF-8"),
    "utf-16": (_utf16, r"UTF-16"),
    "empty": (_empty, r"empty"),
    "50mb-field": (_huge_field, r"line 11\b"),
    "unknown-format": (_unknown, r"unknown format"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_cleanly(workspace: Workspace, tmp_path: Path, case: str) -> None:
    make, expected = BAD[case]
    # A good import first, so "unchanged" means something.
    (tmp_path / "good.ris").write_text(RIS, encoding="utf-8")
    assert lsr(workspace, "import", str(tmp_path / "good.ris"), "-d", "embase")[0] == 0
    before = status(workspace)
    bad = tmp_path / f"bad-{case}.dat"
    make(bad)
    db = "pubmed" if case == "truncated-xml" else "embase"
    code, out, err = lsr(workspace, "import", str(bad), "-d", db)
    assert code == 1, out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert str(bad) in lines[0]
    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in err
    assert status(workspace) == before


def test_search_load_imports_saved_exports_once_then_dedups(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = workspace.root / "searches" / "embase"
    folder.mkdir(parents=True)
    (folder / "strategy.txt").write_text("# comment\nhepatocellular AND sorafenib\n", "utf-8")
    (folder / "embase-2026-01-02.ris").write_text(RIS, encoding="utf-8")
    code, out, err = lsr(workspace, "search", "load", "--json")
    assert code == 0, err
    first = json.loads(out)
    (imp,) = first["imports"]
    assert (imp["records_in_file"], imp["new_records"]) == (2, 2)
    assert first["dedup"]["records_compared"] == 2
    run = status(workspace)["search_runs"][0]
    assert run["run_at"].startswith("2026-01-02")  # the run date comes from the file name
    again = json.loads(lsr(workspace, "search", "load", "--json")[1])
    assert again["imports"][0]["already_imported"] is True
    assert again["dedup"]["records_compared"] == 0

"""The review report (Markdown and HTML) on the example review, checked against the core.

The workspace holds the example trials, the example PubMed export, consensus RoB 2 judgements
for three OS results, and stored frequentist runs: OS v1, a new trial, OS v2, then another new
trial (so OS v2 is stale), and PFS v1. Every number the test looks for in the report is
computed here from the core's own functions (PRISMA counts, stored run JSON, staleness, diff
summaries), never typed in.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest

from living_review.errors import LsrError
from living_review.extraction.example import load_example
from living_review.extraction.service import add_study, add_value
from living_review.intake import import_export
from living_review.living import diff_runs, fit_and_record, history, latest_run, staleness
from living_review.prisma import prisma_counts
from living_review.report import ReportError, build_report, write_report
from living_review.report.markdown import escape
from living_review.rob2.service import final_judgments, resolve, save_assessment
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

LOW = {
    "1.1": "Y", "1.2": "Y", "1.3": "N",
    "2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y",
    "3.1": "Y",
    "4.1": "N", "4.2": "N", "4.3": "N",
    "5.1": "Y", "5.2": "N", "5.3": "N",
}  # fmt: skip
SOME = {**LOW, "1.2": "NI"}  # D1 some concerns
HIGH = {k: v for k, v in LOW.items() if k != "4.3"} | {"4.1": "Y"}  # D4 high


def new_trial(ws: Workspace, label: str, hr: tuple[float, float, float]) -> None:
    """Add a two-arm trial with an OS hazard ratio (regorafenib vs placebo)."""
    add_study(engine=ws.engine, label=label, actor="ana")
    est, lo, hi = hr
    add_value(
        engine=ws.engine, protocol=ws.protocol, study=label, kind="contrast", outcome="OS",
        arm="regorafenib", vs="placebo", extractor="ana", final=True,
        values={"measure": "HR", "estimate": est, "lower": lo, "upper": hi},
    )  # fmt: skip


def example_review(ws: Workspace, shared: Path) -> None:
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    import_export(ws.engine, shared / "example-hcc" / "records.medline", database="pubmed")
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")
    for study, answers in (("REACH", LOW), ("RESORCE", SOME), ("CELESTIAL", HIGH)):
        save_assessment(
            engine=ws.engine, protocol=ws.protocol, study=study, outcome="OS", assessor="ben",
            answers=answers, complete=True,
        )  # fmt: skip
        resolve(engine=ws.engine, protocol=ws.protocol, study=study, outcome="OS",
                resolver="ana", use="ben")  # fmt: skip
    fit_and_record(ws, "OS", engine="frequentist", trigger="test")
    new_trial(ws, "TRIAL-A | <b>*x*</b>", (0.70, 0.52, 0.94))
    fit_and_record(ws, "OS", engine="frequentist", trigger="included TRIAL-A")
    fit_and_record(ws, "PFS", engine="frequentist", trigger="test")
    new_trial(ws, "TRIAL-B", (0.80, 0.60, 1.07))


def effect_text(e: dict[str, float]) -> str:
    """Natural-scale "est (lo, hi)" of a stored effect, formatted independently of the report."""
    n = e["natural"]
    return f"{n['median']:.2f} ({n['q2.5']:.2f}, {n['q97.5']:.2f})"


def section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    j = text.index(end, i + len(start))
    return text[i:j]


def test_example_report_markdown_and_html(
    workspace: Workspace, shared: Path, tmp_path: Path
) -> None:
    ws = workspace
    example_review(ws, shared)
    data = build_report(ws)
    md = write_report(ws, fmt="md", out=tmp_path / "md", data=data)
    html = write_report(ws, fmt="html", out=tmp_path / "html", data=data)
    mtext = md.path.read_text(encoding="utf-8")
    htext = html.path.read_text(encoding="utf-8")

    # Sections, in order, in both formats.
    titles = [
        "1. Protocol", "2. Study selection (PRISMA 2020)", "3. Characteristics of included studies",
        "4. Risk of bias (RoB 2)", "5. Network meta-analyses", "6. Version history of conclusions",
    ]  # fmt: skip
    pos = [mtext.index(f"## {escape(t, line_start=False)}\n") for t in titles]
    assert pos == sorted(pos)
    hpos = [htext.index(f">{t}</h2>") for t in titles]
    assert hpos == sorted(hpos)
    assert ws.protocol.review.title in htext

    # PRISMA: the core's counts.
    counts = prisma_counts(engine=ws.engine, protocol=ws.protocol)
    assert counts["database_results"] > 0
    for label, key in (
        ("Records identified from databases", "database_results"),
        ("Records screened (title/abstract)", "records_screened"),
        ("Studies included in review", "total_studies"),
    ):
        assert f"| {escape(label)} | {counts[key]} |" in mtext
        assert f"<td>{label}</td><td>{counts[key]}</td>" in htext

    # Characteristics: every trial, subgroup reports attached to their trial, arm sizes.
    studies = section(mtext, "## 3.", "## 4.")
    for label in ("REACH", "REACH-2", "RESORCE", "KEYNOTE-394"):
        assert f"\n| {escape(label)} |" in studies
    reach2 = next(r for r in studies.splitlines() if r.startswith("| REACH-2 |"))
    assert "REACH-2 China (overlap" in reach2 and "REACH-2 Japanese subgroup (subgroup" in reach2
    assert "ramucirumab (n=197); placebo (n=95)" in reach2
    # A label with markup characters stays one escaped cell.
    assert "| TRIAL-A \\| \\<b\\>\\*x\\*\\</b\\> |" in studies
    assert "<td>TRIAL-A | &lt;b&gt;*x*&lt;/b&gt;</td>" in htext

    # RoB 2: the final judgements, "not assessed" where none.
    finals = {j.study: j.overall for j in final_judgments(ws.engine, outcome="OS")}
    assert finals == {"REACH": "low", "RESORCE": "some_concerns", "CELESTIAL": "high"}
    rob = section(mtext, "## 4.", "## 5.")
    assert "| RESORCE | Some concerns | Low | Low | Low | Low | Some concerns |" in rob
    assert "| CELESTIAL | Low | Low | Low | High | Low | High |" in rob
    assert "PFS: not assessed" in rob
    assert "figures/rob-OS-traffic.png" in rob and "figures/rob-OS-summary.png" in rob

    # OS: the stored run v2 (stale: TRIAL-B came after it), with its numbers.
    run = latest_run(ws, "OS", "frequentist")
    assert run is not None and run.version == 2
    st = staleness(ws, "OS", engine="frequentist")
    assert st.stale and "+TRIAL-B" in st.reasons
    os_md = section(section(mtext, "## 5.", "## 6."), "### OS: Overall survival", "### PFS:")
    os_html = section(htext, 'id="nma-os"', 'id="nma-pfs"')
    assert "Stored run v2" in os_md and "STALE" in os_md and "+TRIAL-B" in os_md
    assert "STALE" in os_html
    for t, e in run.result["relative_effects"].items():
        assert f"| {t} | {effect_text(e)} | {run.result['sucra'][t]:.3f} |" in os_md
        assert f"<td>{t}</td><td>{effect_text(e)}</td>" in os_html
    cell = next(
        e for e in run.result["league_table"]
        if (e["treatment"], e["comparator"]) == ("regorafenib", "everolimus")
    )  # fmt: skip
    league_md = section(os_md, "#### League table", "#### Diagnostics")
    league = next(r for r in league_md.splitlines() if r.startswith("| regorafenib | "))
    assert (
        effect_text(cell) in league.split(" | ")[1 + run.result["treatments"].index("everolimus")]
    )
    # Node-split stored (a star network: no closed loop), diagnostics with Cochran's Q.
    assert "no closed loop" in os_md and "Q = " in os_md
    for name in ("network", "forest", "sucra", "rankogram"):
        assert f"figures/nma-OS-{name}.png" in os_md

    # Outcomes without analysable data say so, with no estimates.
    orr = section(section(mtext, "## 5.", "## 6."), "### ORR:", "### DCR:")
    assert "No network meta-analysis" in orr and "|" not in orr

    # Version history: every run, with the core's diff summary.
    hist = section(mtext, "## 6.", "\n### PFS")
    runs = history(ws, "OS")
    assert [r.version for r in runs] == [1, 2]
    v2 = diff_runs(runs[0], runs[1])
    assert v2.studies_added == ["TRIAL-A | <b>*x*</b>"]
    assert escape(v2.summary()) in hist
    assert escape(diff_runs(None, runs[0]).summary()) in hist

    # Figures: Markdown links to files next to it; HTML embeds them all and loads nothing.
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", mtext)
    assert len(links) == len(md.figures) >= 11
    for link in links:
        f = md.path.parent / link
        assert f.is_file() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', htext)
    assert len(imgs) == html.embedded == len(md.figures)
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", htext, re.I)
    assert "url(" not in htext and "<script" not in htext and "<link" not in htext
    assert not list((tmp_path / "html").glob("figures")) and not list(
        tmp_path.rglob(".lsr-report-*")
    )


def test_no_runs_fits_frequentist_now_and_not_converged_is_not_a_conclusion(
    workspace: Workspace, shared: Path
) -> None:
    shutil.copy(REPO / "protocol" / "review.toml", workspace.protocol_path)
    load_example(
        engine=workspace.engine, protocol=workspace.protocol, folder=shared / "example-hcc"
    )
    data = build_report(workspace)
    os_ = next(a for a in data.analyses if a.name == "OS")
    assert os_.source == "fitted_now" and os_.run is None and "not a stored run" in os_.message
    assert data.history["OS"] == []
    # A non-converged result: no estimates, tables or ranking figures, only the reasons.
    from dataclasses import replace

    from living_review.report.document import blocks
    from living_review.report.figures import Figures
    from living_review.report.markdown import render_markdown

    assert os_.result is not None
    os_.result = replace(
        os_.result, converged=False, diagnostics={"messages": ["max R-hat 1.31 > 1.01"]}
    )
    figs = Figures(Path("figures"), {"nma-OS-network": Path("figures/nma-OS-network.png")})
    text = render_markdown(blocks(data, figs), figs)
    part = section(section(text, "## 5.", "## 6."), "### OS:", "### PFS:")
    assert "NOT CONVERGED: max R-hat 1.31 \\> 1.01" in part
    assert "League table" not in part and "Relative effects" not in part and "|" not in part
    assert "regorafenib" not in part


def test_bad_out_is_a_clear_error_and_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    with pytest.raises(ReportError, match="is a file, not a folder"):
        write_report(workspace, fmt="md", out=a_file)
    with pytest.raises(ReportError, match="is a file, not a folder"):
        write_report(workspace, fmt="html", out=a_file / "sub")
    with pytest.raises(ReportError, match="--format must be one of md, html"):
        write_report(workspace, fmt="pdf", out=tmp_path / "x")
    assert a_file.read_text() == "not a folder"
    # A figures/ folder lsr report did not write is the user's: never replaced.
    mine = tmp_path / "mine"
    (mine / "figures").mkdir(parents=True)
    (mine / "figures" / "keep.png").write_bytes(b"user's")
    with pytest.raises(ReportError, match="was not written by lsr report"):
        write_report(workspace, fmt="md", out=mine)
    assert [p.name for p in mine.rglob("*")] == ["figures", "keep.png"]
    shutil.rmtree(mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review", "taken"]  # nothing new


def test_failure_midway_leaves_no_partial_report(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A figure that cannot be drawn: nothing is left, an earlier report stays as it was."""
    out = tmp_path / "out"
    first = write_report(workspace, fmt="md", out=out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("living_review.prisma.render_diagram", broken)
    with pytest.raises(LsrError, match="No space left on device"):
        write_report(workspace, fmt="md", out=out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert first.path.is_file()
    fresh = tmp_path / "fresh"
    with pytest.raises(LsrError):
        write_report(workspace, fmt="html", out=fresh)
    assert not fresh.exists()
    monkeypatch.undo()  # a rerun into the same folder replaces the report and its figures
    again = write_report(workspace, fmt="md", out=out)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(
        p.relative_to(out) for p in before
    )
    assert again.figures == first.figures


def test_report_modules_import_no_plotting_or_sampling_library() -> None:
    """matplotlib (and PyMC) load only when a report is drawn (core import hygiene)."""
    import subprocess
    import sys

    mods = ["document", "html", "markdown", "living_source", "rob_source", "figures", "write"]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module('living_review.report.' + m)\n"
        "import living_review.cli_report\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & "
        "{'matplotlib', 'pymc', 'pytensor', 'sklearn', 'textual', 'networkx'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_stored_bayesian_run_is_preferred_and_not_converged_is_no_conclusion(
    workspace: Workspace, shared: Path
) -> None:
    """A real (deliberately too short) PyMC run: shown as NOT CONVERGED, with no estimates."""
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("the sampler does not depend on the store's engine")
    from living_review.report.document import blocks
    from living_review.report.figures import Figures
    from living_review.report.markdown import render_markdown

    ws = workspace
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")
    freq = fit_and_record(ws, "PFS", engine="frequentist", trigger="test")
    bayes = fit_and_record(
        ws,
        "PFS",
        engine="bayes",
        trigger="test",
        overrides={"draws": 100, "tune": 100, "chains": 2},
    )
    assert not bayes.converged, "200 draws should fail the ESS >= 400 check"
    data = build_report(ws)
    pfs = next(a for a in data.analyses if a.name == "PFS")
    assert pfs.source == "stored" and pfs.run is not None and pfs.run.engine == "bayes"
    assert pfs.result is not None and not pfs.converged
    text = render_markdown(blocks(data, Figures(Path("figures"))), Figures(Path("figures")))
    part = section(section(text, "## 5.", "## 6."), "### PFS:", "### ORR:")
    assert "NOT CONVERGED" in part and f"v{freq.version} (frequentist)" in part
    for message in bayes.diagnostics["messages"]:
        assert escape(message, line_start=False) in part
    assert "League table" not in part and "|" not in part
    effect = bayes.result["relative_effects"]["regorafenib"]
    assert effect_text(effect) not in text
    hist = section(text, "## 6.", "### ORR")
    assert "NOT CONVERGED" in hist and "not reported as a conclusion" in hist

"""Extraction on a real store (SQLite file and PostgreSQL): dual extraction, compare, resolve
with every version kept, overlapping reports never counted as trials, the shared-registry-id
warning, and the example review's trials loaded from the shared trials.csv."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.errors import InputFileError
from living_review.extraction.example import load_example
from living_review.extraction.service import (
    ValueResult,
    add_study,
    add_value,
    analysis_data,
    compare,
    history,
    list_studies,
    network_for,
    resolve,
    resolve_agreed,
)
from living_review.extraction.validate import ExtractionError
from living_review.nma.frequentist import fit_frequentist
from living_review.protocol import Protocol
from living_review.screening import UnknownReviewerError
from living_review.store.models import Extraction, ExtractionReport, Study
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
OS_KEY = "OS/contrast/ramucirumab vs placebo"


def hcc(ws: Workspace) -> Protocol:
    """Give the workspace the example review's protocol (treatments, outcomes, reviewers)."""
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    return ws.protocol


def versions(ws: Workspace) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Extraction)) or 0)


def reach2(ws: Workspace) -> None:
    add_study(engine=ws.engine, label="REACH-2", registry_id="NCT02435433", actor="ana")


def put(ws: Workspace, who: str, kind: str, values: dict, **kw: Any) -> ValueResult:
    return add_value(
        engine=ws.engine,
        protocol=ws.protocol,
        study="REACH-2",
        kind=kind,
        values=values,
        extractor=who,
        **kw,
    )


def test_dual_extraction_compare_resolve_keeps_every_version(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    hr = {"measure": "HR", "estimate": "0.710", "lower": "0.531", "upper": "0.949"}
    for who in ("ben", "chloe"):
        put(workspace, who, "arm", {"n": 197}, arm="Cyramza", source="p. 285")  # an alias
        put(workspace, who, "arm", {"n": 95}, arm="placebo", source="p. 285")
        put(workspace, who, "total", {"n": 292}, source="p. 285")
    put(
        workspace,
        "ben",
        "contrast",
        hr,
        outcome="OS",
        arm="ramucirumab",
        vs="placebo",
        source="Fig 2",
    )
    typo = {**hr, "upper": "0.994"}
    put(
        workspace,
        "chloe",
        "contrast",
        typo,
        outcome="OS",
        arm="ramucirumab",
        vs="placebo",
        source="Fig 2",
    )
    put(workspace, "ben", "median", {"value": 8.5}, outcome="OS", arm="ramucirumab")

    cmp = compare(engine=workspace.engine, study="REACH-2")
    assert cmp["extractors"] == ["ben", "chloe"]
    status = {i["key"]: i["status"] for i in cmp["items"]}
    assert status == {
        "design/arm/placebo": "agree",
        "design/arm/ramucirumab": "agree",
        "design/total": "agree",
        OS_KEY: "differ",
        "OS/median/ramucirumab": "missing",
    }
    [differ] = [d for d in cmp["discrepancies"] if d["status"] == "differ"]
    assert differ["values"]["ben"]["upper"] == 0.949
    assert differ["values"]["chloe"]["upper"] == 0.994
    # nothing final yet: the analysis has pending items and no rows
    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    assert data.rows == {} and {p["key"] for p in data.pending} >= {OS_KEY}

    done = resolve_agreed(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", resolver="ana"
    )
    assert sorted(r.key for r in done) == [
        "design/arm/placebo",
        "design/arm/ramucirumab",
        "design/total",
    ]
    res = resolve(
        engine=workspace.engine,
        protocol=workspace.protocol,
        study="REACH-2",
        key="os/contrast/ramucirumab  vs placebo",
        resolver="ana",
        use="ben",
    )
    assert res.status == "final" and not res.unchanged
    before = versions(workspace)
    again = resolve(
        engine=workspace.engine,
        protocol=workspace.protocol,
        study="REACH-2",
        key=OS_KEY,
        resolver="ana",
        use="ben",
    )
    assert again.unchanged and versions(workspace) == before

    hist = history(engine=workspace.engine, study="REACH-2", key=OS_KEY)
    assert [(h["extractor"], h["status"]) for h in hist] == [
        ("ben", "draft"),
        ("chloe", "draft"),
        ("ana", "final"),
    ]
    assert hist[2]["supersedes_id"] == hist[0]["id"]  # the final names the version it took
    # a later draft leaves the final alone; the resolver may overrule with explicit values
    put(workspace, "chloe", "contrast", hr, outcome="OS", arm="ramucirumab", vs="placebo")
    resolve(
        engine=workspace.engine,
        protocol=workspace.protocol,
        study="REACH-2",
        key=OS_KEY,
        resolver="ana",
        values={**hr, "estimate": "0.71"},
        source="erratum",
    )
    hist = history(engine=workspace.engine, study="REACH-2", key=OS_KEY)
    assert len(hist) == 5 and hist[-1]["supersedes_id"] == hist[2]["id"]

    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    [row] = data.rows["contrast"]
    assert (row["treat1"], row["treat2"], row["source"]) == ("ramucirumab", "placebo", "erratum")
    assert row["TE"] == pytest.approx(math.log(0.71))
    assert row["seTE"] == pytest.approx((math.log(0.949) - math.log(0.531)) / (2 * 1.959964))
    assert [p["key"] for p in data.pending] == ["OS/median/ramucirumab"]


def test_invalid_values_are_refused_and_leave_no_trace(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    put(workspace, "ben", "arm", {"n": 197}, arm="ramucirumab")
    put(workspace, "ben", "arm", {"n": 95}, arm="placebo")
    n = versions(workspace)
    with pytest.raises(ExtractionError, match=r"REACH-2, ORR, placebo: events = 120 exceed n"):
        put(workspace, "ben", "binary", {"events": 120, "n": 95}, outcome="ORR", arm="placebo")
    with pytest.raises(ExtractionError, match="treatment 'sorafenib' is not in the protocol"):
        put(workspace, "ben", "arm", {"n": 10}, arm="sorafenib")
    with pytest.raises(ExtractionError, match=r"arm sizes .* = 292\) exceed the total .* 200"):
        put(workspace, "ben", "total", {"n": 200})
    with pytest.raises(ExtractionError, match="does not contain"):
        put(
            workspace,
            "ben",
            "contrast",
            {"measure": "HR", "estimate": 1.2, "lower": 0.5, "upper": 0.9},
            outcome="OS",
            arm="ramucirumab",
            vs="placebo",
        )
    with pytest.raises(ExtractionError, match="outcome 'QoL' is not in the protocol"):
        put(workspace, "ben", "median", {"value": 3}, outcome="QoL", arm="placebo")
    with pytest.raises(UnknownReviewerError, match="'zoe' is not in this review"):
        put(workspace, "zoe", "arm", {"n": 95}, arm="placebo")
    with pytest.raises(ExtractionError, match="reserved for imports"):
        put(workspace, "import:x", "arm", {"n": 95}, arm="placebo")
    assert versions(workspace) == n
    with Session(workspace.engine) as s:  # the failed arm was not created either
        assert s.scalar(select(func.count()).select_from(Study)) == 1
    # a shortfall against the total is a warning while entering, not an error
    res = put(workspace, "ben", "total", {"n": 300})
    assert "below the total randomised 300" in res.warnings[0]


def test_overlapping_reports_are_never_counted_as_trials(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    hr = {"measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 0.949}
    put(workspace, "ana", "contrast", hr, outcome="OS", arm="ramucirumab", vs="placebo", final=True)
    china = add_study(
        engine=workspace.engine,
        label="REACH-2 China",
        registry_id="NCT02435433",
        parent="REACH-2",
        role="overlap",
        relation="44 of 104 from REACH-2",
    )
    assert china.created and china.warnings == []  # same trial: nothing shared across studies
    sub = {"measure": "HR", "estimate": 0.854, "lower": 0.536, "upper": 1.359}
    put(
        workspace,
        "ana",
        "contrast",
        sub,
        outcome="OS",
        arm="ramucirumab",
        vs="placebo",
        report="REACH-2 China",
        final=True,
    )
    add_study(engine=workspace.engine, label="REACH", registry_id="NCT01140347")
    add_value(
        engine=workspace.engine,
        protocol=workspace.protocol,
        study="NCT01140347",
        kind="contrast",
        values={"measure": "HR", "estimate": 0.87, "lower": 0.72, "upper": 1.05},
        outcome="OS",
        arm="ramucirumab",
        vs="placebo",
        extractor="ana",
        final=True,
    )

    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    labels = [r["study_label"] for r in data.rows["contrast"]]
    assert sorted(labels) == ["REACH", "REACH-2"] and data.n_studies == 2
    [left_out] = data.not_analysed
    assert left_out["report"] == "REACH-2 China" and left_out["role"] == "overlap"
    assert network_for(data, workspace.protocol).n_studies == 2
    with Session(workspace.engine) as s:
        assert s.scalar(select(func.count()).select_from(Study)) == 2
    [r2] = [s for s in list_studies(engine=workspace.engine) if s["label"] == "REACH-2"]
    assert [(r["label"], r["role"]) for r in r2["reports"]] == [
        ("REACH-2", "primary"),
        ("REACH-2 China", "overlap"),
    ]
    # attaching again is idempotent
    again = add_study(
        engine=workspace.engine, label="REACH-2 China", parent="REACH-2", role="overlap"
    )
    assert not again.created and again.report_id == china.report_id


def test_two_studies_sharing_a_registry_id_warn(workspace: Workspace) -> None:
    hcc(workspace)
    reach2(workspace)
    res = add_study(engine=workspace.engine, label="REACH-2 China", registry_id="nct02435433")
    assert res.created  # allowed (the store cannot know), but never silently
    [msg] = res.warnings
    assert "NCT02435433 is shared by 2 studies: REACH-2 (#1), REACH-2 China (#2)" in msg
    assert "subgroup/overlap report" in msg
    data = analysis_data(engine=workspace.engine, protocol=workspace.protocol, outcome="OS")
    assert data.warnings == [msg]
    # the same label again is the same study, not a third one
    assert add_study(engine=workspace.engine, label="reach-2").study_id == 1
    with pytest.raises(ExtractionError, match="names several studies"):
        add_value(
            engine=workspace.engine,
            protocol=workspace.protocol,
            study="NCT02435433",
            kind="arm",
            values={},
            arm="placebo",
            extractor="ben",
        )


def test_example_trials_load_from_shared(workspace: Workspace, shared: Path) -> None:
    protocol = hcc(workspace)
    folder = shared / "example-hcc"
    res = load_example(engine=workspace.engine, protocol=protocol, folder=folder)
    assert len(res.trials) == 13 and "REACH-2 China" not in res.trials
    assert {(r["report"], r["role"], r["parent"]) for r in res.secondary_reports} == {
        ("REACH Japanese subgroup", "subgroup", "REACH"),
        ("REACH-2 Japanese subgroup", "subgroup", "REACH-2"),
        ("KEYNOTE-240 Asian subgroup", "subgroup", "KEYNOTE-240"),
        ("REACH-2 China", "overlap", "REACH-2"),
    }
    assert res.warnings == []
    with Session(workspace.engine) as s:
        assert s.scalar(select(func.count()).select_from(Study)) == 13
        parents = dict(
            s.execute(
                select(col(ExtractionReport.label), col(Study.label))
                .join(Study, col(Study.id) == col(ExtractionReport.study_id))
                .where(col(ExtractionReport.role) != "primary")
            ).all()
        )
    assert parents == {
        "REACH Japanese subgroup": "REACH",
        "REACH-2 Japanese subgroup": "REACH-2",
        "KEYNOTE-240 Asian subgroup": "KEYNOTE-240",
        "REACH-2 China": "REACH-2",
    }
    # idempotent: a second load writes nothing
    n = versions(workspace)
    again = load_example(engine=workspace.engine, protocol=protocol, folder=folder)
    assert again.values_written == 0 and again.values_unchanged == res.values_written
    assert versions(workspace) == n

    os_ = analysis_data(engine=workspace.engine, protocol=protocol, outcome="OS")
    rows = {r["study_label"]: r for r in os_.rows["contrast"]}
    assert len(rows) == 10  # 13 trials less BRISK-PS, JET-HCC, S-CUBE (no OS HR found)
    r2 = rows["REACH-2"]
    assert (r2["treat1"], r2["treat2"]) == ("ramucirumab", "placebo")
    assert r2["TE"] == pytest.approx(math.log(0.710))
    assert r2["seTE"] == pytest.approx((math.log(0.949) - math.log(0.531)) / (2 * 1.959964))
    assert (round(r2["TE"], 4), round(r2["seTE"], 4)) == (-0.3425, 0.1481)
    assert r2["source"] == "example-hcc:S08"  # the cell's own provenance
    assert {r["report"] for r in os_.not_analysed} == {
        "REACH Japanese subgroup",
        "REACH-2 Japanese subgroup",
        "KEYNOTE-240 Asian subgroup",
        "REACH-2 China",
    }
    assert all(r["source"].startswith("example-hcc:S") for r in os_.rows["contrast"])

    pfs = analysis_data(engine=workspace.engine, protocol=protocol, outcome="PFS")
    assert len(pfs.rows["contrast"]) == 6  # METIV-HCC's PFS HR has no CI: descriptive
    [metiv] = [d for d in pfs.descriptive if d["kind"] == "estimate"]
    assert metiv["study"] == "METIV-HCC" and "no variance" in metiv["reason"]
    orr = analysis_data(engine=workspace.engine, protocol=protocol, outcome="ORR")
    assert orr.rows == {} and {d["kind"] for d in orr.descriptive} == {"percent"}
    assert len({d["study"] for d in orr.descriptive}) == 4  # RESORCE, CELESTIAL, KN-240, KN-394

    net = network_for(os_, protocol)
    assert net.reference == "placebo" and net.n_studies == 10 and net.measure == "HR"
    fit = fit_frequentist(net, model="re", higher_is_better=False)
    rel = {t: math.exp(s.mean) for t, s in fit.relative_effects.items()}
    assert rel["regorafenib"] == pytest.approx(0.63, abs=0.005)  # one trial: its own HR


def test_example_loader_events_extra_fields_and_errors(
    workspace: Workspace, tmp_path: Path
) -> None:
    protocol = hcc(workspace)
    head = (
        "trial_name,first_author,year,pmid,doi,nct_id,arm,n_randomized,os_hr,os_hr_ci_low,"
        "os_hr_ci_high,orr_events,orr_percent,source_ids,report_type\n"
    )
    (tmp_path / "trials.csv").write_text(
        head + "T1,A,2020,,,NCT00000001,Stivarga,100,0.8,0.6,1.0,12,12,X1,primary\n"
        "T1,A,2020,,,NCT00000001,BSC,50,,,,2,4,X1;X2,primary\n",
        encoding="utf-8",
    )
    res = load_example(engine=workspace.engine, protocol=protocol, folder=tmp_path)
    assert res.trials == ["T1"]
    orr = analysis_data(engine=workspace.engine, protocol=protocol, outcome="ORR")
    assert sorted((r["treatment"], r["events"], r["n"]) for r in orr.rows["arm-binary"]) == [
        ("placebo", 2, 50),
        ("regorafenib", 12, 100),
    ]
    assert {r["source"] for r in orr.rows["arm-binary"]} == {
        "example-hcc:X1",
        "example-hcc:X1;example-hcc:X2",
    }
    extra = add_value(
        engine=workspace.engine,
        protocol=protocol,
        study="T1",
        kind="extra",
        name="afp_cutoff",
        values={"value": ">=400 ng/mL"},
        extractor="ben",
        final=True,
    )
    assert extra.key == "design/extra/afp_cutoff"
    (tmp_path / "trials.csv").write_text(
        head + "T2,A,2020,,,,sorafenib,100,,,,,,X1,primary\n", encoding="utf-8"
    )
    n = versions(workspace)
    with pytest.raises(InputFileError, match=r"trials.csv, line 2: T2, sorafenib: treatment"):
        load_example(engine=workspace.engine, protocol=protocol, folder=tmp_path)
    assert versions(workspace) == n

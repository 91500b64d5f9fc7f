"""Digitised curves in the store (SQLite file and PostgreSQL): append-only versions with audit,
all-or-nothing attach, the synthetic example on the example studies, and the RMST network."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.extraction.service import add_study
from living_review.extraction.validate import ExtractionError
from living_review.store.models import AuditEvent, KMCurve, StudyArm
from living_review.survival.digitised import DigitisedCurve, SurvivalError
from living_review.survival.pooling import (
    contrast_rows,
    fit_rmst_nma,
    pool_drmst,
    rmst_network,
    study_effects,
)
from living_review.survival.service import (
    attach_curve,
    attach_files,
    current_curves,
    history,
    list_curves,
    load_example,
    withdraw_curve,
)
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
TRIALS = {
    "REACH": "NCT01140347",
    "REACH-2": "NCT02435433",
    "RESORCE": "NCT01774344",
    "KEYNOTE-240": "NCT02702401",
}


def hcc(ws: Workspace) -> None:
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    for label, rid in TRIALS.items():
        add_study(engine=ws.engine, label=label, registry_id=rid, actor="ana")


def count(ws: Workspace, model: type) -> int:
    with Session(ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


CURVE = DigitisedCurve(
    arm="ramucirumab",
    times=(0.0, 1.0, 2.0, 3.0),
    surv=(1.0, 0.8, 0.6, 0.6),
    risk_times=(0.0, 2.0),
    risk_counts=(10, 6),
)


def test_attach_is_append_only_and_audited(workspace: Workspace) -> None:
    hcc(workspace)
    kw = {"study": "REACH-2", "treatment": "Cyramza", "outcome": "os", "actor": "ben"}
    first = attach_curve(engine=workspace.engine, protocol=workspace.protocol, curve=CURVE, **kw)
    assert first.created and first.treatment == "ramucirumab" and first.outcome == "OS"
    again = attach_curve(engine=workspace.engine, protocol=workspace.protocol, curve=CURVE, **kw)
    assert not again.created and again.curve_id == first.curve_id
    changed = DigitisedCurve(**{**CURVE.__dict__, "total_events": 3, "notes": ()})
    second = attach_curve(engine=workspace.engine, protocol=workspace.protocol, curve=changed, **kw)
    assert second.created and second.curve_id != first.curve_id
    rows = list_curves(engine=workspace.engine)
    assert [(r["study"], r["treatment"], r["total_events"]) for r in rows] == [
        ("REACH-2", "ramucirumab", 3)
    ]
    withdraw_curve(
        engine=workspace.engine,
        protocol=workspace.protocol,
        study="REACH-2",
        treatment="ramucirumab",
        outcome="OS",
        actor="ana",
    )
    assert list_curves(engine=workspace.engine) == []
    versions = history(
        engine=workspace.engine, study="REACH-2", treatment="ramucirumab", outcome="OS"
    )
    assert [v["status"] for v in versions] == ["active", "active", "withdrawn"]
    assert versions[1]["supersedes_id"] == versions[0]["id"]
    assert count(workspace, KMCurve) == 3
    with Session(workspace.engine) as s:
        actions = list(
            s.scalars(select(AuditEvent.action).where(col(AuditEvent.entity) == "km_curve"))
        )
    assert actions == ["km_curve_attach", "km_curve_attach", "km_curve_withdraw"]


def test_bad_input_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    hcc(workspace)
    pts = tmp_path / "fig.csv"
    pts.write_text("arm,time,survival\nplacebo,0,1\nplacebo,1,0.5\nnot-a-drug,0,1\n")
    nar = tmp_path / "nar.csv"
    nar.write_text("arm,time,n_risk\nplacebo,0,10\nnot-a-drug,0,10\n")
    with pytest.raises(ExtractionError, match="not-a-drug"):
        attach_files(
            engine=workspace.engine,
            protocol=workspace.protocol,
            study="REACH",
            points=pts,
            at_risk=nar,
            outcome="OS",
            actor="ben",
        )
    assert count(workspace, KMCurve) == 0
    with pytest.raises(SurvivalError, match="outcome 'XYZ'"):
        attach_curve(
            engine=workspace.engine,
            protocol=workspace.protocol,
            study="REACH",
            treatment="placebo",
            outcome="XYZ",
            curve=CURVE,
            actor="ben",
        )
    with pytest.raises(ExtractionError, match="no study"):
        attach_curve(
            engine=workspace.engine,
            protocol=workspace.protocol,
            study="NOPE",
            treatment="placebo",
            outcome="OS",
            curve=CURVE,
            actor="ben",
        )
    assert count(workspace, KMCurve) == 0


def test_example_curves_give_an_rmst_network(workspace: Workspace) -> None:
    hcc(workspace)
    res = load_example(engine=workspace.engine, protocol=workspace.protocol)
    assert res["synthetic"] is True and res["created"] == 8
    assert load_example(engine=workspace.engine, protocol=workspace.protocol)["created"] == 0
    assert len(current_curves(workspace.engine, "OS")) == 8
    with Session(workspace.engine) as s:  # curves sit on arms of the primary reports
        assert count(workspace, StudyArm) == 8
        assert {a.treatment for a in s.scalars(select(StudyArm))} == {
            "ramucirumab",
            "regorafenib",
            "pembrolizumab",
            "placebo",
        }

    eff = study_effects(workspace.engine, "OS", tau=24.0)
    assert eff.tau == 24.0 and len(eff.studies) == 4
    rows = contrast_rows(eff)
    assert {(r["study"], r["treat1"], r["treat2"]) for r in rows} == {
        ("REACH", "ramucirumab", "placebo"),
        ("REACH-2", "ramucirumab", "placebo"),
        ("RESORCE", "regorafenib", "placebo"),
        ("KEYNOTE-240", "pembrolizumab", "placebo"),
    }
    default = study_effects(workspace.engine, "OS")
    assert default.tau == min(s.admissible_tau for s in default.studies)
    with pytest.raises(SurvivalError, match="beyond"):
        study_effects(workspace.engine, "OS", tau=1000.0)

    net = rmst_network(eff, workspace.protocol)
    assert net.measure == "MD" and not net.log_scale and net.reference == "placebo"
    fit = fit_rmst_nma(eff, workspace.protocol)
    assert fit.converged and fit.model == "re"
    by_study = {r["study"]: r for r in rows}
    # a comparison informed by one study is that study's ΔRMST
    assert fit.relative_effects["regorafenib"].mean == pytest.approx(
        by_study["RESORCE"]["TE"], abs=1e-8
    )
    # the pairwise pool of ramucirumab (two studies, REML) is the network's estimate
    pooled = pool_drmst(eff, workspace.protocol)
    assert pooled["reference"] == "placebo"
    assert pooled["by_treatment"]["ramucirumab"]["estimate"] == pytest.approx(
        fit.relative_effects["ramucirumab"].mean, abs=1e-6
    )
    # fixed effect = inverse-variance weighted mean, by hand
    fe = pool_drmst(eff, workspace.protocol, model="fe")["by_treatment"]["ramucirumab"]
    w = [1 / by_study[s]["seTE"] ** 2 for s in ("REACH", "REACH-2")]
    te = [by_study[s]["TE"] for s in ("REACH", "REACH-2")]
    assert fe["estimate"] == pytest.approx(sum(a * b for a, b in zip(w, te, strict=True)) / sum(w))
    assert fe["se"] == pytest.approx(1 / math.sqrt(sum(w)))
    # ... and the same network on Cox log HR
    hr = fit_rmst_nma(eff, workspace.protocol, effect="loghr")
    assert hr.log_scale and hr.relative_effects["regorafenib"].mean < 0


def test_example_on_shared_trials(workspace: Workspace, shared: Path) -> None:
    from living_review.extraction.example import load_example as load_trials

    shutil.copy(REPO / "protocol" / "review.toml", workspace.protocol_path)
    load_trials(engine=workspace.engine, protocol=workspace.protocol, folder=shared / "example-hcc")
    arms = count(workspace, StudyArm)
    res = load_example(engine=workspace.engine, protocol=workspace.protocol)
    assert res["created"] == 8
    assert count(workspace, StudyArm) == arms  # attached to the existing arms
    # the reconstructed Cox HR is shown next to the published one (here: synthetic vs real)
    eff = study_effects(workspace.engine, "OS", tau=24.0, protocol=workspace.protocol)
    pub = {s.study: s.published_hr for s in eff.studies}
    assert pub["REACH"] is not None and pub["REACH"]["hr"] == pytest.approx(0.87)
    assert pub["REACH-2"] is not None and pub["REACH-2"]["upper"] == pytest.approx(0.949)


@pytest.mark.slow
def test_small_bayesian_rmst_network(workspace: Workspace) -> None:
    from living_review.nma.spec import FitSpec

    if workspace.url.startswith("postgresql"):
        pytest.skip("the store is not under test here; one engine is enough for MCMC")
    hcc(workspace)
    load_example(engine=workspace.engine, protocol=workspace.protocol)
    eff = study_effects(workspace.engine, "OS", tau=24.0)
    spec = FitSpec(model="fe", chains=2, tune=400, draws=400, extensions=0)
    res = fit_rmst_nma(eff, workspace.protocol, engine="bayes", spec=spec)
    freq = fit_rmst_nma(eff, workspace.protocol, model="fe")
    for t, s in freq.relative_effects.items():  # vague priors: posterior ≈ likelihood
        b = res.relative_effects[t]
        assert b.mean == pytest.approx(s.mean, abs=0.15 * (s.sd or 1))
        assert b.sd == pytest.approx(s.sd, rel=0.15)

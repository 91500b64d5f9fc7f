"""The living loop on the example review: staleness rules, stored runs, diffs (issue 8).

Each staleness rule has its own test, on SQLite and PostgreSQL (the ``workspace`` fixture).
Fits are frequentist (instant) except one small Bayesian fit that must be flagged as not
converged and never reported as a conclusion.
"""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from living_review import living
from living_review.extraction.example import load_example
from living_review.extraction.service import add_value
from living_review.importing import RunInfo, import_records
from living_review.rob2.algorithm import Judgement, Override
from living_review.rob2.service import resolve, save_assessment
from living_review.screening.decisions import record_decision
from living_review.screening.fulltext import advance_to_fulltext, link_study
from living_review.sources.base import ParsedRecord
from living_review.store.models import AnalysisRun, AuditEvent, Record
from living_review.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
KN394 = "NCT03062358"  # KEYNOTE-394 (pembrolizumab vs placebo, in the OS-HR network)
FREQ = "frequentist"


def example(ws: Workspace, shared: Path) -> None:
    """The example review: its protocol (team ana/ben/chloe, dual screening) and trials."""
    shutil.copy(REPO / "protocol" / "review.toml", ws.protocol_path)
    ws.__dict__.pop("protocol", None)
    load_example(engine=ws.engine, protocol=ws.protocol, folder=shared / "example-hcc")


def fit(ws: Workspace, outcome: str = "OS") -> living.RunRecord:
    return living.fit_and_record(ws, outcome, engine=FREQ)


def stale(ws: Workspace, outcome: str = "OS") -> living.Staleness:
    return living.staleness(ws, outcome, engine=FREQ)


def decide(ws: Workspace, rid: int, stage: str, decision: str, reason: str | None = None) -> None:
    for who in ("ben", "chloe"):
        record_decision(
            engine=ws.engine, protocol=ws.protocol, record_id=rid, stage=stage, reviewer=who,
            decision=decision, reason=reason,
        )  # fmt: skip


def report_at_fulltext(ws: Workspace, registry_id: str, key: str) -> int:
    """A screened record of the trial, included at title/abstract and linked to its study."""
    rec = ParsedRecord(
        source_key=key,
        title=f"Randomised trial {registry_id} in hepatocellular carcinoma",
        authors=["Qin S"],
        year=2023,
        raw=f"Trial registration: {registry_id}",
    )
    import_records(ws.engine, [rec], RunInfo(database="pubmed"))
    with Session(ws.engine) as s:
        rid = s.scalar(select(Record.id).where(Record.source_key == key))  # type: ignore[arg-type]
    assert rid is not None
    decide(ws, rid, "ta", "include")
    advance_to_fulltext(engine=ws.engine, protocol=ws.protocol)
    link_study(engine=ws.engine, protocol=ws.protocol, record_id=rid, registry_id=registry_id)
    return int(rid)


# --- staleness rules -------------------------------------------------------------------------


def test_no_run_yet_then_up_to_date_and_runs_are_versioned(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    s = stale(workspace)
    assert (s.stale, s.reasons, s.latest_run_id) == (True, ["no run yet"], None)
    first = fit(workspace)
    assert first.version == 1 and first.predecessor_id is None and first.converged
    assert "KEYNOTE-394" in first.studies and "REACH Japanese subgroup" not in first.studies
    assert not stale(workspace).stale
    second = fit(workspace)
    assert (second.version, second.predecessor_id) == (2, first.id)
    assert second.data_hash == first.data_hash
    assert [r.id for r in living.history(workspace, "OS")] == [first.id, second.id]
    assert living.latest_run(workspace, "OS", FREQ) == second
    assert living.get_run(workspace, first.id) == first
    # the Bayesian engine has its own history: OS is still stale for it
    assert living.staleness(workspace, "OS").reasons == ["no run yet"]
    with Session(workspace.engine) as s2:
        n = s2.scalar(select(func.count()).where(AuditEvent.action == "analysis_run"))  # type: ignore[arg-type]
    assert n == 2
    # the stored result rebuilds the engine's result type
    res = second.nma_result()
    assert res.reference == "placebo" and res.sucra == second.result["sucra"]


def test_inclusion_at_full_text_adds_the_study_and_the_diff_shows_it(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    rid = report_at_fulltext(workspace, KN394, "pubmed-kn394")
    inp = living.current_input(workspace, "OS")
    assert "KEYNOTE-394" not in inp.studies
    assert inp.excluded["KEYNOTE-394"] == "not yet included at full text"
    before = fit(workspace)
    assert not stale(workspace).stale
    decide(workspace, rid, "ft", "include")
    s = stale(workspace)
    assert s.stale and s.reasons == ["+KEYNOTE-394"]
    after = fit(workspace)
    diff = living.diff_runs(before, after)
    assert diff.studies_added == ["KEYNOTE-394"] and diff.studies_removed == []
    pem = next(e for e in diff.effects if e.treatment == "pembrolizumab")
    assert pem.prev is not None and pem.cur is not None
    # two trials instead of one: the pooled interval is narrower
    assert pem.cur["upper"] - pem.cur["lower"] < pem.prev["upper"] - pem.prev["lower"]
    text = diff.summary()
    assert text.startswith("OS v2 (frequentist), +KEYNOTE-394: ")
    assert "pembrolizumab vs placebo HR" in text and "→" in text


def test_exclusion_at_full_text_removes_the_study(workspace: Workspace, shared: Path) -> None:
    example(workspace, shared)
    rid = report_at_fulltext(workspace, KN394, "pubmed-kn394")
    decide(workspace, rid, "ft", "include")
    fit(workspace)
    decide(workspace, rid, "ft", "exclude", reason="wrong-design")
    s = stale(workspace)
    assert s.reasons == ["-KEYNOTE-394 (excluded at full text)"]
    diff = living.diff_latest(workspace, fit(workspace))
    assert diff.studies_removed == ["KEYNOTE-394"]


def test_linking_a_report_takes_the_study_out_until_it_is_included(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    fit(workspace)
    report_at_fulltext(workspace, KN394, "pubmed-kn394")
    assert stale(workspace).reasons == ["-KEYNOTE-394 (not yet included at full text)"]


def test_changed_final_values_mark_the_outcome_stale_but_a_new_source_does_not(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    first = fit(workspace)
    hr = {"measure": "HR", "estimate": 0.71, "lower": 0.531, "upper": 0.949}
    # the same numbers again, from another page: provenance, not data
    add_value(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", kind="contrast",
        values=hr, extractor="ben", outcome="OS", arm="ramucirumab", vs="placebo",
        source="Lancet Oncol 2019;20:282-96, table 2", final=True,
    )  # fmt: skip
    assert not stale(workspace).stale
    add_value(
        engine=workspace.engine, protocol=workspace.protocol, study="REACH-2", kind="contrast",
        values={**hr, "estimate": 0.75}, extractor="ben", outcome="OS", arm="ramucirumab",
        vs="placebo", source="corrected", final=True,
    )  # fmt: skip
    s = stale(workspace)
    assert s.reasons == ["data of REACH-2 changed"]
    assert living.current_input(workspace, "OS").data_hash != first.data_hash
    diff = living.diff_latest(workspace, fit(workspace))
    assert diff.studies_changed == ["REACH-2"] and not diff.studies_added


def test_changed_nma_settings_mark_every_outcome_stale(workspace: Workspace, shared: Path) -> None:
    example(workspace, shared)
    fit(workspace, "OS")
    fit(workspace, "PFS")
    assert not any(s.stale for s in living.stale_outcomes(workspace, engine=FREQ))
    text = workspace.protocol_path.read_text("utf-8")
    workspace.protocol_path.write_text(text.replace("draws = 4000", "draws = 5000"), "utf-8")
    workspace.__dict__.pop("protocol", None)
    out = living.stale_outcomes(workspace, engine=FREQ)
    assert {s.outcome: s.reasons for s in out} == {
        "OS": ["settings changed"],
        "PFS": ["settings changed"],
    }


#: Complete RoB 2 answers judged low in every domain.
ALL_LOW = {
    "1.1": "Y", "1.2": "Y", "1.3": "N", "2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y",
    "3.1": "Y", "4.1": "N", "4.2": "N", "4.3": "N", "5.1": "Y", "5.2": "N", "5.3": "N",
}  # fmt: skip


def consensus(ws: Workspace, study: str, overall: Judgement) -> None:
    """Both assessors judge ``study``'s OS result low; the resolver's consensus: ``overall``."""
    for who in ("ben", "chloe"):
        save_assessment(
            engine=ws.engine, protocol=ws.protocol, study=study, outcome="OS", assessor=who,
            answers=ALL_LOW, complete=True,
        )  # fmt: skip
    over = {} if overall == Judgement.LOW else {"overall": Override(overall, "test reading")}
    resolve(
        engine=ws.engine, protocol=ws.protocol, study=study, outcome="OS", resolver="ana",
        use="ben", overrides=over,
    )  # fmt: skip


def test_rob2_sensitivity_drops_high_risk_results_and_tracks_the_consensus(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    first = fit(workspace)
    high, low = first.studies[0], first.studies[1]
    consensus(workspace, high, Judgement.HIGH)
    assert not stale(workspace).stale  # judgements alone change nothing while the setting is off

    text = workspace.protocol_path.read_text("utf-8")
    workspace.protocol_path.write_text(
        text.replace("draws = 4000", 'draws = 4000\nexclude_rob = ["high"]'), "utf-8"
    )
    workspace.__dict__.pop("protocol", None)
    s = stale(workspace)
    assert s.stale and "settings changed" in s.reasons
    inp = living.current_input(workspace, "OS")
    assert high not in inp.studies and "'high'" in inp.excluded[high]
    assert low in inp.studies and low not in inp.excluded
    second = fit(workspace)
    diff = living.diff_latest(workspace, second)
    assert diff.studies_removed == [high] and not diff.studies_added
    unjudged = [w for w in second.result["warnings"] if "no final RoB 2 judgement" in w]
    assert len(unjudged) == 1 and low in unjudged[0] and high not in unjudged[0]

    consensus(workspace, high, Judgement.LOW)  # a new consensus brings the study back
    assert stale(workspace).stale
    assert high in living.current_input(workspace, "OS").studies


def test_outcomes_without_analysable_data_are_not_nma_eligible(
    workspace: Workspace, shared: Path
) -> None:
    example(workspace, shared)
    names = [s.outcome for s in living.stale_outcomes(workspace, engine=FREQ)]
    assert names == ["OS", "PFS"]  # ORR, DCR and AEs are percentages only (descriptive)
    s = living.staleness(workspace, "ORR", engine=FREQ)
    assert (s.stale, s.has_data) == (False, False)
    with pytest.raises(living.LivingError, match="no analysable final data"):
        living.fit_and_record(workspace, "ORR", engine=FREQ)
    with pytest.raises(living.LivingError, match="unknown outcome 'QoL'"):
        living.current_input(workspace, "QoL")


def _child(root: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    run = living.fit_and_record(Path(root), "OS", engine=FREQ, trigger="tui")
    queue.put((run.id, run.version, run.trigger))


def test_fit_and_record_runs_in_a_child_process_from_a_path(
    workspace: Workspace, shared: Path
) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("the child process opens the workspace's own SQLite file")
    example(workspace, shared)
    workspace.close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(str(workspace.root), queue))
    proc.start()
    got = queue.get(timeout=120)
    proc.join(30)
    assert proc.exitcode == 0
    assert got[1:] == (1, "tui")
    assert living.get_run(workspace, got[0]).trigger == "tui"


@pytest.mark.slow
def test_a_bayesian_run_that_did_not_converge_is_stored_but_never_a_conclusion(
    workspace: Workspace, shared: Path
) -> None:
    if workspace.engine.dialect.name != "sqlite":
        pytest.skip("sampling does not depend on the store's engine")
    example(workspace, shared)
    seen: list[float] = []
    # 2 chains x 100 draws cannot reach the ESS threshold (400): not converged, by design
    run = living.fit_and_record(
        workspace, "OS", overrides={"chains": 2, "tune": 100, "draws": 100},
        progress=lambda _m, f: seen.append(f),
    )  # fmt: skip
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert run.engine == "bayes" and run.converged is False
    assert run.diagnostics["messages"] and run.result["status"] == "not_converged"
    assert run.seed == run.settings["seed"] and set(run.result["sucra_mcse"]) == set(
        run.result["treatments"]
    )
    diff = living.diff_latest(workspace, run)
    assert not diff.reportable
    assert "NOT CONVERGED" in diff.summary() and "not reported as a conclusion" in diff.summary()
    # the overrides are recorded, so the run does not match the protocol's settings
    s = living.staleness(workspace, "OS")
    assert s.reasons == ["settings changed"] and s.latest_converged is False
    with Session(workspace.engine) as s:
        assert s.scalar(select(func.count()).select_from(AnalysisRun)) == 1

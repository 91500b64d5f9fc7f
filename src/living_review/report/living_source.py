"""Reads stored analysis runs (:mod:`living_review.living`) for the report.

A thin adapter: the run an outcome's section shows (the latest Bayesian run, else the latest
frequentist one), whether it is stale (derived by :func:`living_review.living.staleness`
against the run's own engine), and each outcome's version history with every run's diff
against the run its conclusions are compared with (the newest earlier converged run of the
same engine, as :func:`living_review.living.comparison_base` defines it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from living_review.living import RunRecord, diff_runs, latest_run, staleness
from living_review.living import history as run_history
from living_review.nma.data import Network
from living_review.nma.result import NMAResult
from living_review.report.build import RunInfo
from living_review.workspace import Workspace


@dataclass(frozen=True)
class StoredAnalysis:
    """The run an outcome's section shows."""

    result: NMAResult
    run: RunInfo
    stale: bool | None
    stale_reason: str | None
    nodesplit: list[dict[str, Any]] | None
    other: str | None = None
    """When the shown Bayesian run did not converge: the latest frequentist run, if any."""


def _info(run: RunRecord, summary: str = "", added: list[str] | None = None,
          removed: list[str] | None = None) -> RunInfo:  # fmt: skip
    return RunInfo(
        id=run.id,
        version=run.version,
        created_at=run.created_at.isoformat(timespec="seconds"),
        trigger=run.trigger,
        engine=run.engine,
        converged=run.converged,
        studies=tuple(run.studies),
        added=tuple(added or ()),
        removed=tuple(removed or ()),
        summary=summary,
    )


def latest(ws: Workspace, outcome: str) -> StoredAnalysis | None:
    """The latest stored run of ``outcome`` to report (None: no stored run).

    A Bayesian run is preferred, converged or not (a non-converged one is then shown as NOT
    CONVERGED, never silently replaced by an older estimate); else the latest frequentist run.
    """
    run = latest_run(ws, outcome, "bayes") or latest_run(ws, outcome, "frequentist")
    if run is None:
        return None
    other = None
    if not run.converged and run.engine == "bayes":
        freq = latest_run(ws, outcome, "frequentist")
        other = None if freq is None else f"v{freq.version} ({freq.engine})"
    st = staleness(ws, outcome, engine=run.engine)
    splits = run.result.get("nodesplit")
    if splits is None:
        splits = run.result.get("nodesplit_frequentist")
    return StoredAnalysis(
        result=run.nma_result(),
        run=_info(run),
        stale=st.stale,
        stale_reason=", ".join(st.reasons) or None,
        nodesplit=None if splits is None else list(splits),
        other=other,
    )


def history(ws: Workspace, outcome: str) -> list[RunInfo]:
    """Every stored run of ``outcome``, oldest first, each with its conclusions diff."""
    runs = run_history(ws, outcome)
    out = []
    for run in runs:
        base = [r for r in runs if r.engine == run.engine and r.id < run.id and r.converged]
        diff = diff_runs(base[-1] if base else None, run)
        out.append(_info(run, diff.summary(), diff.studies_added, diff.studies_removed))
    return out


def run_network(net: Network | None, run: RunInfo) -> Network | None:
    """The network of the run's own study set (labels), drawn from the current data.

    A run whose studies are not all in the current data still gets the part that is (the
    section says the run is stale, and why).
    """
    if net is None or not run.studies:
        return net
    wanted = set(run.studies)
    arm = tuple(s for s in net.arm_studies if s.label in wanted or s.study in wanted)
    con = tuple(s for s in net.contrast_studies if s.label in wanted or s.study in wanted)
    if not arm and not con:
        return net
    keep = {t for s in arm for t in s.treatments} | {t for s in con for t in s.treatments}
    return replace(
        net,
        treatments=tuple(t for t in net.treatments if t in keep),
        arm_studies=arm,
        contrast_studies=con,
    )

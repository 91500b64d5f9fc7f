"""Collects what the review report shows, from the store, as plain data (:class:`ReportData`).

Nothing here draws or formats: the renderers (Markdown, HTML) and the figure writer read one
:class:`ReportData`, so both formats always show the same numbers, and the numbers are the
core's own (PRISMA counts from :func:`~living_review.prisma.prisma_counts`, analysis sets from
:func:`~living_review.extraction.service.analysis_data`, fits from the NMA engines, RoB 2
judgements from the store), never recomputed here.

Which NMA result an outcome shows:

* the latest *stored* run (:mod:`living_review.living`), a converged Bayesian run preferred
  over a frequentist one, and the run's staleness (the evidence changed since it was fitted);
* with no stored run, the frequentist estimate is fitted now from the current data and
  labelled as such ("not a stored run"), since it is instant and deterministic;
* a run that did not converge is reported as NOT CONVERGED with its reasons, and none of its
  estimates, rankings or plots are shown (design principle 4).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.extraction.service import analysis_data, list_studies, network_for
from living_review.nma.data import Network
from living_review.nma.result import NMAResult
from living_review.protocol import Outcome, Protocol
from living_review.store.models import Extraction, ExtractionReport, StudyArm
from living_review.workspace import Workspace


class ReportError(LsrError):
    """The report cannot be written (a bad output folder, an unknown format)."""


# --- data types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmInfo:
    """One arm of a trial's primary report and its randomised number (None: not extracted)."""

    treatment: str
    n: int | None


@dataclass(frozen=True)
class ReportRef:
    """A report of a trial (primary, or an attached subgroup / overlap report)."""

    label: str
    role: str
    relation: str | None = None
    registry_id: str | None = None
    pmid: str | None = None
    doi: str | None = None
    first_author: str | None = None
    year: int | None = None


@dataclass
class StudyInfo:
    """One row of the characteristics-of-included-studies table."""

    id: int
    label: str
    registry_id: str | None
    year: int | None
    first_author: str | None
    arms: list[ArmInfo]
    analysed: list[str]
    """Outcomes whose final data enter the NMA."""
    descriptive: list[str]
    """Outcomes with final values that are descriptive only (medians, percentages)."""
    primary: ReportRef | None
    secondary: list[ReportRef]

    @property
    def total_n(self) -> int | None:
        """Randomised participants over the arms, when every arm's n is known."""
        ns = [a.n for a in self.arms]
        return sum(n for n in ns if n is not None) if ns and None not in ns else None


@dataclass(frozen=True)
class RobRow:
    """The final RoB 2 judgements of one result: domains ``"1"``..``"5"`` and ``overall``."""

    study: str
    judgements: dict[str, str | None]


@dataclass
class RobOutcome:
    """RoB 2 of one outcome: one row per assessed result (empty: not assessed)."""

    outcome: str
    label: str
    rows: list[RobRow]

    @property
    def assessed(self) -> bool:
        """Whether any result of the outcome has been assessed."""
        return bool(self.rows)


@dataclass(frozen=True)
class RunInfo:
    """One stored analysis run, as the version history shows it."""

    id: int | None
    version: int | None
    created_at: str | None
    trigger: str | None
    engine: str
    converged: bool
    studies: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    summary: str = ""


@dataclass
class OutcomeAnalysis:
    """The NMA of one outcome as the report shows it."""

    name: str
    label: str
    measure: str
    lower_is_better: bool
    source: str
    """``stored`` (a stored run), ``fitted_now`` (frequentist, not stored) or ``no_data``."""
    message: str
    n_studies: int = 0
    result: NMAResult | None = None
    network: Network | None = None
    run: RunInfo | None = None
    stale: bool | None = None
    stale_reason: str | None = None
    nodesplit: list[dict[str, Any]] | None = None
    not_analysed: list[dict[str, Any]] = field(default_factory=list)
    n_descriptive: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether estimates may be shown (a fit exists and passed its checks)."""
        return self.result is not None and self.result.converged

    @property
    def key(self) -> str:
        """A file-name-safe key for the outcome's figures."""
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)


@dataclass
class ReportData:
    """Everything the report shows, collected once from the store."""

    title: str
    short_name: str
    registration: str | None
    living: bool
    question: dict[str, str]
    eligibility_include: list[str]
    eligibility_exclude: list[str]
    generated_at: str
    prisma: dict[str, Any]
    prisma_problems: list[str]
    studies: list[StudyInfo]
    rob: list[RobOutcome]
    analyses: list[OutcomeAnalysis]
    history: dict[str, list[RunInfo]]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Section summary for ``lsr report --json`` (what each section holds)."""
        p = self.prisma
        return {
            "title": self.title,
            "generated_at": self.generated_at,
            "prisma": {
                "identified": p.get("database_results", 0) + p.get("register_results", 0),
                "records_screened": p.get("records_screened"),
                "reports_included": p.get("total_reports"),
                "studies_included": p.get("total_studies"),
            },
            "studies": len(self.studies),
            "rob": {r.outcome: len(r.rows) for r in self.rob},
            "analyses": {
                a.name: {
                    "source": a.source,
                    "engine": a.result.engine if a.result else None,
                    "converged": a.converged if a.result else None,
                    "stale": a.stale,
                    "n_studies": a.n_studies,
                    "run_version": a.run.version if a.run else None,
                }
                for a in self.analyses
            },
            "history": {k: len(v) for k, v in self.history.items()},
            "notes": self.notes,
        }


# --- stored JSON ------------------------------------------------------------


def is_bayesian(res: NMAResult) -> bool:
    """Whether a result comes from the Bayesian engine (it reports MCMC diagnostics)."""
    return "frequentist" not in res.engine.casefold()


# --- sections --------------------------------------------------------------------------------


def _studies(engine: Engine, protocol: Protocol) -> list[StudyInfo]:
    """The characteristics table: studies with a primary report, in the store's order."""
    analysed: dict[str, set[str]] = defaultdict(set)
    descriptive: dict[str, set[str]] = defaultdict(set)
    for o in protocol.outcomes:
        data = analysis_data(engine=engine, protocol=protocol, outcome=o.name)
        for rows in data.rows.values():
            for r in rows:
                analysed[r["study_label"]].add(o.name)
        for d in data.descriptive:
            descriptive[d["study"]].add(o.name)
    order = {o.name: i for i, o in enumerate(protocol.outcomes)}

    def ordered(names: set[str]) -> list[str]:
        return sorted(names, key=lambda n: order.get(n, len(order)))

    arm_n = _arm_sizes(engine)
    out: list[StudyInfo] = []
    with Session(engine) as session:
        extra = {
            int(r.id or 0): r
            for r in session.scalars(select(ExtractionReport).order_by(col(ExtractionReport.id)))
        }
    for st in list_studies(engine=engine):
        reps = [
            ReportRef(
                label=r["label"],
                role=r["role"],
                relation=r["relation"],
                registry_id=r["registry_id"],
                pmid=r["pmid"],
                doi=r["doi"],
                first_author=extra[r["id"]].first_author if r["id"] in extra else None,
                year=extra[r["id"]].year if r["id"] in extra else None,
            )
            for r in st["reports"]
        ]
        primary = next((r for r in reps if r.role == "primary"), None)
        prim_id = next((r["id"] for r in st["reports"] if r["role"] == "primary"), None)
        arms = [ArmInfo(t, n) for t, n in arm_n.get(prim_id, [])] if prim_id else []
        label = st["label"]
        out.append(
            StudyInfo(
                id=int(st["id"]),
                label=label,
                registry_id=st["registry_id"],
                year=primary.year if primary else None,
                first_author=primary.first_author if primary else None,
                arms=arms,
                analysed=ordered(analysed[label]),
                descriptive=ordered(descriptive[label] - analysed[label]),
                primary=primary,
                secondary=[r for r in reps if r.role != "primary"],
            )
        )
    return out


def _arm_sizes(engine: Engine) -> dict[int, list[tuple[str, int | None]]]:
    """Report id -> (treatment, final randomised n) for each arm, in arm order.

    The latest ``final`` version of each arm's design value counts (values are append-only).
    """
    out: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    with Session(engine) as session:
        finals: dict[int, int] = {}
        for arm_id, values in session.execute(
            select(col(Extraction.arm_id), col(Extraction.values))
            .where(col(Extraction.kind) == "arm", col(Extraction.status) == "final")
            .order_by(col(Extraction.id))
        ):
            if arm_id is not None and isinstance(values, dict) and values.get("n") is not None:
                finals[int(arm_id)] = int(values["n"])
        for arm in session.scalars(select(StudyArm).order_by(col(StudyArm.id))):
            out[arm.report_id].append((arm.treatment, finals.get(int(arm.id or 0))))
    return dict(out)


def _fit_now(out: Outcome, net: Network, protocol: Protocol) -> NMAResult:
    """The instant frequentist estimate of the current data (protocol's model)."""
    from living_review.nma.frequentist import fit_frequentist

    model = protocol.nma.model if protocol.nma else "re"
    return fit_frequentist(net, model=model, higher_is_better=not out.lower_is_better)


def _analysis(ws: Workspace, out: Outcome) -> OutcomeAnalysis:
    """The outcome's NMA: the latest stored run, else a frequentist fit made now."""
    from living_review.report import living_source

    protocol = ws.protocol
    data = analysis_data(engine=ws.engine, protocol=protocol, outcome=out.name)
    base = OutcomeAnalysis(
        name=out.name,
        label=out.label,
        measure=out.measure,
        lower_is_better=out.lower_is_better,
        source="no_data",
        message="",
        n_studies=data.n_studies,
        not_analysed=data.not_analysed,
        n_descriptive=len(data.descriptive),
        warnings=list(dict.fromkeys(data.warnings)),
    )
    net: Network | None = None
    if data.rows:
        try:
            net = network_for(data, protocol)
        except LsrError as exc:
            base.message = f"the current data do not form a network: {exc}"
    stored = living_source.latest(ws, out.name)
    if stored is not None:
        base.source = "stored"
        base.result = stored.result
        base.run = stored.run
        base.stale, base.stale_reason = stored.stale, stored.stale_reason
        base.nodesplit = stored.nodesplit
        base.n_studies = len(stored.run.studies)
        base.network = living_source.run_network(net, stored.run)
        base.message = f"stored run v{stored.run.version} ({stored.result.engine})"
        if stored.other:
            base.warnings.insert(
                0,
                f"the Bayesian run did not converge; the latest frequentist run, {stored.other}, "
                "is listed in the version history",
            )
        return base
    if net is None:
        if not base.message:
            base.message = (
                f"no analysable final data ({len(data.descriptive)} descriptive values, "
                f"{len(data.pending)} pending)"
            )
        return base
    base.source = "fitted_now"
    base.result = _fit_now(out, net, protocol)
    base.network = net
    base.stale = None
    base.message = (
        "no stored analysis run: the frequentist estimate was fitted now from the current "
        "data (not a stored run)"
    )
    return base


def build_report(ws: Workspace) -> ReportData:
    """Collect the report's data from the workspace (reads only; fits only the instant NMA)."""
    from living_review.prisma import check_invariants, prisma_counts
    from living_review.report import living_source, rob_source

    protocol = ws.protocol
    counts = prisma_counts(engine=ws.engine, protocol=protocol)
    q = protocol.question
    question = {
        "Population": q.population,
        "Intervention": q.intervention,
        "Comparator": q.comparator,
        "Outcomes": q.outcomes,
        "Study design": q.study_design,
    }
    if q.setting:
        question["Setting"] = q.setting
    notes: list[str] = []
    rob = rob_source.rob_by_outcome(ws)
    history = {o.name: living_source.history(ws, o.name) for o in protocol.outcomes}
    return ReportData(
        title=protocol.review.title,
        short_name=protocol.review.short_name,
        registration=protocol.review.registration,
        living=protocol.review.living,
        question=question,
        eligibility_include=list(protocol.eligibility.include),
        eligibility_exclude=list(protocol.eligibility.exclude),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        prisma=counts,
        prisma_problems=check_invariants(counts),
        studies=_studies(ws.engine, protocol),
        rob=rob,
        analyses=[_analysis(ws, o) for o in protocol.outcomes],
        history=history,
        notes=notes,
    )

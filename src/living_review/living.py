"""Provides the living loop: what each outcome's analysis rests on, versioned runs, their diffs.

Why this exists: a reviewer who includes a new trial should see at once how the conclusions
moved. So every fit of an outcome's NMA is stored as an immutable :class:`AnalysisRun`
snapshot (the exact study set, a hash of the exact rows analysed, the settings, the seed,
diagnostics and the full result), and consecutive runs are compared by :func:`diff_runs`.

**Staleness is derived, never stored.** :func:`current_input` computes what a fit of the
outcome would analyse *now*; :func:`staleness` compares it with the latest run's hashes. So any
event that changes the input marks the outcome stale without anyone having to set a flag:

* the analysis set changes (a study included or excluded at full text, a report linked to or
  unlinked from a study, a study's first final data) -> ``+STUDY`` / ``-STUDY``;
* a study's final extraction values change (a new final version, a resolution) ->
  ``data of STUDY changed`` (per-study hashes; notes and sources are not data);
* the protocol's NMA settings (model, reference, priors, sampler settings, seed, ranking
  direction) change -> ``settings changed``.

**Analysis set rule.** A study with final analysable data for the outcome (its primary report;
see :func:`living_review.extraction.service.analysis_data`) is analysed, *unless* reports
(screened records) are linked to it and none of them is included at full text (final state,
after agreement or resolution): then it is out until one is included, and a study excluded at
full text leaves the set. A study whose data were entered without any screened record (the
example's verified trial data) is in the set: its data are the evidence that it was eligible.

**RoB 2 sensitivity.** With ``[nma] exclude_rob`` set in the protocol (e.g. ``["high"]``), a
study whose final (consensus) overall RoB 2 judgement for the outcome is listed leaves the set,
and the setting enters the settings hash. So a changed setting, or a consensus judgement that
moves a study across the line, makes the outcome stale like any other change of the set.

Runs are numbered per (outcome, engine): the frequentist estimate and the Bayesian fit of one
change are "v3" of their engine each, and a diff always compares runs of one engine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from living_review.errors import LsrError, NotFoundError
from living_review.workspace import Workspace

if TYPE_CHECKING:
    from living_review.extraction.service import AnalysisData
    from living_review.nma.result import NMAResult

ENGINES = ("bayes", "frequentist")

#: Progress callback: (stage message, fraction done 0..1).
Progress = Callable[[str, float], None]

#: Row keys that are provenance, not data: a corrected source reference or a new version with
#: the same numbers does not change the analysis, so it does not make the outcome stale.
_NOT_DATA = frozenset({"extraction_id", "source", "study"})

#: Effect measures analysed on the log scale (reported as ratios; the null is 1).
_RATIO_MEASURES = frozenset({"HR", "OR", "RR"})

#: z for "beyond Monte Carlo noise": a SUCRA or tau change counts when it exceeds
#: Z_NOISE * sqrt(mcse_prev^2 + mcse_cur^2) (and MIN_CHANGE, the printed precision).
Z_NOISE = 2.0
MIN_CHANGE = 0.005


class LivingError(LsrError):
    """A living-loop request that cannot be met (unknown outcome, run, engine)."""


# --------------------------------------------------------------------------- input
@dataclass(frozen=True)
class AnalysisInput:
    """What a fit of ``outcome`` analyses now: its studies, a hash of its rows, its settings.

    ``data_hash`` is the SHA-256 of a canonical JSON of the exact rows analysed (sorted, keys
    sorted, provenance keys dropped); ``study_hashes`` the same per study, so a change can be
    named. ``settings`` are engine-independent (the engine is recorded on the run).
    """

    outcome: str
    studies: tuple[str, ...]
    data_hash: str
    settings: dict[str, Any]
    settings_hash: str
    study_hashes: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    """Studies with data left out of the set, and why (e.g. "excluded at full text")."""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj).encode("utf-8")).hexdigest()


def _open(ws: Workspace | Path | str) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace(Path(ws))


def _outcome(ws: Workspace, outcome: str | None) -> Any:
    protocol = ws.protocol
    chosen = outcome or next((o.name for o in protocol.outcomes if o.primary), None)
    out = protocol.outcome(chosen or "")
    if out is None:
        names = ", ".join(o.name for o in protocol.outcomes)
        raise LivingError(f"unknown outcome {chosen!r} (the protocol's outcomes: {names})")
    return out


def settings_for(ws: Workspace, outcome: str) -> dict[str, Any]:
    """The protocol's NMA settings for ``outcome`` (what the settings hash covers)."""
    out = _outcome(ws, outcome)
    nma = ws.protocol.nma
    settings: dict[str, Any] = {
        "measure": out.measure,
        "lower_is_better": out.lower_is_better,
        "reference": nma.reference if nma else None,
        "model": nma.model if nma else "re",
        "priors": {
            "d_sd": nma.d_prior_sd if nma else 100.0,
            "tau": "half-normal" if nma and nma.tau_prior == "half_normal" else "uniform",
            "tau_max": nma.tau_max if nma else 5.0,
        },
        "chains": nma.chains if nma else 4,
        "tune": nma.tune if nma else 1000,
        "draws": nma.draws if nma else 1000,
        "seed": nma.seed if nma else 20251,
        "sampler": nma.sampler if nma else "auto",
        "tau_method": "reml",
    }
    if nma and nma.exclude_rob:  # only when set: runs without it keep their settings hash
        settings["exclude_rob"] = sorted(nma.exclude_rob)
    return settings


def _rob_dropped(ws: Workspace, outcome: str) -> tuple[dict[int, str], set[int] | None]:
    """(study id -> why the RoB 2 sensitivity setting leaves it out, ids with a judgement;
    None when the setting is off)."""
    nma = ws.protocol.nma
    if nma is None or not nma.exclude_rob:
        return {}, None
    from living_review.rob2.service import final_judgments

    finals = final_judgments(ws.engine, outcome)
    dropped = {
        f.study_id: f"RoB 2 overall judgement {f.overall!r} (left out by [nma] exclude_rob)"
        for f in finals
        if f.overall in nma.exclude_rob
    }
    return dropped, {f.study_id for f in finals}


def _set_exclusions(session: Session, ws: Workspace) -> dict[int, str]:
    """Study id -> why it is out of the analysis set (see the module's rule)."""
    from living_review.screening.conflicts import load_stage, stage_states
    from living_review.store.models import Report

    linked: dict[int, list[int]] = {}
    for rid, sid in session.execute(
        select(col(Report.record_id), col(Report.study_id)).where(col(Report.study_id).is_not(None))
    ):
        linked.setdefault(int(sid), []).append(int(rid))
    if not linked:
        return {}
    ids = [r for rs in linked.values() for r in rs]
    states = stage_states(
        load_stage(session, "ft", record_ids=ids),
        stage="ft",
        maybe_is_conflict=ws.protocol.screening.maybe_is_conflict,
    )
    out: dict[int, str] = {}
    for sid, rids in linked.items():
        status = [states[r].status if r in states else "pending" for r in rids]
        if "include" in status:
            continue
        out[sid] = (
            "excluded at full text"
            if status and all(s == "exclude" for s in status)
            else "not yet included at full text"
        )
    return out


def _prepare(ws: Workspace, outcome: str) -> tuple[AnalysisInput, AnalysisData]:
    """The input of a fit now, and the (filtered) analysis data it is computed from."""
    from living_review.extraction.service import AnalysisData, analysis_data

    out = _outcome(ws, outcome)
    data = analysis_data(engine=ws.engine, protocol=ws.protocol, outcome=out.name)
    with Session(ws.engine) as session:
        excl_ids = _set_exclusions(session, ws)
    dropped_by_rob, judged = _rob_dropped(ws, out.name)
    unjudged: set[str] = set()
    rows: dict[str, list[dict[str, Any]]] = {}
    per_study: dict[str, list[Any]] = {}
    excluded: dict[str, str] = {}
    for fmt in sorted(data.rows):
        kept = []
        for r in data.rows[fmt]:
            label = str(r["study_label"])
            sid = int(r["study"])
            if sid in excl_ids:
                excluded[label] = excl_ids[sid]
                continue
            if sid in dropped_by_rob:
                excluded[label] = dropped_by_rob[sid]
                continue
            if judged is not None and sid not in judged:
                unjudged.add(label)
            kept.append(r)
            per_study.setdefault(label, []).append(
                [fmt, {k: v for k, v in r.items() if k not in _NOT_DATA}]
            )
        if kept:
            rows[fmt] = kept
    study_hashes = {s: _sha(sorted(v, key=_canonical)) for s, v in sorted(per_study.items())}
    settings = settings_for(ws, out.name)
    inp = AnalysisInput(
        outcome=out.name,
        studies=tuple(sorted(per_study)),
        data_hash=_sha(sorted(study_hashes.items())),
        settings=settings,
        settings_hash=_sha(settings),
        study_hashes=study_hashes,
        excluded=dict(sorted(excluded.items())),
    )
    filtered = AnalysisData(
        data.outcome,
        data.measure,
        rows,
        data.descriptive,
        data.not_analysed,
        data.pending,
        [*data.warnings, *_unjudged_warnings(unjudged, per_study)],
    )
    return inp, filtered


def _unjudged_warnings(unjudged: set[str], kept: Mapping[str, Any]) -> list[str]:
    """A warning naming the analysed studies the RoB 2 sensitivity setting could not judge."""
    names = sorted(unjudged & set(kept))
    if not names:
        return []
    return [
        f"RoB 2 sensitivity: {len(names)} analysed stud{'y has' if len(names) == 1 else 'ies have'}"
        f" no final RoB 2 judgement for this outcome and stay in: {', '.join(names)}"
    ]


def current_input(ws: Workspace | Path, outcome: str) -> AnalysisInput:
    """What a fit of ``outcome`` would analyse now (the analysis set, data and settings)."""
    return _prepare(_open(ws), outcome)[0]


# --------------------------------------------------------------------------- runs
@dataclass
class RunRecord:
    """One stored, immutable analysis run (a row of ``analysis_run``).

    ``result`` is the JSON object ``lsr nma fit --json`` prints (the ``NMAResult`` JSON plus
    ``outcome``, ``not_analysed``, ``descriptive``, ``pending``, ``warnings`` and, for Bayesian
    runs, ``sucra_mcse``); :meth:`nma_result` rebuilds an :class:`NMAResult` from it (without
    the posterior draws, which are not stored). ``version`` counts 1..n per (outcome, engine).
    """

    id: int
    outcome: str
    version: int
    engine: str
    created_at: datetime
    trigger: str
    studies: list[str]
    data_hash: str
    settings: dict[str, Any]
    seed: int | None
    converged: bool
    diagnostics: dict[str, Any]
    result: dict[str, Any]
    predecessor_id: int | None
    settings_hash: str = ""
    study_hashes: dict[str, str] = field(default_factory=dict)
    actor: str | None = None

    def nma_result(self) -> NMAResult:
        """Rebuild the :class:`NMAResult` (no draws: ``draws_d`` is None)."""
        return result_from_json(self.result)

    def as_json(self) -> dict[str, Any]:
        """The run as plain data (``lsr nma show --json`` / ``history --json``)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        return out

    def label(self) -> str:
        """``OS v3 (bayes)``."""
        return f"{self.outcome} v{self.version} ({self.engine})"


def result_from_json(obj: Mapping[str, Any]) -> NMAResult:
    """Rebuild an :class:`NMAResult` from its ``as_json`` object (the inverse, minus draws)."""
    from living_review.nma.result import LeagueEntry, NMAResult, RankEntry, Summary

    summ = Summary.from_json

    known = {
        "engine", "model", "status", "converged", "measure", "scale", "reference", "treatments",
        "ranking_direction", "relative_effects", "tau", "sucra", "ranking_method", "ranking",
        "league_table", "diagnostics", "dic", "network", "timing_seconds",
    }  # fmt: skip
    ranking = [
        RankEntry(
            treatment=t,
            sucra=r["sucra"],
            mean_rank=r["mean_rank"],
            p_best=r.get("p_best"),
            rank_probabilities=None
            if r.get("rank_probabilities") is None
            else tuple(r["rank_probabilities"]),
        )
        for t, r in obj["ranking"].items()
    ]
    return NMAResult(
        engine=obj["engine"],
        model=obj["model"],
        measure=obj["measure"],
        log_scale=str(obj.get("scale", "")).startswith("log "),
        treatments=tuple(obj["treatments"]),
        higher_is_better=obj["ranking_direction"] == "higher is better",
        relative_effects={t: summ(s) for t, s in obj["relative_effects"].items()},
        league_table=[
            LeagueEntry(e["treatment"], e["comparator"], summ(e)) for e in obj["league_table"]
        ],
        ranking=ranking,
        ranking_method=obj["ranking_method"],
        tau=None if obj.get("tau") is None else summ(obj["tau"]),
        diagnostics=dict(obj["diagnostics"]),
        converged=bool(obj["converged"]),
        model_fit=obj.get("dic"),
        extra={k: v for k, v in obj.items() if k not in known},
        network=dict(obj.get("network") or {}),
        timing_seconds=dict(obj.get("timing_seconds") or {}),
    )


def _record(row: Any) -> RunRecord:
    created = row.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return RunRecord(
        id=int(row.id),
        outcome=row.outcome,
        version=row.version,
        engine=row.engine,
        created_at=created,
        trigger=row.trigger,
        studies=list(row.studies),
        data_hash=row.data_hash,
        settings=dict(row.settings),
        seed=row.seed,
        converged=bool(row.converged),
        diagnostics=dict(row.diagnostics),
        result=dict(row.result),
        predecessor_id=row.predecessor_id,
        settings_hash=row.settings_hash,
        study_hashes=dict(row.study_hashes),
        actor=row.actor,
    )


def history(ws: Workspace | Path, outcome: str | None = None) -> list[RunRecord]:
    """Every stored run (of ``outcome``, or all), oldest first."""
    from living_review.store.models import AnalysisRun

    w = _open(ws)
    query = select(AnalysisRun).order_by(col(AnalysisRun.id))
    if outcome is not None:
        query = query.where(col(AnalysisRun.outcome) == _outcome(w, outcome).name)
    with Session(w.engine) as session:
        return [_record(r) for r in session.scalars(query)]


def get_run(ws: Workspace | Path, run_id: int) -> RunRecord:
    """The run with id ``run_id`` (NotFoundError if there is none)."""
    from living_review.store.models import AnalysisRun

    with Session(_open(ws).engine) as session:
        row = session.get(AnalysisRun, run_id)
        if row is None:
            raise NotFoundError(f"no analysis run with id {run_id}")
        return _record(row)


def latest_run(ws: Workspace | Path, outcome: str, engine: str | None = None) -> RunRecord | None:
    """The newest run of ``outcome`` (of ``engine``, or of any engine), if any."""
    from living_review.store.models import AnalysisRun

    w = _open(ws)
    query = (
        select(AnalysisRun)
        .where(col(AnalysisRun.outcome) == _outcome(w, outcome).name)
        .order_by(col(AnalysisRun.id).desc())
        .limit(1)
    )
    if engine is not None:
        query = query.where(col(AnalysisRun.engine) == _engine(engine))
    with Session(w.engine) as session:
        row = session.scalars(query).first()
        return None if row is None else _record(row)


def _engine(engine: str) -> str:
    if engine not in ENGINES:
        raise LivingError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


# --------------------------------------------------------------------------- staleness
@dataclass
class Staleness:
    """Whether ``outcome``'s latest run (of an engine) still matches its input, and why not."""

    outcome: str
    stale: bool
    reasons: list[str]
    latest_run_id: int | None
    engine: str = "bayes"
    has_data: bool = True
    latest_converged: bool | None = None
    """Whether the latest run converged (None: no run). A non-converged run whose input still
    matches is not stale (refitting the same input and seed gives the same run); it is a
    reason to change the sampler settings, which then makes the outcome stale."""

    def as_json(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def compare_input(inp: AnalysisInput, run: RunRecord | None) -> list[str]:
    """Why ``run`` no longer matches ``inp`` (empty: it does)."""
    if run is None:
        return ["no run yet"]
    reasons: list[str] = []
    prev = set(run.studies)
    cur = set(inp.studies)
    reasons += [f"+{s}" for s in sorted(cur - prev)]
    reasons += [
        f"-{s}" + (f" ({inp.excluded[s]})" if s in inp.excluded else "") for s in sorted(prev - cur)
    ]
    for s in sorted(cur & prev):
        if run.study_hashes.get(s) != inp.study_hashes.get(s):
            reasons.append(f"data of {s} changed")
    if inp.data_hash != run.data_hash and not reasons:
        reasons.append("data changed")
    if inp.settings_hash != run.settings_hash:
        reasons.append("settings changed")
    return reasons


def staleness(ws: Workspace | Path, outcome: str, *, engine: str = "bayes") -> Staleness:
    """Compare the outcome's current input with its latest ``engine`` run (derived, not stored).

    An outcome with no analysable data is not stale (there is nothing to fit); ``has_data``
    says so.
    """
    w = _open(ws)
    inp = current_input(w, outcome)
    run = latest_run(w, inp.outcome, engine)
    rid = run.id if run else None
    conv = run.converged if run else None
    if not inp.studies:
        return Staleness(inp.outcome, False, ["no analysable data"], rid, engine, False, conv)
    reasons = compare_input(inp, run)
    return Staleness(inp.outcome, bool(reasons), reasons, rid, engine, True, conv)


def stale_outcomes(ws: Workspace | Path, *, engine: str = "bayes") -> list[Staleness]:
    """Staleness of every protocol outcome that has analysable data (NMA-eligible)."""
    w = _open(ws)
    out = [staleness(w, o.name, engine=engine) for o in w.protocol.outcomes]
    return [s for s in out if s.has_data]


# --------------------------------------------------------------------------- fitting
def _fit(
    ws: Workspace, data: AnalysisData, settings: Mapping[str, Any], engine: str
) -> tuple[Any, NMAResult]:
    from living_review.extraction.service import network_for

    net = network_for(data, ws.protocol)
    if engine == "frequentist":
        from living_review.nma.frequentist import fit_frequentist

        res = fit_frequentist(
            net, model=settings["model"], higher_is_better=not settings["lower_is_better"]
        )
        return net, res
    from living_review.nma.bayes import fit_bayes
    from living_review.nma.spec import FitSpec, Priors

    pri = settings["priors"]
    spec = FitSpec(
        model=settings["model"],
        priors=Priors(
            d_sd=pri["d_sd"],
            tau=pri["tau"],
            tau_upper=pri["tau_max"],
            tau_scale=pri["tau_max"],
        ),
        chains=settings["chains"],
        tune=settings["tune"],
        draws=settings["draws"],
        seed=settings["seed"],
        sampler=settings["sampler"],
        higher_is_better=not settings["lower_is_better"],
    )
    return net, fit_bayes(net, spec)


def sucra_mcse(res: NMAResult, chains: int) -> dict[str, float]:
    """Monte Carlo SE of each SUCRA, from the draws.

    SUCRA is the posterior mean of the per-draw scaled rank ``(K - rank) / (K - 1)``, so its
    MCSE is that quantity's MCSE (ArviZ, using the chain structure: draws are pooled chain
    after chain). Empty for the frequentist engine (P-scores are exact).
    """
    import numpy as np

    d = res.draws_d
    if d is None or d.shape[1] < 2:
        return {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    k = d.shape[1]
    z = -d if res.higher_is_better else d
    ranks = np.argsort(np.argsort(z, axis=1), axis=1) + 1
    scaled = (k - ranks) / (k - 1)
    n = d.shape[0] - d.shape[0] % chains
    out = {}
    for j, t in enumerate(res.treatments):
        x = scaled[:n, j].reshape(chains, -1).astype(float)
        out[t] = 0.0 if np.ptp(x) == 0 else float(np.ravel(az.mcse(x))[0])
    return out


def _nodesplit_json(net: Any, res: NMAResult, settings: Mapping[str, Any]) -> list[Any] | None:
    """The instant frequentist node-split (for "new inconsistency"); None if not possible."""
    from living_review.nma.nodesplit import nodesplit_frequentist

    try:
        splits = nodesplit_frequentist(net, model=settings["model"])
    except (LsrError, ValueError, ArithmeticError):
        return None
    return [s.as_json(log_scale=res.log_scale) for s in splits]


def _json_safe(obj: Any) -> Any:
    """Plain JSON data: numpy values as lists/numbers, NaN and infinities as null (PostgreSQL's
    JSON type rejects the ``NaN`` token that Python's json module writes)."""

    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(json.loads(json.dumps(obj, default=default, allow_nan=True)))


def fit_and_record(
    ws: Workspace | Path,
    outcome: str,
    *,
    engine: str = "bayes",
    trigger: str = "manual",
    progress: Progress | None = None,
    overrides: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> RunRecord:
    """Fit ``outcome``'s NMA on its current input and store the run (append-only).

    Callable from a child process with picklable arguments only (``ws`` may be the workspace
    path). ``overrides`` replace settings for this run (e.g. fewer draws in tests); they are
    recorded, so such a run's settings hash differs from the protocol's. A Bayesian run that
    fails the convergence checks is stored with ``converged=False`` and its diagnostics.
    """
    return fit_and_record_full(
        ws,
        outcome,
        engine=engine,
        trigger=trigger,
        progress=progress,
        overrides=overrides,
        actor=actor,
    )[0]


def fit_and_record_full(
    ws: Workspace | Path,
    outcome: str,
    *,
    engine: str = "bayes",
    trigger: str = "manual",
    progress: Progress | None = None,
    overrides: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> tuple[RunRecord, Any, NMAResult]:
    """As :func:`fit_and_record`, also returning the network and the in-memory result (with
    its draws), for callers that plot them in the same process (``lsr nma fit --plots``)."""
    w = _open(ws)
    _engine(engine)
    report = progress or (lambda _msg, _frac: None)
    report("reading the analysis data", 0.0)
    inp, data = _prepare(w, outcome)
    if not inp.studies:
        raise LivingError(f"{inp.outcome}: no analysable final data in the analysis set")
    settings = dict(inp.settings)
    settings_hash = inp.settings_hash
    if overrides:
        settings.update(overrides)
        settings_hash = _sha(settings)
    report(f"fitting {inp.outcome} ({engine})", 0.1)
    net, res = _fit(w, data, settings, engine)
    report("storing the run", 0.9)
    result = res.as_json()
    result.update(
        outcome=inp.outcome,
        not_analysed=data.not_analysed,
        descriptive=data.descriptive,
        pending=data.pending,
        warnings=data.warnings,
        analysis_set_excluded=inp.excluded,
    )
    if engine == "bayes":
        result["sucra_mcse"] = sucra_mcse(res, int(settings["chains"]))
    splits = _nodesplit_json(net, res, settings)
    if splits is not None:
        result["nodesplit_frequentist"] = splits
    rec = _store(w, inp, settings, settings_hash, engine, trigger, res, _json_safe(result), actor)
    report("done", 1.0)
    return rec, net, res


def _store(
    ws: Workspace,
    inp: AnalysisInput,
    settings: dict[str, Any],
    settings_hash: str,
    engine: str,
    trigger: str,
    res: NMAResult,
    result: dict[str, Any],
    actor: str | None,
) -> RunRecord:
    """Insert the run in one transaction, numbered after its predecessor, with an audit line."""
    from sqlalchemy.exc import IntegrityError

    from living_review.store.engine import write_session
    from living_review.store.models import AnalysisRun, AuditEvent

    for _attempt in range(3):  # two writers numbering one outcome: retry on the unique key
        try:
            with write_session(ws.engine) as session:
                prev = session.scalars(
                    select(AnalysisRun)
                    .where(
                        col(AnalysisRun.outcome) == inp.outcome,
                        col(AnalysisRun.engine) == engine,
                    )
                    .order_by(col(AnalysisRun.version).desc())
                    .limit(1)
                ).first()
                row = AnalysisRun(
                    outcome=inp.outcome,
                    version=(prev.version + 1) if prev else 1,
                    engine=engine,
                    trigger=trigger,
                    actor=actor,
                    studies=list(inp.studies),
                    study_hashes=dict(inp.study_hashes),
                    data_hash=inp.data_hash,
                    settings=settings,
                    settings_hash=settings_hash,
                    seed=int(settings["seed"]) if engine == "bayes" else None,
                    converged=bool(res.converged),
                    diagnostics=_json_safe(res.diagnostics),
                    result=result,
                    predecessor_id=prev.id if prev else None,
                )
                session.add(row)
                session.flush()
                session.add(
                    AuditEvent(
                        actor=actor,
                        action="analysis_run",
                        entity="analysis_run",
                        entity_id=str(row.id),
                        detail={
                            "outcome": inp.outcome,
                            "engine": engine,
                            "version": row.version,
                            "trigger": trigger,
                            "converged": bool(res.converged),
                        },
                    )
                )
                session.flush()
                return _record(row)
        except IntegrityError:
            continue
    raise LivingError(f"{inp.outcome}: could not number the new run (concurrent writers)")


# --------------------------------------------------------------------------- diff
@dataclass
class EffectChange:
    """One treatment vs the reference, before and after (natural scale for log measures).

    ``prev``/``cur`` are ``{"estimate", "lower", "upper"}`` (or None: treatment new or gone);
    ``flag`` is "now excludes the null", "now includes the null", "new treatment",
    "treatment removed" or None.
    """

    treatment: str
    prev: dict[str, float] | None
    cur: dict[str, float] | None
    excludes_null_prev: bool | None
    excludes_null_cur: bool | None
    flag: str | None

    def text(self, measure: str, reference: str) -> str:
        """``pembrolizumab vs placebo HR 0.78 [0.66, 0.92] → 0.78 [0.69, 0.89]``.

        A limit that would print as the null (1.00 for ratios, 0.00 for differences) without
        being it gets a third decimal, so "excludes the null" never reads as [0.62, 1.00].
        """
        null = 1.0 if measure.upper() in _RATIO_MEASURES else 0.0

        def lim(x: float) -> str:
            return f"{x:.3f}" if round(x, 2) == null and x != null else f"{x:.2f}"

        def f(e: dict[str, float] | None) -> str:
            if e is None:
                return "—"
            return f"{e['estimate']:.2f} [{lim(e['lower'])}, {lim(e['upper'])}]"

        out = f"{self.treatment} vs {reference} {measure} {f(self.prev)} → {f(self.cur)}"
        return out + (f" ({self.flag})" if self.flag else "")


@dataclass
class RankChange:
    """SUCRA (or P-score) and rank (1 = best, by SUCRA) of one treatment, before and after.

    ``beyond_noise``: the SUCRA change exceeds ``max(Z_NOISE * sqrt(mcse_prev^2 +
    mcse_cur^2), MIN_CHANGE)``; a rank change is reported only then.
    """

    treatment: str
    sucra_prev: float | None
    sucra_cur: float | None
    rank_prev: int | None
    rank_cur: int | None
    beyond_noise: bool
    noise: float


@dataclass
class ConclusionsDiff:
    """How the conclusions of ``cur`` differ from those of ``prev`` (same outcome, engine).

    ``reportable`` is False when ``cur`` did not converge: its estimates are then not
    conclusions, and :meth:`summary` says so instead of listing them.
    """

    outcome: str
    engine: str
    version: int
    run_id: int
    prev_run_id: int | None
    prev_version: int | None
    measure: str
    reference: str
    reportable: bool
    converged: bool
    messages: list[str]
    studies_added: list[str]
    studies_removed: list[str]
    studies_changed: list[str]
    settings_changed: bool
    effects: list[EffectChange]
    ranks: list[RankChange]
    ranks_changed: bool
    tau: dict[str, Any] | None
    new_inconsistency: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """Plain data (``lsr nma diff --json``)."""
        return asdict(self)

    def summary(self) -> str:
        """One readable paragraph, e.g. ``v4, +KEYNOTE-394: pembrolizumab vs placebo OS HR
        0.78 [0.66, 0.92] → 0.78 [0.69, 0.89]; ranks unchanged``."""
        head = [f"{self.outcome} v{self.version} ({self.engine})"]
        head += [f"+{s}" for s in self.studies_added]
        head += [f"-{s}" for s in self.studies_removed]
        head += [f"data of {s} changed" for s in self.studies_changed]
        if self.settings_changed:
            head.append("settings changed")
        first = ", ".join(head)
        if not self.reportable:
            why = "; ".join(self.messages) or "diagnostics failed"
            return f"{first}: NOT CONVERGED ({why}); not reported as a conclusion" + (
                f" (the conclusions stand as of v{self.prev_version})" if self.prev_run_id else ""
            )
        if self.prev_run_id is None:
            parts = [
                e.text(self.measure, self.reference).replace("— → ", "")
                for e in self.effects
                if e.cur is not None
            ]
            what = "first run" if self.version == 1 else "no earlier converged run"
            return (
                f"{first} ({what}): "
                + "; ".join(parts[:4])
                + (f"; and {len(parts) - 4} more" if len(parts) > 4 else "")
            )
        parts = [e.text(self.measure, self.reference) for e in self._shown_effects()]
        if not parts:
            parts.append("estimates unchanged")
        moved = [r for r in self.ranks if r.beyond_noise and r.rank_prev != r.rank_cur]
        if moved:
            parts.append(
                "ranks: "
                + ", ".join(
                    f"{r.treatment} {r.rank_prev or '—'}→{r.rank_cur or '—'}" for r in moved
                )
            )
        else:
            parts.append("ranks unchanged")
        if self.tau and self.tau.get("changed"):
            parts.append(f"tau {self.tau['prev']:.3f} → {self.tau['cur']:.3f}")
        for nc in self.new_inconsistency:
            parts.append(f"new inconsistency: {nc['comparison']} (p = {nc['p']:.3f})")
        return f"{first}: " + "; ".join(parts)

    def _shown_effects(self) -> list[EffectChange]:
        """Flagged effects first, then those whose printed numbers changed (at most 4)."""

        def shown(e: dict[str, float] | None) -> tuple[str, ...] | None:
            return (
                None if e is None else tuple(f"{e[k]:.2f}" for k in ("estimate", "lower", "upper"))
            )

        flagged = [e for e in self.effects if e.flag]
        moved = [e for e in self.effects if not e.flag and shown(e.prev) != shown(e.cur)]
        return (flagged + moved)[:4]


def _effect(res: Mapping[str, Any], t: str) -> dict[str, float] | None:
    s = res.get("relative_effects", {}).get(t)
    if s is None:
        return None
    nat = s.get("natural")
    if nat:
        return {"estimate": nat["median"], "lower": nat["q2.5"], "upper": nat["q97.5"]}
    mid = s.get("q50") if s.get("q50") is not None else s["mean"]
    return {"estimate": mid, "lower": s["q2.5"], "upper": s["q97.5"]}


def _excludes_null(res: Mapping[str, Any], t: str) -> bool | None:
    s = res.get("relative_effects", {}).get(t)
    if s is None or s.get("q2.5") is None:
        return None
    return bool(s["q2.5"] > 0 or s["q97.5"] < 0)


def _rank_order(sucra: Mapping[str, float]) -> dict[str, int]:
    order = sorted(sucra, key=lambda t: (-sucra[t], t))
    return {t: i + 1 for i, t in enumerate(order)}


def _effects(prev: Mapping[str, Any] | None, cur: Mapping[str, Any]) -> list[EffectChange]:
    trts = list(cur.get("relative_effects", {}))
    if prev:
        trts += [t for t in prev.get("relative_effects", {}) if t not in trts]
    out = []
    for t in trts:
        a = _effect(prev, t) if prev else None
        b = _effect(cur, t)
        na = _excludes_null(prev, t) if prev else None
        nb = _excludes_null(cur, t)
        flag = None
        if prev is not None and a is None:
            flag = "new treatment"
        elif b is None:
            flag = "treatment removed"
        elif na is not None and nb is not None and na != nb:
            flag = "now excludes the null" if nb else "now includes the null"
        out.append(EffectChange(t, a, b, na, nb, flag))
    return out


def _ranks(prev: Mapping[str, Any] | None, cur: Mapping[str, Any]) -> list[RankChange]:
    sa = dict(prev.get("sucra", {})) if prev else {}
    sb = dict(cur.get("sucra", {}))
    ma = dict(prev.get("sucra_mcse", {})) if prev else {}
    mb = dict(cur.get("sucra_mcse", {}))
    ra, rb = _rank_order(sa), _rank_order(sb)
    out = []
    for t in list(sb) + [t for t in sa if t not in sb]:
        noise = max(Z_NOISE * math.hypot(ma.get(t, 0.0), mb.get(t, 0.0)), MIN_CHANGE)
        a, b = sa.get(t), sb.get(t)
        beyond = a is None or b is None or abs(b - a) > noise
        out.append(RankChange(t, a, b, ra.get(t), rb.get(t), bool(prev) and beyond, noise))
    return out


def _tau(prev: Mapping[str, Any] | None, cur: Mapping[str, Any]) -> dict[str, Any] | None:
    tb = cur.get("tau")
    if tb is None:
        return None
    ta = prev.get("tau") if prev else None

    def mid(t: Mapping[str, Any]) -> float:
        return float(t["q50"] if t.get("q50") is not None else t["mean"])

    out: dict[str, Any] = {"prev": None if ta is None else mid(ta), "cur": mid(tb)}
    if ta is None:
        out["changed"] = False
        return out
    noise = max(Z_NOISE * math.hypot(ta.get("mcse") or 0.0, tb.get("mcse") or 0.0), MIN_CHANGE)
    out["noise"] = noise
    out["changed"] = abs(float(tb["mean"]) - float(ta["mean"])) > noise
    return out


def _inconsistent(res: Mapping[str, Any] | None, alpha: float = 0.05) -> dict[str, float]:
    if not res:
        return {}
    splits = res.get("nodesplit") or res.get("nodesplit_frequentist") or []
    return {
        s["comparison"]: float(s["p"])
        for s in splits
        if s.get("converged", True) and s.get("p") is not None and s["p"] < alpha
    }


def diff_runs(prev: RunRecord | None, cur: RunRecord) -> ConclusionsDiff:
    """Compare two runs of one outcome and engine (``prev`` None: ``cur`` is the first).

    Studies added/removed/changed come from the runs' study lists and per-study hashes;
    effects vs the reference with "now excludes/includes the null" flags (95% interval vs 0
    on the analysis scale); SUCRA/rank changes beyond Monte Carlo noise (see
    :class:`RankChange`); tau; comparisons whose node-split p < 0.05 that were not before.
    """
    if prev is not None and (prev.outcome, prev.engine) != (cur.outcome, cur.engine):
        raise LivingError(
            f"cannot diff {prev.label()} with {cur.label()}: compare runs of one outcome and engine"
        )
    pres = prev.result if prev is not None else None
    res = cur.result
    before = _inconsistent(pres)
    incon = [{"comparison": c, "p": p} for c, p in _inconsistent(res).items() if c not in before]
    prev_studies = set(prev.studies) if prev else set()
    cur_studies = set(cur.studies)
    changed = sorted(
        s
        for s in prev_studies & cur_studies
        if prev is not None and prev.study_hashes.get(s) != cur.study_hashes.get(s)
    )
    ranks = _ranks(pres, res)
    return ConclusionsDiff(
        outcome=cur.outcome,
        engine=cur.engine,
        version=cur.version,
        run_id=cur.id,
        prev_run_id=prev.id if prev else None,
        prev_version=prev.version if prev else None,
        measure=str(res.get("measure", "")),
        reference=str(res.get("reference", "")),
        reportable=cur.converged,
        converged=cur.converged,
        messages=list(cur.diagnostics.get("messages", [])),
        studies_added=sorted(cur_studies - prev_studies) if prev else [],
        studies_removed=sorted(prev_studies - cur_studies),
        studies_changed=changed,
        settings_changed=bool(prev and prev.settings_hash != cur.settings_hash),
        effects=_effects(pres, res),
        ranks=ranks,
        ranks_changed=any(r.beyond_noise and r.rank_prev != r.rank_cur for r in ranks),
        tau=_tau(pres, res),
        new_inconsistency=incon,
    )


def comparison_base(ws: Workspace | Path, run: RunRecord) -> RunRecord | None:
    """The run a new run's conclusions are compared with: the newest earlier converged run of
    the same outcome and engine (a non-converged run never stood as a conclusion)."""
    earlier = [
        r
        for r in history(ws, run.outcome)
        if r.engine == run.engine and r.id < run.id and r.converged
    ]
    return earlier[-1] if earlier else None


def diff_latest(ws: Workspace | Path, run: RunRecord) -> ConclusionsDiff:
    """The diff of ``run`` against its comparison base (:func:`comparison_base`)."""
    return diff_runs(comparison_base(ws, run), run)


def now() -> datetime:
    """Current UTC time (one place, so tests can reason about it)."""
    return datetime.now(UTC)

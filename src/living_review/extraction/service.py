"""Provides extraction's service functions: studies, arms, values, dual extraction, final data.

The CLI, the TUI and the example loader call these, never the tables directly.

* A *study* is one trial (:class:`~living_review.store.models.Study`, shared with screening).
  Its numbers come from *reports* (:class:`~living_review.store.models.ExtractionReport`): one
  ``primary`` report (the analysis unit) and any ``subgroup`` / ``overlap`` reports, which are
  attached to the parent study and never read by an analysis, so a country cohort or subgroup
  cannot be counted as another trial.
* Values are append-only versions (:class:`~living_review.store.models.Extraction`). Two
  extractors enter drafts independently; :func:`compare` lists where their current values
  differ; a resolver writes the ``final`` version (:func:`resolve`), which is what
  :func:`analysis_data` hands to the NMA. Nothing is ever updated or deleted.
* Two *studies* citing one registry id are allowed (the store cannot know whether the second is
  another trial) but always reported by :func:`registry_warnings`, since it usually means a
  secondary report entered as if it were a trial.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.extraction.validate import (
    ANALYSED_KINDS,
    ARM_KINDS,
    CONTRAST_KINDS,
    OUTCOME_KINDS,
    ExtractionError,
    Issue,
    arm_sd,
    check_arm_sizes,
    check_treatment,
    check_value,
    contrast_te_se,
    normalise_values,
    raise_errors,
)
from living_review.protocol import Protocol
from living_review.screening.fulltext import normalise_registry_id
from living_review.store.engine import write_session
from living_review.store.models import (
    AuditEvent,
    Extraction,
    ExtractionReport,
    Report,
    Study,
    StudyArm,
)

#: Extractor names of automated imports of verified data start with this; people cannot use it.
SYSTEM_PREFIX = "import:"
ROLES = ("primary", "subgroup", "overlap")
_REGISTRY_LIKE = re.compile(r"^(NCT\d{8}|ISRCTN\d{8}|EUDRACT-.*|CHICTR.*|JPRN-.*|UMIN\d+)$", re.I)


# --- result types ----------------------------------------------------------------------------


@dataclass
class StudyResult:
    """What :func:`add_study` did: the study and report used, and any warnings."""

    study_id: int
    report_id: int
    label: str
    created: bool
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


@dataclass
class ValueResult:
    """One written (or unchanged) value version."""

    id: int
    key: str
    status: str
    unchanged: bool
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


@dataclass(frozen=True)
class ItemKey:
    """Identity of an extracted item (all versions of one number share it)."""

    report_id: int
    outcome: str | None
    kind: str
    arm_id: int | None
    arm2_id: int | None
    name: str


# --- finding things --------------------------------------------------------------------------


def find_study(session: Session, ref: str | int) -> Study:
    """The study named by id, registry id or label (case-insensitive); clear error otherwise."""
    text = str(ref).strip()
    if text.isdigit():
        study = session.get(Study, int(text))
        if study is None:
            raise ExtractionError(f"no study with id {text}")
        return study
    if _REGISTRY_LIKE.match(text):
        rid = normalise_registry_id(text)
        sids = {
            int(i or 0)
            for i in session.scalars(select(col(Study.id)).where(col(Study.registry_id) == rid))
        }
        sids |= set(
            session.scalars(
                select(col(ExtractionReport.study_id)).where(
                    col(ExtractionReport.registry_id) == rid,
                    col(ExtractionReport.role) == "primary",
                )
            )
        )
        hits = [s for s in (session.get(Study, i) for i in sorted(sids)) if s is not None]
        if len(hits) == 1:
            return hits[0]
    else:
        hits = [
            s
            for s in session.scalars(select(Study).order_by(col(Study.id)))
            if s.label.casefold() == text.casefold()
        ]
        if len(hits) == 1:
            return hits[0]
    if len(hits) > 1:
        names = ", ".join(f"#{s.id} {s.label}" for s in hits)
        raise ExtractionError(f"{text!r} names several studies ({names}); give the study id")
    raise ExtractionError(
        f"no study {text!r}; add it with 'lsr extract study {text}' (list: 'lsr extract studies')"
    )


def primary_report(session: Session, study: Study, actor: str | None = None) -> ExtractionReport:
    """The study's primary report, created on first use (screening creates bare studies)."""
    rep = session.scalar(
        select(ExtractionReport).where(
            col(ExtractionReport.study_id) == study.id, col(ExtractionReport.role) == "primary"
        )
    )
    if rep is None:
        rep = ExtractionReport(
            study_id=int(study.id or 0),
            label=study.label,
            role="primary",
            registry_id=study.registry_id,
            created_by=actor,
        )
        session.add(rep)
        session.flush()
    return rep


def _report(session: Session, study: Study, label: str | None) -> ExtractionReport:
    if label is None:
        return primary_report(session, study)
    for rep in session.scalars(
        select(ExtractionReport).where(col(ExtractionReport.study_id) == study.id)
    ):
        if rep.label.casefold() == label.strip().casefold():
            return rep
    if label.strip().casefold() == study.label.casefold():
        return primary_report(session, study)
    raise ExtractionError(
        f"study {study.label!r} has no report {label!r}; attach it with "
        f"'lsr extract study {label!r} --subgroup-of {study.label!r}'"
    )


# --- studies and reports ---------------------------------------------------------------------


def add_study_in(
    session: Session,
    *,
    label: str,
    registry_id: str | None = None,
    parent: str | int | None = None,
    role: str | None = None,
    relation: str | None = None,
    pmid: str | None = None,
    doi: str | None = None,
    first_author: str | None = None,
    year: int | None = None,
    actor: str | None = None,
) -> StudyResult:
    """:func:`add_study` inside an open write session (the example loader batches many)."""
    label = (label or "").strip()
    if not label:
        raise ExtractionError("a study needs a label (e.g. the trial's acronym)")
    rid = normalise_registry_id(registry_id) if registry_id and registry_id.strip() else None
    meta: dict[str, Any] = {
        "pmid": pmid or None,
        "doi": doi or None,
        "first_author": first_author or None,
        "year": year,
    }
    if parent is not None:
        role = role or "subgroup"
        if role not in ("subgroup", "overlap"):
            raise ExtractionError(
                f"a report attached to a parent is a subgroup or an overlap, not {role!r}"
            )
        study = find_study(session, parent)
        for rep in session.scalars(
            select(ExtractionReport).where(col(ExtractionReport.study_id) == study.id)
        ):
            if rep.label.casefold() == label.casefold():
                return StudyResult(int(study.id or 0), int(rep.id or 0), label, created=False)
        primary_report(session, study, actor)
        rep = ExtractionReport(
            study_id=int(study.id or 0),
            label=label,
            role=role,
            relation=relation,
            registry_id=rid,
            created_by=actor,
            pmid=meta["pmid"],
            doi=meta["doi"],
            first_author=meta["first_author"],
            year=year,
        )
        session.add(rep)
        session.flush()
        _audit(session, actor, "extraction_report_add", rep.id, study_id=study.id, role=role)
        shared = registry_warnings(session, registry_id=rid) if rid else []
        return StudyResult(int(study.id or 0), int(rep.id or 0), label, True, shared)
    if role not in (None, "primary"):
        raise ExtractionError(f"a {role} report needs the study it belongs to (a parent)")
    same_label = [
        s for s in session.scalars(select(Study)) if s.label.casefold() == label.casefold()
    ]
    holder = session.scalar(select(Study).where(col(Study.registry_id) == rid)) if rid else None
    warnings: list[str] = []
    created = False
    if holder is not None and (holder in same_label or holder.label == rid):
        study = holder  # the same trial (screening labels a new study by its registry id)
        if study.label == rid and label != rid:
            _audit(session, actor, "study_relabel", study.id, old=study.label, new=label)
            study.label = label
    elif same_label and (rid is None or same_label[0].registry_id in (None, rid)):
        study = same_label[0]
        if rid and study.registry_id is None and holder is None:
            study.registry_id = rid
    else:
        # A second study citing a registry id already held: allowed, but never silently.
        study = Study(label=label, registry_id=None if holder is not None else rid)
        session.add(study)
        session.flush()
        created = True
        _audit(session, actor, "study_add", study.id, label=label, registry_id=rid)
    rep = primary_report(session, study, actor)
    if rid and rep.registry_id is None:
        rep.registry_id = rid
    for key, value in meta.items():
        if value is not None and getattr(rep, key) is None:
            setattr(rep, key, value)
    session.flush()
    if rid:
        warnings = registry_warnings(session, registry_id=rid)
    return StudyResult(int(study.id or 0), int(rep.id or 0), study.label, created, warnings)


def add_study(*, engine: Engine, **kw: Any) -> StudyResult:
    """Add a trial (with its primary report), or attach a subgroup/overlap report to ``parent``.

    Idempotent: the same label (or registry id) returns the existing study. A study whose
    registry id another study already holds is still added (it may be another trial), with a
    warning naming both; a report of that trial belongs under ``parent`` instead.
    """
    with write_session(engine) as session:
        return add_study_in(session, **kw)


def registry_warnings(session: Session, *, registry_id: str | None = None) -> list[str]:
    """One message per registry id that more than one study cites (the store's own check).

    Study registry ids, extraction reports' and screening reports' registry ids all count.
    """
    holders: dict[str, set[int]] = defaultdict(set)
    q1 = select(col(Study.registry_id), col(Study.id)).where(col(Study.registry_id).is_not(None))
    q2 = select(col(ExtractionReport.registry_id), col(ExtractionReport.study_id)).where(
        col(ExtractionReport.registry_id).is_not(None)
    )
    q3 = select(col(Report.registry_id), col(Report.study_id)).where(
        col(Report.registry_id).is_not(None), col(Report.study_id).is_not(None)
    )
    for q in (q1, q2, q3):
        for rid, sid in session.execute(q):
            if registry_id is None or rid == registry_id:
                holders[rid].add(int(sid))
    out = []
    for rid, sids in sorted(holders.items()):
        if len(sids) > 1:
            names = ", ".join(
                f"{s.label} (#{s.id})"
                for s in (session.get(Study, i) for i in sorted(sids))
                if s is not None
            )
            out.append(
                f"registry id {rid} is shared by {len(sids)} studies: {names}; if one reports "
                "the other's trial (a subgroup, country cohort or extension), attach it to that "
                "trial as a subgroup/overlap report, or it will count as another trial"
            )
    return out


# --- values ----------------------------------------------------------------------------------


def _audit(session: Session, actor: str | None, action: str, entity_id: Any, **detail: Any) -> None:
    session.add(
        AuditEvent(
            actor=actor, action=action, entity="extraction", entity_id=str(entity_id), detail=detail
        )
    )


def study_arm(
    session: Session,
    protocol: Protocol,
    study: Study,
    report: ExtractionReport,
    name: str,
    *,
    actor: str | None,
    where: str,
) -> StudyArm:
    """The report's arm for treatment ``name`` (matched through the protocol's aliases), created
    if new. Extraction and survival curves both hang their data on these arms."""
    canonical, issues = check_treatment(protocol, name, where=where)
    raise_errors(issues)
    assert canonical is not None
    arm = session.scalar(
        select(StudyArm).where(
            col(StudyArm.report_id) == report.id, col(StudyArm.treatment) == canonical
        )
    )
    if arm is None:
        arm = StudyArm(
            study_id=int(study.id or 0),
            report_id=int(report.id or 0),
            treatment=canonical,
            reported_as=name.strip(),
            created_by=actor,
        )
        session.add(arm)
        session.flush()
    return arm


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal values (197 equals 197.0; text compared exactly)."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if float(x) != float(y):
                return False
        elif x != y:
            return False
    return True


def item_key(row: Extraction) -> ItemKey:
    """The item a version belongs to."""
    return ItemKey(row.report_id, row.outcome, row.kind, row.arm_id, row.arm2_id, row.name)


def describe_key(
    key: ItemKey, arms: Mapping[int, StudyArm], reports: Mapping[int, ExtractionReport]
) -> str:
    """The item as people and the CLI name it, e.g. ``OS/contrast/ramucirumab vs placebo``.

    Items of a subgroup/overlap report are prefixed with the report's label and ``: ``.
    """
    parts = [key.outcome or "design", key.kind]
    if key.arm_id is not None:
        arm = arms[key.arm_id].treatment
        if key.arm2_id is not None:
            arm += f" vs {arms[key.arm2_id].treatment}"
        parts.append(arm)
    if key.name:
        parts.append(key.name)
    text = "/".join(parts)
    rep = reports[key.report_id]
    return text if rep.role == "primary" else f"{rep.label}: {text}"


@dataclass
class _StudyData:
    study: Study
    reports: dict[int, ExtractionReport]
    arms: dict[int, StudyArm]
    versions: dict[ItemKey, list[Extraction]]  # oldest first

    def key_text(self, key: ItemKey) -> str:
        return describe_key(key, self.arms, self.reports)

    def current(self, key: ItemKey, extractor: str) -> Extraction | None:
        rows = [r for r in self.versions.get(key, []) if r.status == "draft"]
        rows = [r for r in rows if r.extractor == extractor]
        return rows[-1] if rows else None

    def final(self, key: ItemKey) -> Extraction | None:
        rows = [r for r in self.versions.get(key, []) if r.status == "final"]
        return rows[-1] if rows else None

    def extractors(self) -> list[str]:
        names = {
            r.extractor
            for rows in self.versions.values()
            for r in rows
            if r.status == "draft" and not r.extractor.startswith(SYSTEM_PREFIX)
        }
        return sorted(names)


def _load(session: Session, study: Study) -> _StudyData:
    sid = study.id
    reports = {
        int(r.id or 0): r
        for r in session.scalars(
            select(ExtractionReport).where(col(ExtractionReport.study_id) == sid)
        )
    }
    arms = {
        int(a.id or 0): a
        for a in session.scalars(select(StudyArm).where(col(StudyArm.study_id) == sid))
    }
    versions: dict[ItemKey, list[Extraction]] = defaultdict(list)
    for row in session.scalars(
        select(Extraction).where(col(Extraction.study_id) == sid).order_by(col(Extraction.id))
    ):
        versions[item_key(row)].append(row)
    return _StudyData(study, reports, arms, dict(versions))


def _where(study: Study, report: ExtractionReport, outcome: str | None, arms: str) -> str:
    parts = [study.label if report.role == "primary" else f"{study.label} / {report.label}"]
    if outcome:
        parts.append(outcome)
    if arms:
        parts.append(arms)
    return ", ".join(parts)


def write_value(
    session: Session,
    protocol: Protocol,
    *,
    study: Study,
    kind: str,
    values: Mapping[str, Any],
    extractor: str,
    outcome: str | None = None,
    arm: str | None = None,
    vs: str | None = None,
    report: str | None = None,
    name: str = "",
    source: str | None = None,
    note: str | None = None,
    final: bool = False,
    supersedes_id: int | None = None,
) -> ValueResult:
    """Validate and append one version (inside an open write session); see :func:`add_value`."""
    rep = _report(session, study, report)
    out = protocol.outcome(outcome) if outcome else None
    if outcome and out is None:
        known = ", ".join(o.name for o in protocol.outcomes)
        raise ExtractionError(
            f"{study.label}: outcome {outcome!r} is not in the protocol (outcomes: {known})"
        )
    oname = out.name if out else None
    arms_text = f"{arm} vs {vs}" if arm and vs else (arm or "")
    where = _where(study, rep, oname, arms_text)
    if kind in OUTCOME_KINDS and oname is None:
        raise ExtractionError(f"{where}: a {kind} value needs --outcome")
    if kind in ("arm", "total") and oname is not None:
        raise ExtractionError(f"{where}: {kind} is a design value; give it without an outcome")
    if kind in ARM_KINDS and (not arm or vs):
        raise ExtractionError(f"{where}: a {kind} value belongs to one arm (--arm, no --vs)")
    if kind in CONTRAST_KINDS and not (arm and vs):
        raise ExtractionError(f"{where}: a {kind} compares two arms (--arm T --vs COMPARATOR)")
    if kind == "total" and arm:
        raise ExtractionError(f"{where}: the total randomised belongs to the report, not an arm")
    if kind == "extra" and not name.strip():
        raise ExtractionError(f"{where}: an extra field needs a name (--name)")
    if kind != "extra" and name:
        raise ExtractionError(f"{where}: only extra fields have a name")
    clean = normalise_values(kind, values, where=where)
    issues: list[Issue] = list(check_value(kind, clean, where=where, outcome=out))
    raise_errors(issues)
    arm_row = (
        study_arm(session, protocol, study, rep, arm, actor=extractor, where=where) if arm else None
    )
    arm2_row = (
        study_arm(session, protocol, study, rep, vs, actor=extractor, where=where) if vs else None
    )
    if arm_row is not None and arm2_row is not None and arm_row.id == arm2_row.id:
        raise ExtractionError(f"{where}: an arm cannot be compared with itself")
    key = ItemKey(
        int(rep.id or 0),
        oname,
        kind,
        arm_row.id if arm_row else None,
        arm2_row.id if arm2_row else None,
        name.strip(),
    )
    data = _load(session, study)
    status = "final" if final else "draft"
    prev = data.final(key) if final else data.current(key, extractor)
    if (
        prev is not None
        and _same(prev.values, clean)
        and prev.source == source
        and (not final or prev.extractor == extractor)
    ):
        warn = [i.message for i in issues if i.level == "warning"]
        return ValueResult(int(prev.id or 0), data.key_text(key), status, True, warn)
    row = Extraction(
        study_id=int(study.id or 0),
        report_id=key.report_id,
        outcome=oname,
        kind=kind,
        arm_id=key.arm_id,
        arm2_id=key.arm2_id,
        name=key.name,
        values=clean,
        extractor=extractor,
        status=status,
        source=source,
        note=note,
        supersedes_id=supersedes_id if supersedes_id is not None else (prev.id if prev else None),
    )
    session.add(row)
    session.flush()
    if kind in ("arm", "total"):
        data = _load(session, study)
        issues += _size_issues(data, rep, extractor if not final else None, where=where)
        raise_errors(issues)
    warn = [i.message for i in issues if i.level == "warning"]
    return ValueResult(int(row.id or 0), data.key_text(key), status, False, warn)


def _size_issues(
    data: _StudyData, rep: ExtractionReport, extractor: str | None, *, where: str
) -> list[Issue]:
    """Arm sizes against the total, as ``extractor`` entered them (None: the final values)."""
    sizes: dict[str, float | None] = {}
    total: float | None = None
    for key in data.versions:
        if key.report_id != rep.id or key.kind not in ("arm", "total"):
            continue
        row = data.final(key) if extractor is None else data.current(key, extractor)
        if row is None:
            continue
        n = row.values.get("n")
        if key.kind == "total":
            total = n
        elif key.arm_id is not None:
            sizes[data.arms[key.arm_id].treatment] = n
    return check_arm_sizes(sizes, total, where=where.split(",")[0], complete=extractor is None)


def check_person(engine: Engine, protocol: Protocol, name: str) -> str:
    """A person who extracts or resolves must be one of the review's reviewers."""
    from living_review.screening.reviewers import get_reviewer

    if name.startswith(SYSTEM_PREFIX):
        raise ExtractionError(
            f"{name!r}: names starting with {SYSTEM_PREFIX!r} are reserved for imports"
        )
    return get_reviewer(engine, protocol, name).name


def add_value(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    kind: str,
    values: Mapping[str, Any],
    extractor: str,
    outcome: str | None = None,
    arm: str | None = None,
    vs: str | None = None,
    report: str | None = None,
    name: str = "",
    source: str | None = None,
    note: str | None = None,
    final: bool = False,
) -> ValueResult:
    """Enter one value as ``extractor`` (a draft; ``final=True`` for single extraction).

    ``arm`` / ``vs`` are treatment names or aliases (mapped to the protocol's names); the arm
    is created on first use. Re-entering the same value is a no-op. Errors leave no trace.
    """
    who = check_person(engine, protocol, extractor)
    with write_session(engine) as session:
        st = find_study(session, study)
        res = write_value(
            session,
            protocol,
            study=st,
            kind=kind,
            values=values,
            extractor=who,
            outcome=outcome,
            arm=arm,
            vs=vs,
            report=report,
            name=name,
            source=source,
            note=note,
            final=final,
        )
        if not res.unchanged:
            _audit(
                session,
                who,
                "extraction_value",
                res.id,
                study=st.label,
                key=res.key,
                status=res.status,
            )
        return res


# --- dual extraction -------------------------------------------------------------------------


def _entry(row: Extraction | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "values": row.values,
        "source": row.source,
        "extractor": row.extractor,
        "at": row.created_at.isoformat() if row.created_at else None,
    }


def compare(
    *, engine: Engine, study: str | int, extractors: Sequence[str] | None = None
) -> dict[str, Any]:
    """Each item's current value per extractor, and whether they agree.

    ``status`` per item: ``agree`` (every extractor has the same values), ``differ``,
    ``missing`` (someone has not entered it) or ``single`` (only one extractor so far).
    ``final_matches`` says whether the final value equals the agreed one. ``discrepancies``
    lists the items that are not ``agree``/``single``.
    """
    with Session(engine) as session:
        data = _load(session, find_study(session, study))
    who = list(extractors) if extractors else data.extractors()
    items = []
    for key in sorted(data.versions, key=lambda k: data.key_text(k)):
        current = {w: data.current(key, w) for w in who}
        have = {w: r for w, r in current.items() if r is not None}
        final = data.final(key)
        if not have and final is None:
            continue
        vals = list(have.values())
        if len(who) < 2:
            status = "single"
        elif len(have) < len(who):
            status = "missing"
        elif all(_same(vals[0].values, v.values) for v in vals[1:]):
            status = "agree"
        else:
            status = "differ"
        items.append(
            {
                "key": data.key_text(key),
                "status": status,
                "values": {w: (r.values if r else None) for w, r in current.items()},
                "sources": {w: (r.source if r else None) for w, r in current.items()},
                "final": _entry(final),
                "final_matches": bool(
                    final and vals and all(_same(final.values, v.values) for v in vals)
                ),
            }
        )
    return {
        "study": data.study.label,
        "study_id": data.study.id,
        "extractors": who,
        "items": items,
        "discrepancies": [i for i in items if i["status"] in ("differ", "missing")],
    }


def _find_item(data: _StudyData, key: str) -> ItemKey:
    wanted = re.sub(r"\s+", " ", key.strip()).casefold()
    for k in data.versions:
        if data.key_text(k).casefold() == wanted:
            return k
    known = "; ".join(sorted(data.key_text(k) for k in data.versions)) or "none"
    raise ExtractionError(f"{data.study.label}: no item {key!r} (items: {known})")


def _args_of(data: _StudyData, key: ItemKey) -> dict[str, Any]:
    rep = data.reports[key.report_id]
    return {
        "kind": key.kind,
        "outcome": key.outcome,
        "arm": data.arms[key.arm_id].treatment if key.arm_id is not None else None,
        "vs": data.arms[key.arm2_id].treatment if key.arm2_id is not None else None,
        "report": None if rep.role == "primary" else rep.label,
        "name": key.name,
    }


def resolve(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    key: str,
    resolver: str,
    use: str | None = None,
    values: Mapping[str, Any] | None = None,
    source: str | None = None,
    note: str | None = None,
) -> ValueResult:
    """Set an item's final value: an extractor's current value (``use``) or new ``values``.

    The final version names the version it was taken from (``supersedes_id``); all drafts and
    earlier finals stay in the store.
    """
    if (use is None) == (values is None):
        raise ExtractionError("give either --use EXTRACTOR or the final values, not both")
    who = check_person(engine, protocol, resolver)
    with write_session(engine) as session:
        st = find_study(session, study)
        data = _load(session, st)
        k = _find_item(data, key)
        taken: Extraction | None = None
        if use is not None:
            taken = data.current(k, use)
            if taken is None:
                raise ExtractionError(f"{st.label}: {use!r} has no value for {data.key_text(k)}")
            values, source = taken.values, source or taken.source
        assert values is not None
        res = write_value(
            session,
            protocol,
            study=st,
            values=values,
            extractor=who,
            source=source,
            note=note,
            final=True,
            supersedes_id=taken.id if taken else None,
            **_args_of(data, k),
        )
        if not res.unchanged:
            _audit(
                session, who, "extraction_resolve", res.id, study=st.label, key=res.key, used=use
            )
        return res


def resolve_agreed(
    *, engine: Engine, protocol: Protocol, study: str | int, resolver: str
) -> list[ValueResult]:
    """Make every item both (all) extractors agree on final, unless it already is."""
    cmp = compare(engine=engine, study=study)
    out = []
    for item in cmp["items"]:
        if item["status"] == "agree" and not item["final_matches"]:
            first = cmp["extractors"][0]
            out.append(
                resolve(
                    engine=engine,
                    protocol=protocol,
                    study=study,
                    key=item["key"],
                    resolver=resolver,
                    use=first,
                )
            )
    return out


def history(*, engine: Engine, study: str | int, key: str) -> list[dict[str, Any]]:
    """Every version of one item, oldest first (drafts and finals, nothing dropped)."""
    with Session(engine) as session:
        data = _load(session, find_study(session, study))
        k = _find_item(data, key)
        return [
            {
                **(_entry(r) or {}),
                "status": r.status,
                "supersedes_id": r.supersedes_id,
                "note": r.note,
            }
            for r in data.versions[k]
        ]


# --- listings and analysis data --------------------------------------------------------------


def list_studies(*, engine: Engine) -> list[dict[str, Any]]:
    """Every study with its reports (role, registry id) and arms; primary trials first."""
    out = []
    with Session(engine) as session:
        for st in session.scalars(select(Study).order_by(col(Study.id))):
            data = _load(session, st)
            reports = sorted(data.reports.values(), key=lambda r: (r.role != "primary", r.id))
            out.append(
                {
                    "id": st.id,
                    "label": st.label,
                    "registry_id": st.registry_id,
                    "reports": [
                        {
                            "id": r.id,
                            "label": r.label,
                            "role": r.role,
                            "relation": r.relation,
                            "registry_id": r.registry_id,
                            "pmid": r.pmid,
                            "doi": r.doi,
                            "arms": sorted(
                                a.treatment for a in data.arms.values() if a.report_id == r.id
                            ),
                        }
                        for r in reports
                    ],
                    "values": sum(len(v) for v in data.versions.values()),
                }
            )
    return out


@dataclass
class AnalysisData:
    """The final data of one outcome, as the NMA reads them, and what was left out and why."""

    outcome: str
    measure: str
    rows: dict[str, list[dict[str, Any]]]  # format ("contrast", "arm-binary", ...) -> rows
    descriptive: list[dict[str, Any]]
    not_analysed: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    warnings: list[str]

    @property
    def n_studies(self) -> int:
        """Studies (trials) with analysable final data."""
        return len({r["study"] for rows in self.rows.values() for r in rows})

    def as_json(self) -> dict[str, Any]:
        """Return the data as plain data (``lsr extract show --json``)."""
        return {**asdict(self), "n_studies": self.n_studies}


def analysis_data(*, engine: Engine, protocol: Protocol, outcome: str) -> AnalysisData:
    """The final values of ``outcome`` from each study's primary report, as NMA rows.

    Rows are what :func:`living_review.nma.data.network_from_records` accepts: ``contrast``
    (``study, study_label, treat1, treat2, TE, seTE``; TE = treat1 vs treat2 on the analysis
    scale), ``arm-binary`` (``treatment, n, events``) or ``arm-continuous`` (``treatment, n,
    mean, sd``). A study with arm-level data is analysed from those, not also from a contrast.
    Subgroup/overlap reports are listed under ``not_analysed``, never as rows; medians,
    percentages and estimates without a CI are ``descriptive``; drafts with no final value are
    ``pending``.
    """
    out = protocol.outcome(outcome)
    if out is None:
        known = ", ".join(o.name for o in protocol.outcomes)
        raise ExtractionError(f"outcome {outcome!r} is not in the protocol (outcomes: {known})")
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    descriptive: list[dict[str, Any]] = []
    not_analysed: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    warnings: list[str] = []
    with Session(engine) as session:
        warnings += registry_warnings(session)
        for st in session.scalars(select(Study).order_by(col(Study.id))):
            data = _load(session, st)
            study_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for key in sorted(data.versions, key=lambda k: data.key_text(k)):
                rep = data.reports[key.report_id]
                if key.outcome != out.name:
                    continue
                final = data.final(key)
                if rep.role != "primary":
                    if final is not None:
                        not_analysed.append(
                            {
                                "study": st.label,
                                "report": rep.label,
                                "role": rep.role,
                                "key": data.key_text(key),
                                "values": final.values,
                                "source": final.source,
                                "reason": f"{rep.role} report of {st.label}: not an independent "
                                "trial, so never analysed as one",
                            }
                        )
                    continue
                if final is None:
                    pending.append(
                        {
                            "study": st.label,
                            "key": data.key_text(key),
                            "extractors": sorted({r.extractor for r in data.versions[key]}),
                        }
                    )
                    continue
                base = {
                    "study": str(st.id),
                    "study_label": st.label,
                    "source": final.source,
                    "extraction_id": final.id,
                }
                if key.kind in ANALYSED_KINDS:
                    t1 = data.arms[key.arm_id].treatment if key.arm_id is not None else ""
                    if key.kind == "contrast":
                        assert key.arm2_id is not None
                        te, se = contrast_te_se(final.values)
                        study_rows["contrast"].append(
                            {
                                **base,
                                "treat1": t1,
                                "treat2": data.arms[key.arm2_id].treatment,
                                "TE": te,
                                "seTE": se,
                                **{f"reported_{k}": v for k, v in final.values.items()},
                            }
                        )
                    elif key.kind == "binary":
                        study_rows["arm-binary"].append(
                            {
                                **base,
                                "treatment": t1,
                                "n": final.values["n"],
                                "events": final.values["events"],
                            }
                        )
                    else:
                        study_rows["arm-continuous"].append(
                            {
                                **base,
                                "treatment": t1,
                                "n": final.values["n"],
                                "mean": final.values["mean"],
                                "sd": arm_sd(final.values),
                            }
                        )
                else:
                    descriptive.append(
                        {
                            "study": st.label,
                            "key": data.key_text(key),
                            "kind": key.kind,
                            "values": final.values,
                            "source": final.source,
                            "reason": _why_descriptive(key.kind),
                        }
                    )
            arm_level = [f for f in ("arm-binary", "arm-continuous") if study_rows.get(f)]
            if arm_level and study_rows.get("contrast"):
                warnings.append(
                    f"{st.label}: {out.name} has arm-level data and a contrast; the "
                    "arm-level data are analysed"
                )
                study_rows.pop("contrast")
            for fmt, rs in study_rows.items():
                rows[fmt].extend(rs)
            for rep in data.reports.values():
                if rep.role == "primary":
                    warnings += [i.message for i in _size_issues(data, rep, None, where=st.label)]
    return AnalysisData(
        out.name, out.measure, dict(rows), descriptive, not_analysed, pending, warnings
    )


def _why_descriptive(kind: str) -> str:
    return {
        "median": "medians are descriptive: the NMA of time-to-event outcomes uses hazard ratios",
        "percent": "a percentage without an event count and its denominator cannot enter an "
        "arm-level analysis",
        "estimate": "an effect estimate without a CI or SE has no variance, so it cannot be "
        "weighted in the analysis",
        "extra": "an extra field is recorded, not analysed",
    }.get(kind, "not analysed")


def network_for(data: AnalysisData, protocol: Protocol) -> Any:
    """Build the outcome's :class:`~living_review.nma.data.Network` from its final data.

    Contrast-level and arm-level studies are combined (NICE DSU TSD2 style). The protocol's
    NMA reference is the reference when it is in the network.
    """
    from living_review.nma.data import NMADataError, network_from_records

    if not data.rows:
        raise ExtractionError(
            f"{data.outcome}: no final analysable data (descriptive: {len(data.descriptive)}, "
            f"pending: {len(data.pending)})"
        )
    ref = protocol.nma.reference if protocol.nma else None
    net = None
    for fmt, rows in data.rows.items():
        treatments = {r.get("treatment") or r.get("treat1") for r in rows} | {
            r.get("treat2") for r in rows
        }
        part = network_from_records(
            rows,
            fmt,  # type: ignore[arg-type]
            source=f"extractions ({data.outcome}, {fmt})",
            reference=ref if ref in treatments else None,
            measure=data.measure if fmt == "contrast" else None,
        )
        try:
            net = part if net is None else net.combine(part)
        except NMADataError as exc:
            raise ExtractionError(str(exc)) from None
    return net

"""Provides the survival service functions: digitised curves per study arm in the store.

The CLI (``lsr km ...``), the TUI and the example loader call these, never the table directly.
A curve is attached to an arm of a study's primary report for one protocol outcome; every
attach is a new :class:`~living_review.store.models.KMCurve` version (append-only, audited).
Reconstructed IPD, HR and RMST are derived from the current curves on read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.extraction.service import find_study, primary_report, study_arm
from living_review.protocol import Protocol
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent, KMCurve, Study, StudyArm
from living_review.survival.digitised import DigitisedCurve, SurvivalError, read_curves
from living_review.survival.guyot import Reconstruction, reconstruct


@dataclass
class AttachResult:
    """What :func:`attach_curve` did."""

    curve_id: int
    study: str
    treatment: str
    outcome: str
    created: bool
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Plain dict for ``--json``."""
        return {
            "curve_id": self.curve_id,
            "study": self.study,
            "treatment": self.treatment,
            "outcome": self.outcome,
            "created": self.created,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class StoredCurve:
    """A current curve with where it belongs."""

    id: int
    study_id: int
    study: str
    treatment: str
    outcome: str
    curve: DigitisedCurve
    row: KMCurve


def _outcome(protocol: Protocol, name: str) -> str:
    out = protocol.outcome(name)
    if out is None:
        known = ", ".join(o.name for o in protocol.outcomes)
        raise SurvivalError(f"outcome {name!r} is not in the protocol ({known})")
    return out.name


def _arm(session: Session, protocol: Protocol, study: Study, name: str, actor: str) -> StudyArm:
    """The arm of the study's primary report for ``name`` (created if new)."""
    report = primary_report(session, study, actor)
    return study_arm(session, protocol, study, report, name, actor=actor, where=study.label)


def _latest(session: Session, arm_id: int, outcome: str) -> KMCurve | None:
    return session.scalar(
        select(KMCurve)
        .where(col(KMCurve.arm_id) == arm_id, col(KMCurve.outcome) == outcome)
        .order_by(col(KMCurve.id).desc())
        .limit(1)
    )


def attach_in(
    session: Session,
    protocol: Protocol,
    *,
    study: str | int,
    treatment: str,
    outcome: str,
    curve: DigitisedCurve,
    actor: str,
    source: str | None = None,
    digitiser: str | None = None,
    time_unit: str = "months",
    note: str | None = None,
) -> AttachResult:
    """Attach (a new version of) one arm's curve inside an open write session."""
    if not actor.strip():
        raise SurvivalError("say who attaches the curve (--by NAME)")
    name = _outcome(protocol, outcome)
    st = find_study(session, study)
    arm = _arm(session, protocol, st, treatment, actor)
    if not curve.risk_counts:
        raise SurvivalError(
            f"{st.label} {arm.treatment}: give at least the number at risk at time 0 (arm size)"
        )
    sha = curve.sha256()
    prev = _latest(session, int(arm.id or 0), name)
    if prev is not None and prev.status == "active" and prev.input_sha256 == sha:
        return AttachResult(int(prev.id or 0), st.label, arm.treatment, name, False)
    data = curve.as_json()
    row = KMCurve(
        study_id=int(st.id or 0),
        arm_id=int(arm.id or 0),
        outcome=name,
        points=data["points"],
        at_risk=data["at_risk"],
        total_events=curve.total_events,
        time_unit=time_unit,
        source=source,
        digitiser=digitiser,
        input_sha256=sha,
        created_by=actor,
        note=note,
        supersedes_id=prev.id if prev is not None else None,
    )
    session.add(row)
    session.flush()
    session.add(
        AuditEvent(
            actor=actor,
            action="km_curve_attach",
            entity="km_curve",
            entity_id=str(row.id),
            detail={
                "study": st.label,
                "treatment": arm.treatment,
                "outcome": name,
                "input_sha256": sha,
                "supersedes_id": row.supersedes_id,
            },
        )
    )
    return AttachResult(int(row.id or 0), st.label, arm.treatment, name, True, list(curve.notes))


def attach_curve(*, engine: Engine, protocol: Protocol, **kw: Any) -> AttachResult:
    """Attach one arm's curve in its own transaction (see :func:`attach_in`)."""
    with write_session(engine) as session:
        return attach_in(session, protocol, **kw)


def attach_files(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str,
    points: Path,
    at_risk: Path | None,
    outcome: str,
    actor: str,
    arm: str | None = None,
    total_events: dict[str, int] | None = None,
    source: str | None = None,
    digitiser: str | None = None,
    time_unit: str = "months",
) -> list[AttachResult]:
    """Read a figure's curves (one or several arms) and attach them all, or none."""
    curves = read_curves(points, at_risk, total_events=total_events, arm=arm)
    with write_session(engine) as session:
        return [
            attach_in(
                session,
                protocol,
                study=study,
                treatment=c.arm,
                outcome=outcome,
                curve=c,
                actor=actor,
                source=source or f"{Path(points).name}",
                digitiser=digitiser,
                time_unit=time_unit,
            )
            for c in curves.values()
        ]


def current_curves(engine: Engine, outcome: str | None = None) -> list[StoredCurve]:
    """The current (newest, not withdrawn) curve of every arm, ordered by study and arm."""
    with Session(engine) as session:
        q = select(KMCurve).order_by(col(KMCurve.id))
        if outcome is not None:
            q = q.where(col(KMCurve.outcome) == outcome)
        newest: dict[tuple[int, str], KMCurve] = {}
        for row in session.scalars(q):
            newest[(row.arm_id, row.outcome)] = row
        studies = {s.id: s.label for s in session.scalars(select(Study))}
        arms = {a.id: a.treatment for a in session.scalars(select(StudyArm))}
        out = []
        for row in newest.values():
            if row.status != "active":
                continue
            curve = DigitisedCurve.from_json(
                {
                    "arm": arms[row.arm_id],
                    "points": row.points,
                    "at_risk": row.at_risk,
                    "total_events": row.total_events,
                }
            )
            out.append(
                StoredCurve(
                    id=int(row.id or 0),
                    study_id=row.study_id,
                    study=studies[row.study_id],
                    treatment=arms[row.arm_id],
                    outcome=row.outcome,
                    curve=curve,
                    row=row,
                )
            )
    return sorted(out, key=lambda c: (c.study_id, c.row.arm_id, c.outcome))


def list_curves(*, engine: Engine, outcome: str | None = None) -> list[dict[str, Any]]:
    """Current curves as plain rows (for ``lsr km curves``)."""
    return [
        {
            "id": c.id,
            "study": c.study,
            "treatment": c.treatment,
            "outcome": c.outcome,
            "points": len(c.curve.times),
            "at_risk_rows": len(c.curve.risk_times),
            "n": c.curve.n,
            "total_events": c.curve.total_events,
            "time_unit": c.row.time_unit,
            "source": c.row.source,
            "created_by": c.row.created_by,
            "created_at": c.row.created_at.isoformat() if c.row.created_at else None,
            "input_sha256": c.row.input_sha256,
        }
        for c in current_curves(engine, outcome)
    ]


def history(*, engine: Engine, study: str, treatment: str, outcome: str) -> list[dict[str, Any]]:
    """Every version of one arm's curve, oldest first (nothing is ever lost)."""
    with Session(engine) as session:
        st = find_study(session, study)
        rows = session.scalars(
            select(KMCurve)
            .join(StudyArm, col(StudyArm.id) == col(KMCurve.arm_id))
            .where(
                col(KMCurve.study_id) == st.id,
                col(KMCurve.outcome) == outcome,
                col(StudyArm.treatment) == treatment,
            )
            .order_by(col(KMCurve.id))
        ).all()
        return [
            {
                "id": r.id,
                "status": r.status,
                "input_sha256": r.input_sha256,
                "created_by": r.created_by,
                "supersedes_id": r.supersedes_id,
            }
            for r in rows
        ]


def withdraw_curve(
    *, engine: Engine, protocol: Protocol, study: str, treatment: str, outcome: str, actor: str
) -> int:
    """Retract an arm's current curve with a new ``withdrawn`` version; returns its id."""
    with write_session(engine) as session:
        name = _outcome(protocol, outcome)
        st = find_study(session, study)
        arm = _arm(session, protocol, st, treatment, actor)
        prev = _latest(session, int(arm.id or 0), name)
        if prev is None or prev.status != "active":
            raise SurvivalError(f"{st.label} {arm.treatment} has no current {name} curve")
        row = KMCurve(
            study_id=prev.study_id,
            arm_id=prev.arm_id,
            outcome=name,
            points=prev.points,
            at_risk=prev.at_risk,
            total_events=prev.total_events,
            time_unit=prev.time_unit,
            status="withdrawn",
            source=prev.source,
            digitiser=prev.digitiser,
            input_sha256=prev.input_sha256,
            created_by=actor,
            supersedes_id=prev.id,
        )
        session.add(row)
        session.flush()
        session.add(
            AuditEvent(
                actor=actor,
                action="km_curve_withdraw",
                entity="km_curve",
                entity_id=str(row.id),
                detail={"study": st.label, "treatment": arm.treatment, "outcome": name},
            )
        )
        return int(row.id or 0)


def reconstruct_stored(
    engine: Engine, outcome: str
) -> dict[str, list[tuple[StoredCurve, Reconstruction]]]:
    """Reconstruct every current curve of an outcome, grouped by study (arm order kept)."""
    out: dict[str, list[tuple[StoredCurve, Reconstruction]]] = {}
    for c in current_curves(engine, outcome):
        out.setdefault(c.study, []).append((c, reconstruct(c.curve)))
    return out


# --- the synthetic example -------------------------------------------------------------------


def example_dir() -> Path:
    """The package's synthetic example files (see ``survival/example/README.md``)."""
    return Path(str(resources.files("living_review.survival") / "example"))


def load_example(
    *, engine: Engine, protocol: Protocol, actor: str = "import:synthetic-km"
) -> dict[str, Any]:
    """Attach the synthetic example curves to the example studies (idempotent, all or none).

    The studies must exist (``lsr extract load-example`` creates them with their arms).
    """
    folder = example_dir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    results: list[AttachResult] = []
    with write_session(engine) as session:
        for entry in manifest["studies"]:
            curves = read_curves(
                folder / entry["points"],
                folder / entry["at_risk"],
                total_events=entry.get("total_events"),
            )
            for c in curves.values():
                results.append(
                    attach_in(
                        session,
                        protocol,
                        study=entry["study"],
                        treatment=c.arm,
                        outcome=manifest["outcome"],
                        curve=c,
                        actor=actor,
                        source=f"synthetic example ({entry['points']}); not from the publication",
                        digitiser="simulated (living_review.survival.synthetic)",
                        time_unit=manifest["time_unit"],
                    )
                )
    return {
        "synthetic": True,
        "outcome": manifest["outcome"],
        "tau": manifest["tau"],
        "curves": [r.as_json() for r in results],
        "created": sum(r.created for r in results),
        "unchanged": sum(not r.created for r in results),
    }


def studies_of(curves: Sequence[StoredCurve]) -> list[str]:
    """Distinct study labels in order."""
    return list(dict.fromkeys(c.study for c in curves))

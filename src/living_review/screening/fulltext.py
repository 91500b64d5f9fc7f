"""Provides the full-text stage: records moving on, their documents, and their trials.

A record included at title/abstract (by agreement or resolution) enters full text with
:func:`advance_to_fulltext`; its full-text report may link a PDF path or a URL, or be marked
not retrieved (PRISMA box F) with the reason. Exclusions at full text need a protocol reason
(checked in :func:`living_review.screening.conflicts.check_reason`).

Reports of the same trial (the primary paper, longer follow-up, subgroup or country reports)
are linked to one :class:`~living_review.store.models.Study`, found by trial registry id, so
PRISMA can count studies and reports separately. Every change to a report or study link is
written to the audit trail, since those rows are updated in place.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.protocol import Protocol
from living_review.screening import ScreeningError
from living_review.screening.conflicts import check_record, state_of
from living_review.screening.queue import sync_assignments
from living_review.store.engine import write_session
from living_review.store.models import (
    AuditEvent,
    Record,
    Report,
    ScreeningDecision,
    Study,
    utcnow,
)

#: Trial registry identifiers (ClinicalTrials.gov, ISRCTN, EudraCT, ChiCTR, ANZCTR, JPRN/UMIN,
#: CTRI, DRKS, the Dutch and Korean registries), as they appear in titles, abstracts and the
#: databank fields of PubMed/Embase records.
REGISTRY_RE = re.compile(
    r"\b(NCT\d{8}|ISRCTN\d{8}|(?:EudraCT\s*(?:No\.?|Number)?:?\s*)?\d{4}-\d{6}-\d{2}|"
    r"ChiCTR[-A-Z]*\d{6,}|ACTRN\d{14}|UMIN\d{9}|JPRN-[A-Za-z]+\d+|CTRI/\d{4}/\d+/\d+|"
    r"DRKS\d{8}|NTR\d{3,5}|KCT\d{7})\b"
)


def normalise_registry_id(value: str) -> str:
    """Return a registry id in one canonical form (upper case, EudraCT prefix dropped)."""
    text = value.strip().upper()
    m = re.search(r"\d{4}-\d{6}-\d{2}", text)
    if m and not text.startswith(("NCT", "ISRCTN", "CHICTR", "ACTRN", "UMIN", "JPRN", "CTRI")):
        return f"EUDRACT-{m.group(0)}"
    return re.sub(r"\s+", "", text)


def registry_ids(text: str) -> list[str]:
    """Return the distinct registry ids mentioned in ``text``, in order of appearance."""
    out: list[str] = []
    for m in REGISTRY_RE.finditer(text or ""):
        rid = normalise_registry_id(m.group(1))
        if rid not in out:
            out.append(rid)
    return out


def advance_to_fulltext(*, engine: Engine, protocol: Protocol) -> int:
    """Move every record included at title/abstract to full text; return how many moved."""
    return sync_assignments(engine=engine, protocol=protocol, stage="ft")


def _at_fulltext(session: Session, protocol: Protocol, record_id: int) -> None:
    check_record(session, record_id)
    state, _ = state_of(session, protocol=protocol, record_id=record_id, stage="ta")
    if state.status != "include":
        raise ScreeningError(
            f"record {record_id} is not at the full-text stage: it has not been included at "
            "title/abstract"
        )


def _report(session: Session, record_id: int) -> Report:
    row = session.scalar(select(Report).where(col(Report.record_id) == record_id))
    if row is None:
        row = Report(record_id=record_id)
        session.add(row)
    return row


def _audit(session: Session, actor: str | None, action: str, record_id: int, **detail: Any) -> None:
    session.add(
        AuditEvent(actor=actor, action=action, entity="report", entity_id=str(record_id),
                   detail=detail)
    )  # fmt: skip


def set_fulltext(
    *,
    engine: Engine,
    protocol: Protocol,
    record_id: int,
    pdf: str | None = None,
    url: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Link a report's full text: a PDF path and/or a URL (http or https)."""
    if not pdf and not url:
        raise ScreeningError("give a PDF path or a URL for the full text")
    if url and urlparse(url).scheme not in ("http", "https"):
        raise ScreeningError(f"{url!r} is not an http(s) URL")
    with write_session(engine) as session:
        _at_fulltext(session, protocol, record_id)
        row = _report(session, record_id)
        if pdf:
            row.pdf_path = pdf
        if url:
            row.url = url
        row.retrieval = "sought"
        row.not_retrieved_reason = None
        row.updated_at = utcnow()
        _audit(session, actor, "report_fulltext", record_id, pdf=pdf, url=url)
        return {"record_id": record_id, "pdf_path": row.pdf_path, "url": row.url}


def mark_not_retrieved(
    *, engine: Engine, protocol: Protocol, record_id: int, reason: str, actor: str | None = None
) -> None:
    """Mark a report's full text as not retrieved (PRISMA "Reports not retrieved").

    Refused when reviewers have already assessed the full text: a report that was read was
    retrieved.
    """
    if not (reason or "").strip():
        raise ScreeningError("say why the full text could not be retrieved")
    with write_session(engine) as session:
        _at_fulltext(session, protocol, record_id)
        assessed = session.scalar(
            select(col(ScreeningDecision.id)).where(
                col(ScreeningDecision.record_id) == record_id,
                col(ScreeningDecision.stage) == "ft",
            )
        )
        if assessed is not None:
            raise ScreeningError(
                f"record {record_id} already has full-text decisions; it was retrieved"
            )
        row = _report(session, record_id)
        row.retrieval = "not_retrieved"
        row.not_retrieved_reason = reason.strip()
        row.updated_at = utcnow()
        _audit(session, actor, "report_not_retrieved", record_id, reason=reason.strip())


def link_study(
    *,
    engine: Engine,
    protocol: Protocol,
    record_id: int,
    registry_id: str | None = None,
    study_id: int | None = None,
    label: str | None = None,
    actor: str | None = None,
) -> int:
    """Link a record's report to its trial; return the study id.

    With ``registry_id`` the study holding that id is used, or created (labelled ``label`` or
    the id); with ``study_id`` that study is used.
    """
    if (registry_id is None) == (study_id is None):
        raise ScreeningError("give either a registry id or a study id")
    with write_session(engine) as session:
        _at_fulltext(session, protocol, record_id)
        if study_id is not None:
            study = session.get(Study, study_id)
            if study is None:
                raise ScreeningError(f"no study with id {study_id}")
        else:
            assert registry_id is not None
            study = _study_for(session, normalise_registry_id(registry_id), label)
        row = _report(session, record_id)
        row.study_id = study.id
        row.registry_id = study.registry_id
        row.updated_at = utcnow()
        _audit(session, actor, "report_study", record_id, study_id=study.id,
               registry_id=study.registry_id)  # fmt: skip
        return int(study.id or 0)


def _study_for(session: Session, registry_id: str, label: str | None) -> Study:
    study = session.scalar(select(Study).where(col(Study.registry_id) == registry_id))
    if study is None:
        study = Study(label=label or registry_id, registry_id=registry_id)
        session.add(study)
        session.flush()
    return study


@dataclass
class LinkSummary:
    """What :func:`link_reports_by_registry` did."""

    linked: int = 0
    studies_created: int = 0
    ambiguous: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the summary as plain data."""
        return asdict(self)


def link_reports_by_registry(
    *, engine: Engine, protocol: Protocol, actor: str | None = "registry-link"
) -> LinkSummary:
    """Link every full-text report not yet linked to a study by the registry id it cites.

    The record's title, abstract, keywords and raw source text are searched (PubMed and
    Embase carry registry numbers in databank fields). A report citing exactly one id is
    linked to that trial's study; one citing several (a pooled analysis) is listed as
    ambiguous for a person to decide. Links made by hand are never changed.
    """
    from living_review.screening.conflicts import load_stage, stage_states

    out = LinkSummary()
    with write_session(engine) as session:
        states = stage_states(
            load_stage(session, "ta"),
            stage="ta",
            maybe_is_conflict=protocol.screening.maybe_is_conflict,
        )
        ids = sorted(r for r, s in states.items() if s.status == "include")
        linked = set(
            session.scalars(select(col(Report.record_id)).where(col(Report.study_id).is_not(None)))
        )
        for rid in ids:
            if rid in linked:
                continue
            rec = session.get(Record, rid)
            assert rec is not None
            text = " ".join(
                [rec.title or "", rec.abstract or "", " ".join(rec.keywords or []), rec.raw or ""]
            )
            found = registry_ids(text)
            if not found:
                continue
            if len(found) > 1:
                out.ambiguous.append({"record_id": rid, "registry_ids": found})
                continue
            before = session.scalar(select(Study).where(col(Study.registry_id) == found[0]))
            study = _study_for(session, found[0], None)
            out.studies_created += before is None
            row = _report(session, rid)
            row.study_id = study.id
            row.registry_id = study.registry_id
            row.updated_at = utcnow()
            _audit(session, actor, "report_study", rid, study_id=study.id,
                   registry_id=study.registry_id)  # fmt: skip
            out.linked += 1
    return out

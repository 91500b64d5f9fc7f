"""Provides role checks in the core: what only a lead may do, enforced wherever it is called.

Reviewers are identified by name (protocol or ``lsr reviewer add``) and have a role, ``lead``
or ``reviewer``. A lead alone unblinds a stage, publishes a version, deletes, and changes the
protocol's eligibility rules. The protocol is a file anyone with the repository can edit, so
the rule for eligibility is enforced on the *store*: a lead approves the rules in force (an
audit event holding their fingerprint), and :func:`check_eligibility` refuses to go on with
rules that differ from the last approved ones until a lead approves the change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.audit import write_event
from living_review.protocol import Protocol
from living_review.screening import NotLeadError
from living_review.screening.reviewers import ReviewerInfo, get_reviewer
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent

#: Actions reserved to a lead (the wording of the refusal).
LEAD_ONLY = {
    "unblind": "unblind a stage",
    "delete": "delete anything from the review",
    "eligibility": "change the protocol's eligibility rules",
    "publish": "publish a version of the review",
}
APPROVE_ACTION = "eligibility_approve"


class EligibilityChangedError(NotLeadError):
    """The protocol's eligibility rules differ from the ones a lead last approved."""


def require_lead(engine: Engine, protocol: Protocol, actor: str, action: str) -> ReviewerInfo:
    """Return ``actor`` if they are a lead; raise :class:`NotLeadError` saying who may.

    ``action`` is a key of :data:`LEAD_ONLY` or the words of the action itself.
    """
    who = get_reviewer(engine, protocol, actor)
    if not who.is_lead:
        leads = ", ".join(r.name for r in protocol.reviewers if r.role == "lead") or "none named"
        raise NotLeadError(
            f"only a lead may {LEAD_ONLY.get(action, action)}; {who.name!r} is a {who.role} "
            f"(leads: {leads})"
        )
    return who


def eligibility_rules(protocol: Protocol) -> dict[str, Any]:
    """The eligibility rules as plain data (what a lead approves)."""
    return {
        "eligibility": protocol.eligibility.model_dump(),
        "exclusion_reasons": [r.model_dump() for r in protocol.exclusion_reasons],
    }


def eligibility_fingerprint(protocol: Protocol) -> str:
    """SHA-256 of the canonical eligibility rules: equal rules, equal fingerprint."""
    text = json.dumps(eligibility_rules(protocol), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EligibilityStatus:
    """Whether the protocol's rules are the ones a lead last approved."""

    fingerprint: str
    approved_fingerprint: str | None
    approved_by: str | None
    approved_at: datetime | None

    @property
    def changed(self) -> bool:
        """True when rules were approved once and the protocol now says something else."""
        return (
            self.approved_fingerprint is not None and self.approved_fingerprint != self.fingerprint
        )

    def as_json(self) -> dict[str, Any]:
        """Return plain data."""
        return {**asdict(self), "changed": self.changed}


def eligibility_status(engine: Engine, protocol: Protocol) -> EligibilityStatus:
    """Compare the protocol's rules with the last approval in the audit trail."""
    with Session(engine) as session:
        last = session.scalar(
            select(AuditEvent)
            .where(col(AuditEvent.action) == APPROVE_ACTION)
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        )
    fp = eligibility_fingerprint(protocol)
    if last is None:
        return EligibilityStatus(fp, None, None, None)
    return EligibilityStatus(fp, str(last.detail.get("fingerprint")), last.actor, last.at)


def approve_eligibility(engine: Engine, protocol: Protocol, actor: str) -> EligibilityStatus:
    """Record that lead ``actor`` approves the protocol's current eligibility rules."""
    who = require_lead(engine, protocol, actor, "eligibility")
    before = eligibility_status(engine, protocol)
    with write_session(engine) as session:
        write_event(
            session, who.name, APPROVE_ACTION, "protocol", "eligibility",
            fingerprint=before.fingerprint, previous=before.approved_fingerprint,
            rules=eligibility_rules(protocol),
        )  # fmt: skip
    return eligibility_status(engine, protocol)


def check_eligibility(engine: Engine, protocol: Protocol) -> EligibilityStatus:
    """Refuse to go on if the eligibility rules changed since a lead approved them."""
    status = eligibility_status(engine, protocol)
    if status.changed:
        raise EligibilityChangedError(
            "the protocol's eligibility rules differ from the ones "
            f"{status.approved_by or 'a lead'} approved"
            + (f" on {status.approved_at:%Y-%m-%d %H:%M}" if status.approved_at else "")
            + "; only a lead may change them: a lead must approve the new rules "
            "(living_review.access.approve_eligibility) or the edit be reverted"
        )
    return status

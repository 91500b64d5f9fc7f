"""Provides the review's reviewers: those named in the protocol plus those added later.

The protocol is the source of truth for the people it names (their role included); ``lsr
reviewer add`` adds others to the store. Every screening action names its reviewer, and a
name that is in neither place is an error rather than a silently created person, so a typo
can never become a phantom second screener.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.protocol import Protocol
from living_review.screening import NotLeadError, ScreeningError, UnknownReviewerError
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent, Reviewer

#: The same rule the protocol applies to reviewer names.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
ROLES = ("lead", "reviewer")


@dataclass(frozen=True)
class ReviewerInfo:
    """A reviewer as screening sees them; ``role`` is the protocol's when it names them."""

    id: int
    name: str
    role: str
    in_protocol: bool

    @property
    def is_lead(self) -> bool:
        """Whether this reviewer may unblind a stage and publish a version."""
        return self.role == "lead"

    def as_json(self) -> dict[str, Any]:
        """Return the reviewer as plain data."""
        return asdict(self)


def _load(session: Session, protocol: Protocol) -> dict[str, ReviewerInfo]:
    named = {r.name: r.role for r in protocol.reviewers}
    rows = session.execute(
        select(col(Reviewer.id), col(Reviewer.name), col(Reviewer.role)).order_by(col(Reviewer.id))
    )
    return {
        name: ReviewerInfo(int(rid), name, named.get(name, role), name in named)
        for rid, name, role in rows
    }


def reviewers(engine: Engine, protocol: Protocol) -> dict[str, ReviewerInfo]:
    """Return every reviewer by name, first storing any the protocol names but the store lacks.

    Reviewers are few, so this is one small query; the write happens only the first time a
    protocol name is seen.
    """
    with Session(engine) as session:
        found = _load(session, protocol)
    missing = [r for r in protocol.reviewers if r.name not in found]
    if not missing:
        return found
    with write_session(engine) as session:
        have = set(session.scalars(select(col(Reviewer.name))))
        session.add_all(Reviewer(name=r.name, role=r.role) for r in missing if r.name not in have)
    with Session(engine) as session:
        return _load(session, protocol)


def get_reviewer(engine: Engine, protocol: Protocol, name: str) -> ReviewerInfo:
    """Return the reviewer called ``name``; raise a clear error if the review has no such person."""
    everyone = reviewers(engine, protocol)
    if name in everyone:
        return everyone[name]
    known = ", ".join(sorted(everyone)) or "none yet"
    raise UnknownReviewerError(
        f"reviewer {name!r} is not in this review (reviewers: {known}); "
        "name them in protocol/review.toml or run 'lsr reviewer add NAME'"
    )


def require_lead(info: ReviewerInfo, action: str) -> None:
    """Refuse ``action`` unless ``info`` is a lead."""
    if not info.is_lead:
        raise NotLeadError(f"only a lead may {action}; {info.name!r} is a {info.role}")


def add_reviewer(
    *, engine: Engine, protocol: Protocol, name: str, role: str = "reviewer"
) -> ReviewerInfo:
    """Add a reviewer to the review (``lsr reviewer add``); names are unique.

    A person the protocol already names cannot be added again, nor given another role here:
    the protocol decides their role.
    """
    if not NAME_RE.match(name or ""):
        raise ScreeningError(
            f"reviewer name {name!r} is not valid: use letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    if role not in ROLES:
        raise ScreeningError(f"role must be 'lead' or 'reviewer', not {role!r}")
    existing = reviewers(engine, protocol)
    if name in existing:
        where = "named in the protocol" if existing[name].in_protocol else "already added"
        raise ScreeningError(f"reviewer {name!r} is {where} (role {existing[name].role})")
    with write_session(engine) as session:
        session.add(Reviewer(name=name, role=role))
        session.add(
            AuditEvent(
                actor=name, action="reviewer_add", entity="reviewer", entity_id=name,
                detail={"role": role},
            )
        )  # fmt: skip
    return reviewers(engine, protocol)[name]

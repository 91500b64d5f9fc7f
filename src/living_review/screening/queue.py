"""Provides screening units, reviewer assignment, each reviewer's queue and the record view.

*Units.* A record enters screening once per dedup cluster: the cluster's kept record (the
most complete member, as :mod:`living_review.dedup` chooses it). Once a unit is assigned it
stays the unit even if its cluster later grows, so decisions never move between records.

*Assignment.* ``[screening] mode`` in the protocol: ``single`` (one reviewer), ``dual`` (two)
or ``dual_sample`` (two on a random ``dual_share`` of records, one on the rest). Who screens a
record is drawn from a random generator seeded by the stage and the record id, so the
allocation is reproducible and does not depend on the order records arrive in. Reviewers who
are not leads screen when there are enough of them; the lead then stays free to resolve.

*Queue.* A reviewer's queue is the records assigned to them at a stage whose newest event by
them is none (or an undo), in record order -- or, once the stage has a prioritisation
ranking (:mod:`living_review.screening.prioritise`), in the newest ranking's order (records
added since come last, in record order). :func:`next_record` is the single indexed query
the screening screen runs on every key press; it never syncs assignments (call
:func:`sync_assignments` when a screen opens).

*Blinding.* Nothing here returns another reviewer's decision on a record, nor a status that
would betray it ("conflict" tells a screener the other disagreed), until the record is
reconciled (agreed or resolved) or a lead unblinds the stage. A reviewer who did not screen
the record (a third reviewer) sees the decisions once every screener has decided.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session, col

from living_review.dedup.cluster import UnionFind
from living_review.dedup.normalise import normalise_record
from living_review.protocol import Protocol
from living_review.screening import STAGE_LABELS, UNDO, ScreeningError, check_stage
from living_review.screening.conflicts import (
    check_record,
    is_unblinded,
    load_stage,
    record_state,
    stage_states,
)
from living_review.screening.reviewers import ReviewerInfo, get_reviewer, reviewers
from living_review.store.engine import write_session
from living_review.store.models import (
    DuplicateLink,
    PriorityRanking,
    Record,
    Report,
    ScreeningAssignment,
    ScreeningDecision,
    utcnow,
)

#: Seed of the allocation generator; with the stage and record id it fixes who screens what.
ALLOCATION_SEED = "living-review-screening-v1"
_CHUNK = 500
_KEPT_FIELDS = (
    "id", "title", "abstract", "authors", "year", "journal", "journal_abbrev", "volume",
    "issue", "pages", "doi", "pmid", "publication_types", "flags",
)  # fmt: skip


# --- dedup clusters ---------------------------------------------------------------------------


def cluster_map(session: Session, *, as_of: Any = None) -> dict[int, list[int]]:
    """Return record id -> sorted members of its cluster, for records in multi-record clusters.

    A pair's newest link decides (links are append-only), exactly as the dedup service reads
    them; ``as_of`` replays only links dated up to then.
    """
    q = select(
        col(DuplicateLink.record_a), col(DuplicateLink.record_b), col(DuplicateLink.decision)
    ).order_by(col(DuplicateLink.id))
    if as_of is not None:
        q = q.where(col(DuplicateLink.created_at) <= as_of)
    current: dict[tuple[int, int], str] = {}
    for a, b, decision in session.execute(q):
        current[(a, b)] = decision
    ids = sorted({i for pair, d in current.items() if d == "duplicate" for i in pair})
    index = {rid: n for n, rid in enumerate(ids)}
    uf = UnionFind(len(ids))
    for (a, b), d in current.items():
        if d == "duplicate":
            uf.union(index[a], index[b])
    groups: dict[int, list[int]] = defaultdict(list)
    for rid in ids:
        groups[uf.find(index[rid])].append(rid)
    return {rid: members for members in groups.values() for rid in members}


def kept_record(session: Session, members: Iterable[int]) -> int:
    """Return the member dedup keeps: the most complete record, ties to the lowest id."""
    ids = sorted(set(members))
    cols = [getattr(Record, f) for f in _KEPT_FIELDS]
    rows = session.execute(select(*cols).where(col(Record.id).in_(ids)))
    norms = [normalise_record(dict(zip(_KEPT_FIELDS, r, strict=True)), key=r[0]) for r in rows]
    return int(min(norms, key=lambda n: (-n.completeness, n.key)).key)


# --- assignment -------------------------------------------------------------------------------


def _rng(stage: str, record_id: int) -> random.Random:
    return random.Random(f"{ALLOCATION_SEED}:{stage}:{record_id}")


def _required(protocol: Protocol, stage: str, record_id: int) -> tuple[int, str]:
    s = protocol.screening
    if s.mode == "single":
        return 1, "single"
    if s.mode == "dual_sample" and _rng(stage, record_id).random() >= s.dual_share:
        return 1, "sample"
    return 2, "dual"


def screener_pool(protocol: Protocol, people: dict[str, ReviewerInfo]) -> list[int]:
    """Return the reviewer ids that screen: non-leads when there are enough, else everyone.

    Raises when the protocol's mode needs more reviewers than the review has, rather than
    letting one person's decision stand for a dual screen.
    """
    need = 1 if protocol.screening.mode == "single" else 2
    everyone = sorted(p.id for p in people.values())
    others = sorted(p.id for p in people.values() if not p.is_lead)
    if len(everyone) < need:
        have = ", ".join(sorted(people)) or "none"
        raise ScreeningError(
            f"{protocol.screening.mode} screening needs at least {need} reviewers "
            f"(this review has: {have}); add one with 'lsr reviewer add NAME'"
        )
    return others if len(others) >= need else everyone


def _choose(pool: list[int], stage: str, record_id: int, k: int) -> list[int]:
    return sorted(_rng(f"{stage}/who", record_id).sample(pool, k))


def _new_assignments(
    protocol: Protocol, pool: list[int], stage: str, record_id: int
) -> list[tuple[int, str]]:
    """Return ``(reviewer_id, method)`` for each reviewer the record is allocated to."""
    k, method = _required(protocol, stage, record_id)
    return [(r, method) for r in _choose(pool, stage, record_id, k)]


def _assigned_records(session: Session, stage: str) -> set[int]:
    return set(
        session.scalars(
            select(col(ScreeningAssignment.record_id))
            .where(col(ScreeningAssignment.stage) == stage)
            .distinct()
        )
    )


def _ta_units(session: Session, assigned: set[int]) -> list[int]:
    """Return the records that should be title/abstract units and are not assigned yet."""
    comp = cluster_map(session)
    all_ids: list[int] = list(
        session.execute(select(col(Record.id)).order_by(col(Record.id))).scalars()
    )
    out: list[int] = []
    done: set[int] = set()
    for rid in all_ids:
        if rid in done or rid in assigned:
            continue
        members = comp.get(rid)
        if members is None:
            out.append(rid)
            continue
        done.update(members)
        if not assigned.intersection(members):
            out.append(kept_record(session, members))
    return out


def _ft_units(session: Session, protocol: Protocol, assigned: set[int]) -> list[int]:
    """Return records included at title/abstract, not at full text yet, not marked missing."""
    states = stage_states(
        load_stage(session, "ta"),
        stage="ta",
        maybe_is_conflict=protocol.screening.maybe_is_conflict,
    )
    missing = set(
        session.scalars(
            select(col(Report.record_id)).where(col(Report.retrieval) == "not_retrieved")
        )
    )
    return sorted(
        rid
        for rid, st in states.items()
        if st.status == "include" and rid not in assigned and rid not in missing
    )


def sync_assignments(*, engine: Engine, protocol: Protocol, stage: str) -> int:
    """Assign every record that has entered ``stage`` and has no reviewers yet; return how many.

    At title/abstract that is each dedup cluster's kept record (or a single record); at full
    text each record whose title/abstract outcome is include. Idempotent: a second call
    assigns nothing. Moving records to full text is this call with ``stage="ft"``.
    """
    check_stage(stage)
    people = reviewers(engine, protocol)
    with Session(engine) as session:
        assigned = _assigned_records(session, stage)
        units = (
            _ta_units(session, assigned)
            if stage == "ta"
            else _ft_units(session, protocol, assigned)
        )
    if not units:
        return 0
    pool = screener_pool(protocol, people)
    now = utcnow()
    with write_session(engine) as session:
        assigned = _assigned_records(session, stage)  # another process may have been first
        fresh = [rid for rid in units if rid not in assigned]
        rows = [
            {"record_id": rid, "stage": stage, "reviewer_id": who, "method": method,
             "created_at": now}
            for rid in fresh
            for who, method in _new_assignments(protocol, pool, stage, rid)
        ]  # fmt: skip
        for i in range(0, len(rows), 5000):  # a bulk insert: 100,000 records in seconds
            session.execute(insert(ScreeningAssignment), rows[i : i + 5000])
    return len(fresh)


def ensure_assigned(
    session: Session,
    *,
    protocol: Protocol,
    people: dict[str, ReviewerInfo],
    record_id: int,
    stage: str,
) -> list[int]:
    """Return the reviewers assigned to a record at a stage, assigning it first if it may enter.

    Refuses, naming the record to screen instead, a record that a dedup cluster does not keep
    (its cluster's kept record is the unit), and at full text a record not included at
    title/abstract or marked not retrieved. Runs inside the caller's write session.
    """
    found = list(
        session.scalars(
            select(col(ScreeningAssignment.reviewer_id)).where(
                col(ScreeningAssignment.record_id) == record_id,
                col(ScreeningAssignment.stage) == stage,
            )
        )
    )
    if found:
        return found
    check_record(session, record_id)
    if stage == "ta":
        members = cluster_map(session).get(record_id, [record_id])
        others = [m for m in members if m != record_id]
        if others:
            screened = session.scalar(
                select(col(ScreeningAssignment.record_id)).where(
                    col(ScreeningAssignment.record_id).in_(others),
                    col(ScreeningAssignment.stage) == "ta",
                )
            )
            unit = screened if screened is not None else kept_record(session, members)
            if unit != record_id:
                raise ScreeningError(
                    f"record {record_id} is a duplicate of record {unit} (same dedup cluster); "
                    f"screen record {unit} instead"
                )
    else:
        ta = load_stage(session, "ta", record_ids=[record_id])
        st = record_state(
            votes=ta.votes.get(record_id, {}),
            assigned=ta.assigned.get(record_id, ()),
            resolution=ta.resolutions.get(record_id),
            stage="ta",
            maybe_is_conflict=protocol.screening.maybe_is_conflict,
        )
        if st.status != "include":
            raise ScreeningError(
                f"record {record_id} is not at the full-text stage: it has not been included "
                "at title/abstract"
            )
        report = session.scalar(select(Report).where(col(Report.record_id) == record_id))
        if report is not None and report.retrieval == "not_retrieved":
            raise ScreeningError(f"record {record_id}'s full text is marked not retrieved")
    chosen = _new_assignments(protocol, screener_pool(protocol, people), stage, record_id)
    session.add_all(
        ScreeningAssignment(record_id=record_id, stage=stage, reviewer_id=who, method=method)
        for who, method in chosen
    )
    session.flush()
    return [who for who, _ in chosen]


# --- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """A record in a reviewer's queue: what the list shows, and never anyone's decision."""

    id: int
    title: str | None
    authors: list[str]
    year: int | None
    journal: str | None
    database: str
    source_key: str | None
    doi: str | None
    pmid: str | None

    def as_json(self) -> dict[str, Any]:
        """Return the item as the ``lsr queue --json`` entries (each with ``id``)."""
        return asdict(self)


def _undecided(reviewer_id: int, stage: str) -> Any:
    """The condition "this reviewer's newest event on the assigned record is none or undo".

    A correlated lookup on ``ix_screening_decision_reviewer`` (reviewer, stage, record, id):
    one index seek per candidate, whatever the size of the store.
    """
    latest = (
        select(col(ScreeningDecision.decision))
        .where(
            col(ScreeningDecision.reviewer_id) == reviewer_id,
            col(ScreeningDecision.stage) == stage,
            col(ScreeningDecision.record_id) == col(ScreeningAssignment.record_id),
        )
        .order_by(col(ScreeningDecision.id).desc())
        .limit(1)
        .correlate(ScreeningAssignment)
        .scalar_subquery()
    )
    return func.coalesce(latest, UNDO) == UNDO


def _queue_query(reviewer_id: int, stage: str) -> Any:
    return select(col(ScreeningAssignment.record_id)).where(
        col(ScreeningAssignment.stage) == stage,
        col(ScreeningAssignment.reviewer_id) == reviewer_id,
        _undecided(reviewer_id, stage),
    )


def queue(
    *,
    engine: Engine,
    protocol: Protocol,
    reviewer: str,
    stage: str,
    limit: int | None = None,
    sync: bool = True,
) -> list[QueueItem]:
    """Return what ``reviewer`` has left to screen at ``stage``, in record order.

    One record per dedup cluster; records enter the stage (are assigned) first unless
    ``sync`` is False. The items carry bibliographic fields only: no decision of anyone.
    """
    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    if sync:
        sync_assignments(engine=engine, protocol=protocol, stage=stage)
    with Session(engine) as session:
        ids_q = _queue_query(who.id, stage).order_by(col(ScreeningAssignment.record_id))
        positions = _priority_positions(session, stage)
        if positions is not None:  # prioritised: the whole queue is sorted, then cut
            ids = _by_priority(list(session.scalars(ids_q)), positions)[:limit]
        else:
            if limit is not None:
                ids_q = ids_q.limit(limit)
            ids = list(session.scalars(ids_q))
        rows: dict[int, Record] = {}
        for i in range(0, len(ids), _CHUNK):
            for rec in session.scalars(
                select(Record).where(col(Record.id).in_(ids[i : i + _CHUNK]))
            ):
                rows[int(rec.id or 0)] = rec
        return [
            QueueItem(
                id=rid,
                title=rows[rid].title,
                authors=list(rows[rid].authors or []),
                year=rows[rid].year,
                journal=rows[rid].journal,
                database=rows[rid].database,
                source_key=rows[rid].source_key,
                doi=rows[rid].doi,
                pmid=rows[rid].pmid,
            )
            for rid in ids
        ]


#: Rankings read so far (a ranking row is immutable), by store, id, creation time and
#: fingerprint of settings, labels and order: its order and each record's place.
_RANKINGS: dict[tuple[str, int, str, str], tuple[list[int], dict[int, int]]] = {}
_RANKINGS_KEPT = 4
#: Ranked records checked per query when looking for the next one in ranking order.
_RANKED_CHUNK = 256


def _newest_ranking(session: Session, stage: str) -> tuple[list[int], dict[int, int]] | None:
    """The newest ranking of ``stage`` as (order, record -> position); None when there is none.

    Read once per ranking: at 100,000 records its order is a JSON list of 100,000 ids, too
    slow to parse on every key (the ranking's id is one indexed lookup).
    """
    newest = session.execute(
        select(
            col(PriorityRanking.id), col(PriorityRanking.created_at),
            col(PriorityRanking.fingerprint),
        )
        .where(col(PriorityRanking.stage) == stage)
        .order_by(col(PriorityRanking.id).desc())
        .limit(1)
    ).first()  # fmt: skip
    if newest is None:
        return None
    rid, created, fingerprint = newest
    key = (str(session.connection().engine.url), int(rid), str(created), str(fingerprint))
    hit = _RANKINGS.get(key)
    if hit is None:
        order = [int(r) for r in session.scalar(
            select(col(PriorityRanking.order)).where(col(PriorityRanking.id) == rid)
        ) or []]  # fmt: skip
        hit = (order, {r: i for i, r in enumerate(order)})
        if len(_RANKINGS) >= _RANKINGS_KEPT:
            _RANKINGS.clear()
        _RANKINGS[key] = hit
    return hit


def _priority_positions(session: Session, stage: str) -> dict[int, int] | None:
    """Record -> position in the newest ranking of ``stage``; None when there is none."""
    ranked = _newest_ranking(session, stage)
    return None if ranked is None else ranked[1]


def _by_priority(ids: list[int], positions: dict[int, int]) -> list[int]:
    """Ranked records first in ranking order; records ranked never come after, by id."""
    end = len(positions)
    return sorted(ids, key=lambda r: positions.get(r, end + r))


def _next_ranked(
    session: Session,
    reviewer_id: int,
    stage: str,
    order: list[int],
    positions: dict[int, int],
    after: int | None,
) -> int | None:
    """The first ranked record after ``after`` (in ranking order) still in the queue, looked
    up a chunk of the ranking at a time; None if none within the first few chunks.

    The ranking puts undecided records first, so the next one is almost always in the first
    chunk: a few index seeks per key instead of reading and sorting the whole queue.
    """
    if after is None:
        start = 0
    elif after in positions:
        start = positions[after] + 1
    else:
        return None  # ``after`` is unranked: every ranked record comes before it
    step = _RANKED_CHUNK
    for i in range(start, min(len(order), start + 8 * step), step):
        chunk = order[i : i + step]
        open_ = set(
            session.scalars(
                _queue_query(reviewer_id, stage).where(
                    col(ScreeningAssignment.record_id).in_(chunk)
                )
            )
        )
        for rid in chunk:
            if rid in open_:
                return rid
    return None


def next_record(
    *, engine: Engine, reviewer_id: int, stage: str, after: int | None = None
) -> int | None:
    """Return the next record ``reviewer_id`` has to screen after ``after`` (wrapping round).

    The screening screen's per-key query: an index range scan on (stage, reviewer, record)
    from ``after``, with one index seek into the decisions per candidate. Records skipped
    earlier come back once the end of the queue is reached.
    """
    base = _queue_query(reviewer_id, stage).order_by(col(ScreeningAssignment.record_id)).limit(1)
    with Session(engine) as session:
        ranked = _newest_ranking(session, stage)
        if ranked is not None:
            order, positions = ranked
            found = _next_ranked(session, reviewer_id, stage, order, positions, after)
            if found is not None:
                return found
            # Past the ranked records this reviewer still has (or wrapping round): the whole
            # queue in key order, as rare as the end of a queue.
            ids = _by_priority(list(session.scalars(_queue_query(reviewer_id, stage))), positions)
            if not ids:
                return None
            if after is not None:
                mark = positions.get(after, len(positions) + after)
                later = [r for r in ids if positions.get(r, len(positions) + r) > mark]
                if later:
                    return later[0]
            return ids[0]
        if after is not None:
            found = session.scalar(base.where(col(ScreeningAssignment.record_id) > after))
            if found is not None:
                return int(found)
        found = session.scalar(base)
        return None if found is None else int(found)


@dataclass(frozen=True)
class Progress:
    """How far a reviewer is at a stage (counts only their own work)."""

    assigned: int
    decided: int

    @property
    def remaining(self) -> int:
        """Records still in the reviewer's queue."""
        return self.assigned - self.decided


def progress(*, engine: Engine, protocol: Protocol, reviewer: str, stage: str) -> Progress:
    """Return how many records ``reviewer`` was assigned at ``stage`` and has decided."""
    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    with Session(engine) as session:
        assigned = session.scalar(
            select(func.count()).where(
                col(ScreeningAssignment.stage) == stage,
                col(ScreeningAssignment.reviewer_id) == who.id,
            )
        )
        left = session.scalar(
            select(func.count()).select_from(_queue_query(who.id, stage).subquery())
        )
    return Progress(int(assigned or 0), int(assigned or 0) - int(left or 0))


# --- the record view --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordView:
    """One record as ``viewer`` may see it at a stage.

    ``others`` is None while blinded (never an empty list standing in for "hidden"), and
    ``status`` is None then too, since "conflict" or "agreed" would reveal the other vote.
    """

    id: int
    stage: str
    viewer: str
    fields: dict[str, Any]
    assigned_to_viewer: bool
    own: dict[str, Any] | None
    blinded: bool
    others: list[dict[str, Any]] | None
    status: str | None
    final_reason: str | None
    report: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        """Return the view as plain data."""
        return asdict(self)


_VIEW_FIELDS = (
    "title", "abstract", "authors", "year", "journal", "volume", "issue", "pages", "doi",
    "pmid", "database", "source_key", "publication_types", "keywords", "language",
)  # fmt: skip


def record_view(
    *, engine: Engine, protocol: Protocol, record_id: int, stage: str, viewer: str
) -> RecordView:
    """Return a record with the viewer's own decision, and others' only when blinding allows.

    Others' decisions (and the record's status) are shown when the stage is unblinded, when
    the record is reconciled (its screeners agree, or a conflict was resolved), or to a viewer
    who did not screen it once every screener has decided (a third reviewer).
    """
    check_stage(stage)
    who = get_reviewer(engine, protocol, viewer)
    names = {p.id: p.name for p in reviewers(engine, protocol).values()}
    with Session(engine) as session:
        check_record(session, record_id)
        rec = session.get(Record, record_id)
        assert rec is not None
        data = load_stage(session, stage, record_ids=[record_id])
        votes = data.votes.get(record_id, {})
        screeners = data.assigned.get(record_id, [])
        state = record_state(
            votes=votes,
            assigned=screeners,
            resolution=data.resolutions.get(record_id),
            stage=stage,
            maybe_is_conflict=protocol.screening.maybe_is_conflict,
        )
        is_screener = who.id in screeners
        visible = (
            is_unblinded(session, stage)
            or (state.status in ("include", "exclude") and (state.resolved or bool(screeners)))
            or (not is_screener and state.status != "pending")
        )
        report = session.scalar(select(Report).where(col(Report.record_id) == record_id))
        fields = {f: getattr(rec, f) for f in _VIEW_FIELDS}
    mine = votes.get(who.id)
    others = [
        {"reviewer": names.get(v.reviewer_id), "decision": v.decision, "reason": v.reason,
         "note": v.note}
        for v in sorted(votes.values(), key=lambda v: v.event_id)
        if v.reviewer_id != who.id
    ]  # fmt: skip
    return RecordView(
        id=record_id,
        stage=stage,
        viewer=who.name,
        fields=fields,
        assigned_to_viewer=is_screener,
        own=None
        if mine is None
        else {"decision": mine.decision, "reason": mine.reason, "note": mine.note},
        blinded=not visible,
        others=others if visible else None,
        status=state.status if visible else None,
        final_reason=state.reason if visible else None,
        report=None
        if report is None
        else {
            "pdf_path": report.pdf_path,
            "url": report.url,
            "retrieval": report.retrieval,
            "study_id": report.study_id,
            "registry_id": report.registry_id,
        },
    )


def describe_stage(stage: str) -> str:
    """Return the stage's name for messages."""
    return STAGE_LABELS[check_stage(stage)]

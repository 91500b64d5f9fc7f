"""Provides the store adapter of dedup: passes, review queue, decisions, splits, clusters, counts.

Every decision is a :class:`~living_review.store.models.DuplicateLink` row and rows are only
ever appended: a pair's current state is its newest row. So a merge is reversed by appending
"distinct" rows (``split``), a reviewer's verdict never overwrites the automatic one, and the
history of who or what decided and why stays in the store. Clusters are the connected groups
of current "duplicate" pairs; nothing is deleted or copied, so every member keeps all its
fields and every search run that found it (provenance).

The automatic pass is incremental: each record is compared once, when it is new, with the
records already in the store (found through the stored blocking keys) and with the other new
records. The store is never compared with itself again.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from living_review.dedup.blocking import blocking_keys
from living_review.dedup.cluster import UnionFind
from living_review.dedup.normalise import NormRecord, normalise_record
from living_review.dedup.pipeline import resolve
from living_review.errors import LsrError
from living_review.store.engine import write_session
from living_review.store.models import (
    AuditEvent,
    DedupKey,
    DedupSeen,
    DuplicateLink,
    Record,
    RecordSource,
    SearchRun,
    utcnow,
)

#: Stored with each record a pass has seen; bump when blocking keys change meaning.
ENGINE_VERSION = "1"
#: A key shared with more stored records than this is too generic to block on (a common
#: title stem in a huge store); the record's other keys still find its duplicates.
MAX_EXISTING_PER_KEY = 200
#: Hard-negative verdicts above this score are stored (as "distinct", method "rule"), so a
#: reviewer can see why two look-alike records were kept apart.
KEEP_RULE_VERDICTS_FROM = 0.8
_BATCH = 500

_FIELDS = (
    "id", "database", "source_key", "title", "abstract", "authors", "year", "journal",
    "journal_abbrev", "volume", "issue", "pages", "doi", "pmid", "publication_types", "flags",
)  # fmt: skip

Decision = Literal["duplicate", "possible", "distinct"]


class DedupError(LsrError):
    """A dedup command named a record or pair it cannot act on."""


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PossiblePair:
    """A pair awaiting review, with its score and the scorer's reason."""

    record_a: int
    record_b: int
    score: float
    reason: str | None
    key_a: str
    key_b: str

    def as_json(self) -> dict[str, Any]:
        """Return the pair as the ``possible`` entries of ``lsr dedup --json``."""
        return {
            "record_a": self.record_a,
            "record_b": self.record_b,
            "source_keys": [self.key_a, self.key_b],
            "score": self.score,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ClusterMember:
    """One record of a cluster and the search runs that found it."""

    record_id: int
    database: str
    source_key: str
    title: str | None
    runs: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Cluster:
    """Records the store holds as one; ``kept`` is the most complete member."""

    kept: int
    members: list[ClusterMember]

    @property
    def source_keys(self) -> list[str]:
        """Each member's source key, once per record (a key found by several runs: once)."""
        return [m.source_key for m in self.members]

    def as_json(self) -> dict[str, Any]:
        """Return the cluster with its members and provenance."""
        return {"kept": self.kept, "members": [asdict(m) for m in self.members]}


@dataclass(frozen=True)
class DuplicateCounts:
    """PRISMA's duplicate count, derived from search runs, records and duplicate links.

    ``identified`` is the sum of records in every search run; ``unique`` the records left
    after joining same-accession records at import and merging duplicates; ``removed`` their
    difference (PRISMA 2020 "duplicate records removed").
    """

    identified: int
    records: int
    unique: int
    removed_at_import: int
    removed_by_dedup: int
    removed: int

    def as_json(self) -> dict[str, int]:
        """Return the counts as plain data."""
        return asdict(self)


@dataclass(frozen=True)
class PassResult:
    """What one automatic pass did."""

    records_compared: int
    pairs_scored: int
    merged_pairs: int
    possible_pairs: int
    kept_apart: int
    counts: DuplicateCounts

    def as_json(self) -> dict[str, Any]:
        """Return the pass as plain data."""
        out = asdict(self)
        out["counts"] = self.counts.as_json()
        return out


# --- reading the store -----------------------------------------------------------------------


@dataclass
class _Link:
    id: int
    decision: str
    score: float | None
    method: str
    actor: str | None
    reason: str | None


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _current_links(session: Session) -> dict[tuple[int, int], _Link]:
    """Return each pair's newest decision (the rows are append-only; newest wins)."""
    rows = session.execute(
        select(
            col(DuplicateLink.id),
            col(DuplicateLink.record_a),
            col(DuplicateLink.record_b),
            col(DuplicateLink.decision),
            col(DuplicateLink.score),
            col(DuplicateLink.method),
            col(DuplicateLink.actor),
            col(DuplicateLink.reason),
        ).order_by(col(DuplicateLink.id))
    )
    out: dict[tuple[int, int], _Link] = {}
    for lid, a, b, decision, score, method, actor, reason in rows:
        out[(a, b)] = _Link(lid, decision, score, method, actor, reason)
    return out


def _components(links: dict[tuple[int, int], _Link]) -> dict[int, list[int]]:
    """Return record id -> sorted members of its cluster, for records in multi-record clusters."""
    ids = sorted({i for pair, link in links.items() if link.decision == "duplicate" for i in pair})
    index = {rid: n for n, rid in enumerate(ids)}
    uf = UnionFind(len(ids))
    for (a, b), link in links.items():
        if link.decision == "duplicate":
            uf.union(index[a], index[b])
    groups: dict[int, list[int]] = defaultdict(list)
    for rid in ids:
        groups[uf.find(index[rid])].append(rid)
    return {rid: members for members in groups.values() for rid in members}


def _chunks(items: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_rows(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    columns = [getattr(Record, f) for f in _FIELDS]
    for chunk in _chunks(sorted(set(ids))):
        for row in session.execute(select(*columns).where(col(Record.id).in_(chunk))):
            out[row[0]] = dict(zip(_FIELDS, row, strict=True))
    return out


def _norm(row: dict[str, Any]) -> NormRecord:
    return normalise_record(row, key=row["id"])


def _source_key(row: dict[str, Any]) -> str:
    """A record's source key for listings; records without one are named by store id."""
    return str(row["source_key"]) if row.get("source_key") else f"record-{row['id']}"


# --- the automatic pass ----------------------------------------------------------------------


def dedup_new_records(
    engine: Engine, record_ids: Iterable[int], *, actor: str = "dedup"
) -> PassResult:
    """Compare newly imported records with the store and with each other; store the outcomes.

    This is the function the import path calls after each import. Records already seen by a
    pass are skipped, so calling it twice changes nothing. Duplicates are linked (merged),
    uncertain pairs queued for review, and hard negatives with a high score recorded as kept
    apart. Decisions already in the store (a reviewer's above all) are never overridden.
    """
    with write_session(engine) as session:
        ids = sorted(set(record_ids))
        seen: set[int] = set()
        for chunk in _chunks(ids):
            seen.update(
                session.scalars(
                    select(col(DedupSeen.record_id)).where(col(DedupSeen.record_id).in_(chunk))
                )
            )
        new_ids = [i for i in ids if i not in seen]
        result = _pass(session, new_ids, actor=actor)
    return result


def run_dedup(engine: Engine, *, actor: str = "dedup") -> PassResult:
    """Run the automatic pass over every record no pass has seen yet (``lsr dedup``)."""
    with Session(engine) as session:
        unseen: list[int] = list(
            session.scalars(
                select(col(Record.id))
                .where(col(Record.id).not_in(select(col(DedupSeen.record_id))))
                .order_by(col(Record.id))
            )
        )
    return dedup_new_records(engine, unseen, actor=actor)


def _pass(session: Session, new_ids: list[int], *, actor: str) -> PassResult:
    if not new_ids:
        return PassResult(0, 0, 0, 0, 0, _counts(session))
    new_rows = _load_rows(session, new_ids)
    new_norms = {rid: _norm(row) for rid, row in new_rows.items()}
    new_keys = {rid: blocking_keys(n) for rid, n in new_norms.items()}

    # Candidates already in the store, found through their stored blocking keys.
    all_keys = sorted({k for ks in new_keys.values() for k in ks})
    hits: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(all_keys):
        for rid, key in session.execute(
            select(col(DedupKey.record_id), col(DedupKey.key)).where(col(DedupKey.key).in_(chunk))
        ):
            hits[key].append(rid)
    candidates = {
        rid for members in hits.values() if len(members) <= MAX_EXISTING_PER_KEY for rid in members
    } - set(new_ids)

    links = _current_links(session)
    comp = _components(links)
    involved = set(candidates)
    for rid in candidates:
        involved.update(comp.get(rid, ()))
    old_rows = _load_rows(session, involved)

    order = sorted(old_rows) + sorted(new_rows)
    norms = [_norm(old_rows[i]) for i in sorted(old_rows)]
    norms += [new_norms[i] for i in sorted(new_rows)]
    index = {rid: n for n, rid in enumerate(order)}
    fixed_same: list[tuple[int, int]] = []
    fixed_diff: list[tuple[int, int]] = []
    decided: set[tuple[int, int]] = set()
    for (a, b), link in links.items():
        if a in index and b in index:
            pair = _pair(index[a], index[b])
            decided.add(pair)
            if link.decision == "duplicate":
                fixed_same.append(pair)
            elif link.decision == "distinct" and link.method in {"reviewer", "split", "rule"}:
                fixed_diff.append(pair)
    res = resolve(
        norms,
        new=[index[i] for i in new_rows],
        fixed_same=fixed_same,
        fixed_different=fixed_diff,
        already_decided=decided,
    )

    merged = possible = kept_apart = 0
    now = utcnow()
    link_rows: list[DuplicateLink] = []
    for (i, j), s in sorted(res.pairs.items()):
        a, b = _pair(order[i], order[j])
        if s.outcome == "duplicate":
            merged += 1
        elif s.outcome == "possible":
            possible += 1
        elif s.method == "rule" and s.score >= KEEP_RULE_VERDICTS_FROM:
            kept_apart += 1
        else:
            continue
        link_rows.append(
            DuplicateLink(
                record_a=a,
                record_b=b,
                decision=s.outcome,
                score=s.score,
                method=s.method if s.outcome != "possible" else "auto",
                actor=actor,
                reason=s.reason,
                created_at=now,
            )
        )
    session.add_all(link_rows)
    session.add_all(
        DedupKey(record_id=rid, key=k) for rid, ks in new_keys.items() for k in sorted(set(ks))
    )
    session.add_all(
        DedupSeen(record_id=rid, seen_at=now, engine_version=ENGINE_VERSION) for rid in new_rows
    )
    session.flush()
    counts = _counts(session)
    session.add(
        AuditEvent(
            actor=actor,
            action="dedup_pass",
            entity="record",
            entity_id=None,
            detail={
                "records_compared": len(new_rows),
                "pairs_scored": len(res.pairs),
                "merged_pairs": merged,
                "possible_pairs": possible,
                "kept_apart": kept_apart,
            },
        )
    )
    return PassResult(len(new_rows), len(res.pairs), merged, possible, kept_apart, counts)


# --- listings --------------------------------------------------------------------------------


def _runs_by_record(session: Session, ids: Iterable[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(set(ids))):
        for rid, run in session.execute(
            select(col(RecordSource.record_id), col(RecordSource.search_run_id))
            .where(col(RecordSource.record_id).in_(chunk))
            .order_by(col(RecordSource.search_run_id))
        ):
            out[rid].append(run)
    return out


def list_clusters(engine: Engine) -> list[Cluster]:
    """Return every group of imported source records the store holds as one record.

    That is each cluster of records joined by the dedup pass or a reviewer, and each single
    record that several search runs found (joined at import by its accession). A cluster lists
    each member record once, with the runs that found it.
    """
    with Session(engine) as session:
        comp = _components(_current_links(session))
        multi_run = set(
            session.scalars(
                select(col(RecordSource.record_id))
                .group_by(col(RecordSource.record_id))
                .having(func.count() > 1)
            )
        )
        groups: list[list[int]] = []
        done: set[int] = set()
        for rid in sorted(comp):
            if rid not in done:
                groups.append(comp[rid])
                done.update(comp[rid])
        groups += [[rid] for rid in sorted(multi_run - done)]
        ids = [i for g in groups for i in g]
        rows = _load_rows(session, ids)
        runs = _runs_by_record(session, ids)
    clusters = []
    for g in groups:
        norms = [_norm(rows[i]) for i in g]
        kept = min(norms, key=lambda n: (-n.completeness, n.key)).key
        members = [
            ClusterMember(
                record_id=i,
                database=rows[i]["database"],
                source_key=_source_key(rows[i]),
                title=rows[i]["title"],
                runs=runs.get(i, []),
            )
            for i in g
        ]
        clusters.append(Cluster(kept=kept, members=members))
    return clusters


def possible_pairs(engine: Engine) -> list[PossiblePair]:
    """Return the pairs awaiting review, highest score first.

    A pair whose records already ended up in one cluster (through other links) needs no
    review and is not listed.
    """
    with Session(engine) as session:
        links = _current_links(session)
        comp = _components(links)
        pending = [
            (pair, link)
            for pair, link in links.items()
            if link.decision == "possible"
            and not (pair[0] in comp and pair[1] in comp.get(pair[0], ()))
        ]
        rows = _load_rows(session, {i for pair, _ in pending for i in pair})
    out = [
        PossiblePair(
            a, b, float(link.score or 0.0), link.reason, _source_key(rows[a]), _source_key(rows[b])
        )
        for (a, b), link in pending
    ]
    return sorted(out, key=lambda p: (-p.score, p.record_a, p.record_b))


def dedup_json(engine: Engine) -> dict[str, Any]:
    """Return the ``lsr dedup --json`` object: ``clusters`` and ``possible`` (the contract)."""
    clusters = list_clusters(engine)
    return {
        "clusters": [c.source_keys for c in clusters],
        "possible": [p.as_json() for p in possible_pairs(engine)],
        "cluster_details": [c.as_json() for c in clusters],
        "counts": duplicate_counts(engine).as_json(),
    }


def _counts(session: Session) -> DuplicateCounts:
    identified = int(
        session.scalar(select(func.coalesce(func.sum(col(SearchRun.records_in_file)), 0))) or 0
    )
    records = int(session.scalar(select(func.count()).select_from(Record)) or 0)
    comp = _components(_current_links(session))
    merged_away = len(comp) - len({min(m) for m in comp.values()})
    unique = records - merged_away
    return DuplicateCounts(
        identified=identified,
        records=records,
        unique=unique,
        removed_at_import=max(identified - records, 0),
        removed_by_dedup=merged_away,
        removed=max(identified - unique, 0),
    )


def duplicate_counts(engine: Engine) -> DuplicateCounts:
    """Return PRISMA's duplicate counts, computed from the links (never stored)."""
    with Session(engine) as session:
        return _counts(session)


# --- decisions -------------------------------------------------------------------------------


def _check_records(session: Session, *ids: int) -> None:
    found = set(session.scalars(select(col(Record.id)).where(col(Record.id).in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise DedupError(f"no record with id {missing[0]}")


def decide(
    engine: Engine,
    record_a: int,
    record_b: int,
    verdict: Literal["same", "different"],
    *,
    reviewer: str,
    reason: str | None = None,
) -> int:
    """Record a reviewer's verdict on a pair; return the number of links written.

    "same" links the pair (their clusters join). "different" marks the pair distinct; when
    the two are already in one cluster through other records, ``record_b`` is split out of
    that cluster so the verdict takes effect, and every reversed link is recorded.
    """
    if record_a == record_b:
        raise DedupError("a record cannot be compared with itself")
    if verdict not in ("same", "different"):
        raise DedupError(f"verdict must be 'same' or 'different', not {verdict!r}")
    if not reviewer:
        raise DedupError("a reviewer name is required")
    with write_session(engine) as session:
        _check_records(session, record_a, record_b)
        a, b = _pair(record_a, record_b)
        decision = "duplicate" if verdict == "same" else "distinct"
        session.add(
            DuplicateLink(
                record_a=a,
                record_b=b,
                decision=decision,
                score=None,
                method="reviewer",
                actor=reviewer,
                reason=reason,
            )
        )
        written = 1
        if verdict == "different":
            session.flush()
            comp = _components(_current_links(session))
            if record_b in comp.get(record_a, ()):
                written += _split(
                    session, record_b, reviewer=reviewer, reason=reason or "reviewer: different"
                )
        session.add(
            AuditEvent(
                actor=reviewer,
                action="dedup_decide",
                entity="record_pair",
                entity_id=f"{a},{b}",
                detail={"verdict": verdict, "reason": reason},
            )
        )
    return written


def _split(session: Session, record_id: int, *, reviewer: str, reason: str | None) -> int:
    links = _current_links(session)
    reversed_ = [
        pair for pair, link in links.items() if record_id in pair and link.decision == "duplicate"
    ]
    session.add_all(
        DuplicateLink(
            record_a=a,
            record_b=b,
            decision="distinct",
            score=links[(a, b)].score,
            method="split",
            actor=reviewer,
            reason=reason,
        )
        for a, b in reversed_
    )
    return len(reversed_)


def split(engine: Engine, record_id: int, *, reviewer: str, reason: str | None = None) -> int:
    """Take a record out of its cluster; return how many duplicate links were reversed.

    Nothing is deleted: each of the record's current duplicate links gets a newer "distinct"
    row naming the reviewer and reason, so the merge and its reversal both stay on record,
    and no later automatic pass re-merges the pair.
    """
    with write_session(engine) as session:
        _check_records(session, record_id)
        n = _split(session, record_id, reviewer=reviewer, reason=reason)
        if n == 0:
            raise DedupError(f"record {record_id} is not merged with any other record")
        session.add(
            AuditEvent(
                actor=reviewer,
                action="dedup_split",
                entity="record",
                entity_id=str(record_id),
                detail={"links_reversed": n, "reason": reason},
            )
        )
    return n


def link_history(engine: Engine, record_a: int, record_b: int) -> list[dict[str, Any]]:
    """Return every decision ever stored for a pair, oldest first (who, what, why, when)."""
    a, b = _pair(record_a, record_b)
    with Session(engine) as session:
        rows = session.scalars(
            select(DuplicateLink)
            .where(col(DuplicateLink.record_a) == a, col(DuplicateLink.record_b) == b)
            .order_by(col(DuplicateLink.id))
        ).all()
        return [
            {
                "decision": r.decision,
                "method": r.method,
                "actor": r.actor,
                "reason": r.reason,
                "score": r.score,
                "at": r.created_at.isoformat(timespec="seconds"),
            }
            for r in rows
        ]


# --- side-by-side view for review ------------------------------------------------------------

_VIEW_FIELDS = (
    "database", "source_key", "found_by", "title", "authors", "year", "journal", "volume",
    "issue", "pages", "doi", "pmid", "publication_types", "flags", "abstract",
)  # fmt: skip


def _found_by(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """Which search runs found each record (database, date, file), oldest first.

    Shown with a pair because provenance is part of the judgment: two records from one export
    file are rarely the same article twice, while the same paper from PubMed and Embase is the
    usual duplicate.
    """
    out: dict[int, list[str]] = defaultdict(list)
    q = (
        select(
            col(RecordSource.record_id),
            col(SearchRun.database),
            col(SearchRun.run_at),
            col(SearchRun.file_name),
        )
        .join(SearchRun, col(SearchRun.id) == col(RecordSource.search_run_id))
        .where(col(RecordSource.record_id).in_(list(ids)))
        .order_by(col(SearchRun.run_at), col(SearchRun.id))
    )
    for rid, database, run_at, file_name in session.execute(q):
        where = f" ({file_name})" if file_name else " (live)"
        out[rid].append(f"{database} {run_at:%Y-%m-%d}{where}")
    return out


@dataclass(frozen=True)
class FieldDiff:
    """One field of a pair side by side; ``segments_*`` mark the words that differ."""

    name: str
    value_a: str
    value_b: str
    same: bool
    segments_a: list[tuple[str, bool]]
    segments_b: list[tuple[str, bool]]


def word_diff(a: str, b: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Return both texts as ``(text, differs)`` segments, aligned word by word."""
    wa, wb = a.split(), b.split()
    sm = difflib.SequenceMatcher(a=[w.casefold() for w in wa], b=[w.casefold() for w in wb])
    out_a: list[tuple[str, bool]] = []
    out_b: list[tuple[str, bool]] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        same = tag == "equal"
        if i2 > i1:
            out_a.append((" ".join(wa[i1:i2]), not same))
        if j2 > j1:
            out_b.append((" ".join(wb[j1:j2]), not same))
    return out_a, out_b


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def pair_view(engine: Engine, record_a: int, record_b: int) -> list[FieldDiff]:
    """Return the two records field by field with the differing words marked."""
    with Session(engine) as session:
        _check_records(session, record_a, record_b)
        rows = _load_rows(session, [record_a, record_b])
        found = _found_by(session, [record_a, record_b])
    for rid in (record_a, record_b):
        rows[rid]["found_by"] = "; ".join(found.get(rid, []))
    out = []
    for name in _VIEW_FIELDS:
        va, vb = _text(rows[record_a].get(name)), _text(rows[record_b].get(name))
        if not va and not vb:
            continue
        sa, sb = word_diff(va, vb)
        out.append(FieldDiff(name, va, vb, va.casefold() == vb.casefold(), sa, sb))
    return out

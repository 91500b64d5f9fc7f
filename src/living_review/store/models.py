"""Provides the store's tables (SQLModel): the facts the review keeps.

Counts (PRISMA boxes, screening progress) are never columns here: they are derived from these
rows when asked for. Lists and free-form fields are JSON columns so that nothing an export held
is dropped for lack of a column. Every table here has an Alembic migration; a test checks that
the migrated schema equals these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Named constraints, so that Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC (stored as such on every engine)."""
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), **kw))


class SearchRun(SQLModel, table=True):
    """One execution of a search: an imported export file or a live E-utilities run.

    PRISMA's identification counts ("records identified from databases") are the sum of
    ``records_in_file`` over runs, per database.
    """

    __tablename__ = "search_run"

    id: int | None = Field(default=None, primary_key=True)
    database: str = Field(index=True)
    strategy: str | None = Field(default=None, sa_column=Column(Text))
    run_at: datetime = _ts(nullable=False)
    date_from: str | None = None
    date_to: str | None = None
    file_name: str | None = None
    file_sha256: str | None = Field(default=None, index=True)
    file_format: str | None = None
    records_in_file: int = 0
    new_records: int = 0
    linked_records: int = 0
    origin: str = "file"  # "file" (an export) or "eutils" (a live PubMed run)
    actor: str | None = None


class Record(SQLModel, table=True):
    """One bibliographic record as a database returned it (not yet deduplicated).

    ``(database, source_key)`` identifies it: importing the same accession from the same
    database again links the new run to this row instead of copying it. Matching across
    databases is deduplication's job and never happens here.
    """

    __tablename__ = "record"
    __table_args__ = (
        UniqueConstraint("database", "source_key", name="uq_record_database_source_key"),
        Index("ix_record_doi", "doi"),
        Index("ix_record_pmid", "pmid"),
    )

    id: int | None = Field(default=None, primary_key=True)
    database: str
    source_key: str | None = None
    title: str | None = Field(default=None, sa_column=Column(Text))
    abstract: str | None = Field(default=None, sa_column=Column(Text))
    authors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    year: int | None = None
    journal: str | None = Field(default=None, sa_column=Column(Text))
    journal_abbrev: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    pmid: str | None = None
    accession: str | None = None
    publication_types: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str | None = None
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    raw: str = Field(default="", sa_column=Column(Text, nullable=False))
    first_run_id: int | None = Field(default=None, foreign_key="search_run.id")
    created_at: datetime = _ts(nullable=False)


class RecordSource(SQLModel, table=True):
    """Provenance: which search run found which record, at which position in the file.

    ``raw`` holds the run's own text of the record only when it differs from the text the
    record was first stored with (an updated citation), so no version of a record is lost.
    """

    __tablename__ = "record_source"
    __table_args__ = (
        UniqueConstraint("record_id", "search_run_id", name="uq_record_source_record_id"),
        Index("ix_record_source_search_run_id", "search_run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    search_run_id: int = Field(foreign_key="search_run.id")
    position: int
    raw: str | None = Field(default=None, sa_column=Column(Text))


class Reviewer(SQLModel, table=True):
    """A person who screens, extracts, assesses or resolves; every action names one."""

    __tablename__ = "reviewer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str = "reviewer"  # "lead" or "reviewer"
    created_at: datetime = _ts(nullable=False)


class AuditEvent(SQLModel, table=True):
    """An append-only line in the audit trail: who did what to which entity, and when."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False)
    actor: str | None = None
    action: str = Field(index=True)
    entity: str | None = None
    entity_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- deduplication (living_review.dedup) -----------------------------------------------------


class DuplicateLink(SQLModel, table=True):
    """One decision about a pair of records: duplicate, possible (to review) or distinct.

    Append-only: a reviewer's verdict or a split is a *new* row for the pair, and the pair's
    current state is its newest row (highest id), so the history of every merge stays
    readable. ``record_a < record_b`` always. ``method`` says who or what decided: ``exact_id``
    / ``auto`` (the automatic pass), ``rule`` (a hard-negative rule), ``reviewer``, ``split``.
    """

    __tablename__ = "duplicate_link"
    __table_args__ = (Index("ix_duplicate_link_pair", "record_a", "record_b"),)

    id: int | None = Field(default=None, primary_key=True)
    record_a: int = Field(foreign_key="record.id")
    record_b: int = Field(foreign_key="record.id", index=True)
    decision: str  # duplicate | possible | distinct
    score: float | None = None
    method: str  # exact_id | auto | rule | reviewer | split
    actor: str | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts(nullable=False)


class DedupKey(SQLModel, table=True):
    """A blocking key of a record, so an incremental pass finds candidates by index lookup.

    Rows exist for every record the dedup pass has seen (see ``DedupSeen``); the keys are
    derived data and can be rebuilt from the records at any time.
    """

    __tablename__ = "dedup_key"
    __table_args__ = (Index("ix_dedup_key_key", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    key: str


class DedupSeen(SQLModel, table=True):
    """Marks a record as compared with the store by a dedup pass (so it is not compared again)."""

    __tablename__ = "dedup_seen"

    record_id: int = Field(foreign_key="record.id", primary_key=True)
    seen_at: datetime = _ts(nullable=False)
    engine_version: str = "1"


# --- screening (living_review.screening, agreement, prisma) ----------------------------------


class ScreeningAssignment(SQLModel, table=True):
    """Which reviewer is asked to screen which record at which stage ("ta" or "ft").

    Written once per (stage, reviewer, record) when a record enters a stage, so the
    allocation ("two reviewers", or "two on a random share") is reproducible and stays put as
    reviewers join. ``record_id`` is the screening unit: the dedup cluster's kept record when
    it entered screening. The unique index (stage, reviewer, record) is also the index the
    "next record for this reviewer" query walks in order.
    """

    __tablename__ = "screening_assignment"
    __table_args__ = (
        UniqueConstraint("stage", "reviewer_id", "record_id", name="uq_screening_assignment_stage"),
        Index("ix_screening_assignment_record", "record_id", "stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    stage: str  # "ta" | "ft"
    reviewer_id: int = Field(foreign_key="reviewer.id")
    method: str = "dual"  # single | dual | sample (the random share's second reviewer) | topup
    created_at: datetime = _ts(nullable=False)


class ScreeningDecision(SQLModel, table=True):
    """One screening event: a reviewer's include / exclude / maybe on a record at a stage.

    Append-only. A reviewer's current decision on a record is their newest event; a changed
    mind is a new event whose ``supersedes_id`` names the event it replaces, and an undo is an
    event with ``decision = "undo"`` (and ``supersedes_id`` set), after which the reviewer has
    no current decision and the record is back in their queue. ``reason`` is an exclusion
    reason code from the protocol at full text (required there), free text at title/abstract.
    """

    __tablename__ = "screening_decision"
    __table_args__ = (
        Index("ix_screening_decision_reviewer", "reviewer_id", "stage", "record_id", "id"),
        Index("ix_screening_decision_stage_record", "stage", "record_id", "reviewer_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    stage: str  # "ta" | "ft"
    reviewer_id: int = Field(foreign_key="reviewer.id")
    decision: str  # include | exclude | maybe | undo
    reason: str | None = None
    note: str | None = Field(default=None, sa_column=Column(Text))
    supersedes_id: int | None = Field(default=None, foreign_key="screening_decision.id")
    created_at: datetime = _ts(nullable=False)


class Resolution(SQLModel, table=True):
    """The outcome of a screening conflict: who resolved it, how, and why (append-only).

    ``method`` is "third_reviewer" (resolver did not screen the record) or "consensus" (one of
    its screeners records the agreed outcome). The newest row for (record, stage) stands.
    """

    __tablename__ = "resolution"
    __table_args__ = (Index("ix_resolution_stage_record", "stage", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    stage: str
    reviewer_id: int = Field(foreign_key="reviewer.id")
    decision: str  # include | exclude
    reason: str | None = None
    note: str | None = Field(default=None, sa_column=Column(Text))
    method: str = "third_reviewer"
    created_at: datetime = _ts(nullable=False)


class Unblinding(SQLModel, table=True):
    """A lead lifted blinding for a stage: from then on every reviewer sees every decision."""

    __tablename__ = "unblinding"

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id")
    reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts(nullable=False)


class Study(SQLModel, table=True):
    """One trial. Several reports (primary paper, follow-up, subgroup) can belong to it.

    ``registry_id`` (NCT..., ISRCTN..., EudraCT...) is how reports find their study.
    """

    __tablename__ = "study"

    id: int | None = Field(default=None, primary_key=True)
    label: str
    registry_id: str | None = Field(default=None, unique=True)
    created_at: datetime = _ts(nullable=False)


class Report(SQLModel, table=True):
    """The full-text report of a record at the full-text stage: its document and its study.

    A row exists only once something is known about the report (a PDF or URL, a study link, a
    failed retrieval); whether a report was *sought* is derived from title/abstract decisions.
    ``retrieval`` is "sought" until marked "not_retrieved" (PRISMA box F, with the reason).
    Changes are written to the audit trail.
    """

    __tablename__ = "report"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", unique=True)
    study_id: int | None = Field(default=None, foreign_key="study.id", index=True)
    registry_id: str | None = None
    pdf_path: str | None = Field(default=None, sa_column=Column(Text))
    url: str | None = Field(default=None, sa_column=Column(Text))
    retrieval: str = "sought"  # sought | not_retrieved
    not_retrieved_reason: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = _ts(nullable=False)


class ReviewVersion(SQLModel, table=True):
    """A published version of the living review: the cut-off for PRISMA's "previous" column.

    Counts "as of" a version are recomputed from the events dated up to ``cutoff`` (search
    runs, records, duplicate links, assignments, decisions, resolutions); nothing is frozen.
    """

    __tablename__ = "review_version"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(unique=True)
    cutoff: datetime = _ts(nullable=False)
    reviewer_id: int | None = Field(default=None, foreign_key="reviewer.id")
    note: str | None = Field(default=None, sa_column=Column(Text))


# --- extraction (living_review.extraction) ---------------------------------------------------


class ExtractionReport(SQLModel, table=True):
    """A publication or data set of a study that extracted values come from.

    Every study that has extracted data has one ``primary`` report: the analysis unit whose
    final values the NMA reads. A ``subgroup`` (the Japanese patients of REACH) or ``overlap``
    report (the China extension of REACH-2, partly the same patients) is attached to its parent
    study so its numbers are kept with their sources, yet it can never be counted as another
    trial: analyses read primary reports only. ``relation`` keeps the statement of how the
    report relates to its parent (e.g. ``overlaps:REACH-2 (44 of 104 patients ...)``).
    """

    __tablename__ = "extraction_report"
    __table_args__ = (
        UniqueConstraint("study_id", "label", name="uq_extraction_report_study_id"),
        Index("ix_extraction_report_registry_id", "registry_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    label: str
    role: str = "primary"  # primary | subgroup | overlap
    relation: str | None = Field(default=None, sa_column=Column(Text))
    registry_id: str | None = None
    pmid: str | None = None
    doi: str | None = None
    first_author: str | None = None
    year: int | None = None
    created_by: str | None = None
    created_at: datetime = _ts(nullable=False)


class StudyArm(SQLModel, table=True):
    """One arm of a study's report: a protocol treatment (canonical name) and how it was named.

    Arms are identities only; their randomised sizes are extracted values (``Extraction`` rows
    of kind ``arm``), so two extractors' sizes can be compared and every version kept.
    """

    __tablename__ = "study_arm"
    __table_args__ = (
        UniqueConstraint("report_id", "treatment", name="uq_study_arm_report_id"),
        Index("ix_study_arm_study_id", "study_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    report_id: int = Field(foreign_key="extraction_report.id")
    treatment: str
    reported_as: str | None = None
    created_by: str | None = None
    created_at: datetime = _ts(nullable=False)


class Extraction(SQLModel, table=True):
    """One version of one extracted item (append-only; nothing is updated or deleted).

    An *item* is (report, outcome, kind, arm, second arm, name): e.g. the OS hazard ratio of
    ramucirumab vs placebo in REACH-2's primary report. Each extractor's current value of an
    item is their newest ``draft`` row; the item's value for analysis is its newest ``final``
    row (written by a resolver, or by an import of verified data), whose ``supersedes_id``
    names the version it was taken from or replaces. ``values`` holds the numbers as entered
    (derived quantities such as log HR and its SE are computed on read, by one formula in
    :mod:`living_review.extraction.validate`); ``source`` is the reference they were read from.
    """

    __tablename__ = "extraction"
    __table_args__ = (Index("ix_extraction_study_item", "study_id", "report_id", "outcome"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    report_id: int = Field(foreign_key="extraction_report.id")
    outcome: str | None = None  # a protocol outcome; None for design items (arm size, total)
    kind: str  # arm | total | binary | continuous | contrast | median | percent | estimate | extra
    arm_id: int | None = Field(default=None, foreign_key="study_arm.id")
    arm2_id: int | None = Field(default=None, foreign_key="study_arm.id")
    name: str = ""
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    extractor: str
    status: str = "draft"  # draft | final
    source: str | None = Field(default=None, sa_column=Column(Text))
    note: str | None = Field(default=None, sa_column=Column(Text))
    supersedes_id: int | None = Field(default=None, foreign_key="extraction.id")
    created_at: datetime = _ts(nullable=False)


# --- RoB 2 (living_review.rob2) --------------------------------------------------------------


class RoB2Assessment(SQLModel, table=True):
    """One version of one person's RoB 2 assessment of a result (study × outcome); append-only.

    Each save is a new row: an assessor's current assessment is their newest row for the study
    and outcome, and the result's final assessment is the newest ``consensus`` row (written by a
    resolver). ``answers`` holds the signalling answers as given (partial while ``status`` is
    ``in_progress``); ``proposed`` is what the algorithm (``algorithm_version``) proposed then,
    per domain "1".."5" and ``overall``, with the decision-table ``rules``; ``overrides`` are the
    assessor's justified final judgements (and a confirmed "several some concerns" overall);
    ``support`` is free text per question or domain and ``directions`` the optional predicted
    direction of bias per domain and overall. Final judgements are derived from ``proposed``
    and ``overrides``, never stored twice.
    """

    __tablename__ = "rob2_assessment"
    __table_args__ = (Index("ix_rob2_assessment_result", "study_id", "outcome", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    outcome: str  # a protocol outcome name
    assessor: str
    role: str = "assessor"  # assessor | consensus
    status: str = "in_progress"  # in_progress | complete
    variant: str = "assignment"  # assignment | adhering (the Domain 2 variant)
    deviations: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    proposed: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rules: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    overrides: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    support: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    directions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    algorithm_version: str
    numerical_result: str | None = Field(default=None, sa_column=Column(Text))
    note: str | None = Field(default=None, sa_column=Column(Text))
    supersedes_id: int | None = Field(default=None, foreign_key="rob2_assessment.id")
    created_at: datetime = _ts(nullable=False)


# --- living analyses (living_review.living) --------------------------------------------------


class AnalysisRun(SQLModel, table=True):
    """One immutable snapshot of an outcome's NMA fit (append-only; never updated).

    ``studies`` is the exact analysis set, ``data_hash`` the SHA-256 of the exact rows analysed
    (``study_hashes`` per study), ``settings`` the model settings and ``settings_hash`` their
    hash; ``result`` the full ``lsr nma fit --json`` object. ``version`` counts 1..n per
    (outcome, engine) and ``predecessor_id`` names the previous run of that outcome and engine.
    Staleness is derived by comparing these hashes with the current input, never stored.
    """

    __tablename__ = "analysis_run"
    __table_args__ = (
        UniqueConstraint("outcome", "engine", "version", name="uq_analysis_run_outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    outcome: str = Field(index=True)
    version: int
    engine: str  # bayes | frequentist
    trigger: str = "manual"  # manual | update | tui | ...
    actor: str | None = None
    studies: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    study_hashes: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    data_hash: str
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    settings_hash: str
    seed: int | None = None
    converged: bool
    diagnostics: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    predecessor_id: int | None = Field(default=None, foreign_key="analysis_run.id")
    created_at: datetime = _ts(nullable=False)


# --- survival (living_review.survival) -------------------------------------------------------


class KMCurve(SQLModel, table=True):
    """One version of one arm's digitised Kaplan-Meier curve for an outcome (append-only).

    ``points`` are the digitised ``[t, S]`` pairs (preprocessed, S on [0, 1]), ``at_risk`` the
    ``[t, n]`` rows of the table under the figure, ``total_events`` the published total if
    given. The arm's current curve is its newest row for the outcome; a ``withdrawn`` row
    retracts it. Reconstructed IPD and everything estimated from it are derived on read (the
    algorithm is deterministic; ``input_sha256`` identifies the exact input).
    """

    __tablename__ = "km_curve"
    __table_args__ = (Index("ix_km_curve_study_outcome", "study_id", "outcome", "arm_id"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id")
    arm_id: int = Field(foreign_key="study_arm.id")
    outcome: str
    points: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    at_risk: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    total_events: int | None = None
    time_unit: str = "months"
    status: str = "active"  # active | withdrawn
    source: str | None = Field(default=None, sa_column=Column(Text))
    digitiser: str | None = None
    input_sha256: str
    created_by: str
    note: str | None = Field(default=None, sa_column=Column(Text))
    supersedes_id: int | None = Field(default=None, foreign_key="km_curve.id")
    created_at: datetime = _ts(nullable=False)


# --- screening prioritisation and stopping (living_review.screening.prioritise, .stopping) ---


class PriorityRanking(SQLModel, table=True):
    """One ranking of a stage's screening units by predicted relevance (append-only).

    Stores what reproduces it: the model, its settings (seed included), which labels it learnt
    from (``label_source``: reconciled, or single labels too) and how many, and a fingerprint
    of settings + labels + order. ``order`` lists every unit of the stage best first; the
    newest ranking of a stage orders every reviewer's queue.
    """

    __tablename__ = "priority_ranking"
    __table_args__ = (Index("ix_priority_ranking_stage", "stage", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    stage: str
    model: str
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    label_source: str = "reconciled"  # reconciled | single
    training_size: int
    n_includes: int
    fingerprint: str
    order: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    seconds: float
    created_by: str | None = None
    created_at: datetime = _ts(nullable=False)


class ScreeningStop(SQLModel, table=True):
    """A lead's decision to stop screening a stage on the statistical stopping rule.

    Records still unscreened then are counted by PRISMA as excluded by automation tools.
    ``parameters`` holds the rule's target recall, alpha and method; ``estimate`` the figures
    shown to the lead when they decided. A later row with ``withdrawn`` reopens the stage.
    """

    __tablename__ = "screening_stop"

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id")
    rule: str
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    estimate: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    withdrawn: bool = False
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts(nullable=False)

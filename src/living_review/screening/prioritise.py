"""Orders records by predicted relevance so that likely includes reach reviewers first.

Why here and why this way: most records a search returns are irrelevant, and a reviewer who
meets the includes early can stop (with a stated confidence, see
:mod:`~living_review.screening.stopping`) long before the end of the pile. The model is a
plain scikit-learn pipeline that re-implements the mechanisms of ASReview's default model
``elas_u4`` (ASReview 2.x/3.x, Apache-2.0, the ASReview Authors; read from its source:
asreview/models/models.py, balancers.py, learner.py): TF-IDF on word 1-2-grams with
sublinear tf, min_df 1, max_df 0.95, no stop-word list, l2 norm, fitted on all records; a
linear SVM (squared hinge, C 0.11) whose sample weights give the includes 9.8 times the
excludes' total weight (:func:`sample_weights`); the highest decision value screened next
("max" querier, no random exploration); a refit after every label. Reproduced this way it
matches ASReview's own runs on the anchored sets (benchmarks/screening.py). Keywords are
read when present; the title counted twice measured worse (:func:`record_text`).
Earlier settings measured worse: scikit-learn's equal-total ``class_weight="balanced"``
with a refit only every 5% of growth lost 1-7 points of WSS@95 to this; complement NB ranks
far worse; removing English stop words cost 11 points on nagtegaal_2019 (phrases matter);
character 3-5-grams helped one set (+2 points) and hurt another (-6) while tripling the
cost, so they are a setting (``char_ngrams``), off by default. It trains in well under a
second on thousands of labels, so the queue reorders while a reviewer reads one record.

The vocabulary is fitted on *all* records of the stage (unlabelled ones too): that uses no
label and keeps every record's features fixed, so a ranking is reproducible from the record
set, the labels and :class:`PrioritySettings` alone.

Heavy libraries (scikit-learn, SciPy) are imported inside functions: importing the core must
stay cheap (tests/unit/test_import_hygiene.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.protocol import Protocol
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent, PriorityRanking, Record, ScreeningAssignment

#: Classifiers a ranking may use; ``ensemble`` averages the ranks given by LR and SVM.
MODELS: tuple[str, ...] = ("lr", "svm", "nb", "ensemble")

#: The default, chosen by benchmarks/screening.py (mean WSS@95 over the shared sets).
DEFAULT_MODEL = "svm"


class PrioritiseError(LsrError):
    """Prioritisation cannot run as asked (unknown model, no text, bad labels)."""


@dataclass(frozen=True)
class PrioritySettings:
    """Everything that decides a ranking besides the records and labels (stored with it)."""

    model: str = DEFAULT_MODEL
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = None
    #: Inverse regularisation of LR / SVM; ``alpha`` of complement naive Bayes.
    c: float = 1.0
    nb_alpha: float = 0.1
    #: How many times more total weight the includes get than the excludes when the
    #: classifier is fitted (ASReview's ``balanced`` balancer, ``ratio`` 9.8 in elas_u4);
    #: ``None`` gives both classes equal total weight (scikit-learn's ``class_weight``).
    balance_ratio: float | None = 9.8
    #: Weight of the nearest-include similarity in the score (:func:`nearest_include`): the
    #: score is ``(1 - w) * rank(classifier) + w * rank(max cosine to a known include)``.
    #: Off (0) by default, which is ASReview's elas_u4. Measured at 0.2 (5 seeds, same priors):
    #: WSS@95 +0.64 points on average over 13 shared sets, better on 10, but -1.75 on
    #: cohen2006_Estrogens and -2.24 on cohen2006_ProtonPumpInhibitors; kept a setting until
    #: it is judged against same-prior ASReview runs on every set.
    neighbour_weight: float = 0.0
    #: Share of queue picks drawn at random from the unscreened records (exploration).
    exploration: float = 0.0
    #: Learn from single reviewers' decisions before their conflicts are reconciled.
    use_single_labels: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise PrioritiseError(
                f"unknown prioritisation model {self.model!r}; choose one of {', '.join(MODELS)}"
            )
        if not 0.0 <= self.neighbour_weight <= 1.0:
            raise PrioritiseError(
                f"neighbour weight must be in [0, 1], not {self.neighbour_weight}"
            )
        if not 0.0 <= self.exploration < 1.0:
            raise PrioritiseError(f"exploration share must be in [0, 1), not {self.exploration}")

    def as_json(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["word_ngrams"] = list(self.word_ngrams)
        out["char_ngrams"] = list(self.char_ngrams) if self.char_ngrams else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PrioritySettings:
        """Rebuild settings stored with a ranking snapshot."""
        data = dict(data)
        data["word_ngrams"] = tuple(data.get("word_ngrams", (1, 2)))
        if data.get("char_ngrams") is not None:
            data["char_ngrams"] = tuple(data["char_ngrams"])
        return cls(**data)


def record_text(title: str | None, abstract: str | None, keywords: str | None = None) -> str:
    """Join the fields the model reads, each once (as ASReview's ``TextMerger`` does).

    Counting the title twice was measured: level on appenzeller_herzog_2020_wilson, 3 points
    of WSS@95 lost on nagtegaal_2019 -- sublinear tf already gives short fields their weight.
    """
    parts = [title or "", abstract or "", keywords or ""]
    return " ".join(p for p in parts if p).strip()


def featurise(texts: Sequence[str], settings: PrioritySettings) -> Any:
    """Return the TF-IDF matrix (CSR, one row per text) of word and character n-grams.

    Fitted on all texts (transductive, label-free), so features never change as labels arrive
    and a retrain only refits the classifier -- that is what keeps a retrain fast.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        raise PrioritiseError("no records to prioritise")
    blocks = []
    word = TfidfVectorizer(
        ngram_range=settings.word_ngrams,
        sublinear_tf=True,
        strip_accents="unicode",
        max_df=0.95,  # terms in nearly every record rank nothing; stop words are kept
        min_df=1,
        dtype=np.float32,
    )
    try:
        blocks.append(word.fit_transform(texts))
    except ValueError:  # every text empty or stop words only
        blocks.append(sparse.csr_matrix((len(texts), 1), dtype=np.float32))
    if settings.char_ngrams:
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=settings.char_ngrams,
            sublinear_tf=True,
            strip_accents="unicode",
            min_df=2,
            max_features=200_000,
            dtype=np.float32,
        )
        with contextlib.suppress(ValueError):  # no character n-gram in two records
            blocks.append(char.fit_transform(texts))
    matrix = sparse.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()
    return matrix


#: The last feature matrix per record set: the live queue re-ranks the same records after every
#: few decisions, and the TF-IDF fit (unlike the classifier) does not depend on the labels.
_FEATURES: dict[str, Any] = {}


def _cached_features(texts: Sequence[str], settings: PrioritySettings) -> Any:
    """:func:`featurise`, reusing the matrix when the texts and n-gram settings are unchanged."""
    key = hashlib.sha256(
        json.dumps([settings.word_ngrams, settings.char_ngrams, list(texts)]).encode()
    ).hexdigest()
    if key not in _FEATURES:
        _FEATURES.clear()  # one record set at a time: a stage's matrix can be large
        _FEATURES[key] = featurise(texts, settings)
    return _FEATURES[key]


def _rank01(values: np.ndarray) -> np.ndarray:
    """Map scores to their rank in [0, 1] so that different classifiers can be averaged."""
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return order.astype(np.float64) / max(len(values) - 1, 1)


def sample_weights(y: np.ndarray, ratio: float | None) -> np.ndarray:
    """Per-record weights that stop the few includes from drowning among many excludes.

    Re-implements ASReview's ``Balanced`` balancer (asreview/models/balancers.py, Apache-2.0,
    the ASReview Authors): includes weigh 1, excludes ``n_inc / (ratio * n_exc)``, so the
    includes carry ``ratio`` times the excludes' total weight; then rescaled to mean 1 so
    that ``C`` keeps its meaning. Early in a review (1-5 includes among dozens of excludes)
    this strong tilt is what makes the next picks likely includes. ``ratio=None`` is the
    milder equal-total weighting (scikit-learn's ``class_weight="balanced"``).
    """
    n_inc = float(np.sum(y == 1))
    n_exc = float(np.sum(y == 0))
    if ratio is None:
        w = np.where(y == 1, len(y) / (2 * n_inc), len(y) / (2 * n_exc))
    else:
        w = np.where(y == 1, 1.0, n_inc / (ratio * n_exc))
    return np.asarray(w * (len(y) / w.sum()), dtype=np.float64)


def _fit_one(model: str, x: Any, y: np.ndarray, settings: PrioritySettings) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    weights = sample_weights(y, settings.balance_ratio)
    if model == "lr":
        clf: Any = LogisticRegression(C=settings.c * 10.0, solver="liblinear", max_iter=200)
    elif model == "svm":
        # ASReview elas_u4: LinearSVC, squared hinge, C=0.11 (``c`` scales it).
        # random_state fixed: liblinear's dual solver shuffles, a ranking must be reproducible.
        clf = LinearSVC(C=settings.c * 0.11, loss="squared_hinge", random_state=0)
    else:
        clf = ComplementNB(alpha=settings.nb_alpha)
    return clf.fit(x, y, sample_weight=weights)


def _score_one(clf: Any, x: Any) -> np.ndarray:
    if hasattr(clf, "decision_function"):
        return np.asarray(clf.decision_function(x), dtype=np.float64)
    proba = clf.predict_log_proba(x)
    return np.asarray(proba[:, 1] - proba[:, 0], dtype=np.float64)


#: At most this many includes (the most recently labelled) enter :func:`nearest_include`, and
#: rows are compared this many at a time: the product grows with records x includes, and a
#: stage of 100,000 records with thousands of includes must not take gigabytes or minutes.
NEIGHBOUR_MAX_INCLUDES = 500
NEIGHBOUR_ROW_CHUNK = 4096


def nearest_include(matrix: Any, include_rows: Sequence[int]) -> np.ndarray:
    """Each record's cosine similarity to its most similar known include.

    The rows are l2-normalised TF-IDF, so a dot product is the cosine. A linear classifier
    scores along one direction (roughly the includes' centre against the excludes'); an
    include unlike most others (another design, outcome or population) ranks low there while
    its look-alikes sit close to it. A nearest-neighbour relevance-feedback signal, mixed in
    by rank in :func:`fit_scores` when ``neighbour_weight`` is set.
    """
    rows = list(include_rows)[-NEIGHBOUR_MAX_INCLUDES:]
    if not rows:
        return np.zeros(matrix.shape[0])
    inc_t = matrix[rows].T.tocsc()
    out = np.empty(matrix.shape[0])
    for start in range(0, matrix.shape[0], NEIGHBOUR_ROW_CHUNK):
        block = matrix[start : start + NEIGHBOUR_ROW_CHUNK] @ inc_t
        out[start : start + block.shape[0]] = block.max(axis=1).toarray().ravel()
    return out


def cold_start_scores(matrix: Any, query: Any | None, include_rows: Sequence[int]) -> np.ndarray:
    """Score records before both classes are labelled: similarity to what is known relevant.

    ``query`` is the protocol terms as one featurised row (or ``None``); ``include_rows`` are
    known includes. With neither, every record scores 0 (the order is then the record order).
    """
    n = matrix.shape[0]
    centre = None
    if include_rows:
        centre = np.asarray(matrix[list(include_rows)].mean(axis=0)).ravel()
    if query is not None:
        q = np.asarray(query.todense()).ravel()
        centre = q if centre is None else centre + q
    if centre is None:
        return np.zeros(n)
    return np.asarray(matrix @ centre).ravel()


def fit_scores(
    matrix: Any,
    labelled: Sequence[int],
    labels: Sequence[int],
    settings: PrioritySettings,
    *,
    query: Any | None = None,
) -> np.ndarray:
    """Return a relevance score for every row of ``matrix`` (higher = screen sooner).

    ``labelled`` are row indices with ``labels`` (1 include, 0 exclude). Until both classes
    are present the cold-start similarity is used instead of a classifier.
    """
    y = np.asarray(labels, dtype=np.int64)
    rows = np.asarray(labelled, dtype=np.int64)
    if len(rows) != len(y):
        raise PrioritiseError("labelled rows and labels differ in length")
    if len(set(y.tolist())) < 2:
        return cold_start_scores(
            matrix, query, [int(r) for r, v in zip(rows, y, strict=True) if v == 1]
        )
    x = matrix[rows]
    if settings.model == "ensemble":
        # NB ranks far worse on the shared sets (benchmarks/screening.py), so it stays out.
        parts = [_rank01(_score_one(_fit_one(m, x, y, settings), matrix)) for m in ("lr", "svm")]
        scores = np.asarray(np.mean(parts, axis=0))
    else:
        scores = _score_one(_fit_one(settings.model, x, y, settings), matrix)
    w = settings.neighbour_weight
    if w <= 0:
        return scores
    near = nearest_include(matrix, rows[y == 1].tolist())
    return np.asarray((1.0 - w) * _rank01(scores) + w * _rank01(near))


def order_unscreened(
    scores: np.ndarray,
    unscreened: Sequence[int],
    *,
    exploration: float,
    rng: random.Random,
) -> list[int]:
    """Return ``unscreened`` rows best first, with a share of picks drawn at random.

    Exploration means some records reach reviewers although the model ranks them low, so the
    model keeps seeing the kinds of record it is unsure about; ties break by row (stable).
    """
    ranked = sorted(unscreened, key=lambda r: (-float(scores[r]), r))
    if exploration <= 0 or len(ranked) < 2:
        return ranked
    # A pre-shuffled copy gives the random picks in O(n) overall.
    shuffled = list(ranked)
    rng.shuffle(shuffled)
    out: list[int] = []
    taken: set[int] = set()
    head = rand = 0
    while len(out) < len(ranked):
        if rng.random() < exploration:
            while shuffled[rand] in taken:
                rand += 1
            pick = shuffled[rand]
        else:
            while ranked[head] in taken:
                head += 1
            pick = ranked[head]
        taken.add(pick)
        out.append(pick)
    return out


@dataclass
class Ranking:
    """One ranking, with what is needed to reproduce it (stored as a snapshot)."""

    order: list[int]
    scores: list[float]
    settings: PrioritySettings
    training_size: int
    n_includes: int
    seconds: float
    fingerprint: str = field(default="")

    def as_json(self) -> dict[str, Any]:
        """Return the ranking as a JSON-ready dict."""
        return {
            "model": self.settings.model,
            "settings": self.settings.as_json(),
            "training_size": self.training_size,
            "n_includes": self.n_includes,
            "seconds": round(self.seconds, 4),
            "fingerprint": self.fingerprint,
            "order": self.order,
        }


def rank_records(
    keys: Sequence[int],
    texts: Sequence[str],
    labels: dict[int, int],
    settings: PrioritySettings,
    *,
    protocol_terms: Sequence[str] = (),
) -> Ranking:
    """Rank the unlabelled ``keys`` (e.g. record ids) by predicted relevance.

    ``labels`` maps key -> 1/0 for records already decided. Same inputs, same ranking: the
    vectoriser and liblinear are deterministic and exploration draws from ``settings.seed``.
    """
    if len(keys) != len(texts):
        raise PrioritiseError("keys and texts differ in length")
    started = time.perf_counter()
    all_texts = list(texts)
    query_row = None
    if protocol_terms:
        all_texts.append(" ".join(protocol_terms))
        query_row = len(all_texts) - 1
    matrix = _cached_features(all_texts, settings)
    query = matrix[query_row] if query_row is not None else None
    if query_row is not None:
        matrix = matrix[: len(keys)]
    index = {k: i for i, k in enumerate(keys)}
    labelled = [index[k] for k in labels if k in index]
    ys = [labels[k] for k in labels if k in index]
    scores = fit_scores(matrix, labelled, ys, settings, query=query)
    done = set(labelled)
    unscreened = [i for i in range(len(keys)) if i not in done]
    rows = order_unscreened(
        scores, unscreened, exploration=settings.exploration, rng=random.Random(settings.seed)
    )
    order = [int(keys[r]) for r in rows]
    digest = hashlib.sha256(
        json.dumps(
            {"settings": settings.as_json(), "labels": sorted(labels.items()), "order": order}
        ).encode()
    ).hexdigest()[:16]
    return Ranking(
        order=order,
        scores=[round(float(scores[r]), 6) for r in rows],
        settings=settings,
        training_size=len(labelled),
        n_includes=sum(ys),
        seconds=time.perf_counter() - started,
        fingerprint=digest,
    )


# --- the store: rank a stage's screening units and keep the ranking ---------------------------

#: The live queue's settings: a small exploration share (the simulation default has none).
LIVE_SETTINGS = PrioritySettings(exploration=0.05)


def stage_units(session: Session, stage: str) -> list[int]:
    """Every screening unit (kept record of a dedup cluster) assigned at ``stage``."""
    q = (
        select(col(ScreeningAssignment.record_id))
        .where(col(ScreeningAssignment.stage) == stage)
        .distinct()
    )
    return sorted(int(r) for r in session.scalars(q))


def stage_labels(
    session: Session, protocol: Protocol, stage: str, *, single: bool = False
) -> list[tuple[int, int]]:
    """``(record, 1|0)`` for records decided at ``stage``, in the order they were decided.

    A record is labelled once its outcome is final (reviewers agree, or the conflict is
    resolved); with ``single`` also from single reviewers' votes before that (include or
    maybe -> 1). The order (newest vote event) is what the stopping rule needs.
    """
    from living_review.screening.conflicts import stage_votes

    states, votes = stage_votes(
        session, stage=stage, maybe_is_conflict=protocol.screening.maybe_is_conflict
    )
    out: list[tuple[int, int, int]] = []
    for rid, st in states.items():
        last, include_or_maybe = votes.get(rid, (0, False))
        if st.status in ("include", "exclude"):
            out.append((last, rid, int(st.status == "include")))
        elif single and rid in votes:
            out.append((last, rid, int(include_or_maybe)))
    out.sort()
    return [(rid, y) for _, rid, y in out]


def compute_ranking(
    *,
    engine: Engine,
    protocol: Protocol,
    stage: str,
    settings: PrioritySettings | None = None,
    actor: str | None = None,
) -> PriorityRanking:
    """Rank the stage's units on the labels so far and store the ranking (a TUI worker's job).

    The stored order lists undecided units best first, then decided ones; every reviewer's
    queue follows it (:func:`living_review.screening.queue.queue`). Cold start uses the
    protocol's ``include_terms``.
    """
    from living_review.screening import check_stage

    check_stage(stage)
    settings = settings or LIVE_SETTINGS
    with Session(engine) as session:
        units = stage_units(session, stage)
        labelled = stage_labels(session, protocol, stage, single=settings.use_single_labels)
        texts: dict[int, str] = {}
        for i in range(0, len(units), 500):
            for rid, title, abstract, keywords in session.execute(
                select(
                    col(Record.id), col(Record.title), col(Record.abstract), col(Record.keywords)
                ).where(col(Record.id).in_(units[i : i + 500]))
            ):
                texts[int(rid)] = record_text(title, abstract, " ".join(keywords or []))
    if not units:
        raise PrioritiseError(f"no records are assigned at stage {stage!r} yet")
    labels = dict(labelled)
    ranking = rank_records(
        units,
        [texts.get(u, "") for u in units],
        labels,
        settings,
        protocol_terms=list(protocol.eligibility.include_terms),
    )
    order = ranking.order + sorted(labels)
    with write_session(engine) as session:
        row = PriorityRanking(
            stage=stage,
            model=settings.model,
            settings=settings.as_json(),
            label_source="single" if settings.use_single_labels else "reconciled",
            training_size=ranking.training_size,
            n_includes=ranking.n_includes,
            fingerprint=ranking.fingerprint,
            order=order,
            seconds=round(ranking.seconds, 4),
            created_by=actor,
        )
        session.add(row)
        session.flush()
        session.add(
            AuditEvent(
                actor=actor,
                action="prioritise.rank",
                entity="priority_ranking",
                entity_id=str(row.id),
                detail={
                    "stage": stage,
                    "model": settings.model,
                    "training_size": ranking.training_size,
                    "fingerprint": ranking.fingerprint,
                },
            )
        )
        session.flush()
        session.refresh(row)
        session.expunge(row)
        return row


def latest_ranking(engine: Engine, stage: str) -> PriorityRanking | None:
    """The newest stored ranking of ``stage``, or None before the first one."""
    with Session(engine) as session:
        row = session.scalars(
            select(PriorityRanking)
            .where(col(PriorityRanking.stage) == stage)
            .order_by(col(PriorityRanking.id).desc())
            .limit(1)
        ).first()
        if row is not None:
            session.expunge(row)
        return row

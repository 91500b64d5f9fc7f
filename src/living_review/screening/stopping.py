"""Tells a lead, with a stated confidence, whether screening may stop.

The rule is Callaghan & Müller-Hansen (2020), "Statistical stopping criteria for automated
screening in systematic reviews", Systematic Reviews 9:273. It tests the null hypothesis
"recall is below the target tau" with a hypergeometric test on records screened *at random*
from the pool that was still unscreened when sampling began:

* ``r_al`` includes were found before sampling, the pool then held ``pool`` records;
* a random sample of ``n`` records from the pool held ``k`` includes, so ``r_seen = r_al + k``;
* if recall were below tau, the pool would hold at least
  ``K_tar = floor(r_seen / tau - r_al) + 1`` includes;
* ``p = P(X <= k)`` for ``X ~ Hypergeom(pool, K_tar, n)``. If ``p < alpha`` we reject the null:
  recall >= tau with confidence 1 - alpha.

Two ways to get the "random" sample, both from the paper:

1. :func:`random_sampling_p` -- a real random sample after prioritised screening. This is
   what ``lsr simulate`` replays (the stop point it reports).
2. :func:`ranked_quasi_sampling_p` -- treat the last ``n`` records screened in prioritised
   order as if drawn at random from themselves plus the unscreened pool, for every ``n``,
   and take the smallest p. Prioritised order puts likely includes first, so the records
   left behind are *less* likely relevant than those just screened and the test is
   conservative. It needs no extra sampling, so it is the live estimate the dashboard shows.

The arithmetic is SciPy's ``hypergeom``; only the bookkeeping of the paper is written here.
Nothing here stops screening: a lead records a stop (see :mod:`living_review.prisma`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.protocol import Protocol
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent, ScreeningStop

#: The rule's defaults, stored with every recorded stop.
DEFAULT_TARGET = 0.95
DEFAULT_ALPHA = 0.05
RULE_NAME = "callaghan-mueller-hansen-2020"


class StoppingError(LsrError):
    """The stopping rule was asked something impossible (e.g. a sample bigger than the pool)."""


def k_target(r_seen: int, r_al: int, target: float) -> int:
    """Fewest includes the sampled pool must hold for recall to be below ``target``.

    Recall ``r_seen / (r_al + K)`` is below tau exactly when ``K > r_seen / tau - r_al``.
    """
    if not 0.0 < target < 1.0:
        raise StoppingError(f"recall target must be in (0, 1), not {target}")
    # The small epsilon keeps exact products (e.g. 19 / 0.95 = 20) from rounding up.
    return math.floor(r_seen / target - r_al + 1e-9) + 1


def random_sampling_p(
    *, pool: int, sample: int, k: int, r_al: int, target: float = DEFAULT_TARGET
) -> float:
    """p-value of "recall < target" after a random ``sample`` (with ``k`` includes) of ``pool``."""
    from scipy.stats import hypergeom

    if sample > pool or k > sample or min(pool, sample, k, r_al) < 0:
        raise StoppingError(f"impossible sample: pool={pool} sample={sample} includes={k}")
    k_tar = k_target(r_al + k, r_al, target)
    # Under the null the pool holds >= k_tar includes; if the unsampled rest cannot hold the
    # k_tar - k still missing, the null is impossible and is rejected outright.
    if k_tar - k > pool - sample:
        return 0.0
    return float(hypergeom.cdf(k, pool, k_tar, sample))


def ranked_quasi_sampling_p(
    labels_in_order: Sequence[int], n_total: int, target: float = DEFAULT_TARGET
) -> tuple[float, int]:
    """Smallest p over windows "the last n screened records", and that best window's n.

    ``labels_in_order`` are 1/0 for the records screened so far, in the order screened;
    ``n_total`` counts all records of the stage. Returns ``(1.0, 0)`` before anything is
    screened.

    Only the last window of each run of equal ``k`` is tested. Within such a run ``k``,
    ``r_al``, ``K_tar`` and the unscreened count ``U = pool - n`` are fixed while ``n`` grows,
    and the includes left *outside* the window, ``K_tar - X``, are those among ``U`` records
    drawn from a pool of ``U + n``: a growing pool with fixed ``K_tar`` and ``U`` dilutes them,
    so ``p = P(X <= k)`` falls along the run and its minimum is at the run's end. (Where the
    null is impossible p is 0 along the whole run, and the run's first window is reported.)
    This tests one window per include instead of one per screened record: at 95,000 screened
    it took the estimate from 9 s to a fraction of a second; a test checks it against every
    window.
    """
    import numpy as np

    y = np.asarray(labels_in_order, dtype=np.int64)
    seen = len(y)
    if seen > n_total:
        raise StoppingError(f"{seen} records screened but only {n_total} in the stage")
    if seen == 0:  # before SciPy's import: the dashboard asks this of every new review
        return 1.0, 0
    from scipy.stats import hypergeom

    rev = y[::-1]
    r_total = int(y.sum())
    k_all = np.cumsum(rev)  # includes among the last n screened, n = 1..seen
    ends = np.flatnonzero(np.append(rev[1:] == 1, True))  # window n = i + 1 ends a run
    starts = np.concatenate(([0], ends[:-1] + 1))
    n = ends + 1
    k = k_all[ends]
    unscreened = n_total - seen
    r_al = r_total - k
    k_tar = np.floor(r_total / target - r_al + 1e-9).astype(np.int64) + 1
    pool = unscreened + n
    impossible = (k_tar - k) > unscreened
    p = np.where(impossible, 0.0, hypergeom.cdf(k, pool, np.minimum(k_tar, pool), n))
    best = int(np.argmin(p))
    window = int(starts[best] + 1) if impossible[best] else int(n[best])
    return float(p[best]), window


@dataclass(frozen=True)
class StoppingEstimate:
    """What the dashboard shows: may screening stop, and how sure is that."""

    screened: int
    total: int
    includes: int
    p_value: float
    window: int
    target: float
    alpha: float

    @property
    def reached(self) -> bool:
        """True when recall >= target with confidence 1 - alpha."""
        return self.screened > 0 and self.p_value < self.alpha

    def sentence(self) -> str:
        """One line for a person, e.g. ">= 95% recall reached with 95% confidence after ..."."""
        tau = f"{self.target:.0%}"
        conf = f"{1 - self.alpha:.0%}"
        where = f"after {self.screened:,} of {self.total:,}"
        if self.reached:
            return f"≥ {tau} recall reached with {conf} confidence {where}"
        return f"≥ {tau} recall not yet shown at {conf} confidence {where} (p = {self.p_value:.2f})"

    def as_json(self) -> dict[str, Any]:
        """Return the estimate as a JSON-ready dict."""
        return {
            "rule": RULE_NAME,
            "method": "ranked quasi-sampling",
            "screened": self.screened,
            "total": self.total,
            "includes": self.includes,
            "p_value": self.p_value,
            "window": self.window,
            "target": self.target,
            "alpha": self.alpha,
            "reached": self.reached,
            "sentence": self.sentence(),
        }


def estimate(
    labels_in_order: Sequence[int],
    n_total: int,
    *,
    target: float = DEFAULT_TARGET,
    alpha: float = DEFAULT_ALPHA,
) -> StoppingEstimate:
    """The live stopping estimate for records screened in (mostly) prioritised order."""
    p, window = ranked_quasi_sampling_p(labels_in_order, n_total, target)
    return StoppingEstimate(
        screened=len(labels_in_order),
        total=n_total,
        includes=int(sum(labels_in_order)),
        p_value=p,
        window=window,
        target=target,
        alpha=alpha,
    )


# --- the store: the live estimate of a stage, and the lead's recorded stop --------------------


def stage_estimate(
    *,
    engine: Engine,
    protocol: Protocol,
    stage: str,
    target: float = DEFAULT_TARGET,
    alpha: float = DEFAULT_ALPHA,
) -> StoppingEstimate:
    """The dashboard's estimate: reconciled labels in the order decided, of all stage units."""
    from living_review.screening.prioritise import stage_labels, stage_units

    with Session(engine) as session:
        units = stage_units(session, stage)
        labels = [y for _, y in stage_labels(session, protocol, stage)]
    return estimate(labels, max(len(units), len(labels)), target=target, alpha=alpha)


def record_stop(
    *,
    engine: Engine,
    protocol: Protocol,
    stage: str,
    reviewer: str,
    note: str | None = None,
    target: float = DEFAULT_TARGET,
    alpha: float = DEFAULT_ALPHA,
) -> ScreeningStop:
    """A lead stops screening ``stage`` (never automatic); the estimate then is kept with it.

    Records left unscreened are from then on counted by PRISMA as excluded by automation
    tools, with this rule and its parameters. The lead may stop before the rule is met (the
    estimate stored says so); it is their decision.
    """
    from living_review.screening import STAGE_LABELS, check_stage
    from living_review.screening.reviewers import get_reviewer, require_lead

    check_stage(stage)
    who = get_reviewer(engine, protocol, reviewer)
    require_lead(who, f"stop screening the {STAGE_LABELS[stage]} stage")
    est = stage_estimate(engine=engine, protocol=protocol, stage=stage, target=target, alpha=alpha)
    with write_session(engine) as session:
        row = ScreeningStop(
            stage=stage,
            reviewer_id=who.id,
            rule=RULE_NAME,
            parameters={"target": target, "alpha": alpha, "method": "ranked quasi-sampling"},
            estimate=est.as_json(),
            note=(note or "").strip() or None,
        )
        session.add(row)
        session.flush()
        session.add(
            AuditEvent(
                actor=reviewer,
                action="screening.stop",
                entity="screening_stop",
                entity_id=str(row.id),
                detail={"stage": stage, "reached": est.reached, "p_value": est.p_value},
            )
        )
        session.flush()
        session.refresh(row)
        session.expunge(row)
        return row


def active_stop(
    session: Session, stage: str, *, as_of: datetime | None = None
) -> ScreeningStop | None:
    """The stop in force at ``stage`` (newest row, unless withdrawn), as of a moment."""
    q = select(ScreeningStop).where(col(ScreeningStop.stage) == stage)
    if as_of is not None:
        q = q.where(col(ScreeningStop.created_at) <= as_of)
    row = session.scalars(q.order_by(col(ScreeningStop.id).desc()).limit(1)).first()
    return None if row is None or row.withdrawn else row

"""Provides inter-reviewer agreement: Cohen's kappa with a 95% CI, percent agreement, tables.

Kappa is Cohen's (1960) unweighted kappa over the categories include / exclude / maybe:
``kappa = (p_o - p_e) / (1 - p_e)``, equal to ``sklearn.metrics.cohen_kappa_score`` on the
same decisions (a test checks it).

Its confidence interval uses the large-sample (non-null) standard error of Fleiss, Cohen &
Everitt (1969), "Large sample standard errors of kappa and weighted kappa", Psychological
Bulletin 72:323-327; also Fleiss, Levin & Paik (2003), *Statistical Methods for Rates and
Proportions*, 3rd ed., section 18.1:

    var(kappa) = [ sum_i p_ii (1 - (p_i. + p_.i)(1 - kappa))^2
                   + (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
                   - (kappa - p_e (1 - kappa))^2 ] / (n (1 - p_e)^2)

and ``kappa ± 1.96 SE`` (clipped to [-1, 1]). This is the "ASE" SAS PROC FREQ reports; its
worked "Agreement Study" example and the Fleiss & Paik example of R's ``statpsych::ci.kappa``
are reproduced to four decimals in ``tests/unit/test_agreement.py``. The simpler
``sqrt(p_o (1 - p_o) / (n (1 - p_e)^2))`` of Cohen (1960), used in McHugh (2012), understates
the SE when kappa is far from 0 and is not used.

The store-facing part pairs reviewers' *current* decisions (the newest event of each; undone
decisions do not count) on each record both decided, per reviewer pair and pooled overall.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.screening import UNDO, check_stage
from living_review.store.models import Reviewer, ScreeningDecision

CATEGORIES: tuple[str, ...] = ("include", "exclude", "maybe")
#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class KappaStats:
    """Kappa and its large-sample CI from one agreement table.

    ``kappa`` (and with it ``se`` and ``ci``) is None when it is undefined: no pairs, or
    chance agreement of 1 (both reviewers used one and the same category throughout).
    """

    n: int
    p_o: float | None
    p_e: float | None
    kappa: float | None
    se: float | None
    ci: tuple[float, float] | None


def kappa_from_table(table: Sequence[Sequence[float]], *, z: float = Z95) -> KappaStats:
    """Return Cohen's kappa with the Fleiss-Cohen-Everitt SE and CI for a square count table.

    ``table[i][j]`` counts items the first rater put in category i and the second in j.
    """
    k = len(table)
    if any(len(row) != k for row in table):
        raise ValueError("an agreement table must be square")
    n = float(sum(sum(row) for row in table))
    if n <= 0:
        return KappaStats(0, None, None, None, None, None)
    p = [[c / n for c in row] for row in table]
    rows = [sum(p[i]) for i in range(k)]
    cols = [sum(p[i][j] for i in range(k)) for j in range(k)]
    p_o = sum(p[i][i] for i in range(k))
    p_e = sum(rows[i] * cols[i] for i in range(k))
    if math.isclose(p_e, 1.0):
        return KappaStats(int(n), p_o, p_e, None, None, None)
    kappa = (p_o - p_e) / (1 - p_e)
    a = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(k))
    b = (1 - kappa) ** 2 * sum(
        p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j
    )
    c = (kappa - p_e * (1 - kappa)) ** 2
    var = max(a + b - c, 0.0) / (n * (1 - p_e) ** 2)
    se = math.sqrt(var)
    ci = (max(-1.0, kappa - z * se), min(1.0, kappa + z * se))
    return KappaStats(int(n), p_o, p_e, kappa, se, ci)


def agreement_table(
    first: Iterable[str], second: Iterable[str], categories: Sequence[str] = CATEGORIES
) -> list[list[int]]:
    """Cross-tabulate two raters' labels (rows: first rater) over ``categories``."""
    index = {c: i for i, c in enumerate(categories)}
    table = [[0] * len(categories) for _ in categories]
    for x, y in zip(first, second, strict=True):
        table[index[x]][index[y]] += 1
    return table


def cohen_kappa(
    first: Sequence[str], second: Sequence[str], categories: Sequence[str] = CATEGORIES
) -> KappaStats:
    """Return kappa and its CI for two raters' labels on the same items."""
    return kappa_from_table(agreement_table(first, second, categories))


# --- agreement from the store -----------------------------------------------------------------


@dataclass
class AgreementResult:
    """Agreement for one reviewer pair, or pooled over every pair (``reviewers`` None)."""

    reviewers: list[str] | None
    stats: KappaStats
    table: list[list[int]]
    pairs: list[AgreementResult] = field(default_factory=list)

    def as_json(self, stage: str | None = None) -> dict[str, Any]:
        """Return the ``lsr agreement --json`` object (``kappa``, ``ci``, ``n``, ``pairs``...)."""
        s = self.stats
        out: dict[str, Any] = {}
        if stage is not None:
            out["stage"] = stage
        if self.reviewers is not None:
            out["reviewers"] = self.reviewers
        out.update(
            {
                "kappa": s.kappa,
                "ci": list(s.ci) if s.ci else None,
                "se": s.se,
                "percent_agreement": None if s.p_o is None else 100.0 * s.p_o,
                "n": s.n,
                "categories": list(CATEGORIES),
                "table": {
                    a: {b: self.table[i][j] for j, b in enumerate(CATEGORIES)}
                    for i, a in enumerate(CATEGORIES)
                },
            }
        )
        if self.reviewers is None:
            out["pairs"] = [p.as_json() for p in self.pairs]
        return out


def _current_votes(session: Session, stage: str) -> dict[int, dict[int, str]]:
    votes: dict[int, dict[int, str]] = defaultdict(dict)
    q = (
        select(
            col(ScreeningDecision.record_id),
            col(ScreeningDecision.reviewer_id),
            col(ScreeningDecision.decision),
        )
        .where(col(ScreeningDecision.stage) == stage)
        .order_by(col(ScreeningDecision.id))
    )
    for rid, reviewer_id, decision in session.execute(q):
        if decision == UNDO:
            votes[rid].pop(reviewer_id, None)
        else:
            votes[rid][reviewer_id] = decision
    return votes


def stage_agreement(*, engine: Engine, stage: str = "ta") -> AgreementResult:
    """Return agreement at ``stage`` per reviewer pair and pooled over all pairs.

    Each record decided by two reviewers gives one pair of labels; the pair's reviewers are
    ordered by name (rows: the first name), and the overall table pools every pair in that
    orientation. Kappa is symmetric in the two raters, so per-pair values do not depend on
    the orientation.
    """
    check_stage(stage)
    n = len(CATEGORIES)
    with Session(engine) as session:
        names = dict(session.execute(select(col(Reviewer.id), col(Reviewer.name))).all())
        votes = _current_votes(session, stage)
    tables: dict[tuple[str, str], list[list[int]]] = {}
    overall = [[0] * n for _ in range(n)]
    index = {c: i for i, c in enumerate(CATEGORIES)}
    for by in votes.values():
        if len(by) < 2:
            continue
        ordered = sorted(((names[r], d) for r, d in by.items()), key=lambda t: t[0])
        for (ra, da), (rb, db) in combinations(ordered, 2):
            key = (ra, rb)
            t = tables.get(key)
            if t is None:
                t = tables[key] = [[0] * n for _ in range(n)]
            t[index[da]][index[db]] += 1
            overall[index[da]][index[db]] += 1
    pairs = [
        AgreementResult([a, b], kappa_from_table(t), t) for (a, b), t in sorted(tables.items())
    ]
    return AgreementResult(None, kappa_from_table(overall), overall, pairs)

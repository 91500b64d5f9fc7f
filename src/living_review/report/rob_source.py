"""Reads the final (consensus) RoB 2 judgements for the report, per protocol outcome.

A thin adapter over :func:`living_review.rob2.service.final_judgments`, so the report's data
model does not depend on the RoB 2 service's types.
"""

from __future__ import annotations

from collections import defaultdict

from living_review.report.build import RobOutcome, RobRow
from living_review.rob2.service import final_judgments
from living_review.workspace import Workspace


def rob_by_outcome(ws: Workspace) -> list[RobOutcome]:
    """One :class:`RobOutcome` per protocol outcome (no rows: not assessed)."""
    by_outcome: dict[str, list[RobRow]] = defaultdict(list)
    for j in final_judgments(ws.engine):
        cells: dict[str, str | None] = {d: j.domains.get(d) for d in ("1", "2", "3", "4", "5")}
        cells["overall"] = j.overall
        by_outcome[j.outcome.casefold()].append(RobRow(j.study, cells))
    return [
        RobOutcome(o.name, o.label, sorted(by_outcome.get(o.name.casefold(), []), key=_key))
        for o in ws.protocol.outcomes
    ]


def _key(row: RobRow) -> str:
    return row.study.casefold()

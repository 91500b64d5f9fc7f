"""Provides PRISMA 2020 flow counts computed from the store, and the flow diagram.

Every number is derived from events when asked (search runs, records, duplicate links,
assignments, screening decisions, resolutions, report and study links); none is stored or
typed in. Boxes follow ``shared/specs/prisma2020.md`` (the PRISMA 2020 templates and the
PRISMA2020 R package's data keys, which the JSON reuses so it can be fed to that renderer):

* A  records identified, per database and per register: the sum of records in each search run;
* B  duplicates removed: A minus the unique records (same accession re-found at import, or
  merged by dedup, including records that duplicate one screened in an earlier cycle);
  automation and other removals are 0 until a tool removes records before screening;
* C  records screened = A - B (the invariant), one per dedup cluster;
* D  excluded at title/abstract (final, after conflict resolution), all by humans;
* E  reports sought = records whose final title/abstract decision is include (a maybe is an
  include unless it is a conflict); F not retrieved (marked so); G assessed = E - F;
* H  reports excluded at full text, by their one primary protocol reason;
* included reports (final full-text include) and studies (distinct linked trials; an unlinked
  report counts as its own study).

Records still awaiting a decision are reported as ``records_awaiting_screening`` and
``reports_awaiting_assessment``, so C = D + E + awaiting and G = sum(H) + included + awaiting
hold at every moment, not only when screening is done.

*Living reviews.* A :class:`~living_review.store.models.ReviewVersion` marks a published
version by its cut-off time. The previous-version column is every count recomputed from the
events dated up to the latest cut-off (nothing is frozen), and the "new" column is the
current count minus it, which keeps every invariant true in both columns (they are linear).
Studies: new = studies included now that were not at the cut-off; total = previous + new.
Records never shown to a human because a lead stopped screening on the statistical stopping
rule (:mod:`living_review.screening.stopping`) are not defined by PRISMA 2020; they go under D
as "excluded by automation tools" (the spec's recommendation), kept apart in
``records_excluded_automation``, with the rule and its parameters in ``screening_stop``.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from living_review.errors import LsrError
from living_review.protocol import Protocol
from living_review.screening.conflicts import RecordState, stage_summary
from living_review.screening.queue import cluster_map
from living_review.screening.reviewers import get_reviewer, require_lead
from living_review.store.engine import write_session
from living_review.store.models import Record, Report, ReviewVersion, SearchRun, utcnow

#: Search sources counted as trial registers (PRISMA "Registers"); every other is a database.
REGISTERS = frozenset(
    {
        "ctgov", "clinicaltrials", "clinicaltrials.gov", "ictrp", "who-ictrp", "euctr",
        "ctis", "isrctn", "chictr", "anzctr", "jrct", "ctri", "drks", "registry", "register",
    }
)  # fmt: skip

FOOTER = (
    "From: Page MJ, McKenzie JE, Bossuyt PM, Boutron I, Hoffmann TC, Mulrow CD, et al. The "
    "PRISMA 2020 statement: an updated guideline for reporting systematic reviews. BMJ "
    "2021;372:n71. doi: 10.1136/bmj.n71. For more information, visit: "
    "http://www.prisma-statement.org/"
)


class PrismaError(LsrError):
    """A PRISMA request that cannot be met (unknown version, unwritable file)."""


@dataclass
class Flow:
    """Cumulative counts as of one moment (all events dated up to it)."""

    database_specific: dict[str, int] = field(default_factory=dict)
    register_specific: dict[str, int] = field(default_factory=dict)
    identified: int = 0
    unique: int = 0
    excluded_automatic: int = 0
    excluded_other: int = 0
    records_excluded: int = 0
    records_excluded_automation: int = 0
    ta_included: int = 0
    not_retrieved: int = 0
    excluded_by_reason: Counter[str] = field(default_factory=Counter)
    reports: set[int] = field(default_factory=set)
    studies: set[str] = field(default_factory=set)
    states: dict[str, dict[int, RecordState]] = field(default_factory=dict, repr=False)
    """Every record's state per stage (not a box: lets an earlier snapshot reuse them)."""

    @property
    def duplicates(self) -> int:
        """Box B, duplicates: identified records that are not unique records."""
        return self.identified - self.unique

    @property
    def screened(self) -> int:
        """Box C: A - B (all three removals)."""
        return self.identified - self.duplicates - self.excluded_automatic - self.excluded_other

    @property
    def assessed(self) -> int:
        """Box G: E - F."""
        return self.ta_included - self.not_retrieved


def _flow(
    session: Session, protocol: Protocol, as_of: datetime | None, now: Flow | None = None
) -> Flow:
    """The cumulative counts as of ``as_of`` (None: now); ``now``: the current flow, whose
    screening states an earlier snapshot reuses for records untouched since (see
    :func:`~living_review.screening.conflicts.stage_summary`)."""
    out = Flow()
    runs = select(col(SearchRun.database), func.sum(col(SearchRun.records_in_file))).group_by(
        col(SearchRun.database)
    )
    recs = select(func.count()).select_from(Record)
    if as_of is not None:
        runs = runs.where(col(SearchRun.run_at) <= as_of)
        recs = recs.where(col(Record.created_at) <= as_of)
    for db, n in session.execute(runs):
        target = out.register_specific if db.casefold() in REGISTERS else out.database_specific
        target[db] = int(n or 0)
    out.identified = sum(out.database_specific.values()) + sum(out.register_specific.values())
    records = int(session.scalar(recs) or 0)
    comp = cluster_map(session, as_of=as_of)
    merged_away = len(comp) - len({m[0] for m in comp.values()})
    out.unique = records - merged_away

    maybe_is_conflict = protocol.screening.maybe_is_conflict
    ta = stage_summary(session, stage="ta", maybe_is_conflict=maybe_is_conflict, as_of=as_of,
                       now=now.states.get("ta") if now else None)  # fmt: skip
    out.states["ta"] = ta
    outcomes = _cluster_outcomes(ta, comp)
    out.records_excluded = outcomes["exclude"]
    included_units = [
        rid
        for rid, st in ta.items()
        if st.status == "include"
        and not any(o < rid and ta.get(o) and ta[o].status == "include" for o in comp.get(rid, ()))
    ]
    out.ta_included = len(included_units)
    sought = set(included_units)
    _automation(session, out, outcomes, as_of)

    rep = select(col(Report.record_id), col(Report.study_id), col(Report.retrieval))
    if as_of is not None:
        rep = rep.where(col(Report.updated_at) <= as_of)
    study_of: dict[int, int | None] = {}
    missing: set[int] = set()
    for rid, study_id, retrieval in session.execute(rep):
        study_of[rid] = study_id
        if retrieval == "not_retrieved" and rid in sought:
            missing.add(rid)
    if as_of is not None:  # study links are facts about the trial: use today's for any date
        study_of.update(session.execute(select(col(Report.record_id), col(Report.study_id))).all())
    out.not_retrieved = len(missing)
    assessed = sought - missing
    ft = stage_summary(session, stage="ft", maybe_is_conflict=maybe_is_conflict, as_of=as_of,
                       now=now.states.get("ft") if now else None)  # fmt: skip
    out.states["ft"] = ft
    for rid in assessed:
        fst = ft.get(rid)
        if fst is None:
            continue
        if fst.status == "exclude":
            out.excluded_by_reason[fst.reason or "unspecified"] += 1
        elif fst.status == "include":
            out.reports.add(rid)
            sid = study_of.get(rid)
            out.studies.add(f"study:{sid}" if sid is not None else f"report:{rid}")
    return out


def _cluster_outcomes(states: dict[int, RecordState], comp: dict[int, list[int]]) -> Counter[str]:
    """Count title/abstract outcomes with one outcome per dedup cluster.

    A cluster that (after a late merge) holds two screened units goes on if either was
    included; otherwise it is excluded if either was, then a conflict if either is one, else
    pending. Records outside multi-record clusters (nearly all) are counted directly, without a
    set per record (this loop runs over every screened record on each PRISMA request).
    """
    out: Counter[str] = Counter(st.status for rid, st in states.items() if rid not in comp)
    by_cluster: dict[int, set[str]] = defaultdict(set)
    for rid, members in comp.items():
        st = states.get(rid)
        if st is not None:
            by_cluster[members[0]].add(st.status)
    for seen in by_cluster.values():
        out[next((s for s in ("include", "exclude", "conflict") if s in seen), "pending")] += 1
    return out


def _automation(
    session: Session, out: Flow, outcomes: Counter[str], as_of: datetime | None
) -> None:
    """After a lead's recorded stop, count records left unscreened as excluded by automation.

    Left unscreened = neither excluded nor included at title/abstract and not a conflict
    (conflicts still wait for a person); records assigned or not alike. They join box D, apart
    in ``records_excluded_automation``; the rule and its parameters are in ``screening_stop``.
    """
    from living_review.screening.stopping import active_stop

    if active_stop(session, "ta", as_of=as_of) is None:
        return
    left = out.screened - out.records_excluded - out.ta_included - outcomes["conflict"]
    out.records_excluded_automation = max(left, 0)
    out.records_excluded += out.records_excluded_automation


@dataclass(frozen=True)
class VersionInfo:
    """A published version of the review (the previous-version column's cut-off)."""

    label: str
    cutoff: datetime


def list_versions(engine: Engine) -> list[VersionInfo]:
    """Return the published versions, oldest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(col(ReviewVersion.label), col(ReviewVersion.cutoff)).order_by(
                col(ReviewVersion.cutoff), col(ReviewVersion.id)
            )
        )
        return [VersionInfo(label, cutoff) for label, cutoff in rows]


def publish_version(
    *,
    engine: Engine,
    protocol: Protocol,
    label: str,
    reviewer: str,
    note: str | None = None,
    cutoff: datetime | None = None,
) -> VersionInfo:
    """Mark a published version of the review (lead only): its counts become "previous"."""
    who = get_reviewer(engine, protocol, reviewer)
    require_lead(who, "publish a version of the review")
    if not label.strip():
        raise PrismaError("a version needs a label (e.g. 'v1' or '2026-11')")
    with write_session(engine) as session:
        if session.scalar(select(col(ReviewVersion.id)).where(col(ReviewVersion.label) == label)):
            raise PrismaError(f"a version called {label!r} already exists")
        row = ReviewVersion(label=label, cutoff=cutoff or utcnow(), reviewer_id=who.id, note=note)
        session.add(row)
        session.flush()
        return VersionInfo(row.label, row.cutoff)


def prisma_counts(
    *, engine: Engine, protocol: Protocol, previous: str | None = None
) -> dict[str, Any]:
    """Return every PRISMA 2020 box as JSON-ready data (``lsr prisma --json``).

    ``previous`` names the version whose cut-off is the previous-version column; by default
    the latest published version, and none (the new-review template) if there is none.
    """
    versions = list_versions(engine)
    prev: VersionInfo | None = None
    if previous is not None:
        prev = next((v for v in versions if v.label == previous), None)
        if prev is None:
            known = ", ".join(v.label for v in versions) or "none published"
            raise PrismaError(f"no review version called {previous!r} (versions: {known})")
    elif versions:
        prev = versions[-1]
    with Session(engine) as session:
        now = _flow(session, protocol, None)
        before = _flow(session, protocol, prev.cutoff, now) if prev is not None else Flow()
    labels = {r.code: r.label for r in protocol.exclusion_reasons}
    new = _column(now, before)
    out: dict[str, Any] = {
        "template": "updated" if prev is not None else "new",
        "previous_version": None
        if prev is None
        else {"label": prev.label, "cutoff": prev.cutoff.isoformat(timespec="seconds")},
        "previous_studies": len(before.studies) if prev is not None else None,
        "previous_reports": len(before.reports) if prev is not None else None,
        **new,
        "new_studies": len(now.studies - before.studies),
        "new_reports": len(now.reports) - len(before.reports),
        "total_studies": len(before.studies) + len(now.studies - before.studies),
        "total_reports": len(now.reports),
        "website_results": None,
        "organisation_results": None,
        "citations_results": None,
        "other_sought_reports": None,
        "other_notretrieved_reports": None,
        "other_assessed": None,
        "other_excluded": None,
        "exclusion_reason_labels": labels,
        "cumulative": _column(now, Flow()),
    }
    return out


def _column(now: Flow, before: Flow) -> dict[str, Any]:
    """Return the boxes of one column: ``now`` minus ``before`` (both cumulative)."""

    def diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        return {k: a.get(k, 0) - b.get(k, 0) for k in sorted(set(a) | set(b))}

    screened = now.screened - before.screened
    excluded = now.records_excluded - before.records_excluded
    sought = now.ta_included - before.ta_included
    not_retrieved = now.not_retrieved - before.not_retrieved
    assessed = now.assessed - before.assessed
    by_reason = diff(dict(now.excluded_by_reason), dict(before.excluded_by_reason))
    reports = len(now.reports) - len(before.reports)
    return {
        "database_results": sum(now.database_specific.values())
        - sum(before.database_specific.values()),
        "register_results": sum(now.register_specific.values())
        - sum(before.register_specific.values()),
        "database_specific_results": diff(now.database_specific, before.database_specific),
        "register_specific_results": diff(now.register_specific, before.register_specific),
        "identified": now.identified - before.identified,
        "duplicates": now.duplicates - before.duplicates,
        "excluded_automatic": now.excluded_automatic - before.excluded_automatic,
        "excluded_other": now.excluded_other - before.excluded_other,
        "records_screened": screened,
        "records_excluded": excluded,
        "records_excluded_human": excluded
        - (now.records_excluded_automation - before.records_excluded_automation),
        "records_excluded_automation": now.records_excluded_automation
        - before.records_excluded_automation,
        "records_awaiting_screening": screened - excluded - sought,
        "dbr_sought_reports": sought,
        "dbr_notretrieved_reports": not_retrieved,
        "dbr_assessed": assessed,
        "dbr_excluded": by_reason,
        "dbr_excluded_total": sum(by_reason.values()),
        "reports_included": reports,
        "reports_awaiting_assessment": assessed - sum(by_reason.values()) - reports,
    }


def check_invariants(counts: dict[str, Any]) -> list[str]:
    """Return the spec's invariants that ``counts`` break (empty when all hold)."""
    problems: list[str] = []
    columns = [("new", counts)]
    if counts.get("cumulative"):
        columns.append(("cumulative", counts["cumulative"]))
    for name, c in columns:
        a = c["database_results"] + c["register_results"]
        checks = {
            "C = A - B": c["records_screened"]
            == a - c["duplicates"] - c["excluded_automatic"] - c["excluded_other"],
            "D <= C": c["records_excluded"] <= c["records_screened"],
            "C = D + E + awaiting": c["records_screened"]
            == c["records_excluded"] + c["dbr_sought_reports"] + c["records_awaiting_screening"],
            "G = E - F": c["dbr_assessed"]
            == c["dbr_sought_reports"] - c["dbr_notretrieved_reports"],
            "sum(H) = G - included - awaiting": sum(c["dbr_excluded"].values())
            == c["dbr_assessed"] - c["reports_included"] - c["reports_awaiting_assessment"],
        }
        problems += [f"{name}: {k}" for k, ok in checks.items() if not ok]
    if counts["total_studies"] > counts["total_reports"]:
        problems.append("studies <= reports")
    if counts["previous_studies"] is not None:
        if counts["total_studies"] < counts["previous_studies"]:
            problems.append("total_studies >= previous_studies")
        if counts["total_reports"] != counts["previous_reports"] + counts["new_reports"]:
            problems.append("total_reports = previous_reports + new_reports")
    return problems


# --- the PRISMA R package's CSV (a second renderer, and a cross-check) -----------------------


def prisma_csv_rows(counts: dict[str, Any]) -> list[tuple[str, str]]:
    """Return ``(data, n)`` pairs in the PRISMA2020 R package's ``PRISMA.csv`` vocabulary."""

    def listing(d: dict[str, int], labels: dict[str, str] | None = None) -> str:
        return "; ".join(f"{(labels or {}).get(k, k)}, {v}" for k, v in d.items() if v)

    def na(v: Any) -> str:
        return "NA" if v is None else str(v)

    labels = counts["exclusion_reason_labels"]
    return [
        ("previous_studies", na(counts["previous_studies"])),
        ("previous_reports", na(counts["previous_reports"])),
        ("database_results", str(counts["database_results"])),
        ("register_results", str(counts["register_results"])),
        ("database_specific_results", listing(counts["database_specific_results"])),
        ("register_specific_results", listing(counts["register_specific_results"])),
        ("duplicates", str(counts["duplicates"])),
        ("excluded_automatic", str(counts["excluded_automatic"])),
        ("excluded_other", str(counts["excluded_other"])),
        ("records_screened", str(counts["records_screened"])),
        ("records_excluded", str(counts["records_excluded"])),
        ("dbr_sought_reports", str(counts["dbr_sought_reports"])),
        ("dbr_notretrieved_reports", str(counts["dbr_notretrieved_reports"])),
        ("dbr_assessed", str(counts["dbr_assessed"])),
        ("dbr_excluded", listing(counts["dbr_excluded"], labels)),
        ("new_studies", str(counts["new_studies"])),
        ("new_reports", str(counts["new_reports"])),
        ("total_studies", str(counts["total_studies"])),
        ("total_reports", str(counts["total_reports"])),
    ]


# --- the flow diagram -------------------------------------------------------------------------

_TITLE_COLOUR = "#FFC125"  # the R package's title_colour "Goldenrod1"
_GREY = "#DCDCDC"  # its greybox_colour "Gainsboro"
_SIDE = "#C5D9F1"
_FONT = 8.5
_LINE = 0.16  # inches per text line at that size
_W = 3.3  # box width, inches (the R package draws 3.5-in boxes with margins)


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else "NA"


def diagram_text(counts: dict[str, Any]) -> dict[str, str]:
    """Return the text of every box, in the templates' exact wording."""
    updated = counts["template"] == "updated"
    labels = counts["exclusion_reason_labels"]
    sources = [
        f"{name} (n = {_n(n)})"
        for name, n in {
            **counts["database_specific_results"],
            **counts["register_specific_results"],
        }.items()
        if n
    ]
    identified = (
        "Records identified from*:\n"
        f"Databases (n = {_n(counts['database_results'])})\n"
        f"Registers (n = {_n(counts['register_results'])})"
    )
    if sources:
        identified += "\n\n" + "\n".join(sources)
    reasons = [f"{labels.get(k, k)} (n = {_n(v)})" for k, v in counts["dbr_excluded"].items() if v]
    excluded = "Reports excluded:" + ("\n" + "\n".join(reasons) if reasons else " (n = 0)")
    text = {
        "head_main": "Identification of new studies via databases and registers"
        if updated
        else "Identification of studies via databases and registers",
        "identified": identified,
        "removed": "Records removed before screening:\n"
        f"Duplicate records removed (n = {_n(counts['duplicates'])})\n"
        "Records marked as ineligible by automation tools "
        f"(n = {_n(counts['excluded_automatic'])})\n"
        f"Records removed for other reasons (n = {_n(counts['excluded_other'])})",
        "screened": f"Records screened\n(n = {_n(counts['records_screened'])})",
        "excluded": f"Records excluded**\n(n = {_n(counts['records_excluded'])})"
        + (
            f"\nby a human (n = {_n(counts['records_excluded_human'])}), by automation "
            f"tools (n = {_n(counts['records_excluded_automation'])})"
            if counts.get("records_excluded_automation")
            else ""
        ),
        "sought": f"Reports sought for retrieval\n(n = {_n(counts['dbr_sought_reports'])})",
        "not_retrieved": f"Reports not retrieved\n(n = {_n(counts['dbr_notretrieved_reports'])})",
        "assessed": f"Reports assessed for eligibility\n(n = {_n(counts['dbr_assessed'])})",
        "reports_excluded": excluded,
    }
    if updated:
        text["head_prev"] = "Previous studies"
        text["previous"] = (
            "Studies included in previous version of review "
            f"(n = {_n(counts['previous_studies'])})\n\n"
            "Reports of studies included in previous version of review "
            f"(n = {_n(counts['previous_reports'])})"
        )
        text["included"] = (
            f"New studies included in review\n(n = {_n(counts['new_studies'])})\n"
            f"Reports of new included studies\n(n = {_n(counts['new_reports'])})"
        )
        text["total"] = (
            f"Total studies included in review\n(n = {_n(counts['total_studies'])})\n"
            f"Reports of total included studies\n(n = {_n(counts['total_reports'])})"
        )
    else:
        text["included"] = (
            f"Studies included in review\n(n = {_n(counts['new_studies'])})\n"
            f"Reports of included studies\n(n = {_n(counts['new_reports'])})"
        )
    return text


def _wrap(text: str, width_in: float) -> str:
    # ~0.55 em per character for a sans-serif font at this size (measured on the PNG).
    chars = max(int(width_in * 72 / (_FONT * 0.55)), 10)
    return "\n".join(
        "\n".join(textwrap.wrap(line, chars)) if line else "" for line in text.split("\n")
    )


def render_diagram(counts: dict[str, Any], path: Path, *, fmt: str | None = None) -> Path:
    """Draw the PRISMA 2020 flow diagram (SVG or PNG, from the suffix or ``fmt``).

    The layout is the official template's: a "Previous studies" column on the left for an
    updated review, the databases-and-registers column with its exclusion boxes on the right,
    and the Identification / Screening / Included bands down the side. matplotlib is imported
    here only, so nothing else pays for it.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise PrismaError(f"{path}: the diagram can be written as .svg, .png or .pdf")
    # The title bar spans both columns; every other box is one column wide.
    t = {
        k: _wrap(v, (2 * _W if k == "head_main" else _W) - 0.2)
        for k, v in diagram_text(counts).items()
    }
    updated = "previous" in t
    band_w, gap_x, gap_y = 0.35, 0.45, 0.35
    x_prev = band_w + 0.25
    x_main = x_prev + (_W + gap_x if updated else 0)
    x_side = x_main + _W + gap_x
    width = x_side + _W + 0.25

    def h(key: str) -> float:
        return 0.22 + _LINE * (t[key].count("\n") + 1)

    # Rows top-down: (main box, side box or None).
    rows: list[tuple[str, str | None]] = [
        ("identified", "removed"),
        ("screened", "excluded"),
        ("sought", "not_retrieved"),
        ("assessed", "reports_excluded"),
        ("included", None),
    ]
    if updated:
        rows.append(("total", None))
    y = 0.25
    head_h = 0.42
    pos: dict[str, tuple[float, float, float, float]] = {}
    pos["head_main"] = (x_main, y, 2 * _W + gap_x, head_h)
    if updated:
        pos["head_prev"] = (x_prev, y, _W, head_h)
    y += head_h + gap_y
    for main, side in rows:
        rh = max(h(main), h(side) if side else 0.0)
        pos[main] = (x_main, y + (rh - h(main)) / 2, _W, h(main))
        if side:
            pos[side] = (x_side, y + (rh - h(side)) / 2, _W, h(side))
        y += rh + gap_y
    if updated:
        pos["previous"] = (x_prev, pos["identified"][1], _W, h("previous"))
    foot = (
        "*Consider, if feasible to do so, reporting the number of records identified from each "
        "database or register searched (rather than the total number across all "
        "databases/registers).\n**If automation tools were used, indicate how many records were "
        "excluded by a human and how many were excluded by automation tools.\n" + FOOTER
    )
    foot = "\n".join(textwrap.fill(p, int(width * 72 / 3.2)) for p in foot.split("\n"))
    foot_h = 0.1 + (foot.count("\n") + 1) * 5.5 * 1.35 / 72  # lines x leading, in inches
    height = y + foot_h + 0.1

    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")

    def box(key: str, fill: str = "white", bold: bool = False, align: str = "center") -> None:
        x0, y0, w, hh = pos[key]
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0), w, hh, boxstyle="round,pad=0,rounding_size=0.05",
                linewidth=0.9, edgecolor="black", facecolor=fill,
            )
        )  # fmt: skip
        left = align == "left"
        ax.text(
            x0 + (0.1 if left else w / 2), y0 + hh / 2, t[key], ha="left" if left else "center",
            va="center", fontsize=_FONT, fontweight="bold" if bold else "normal",
            family="sans-serif", linespacing=1.25,
        )  # fmt: skip

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "lw": 0.9, "color": "black",
                        "shrinkA": 0, "shrinkB": 0},
        )  # fmt: skip

    box("head_main", _TITLE_COLOUR, bold=True)
    if updated:
        box("head_prev", _GREY, bold=True)
        box("previous", _GREY, align="left")
    for main, side in rows:
        box(main, align="left" if main == "identified" else "center")
        if side:
            box(side, align="left" if side in ("removed", "reports_excluded") else "center")
            mx, my, mw, mh = pos[main]
            arrow(mx + mw, my + mh / 2, pos[side][0], my + mh / 2)
    for (a, _), (b, _) in zip(rows, rows[1:], strict=False):
        ax_, ay, aw, ah = pos[a]
        arrow(ax_ + aw / 2, ay + ah, ax_ + aw / 2, pos[b][1])
    if updated:
        px, py, pw, ph = pos["previous"]
        tx, ty, tw, th = pos["total"]
        ax.plot([px + pw / 2, px + pw / 2], [py + ph, ty + th / 2], color="black", lw=0.9)
        arrow(px + pw / 2, ty + th / 2, tx, ty + th / 2)

    last = rows[-1][0]
    bands = [
        ("Identification", pos["identified"][1],
         pos["identified"][1] + max(h("identified"), h("removed"))),
        ("Screening", pos["screened"][1],
         pos["assessed"][1] + max(h("assessed"), h("reports_excluded"))),
        ("Included", pos["included"][1], pos[last][1] + h(last)),
    ]  # fmt: skip
    for label, top, bottom in bands:
        ax.add_patch(
            FancyBboxPatch(
                (0.15, top), band_w - 0.05, bottom - top, boxstyle="round,pad=0,rounding_size=0.05",
                linewidth=0.6, edgecolor="#4F81BD", facecolor=_SIDE,
            )
        )  # fmt: skip
        ax.text(
            0.15 + (band_w - 0.05) / 2, (top + bottom) / 2, label, rotation=90, ha="center",
            va="center", fontsize=_FONT + 0.5, fontweight="bold",
        )  # fmt: skip
    ax.text(
        0.15, height - foot_h, foot,
        ha="left", va="top", fontsize=5.5, color="#333333",
    )  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Text stays text in the SVG (editable, searchable), as journals' figure editors want.
        with rc_context({"svg.fonttype": "none", "font.family": "sans-serif"}):
            fig.savefig(path, format=fmt, dpi=200 if fmt == "png" else 100)
    except OSError as exc:
        raise PrismaError(f"{path}: cannot write the diagram ({exc.strerror or exc})") from None
    return path

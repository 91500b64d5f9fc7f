"""The report as a flat list of blocks (headings, paragraphs, tables, figures, alerts).

Both renderers walk the same blocks, so the Markdown and the HTML report hold the same
sections, sentences and numbers; they differ only in markup. Text in blocks is plain text:
each renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass

from living_review.report.build import OutcomeAnalysis, ReportData
from living_review.report.figures import Figures
from living_review.report.tables import (
    Table,
    analysis_status,
    diagnostics_lines,
    effects_table,
    history_table,
    league_table,
    nodesplit_table,
    prisma_table,
    ranking_table,
    rob_table,
    studies_table,
)


@dataclass(frozen=True)
class Heading:
    """A section heading (level 1-4) with a stable anchor id."""

    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Para:
    """A paragraph of plain text; ``label`` is printed in bold before it."""

    text: str
    label: str | None = None


@dataclass(frozen=True)
class Alert:
    """A statement that must stand out (NOT CONVERGED, STALE, not assessed)."""

    text: str
    kind: str = "warning"  # warning | danger | info


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: list[str]
    anchors: list[str] | None = None
    """In-document anchors the items link to (HTML), e.g. the table of contents."""


@dataclass(frozen=True)
class TableBlock:
    """A table with a caption."""

    caption: str
    table: Table


@dataclass(frozen=True)
class Figure:
    """A drawn figure (by its key in :class:`Figures`) with alt text."""

    key: str
    alt: str


Block = Heading | Para | Alert | Bullets | TableBlock | Figure

SECTIONS = (
    ("protocol", "Protocol"),
    ("prisma", "Study selection (PRISMA 2020)"),
    ("studies", "Characteristics of included studies"),
    ("rob", "Risk of bias (RoB 2)"),
    ("nma", "Network meta-analyses"),
    ("history", "Version history of conclusions"),
)


def _anchor(*parts: str) -> str:
    return "-".join("".join(c if c.isalnum() else "-" for c in p.lower()) for p in parts)


def blocks(data: ReportData, figs: Figures) -> list[Block]:
    """The whole report, top to bottom."""
    out: list[Block] = [Heading(1, data.title, "top")]
    when = data.generated_at[:19].replace("T", " ")
    meta = [f"Generated {when} UTC by living-review"]
    meta.append(f"review {data.short_name}")
    if data.registration:
        meta.append(f"registration {data.registration}")
    if data.living:
        meta.append("living review: the analyses are refitted when the evidence changes")
    out.append(Para("; ".join(meta) + "."))
    out.append(Bullets([title for _, title in SECTIONS], [key for key, _ in SECTIONS]))
    for note in data.notes:
        out.append(Alert(f"Note: {note}.", "info"))

    out.append(Heading(2, f"1. {SECTIONS[0][1]}", "protocol"))
    for label, text in data.question.items():
        out.append(Para(text, label))
    out.append(Para("", "Inclusion criteria"))
    out.append(Bullets(data.eligibility_include))
    if data.eligibility_exclude:
        out.append(Para("", "Exclusion criteria"))
        out.append(Bullets(data.eligibility_exclude))

    out.append(Heading(2, f"2. {SECTIONS[1][1]}", "prisma"))
    out.append(Figure("prisma", "PRISMA 2020 flow diagram"))
    out.append(
        TableBlock(
            "PRISMA 2020 counts, computed from the store's events", prisma_table(data.prisma)
        )
    )
    for problem in data.prisma_problems:
        out.append(Alert(f"PRISMA invariant broken: {problem}", "danger"))

    out.append(Heading(2, f"3. {SECTIONS[2][1]}", "studies"))
    if data.studies:
        out.append(
            TableBlock(
                f"{len(data.studies)} trials; subgroup and overlap reports are attached to their "
                "trial and never analysed as separate trials",
                studies_table(data),
            )
        )
        screened_in = data.prisma.get("total_studies", 0)
        if screened_in != len(data.studies):
            out.append(
                Alert(
                    f"The PRISMA diagram counts {screened_in} studies included at full-text "
                    f"screening; this table lists all {len(data.studies)} studies with extracted "
                    "data (e.g. loaded from verified trial data before screening was recorded).",
                    "info",
                )
            )
    else:
        out.append(Para("No studies have been extracted yet."))

    out.append(Heading(2, f"4. {SECTIONS[3][1]}", "rob"))
    for rob in data.rob:
        out.append(Heading(3, f"{rob.outcome}: {rob.label}", _anchor("rob", rob.outcome)))
        if not rob.assessed:
            out.append(Alert(f"{rob.outcome}: not assessed (no final RoB 2 judgements).", "info"))
            continue
        key = f"rob-{_safe(rob.outcome)}"
        out.append(Figure(f"{key}-traffic", f"RoB 2 traffic-light plot for {rob.outcome}"))
        out.append(Figure(f"{key}-summary", f"RoB 2 summary plot for {rob.outcome}"))
        out.append(TableBlock(f"Final RoB 2 judgements, {rob.outcome}", rob_table(rob)))

    out.append(Heading(2, f"5. {SECTIONS[4][1]}", "nma"))
    for a in data.analyses:
        out += _analysis_blocks(a)

    out.append(Heading(2, f"6. {SECTIONS[5][1]}", "history"))
    out.append(
        Para(
            "Each stored analysis run is a version of the conclusions: the studies it rests on, "
            "what triggered it, and what changed against the version before it."
        )
    )
    for name, runs in data.history.items():
        out.append(Heading(3, name, _anchor("history", name)))
        if runs:
            out.append(TableBlock(f"Analysis versions, {name}", history_table(runs)))
        else:
            out.append(Para("No stored analysis runs yet."))
    return out


def _analysis_blocks(a: OutcomeAnalysis) -> list[Block]:
    anchor = _anchor("nma", a.name)
    out: list[Block] = [Heading(3, f"{a.name}: {a.label} ({a.measure})", anchor)]
    status = analysis_status(a)
    kind = (
        "danger" if (a.result is not None and not a.converged) else "warning" if a.stale else "info"
    )
    out.append(Alert(status, kind) if kind != "info" or a.source != "stored" else Para(status))
    if a.result is None:
        if a.n_descriptive:
            out.append(
                Para(f"{a.n_descriptive} values of {a.name} are descriptive only (not analysable).")
            )
        return out
    res = a.result
    if a.network is not None:
        out.append(Figure(f"nma-{a.key}-network", f"Evidence network for {a.name}"))
    if not res.converged:
        out.append(Heading(4, "Diagnostics", f"{anchor}-diagnostics"))
        out.append(Bullets(diagnostics_lines(a)))
        if a.warnings:
            out.append(Bullets([f"Note: {w}" for w in a.warnings]))
        return out
    out.append(Heading(4, f"Relative effects vs {res.reference}", f"{anchor}-effects"))
    out.append(Figure(f"nma-{a.key}-forest", f"Forest plot of {a.name} vs {res.reference}"))
    out.append(TableBlock(f"{a.name}: effects vs {res.reference} and ranking", effects_table(a)))
    bayes = res.ranking_method.startswith("SUCRA")
    title = "Ranking (SUCRA)" if bayes else "Ranking (P-score, the frequentist SUCRA)"
    out.append(Heading(4, title, f"{anchor}-sucra"))
    out.append(TableBlock(f"{a.name}: {res.ranking_method}", ranking_table(a)))
    out.append(Figure(f"nma-{a.key}-sucra", f"SUCRA bars for {a.name}"))
    out.append(Figure(f"nma-{a.key}-rankogram", f"Rankogram for {a.name}"))
    out.append(Heading(4, "League table", f"{anchor}-league"))
    out.append(
        TableBlock(
            f"{a.name}: row treatment vs column comparator, {res.measure} (natural scale)",
            league_table(a),
        )
    )
    out.append(Heading(4, "Diagnostics", f"{anchor}-diagnostics"))
    out.append(Bullets(diagnostics_lines(a)))
    split = nodesplit_table(a)
    if a.nodesplit is not None:
        out.append(Heading(4, "Inconsistency (node-splitting)", f"{anchor}-nodesplit"))
    if split is not None:
        out.append(TableBlock(f"{a.name}: direct vs indirect evidence (stored run)", split))
    elif a.nodesplit is not None:
        out.append(Para("No comparison has both direct and indirect evidence (no closed loop)."))
    if a.not_analysed:
        items = sorted({f"{r['report']} ({r['role']} of {r['study']})" for r in a.not_analysed})
        out.append(Para("", "Reports kept but not analysed as trials"))
        out.append(Bullets(items))
    if a.warnings:
        out.append(Bullets([f"Warning: {w}" for w in a.warnings]))
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)

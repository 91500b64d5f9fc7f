"""Turns :class:`ReportData` into tables and sentences that both renderers print as they are.

Markdown and HTML differ only in markup; every number and word comes from here, so the two
formats cannot disagree. Estimates are printed on the natural scale (exp for HR/OR/RR),
median (Bayesian) or estimate (frequentist) with the 95% interval, as ``lsr nma`` prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from living_review.nma.result import NMAResult, Summary
from living_review.report.build import (
    OutcomeAnalysis,
    ReportData,
    RobOutcome,
    RunInfo,
    StudyInfo,
    is_bayesian,
)

JUDGEMENT_LABELS = {
    "low": "Low",
    "some_concerns": "Some concerns",
    "high": "High",
    None: "No information",
}


@dataclass(frozen=True)
class Table:
    """A table: header cells and rows of plain-text cells (renderers escape them)."""

    header: list[str]
    rows: list[list[str]]


def number(x: float) -> str:
    """Two decimals, never ``-0.00``."""
    return f"{x + 0.0:.2f}" if round(x, 2) != 0 else "0.00"


def effect(s: Summary, log: bool) -> str:
    """``est (lo, hi)`` on the natural scale."""

    def f(v: float) -> str:
        return number(math.exp(v) if log else v)

    mid = s.q50 if s.q50 is not None else s.mean
    if s.q2_5 is None or s.q97_5 is None:
        return f(mid)
    return f"{f(mid)} ({f(s.q2_5)}, {f(s.q97_5)})"


def interval_name(res: NMAResult) -> str:
    """``95% CrI`` for posterior intervals, ``95% CI`` for Wald intervals."""
    return "95% CrI" if is_bayesian(res) else "95% CI"


# --- sections --------------------------------------------------------------------------------


def prisma_table(counts: dict[str, Any]) -> Table:
    """The PRISMA 2020 boxes as rows (the diagram's numbers, for readers and screen readers)."""
    labels = counts.get("exclusion_reason_labels") or {}
    rows = [
        ["Records identified from databases", str(counts["database_results"])],
        ["Records identified from registers", str(counts["register_results"])],
        ["Duplicate records removed", str(counts["duplicates"])],
        ["Records screened (title/abstract)", str(counts["records_screened"])],
        ["Records excluded", str(counts["records_excluded"])],
        ["Records awaiting screening", str(counts["records_awaiting_screening"])],
        ["Reports sought for retrieval", str(counts["dbr_sought_reports"])],
        ["Reports not retrieved", str(counts["dbr_notretrieved_reports"])],
        ["Reports assessed for eligibility", str(counts["dbr_assessed"])],
    ]
    for code, n in sorted(counts["dbr_excluded"].items()):
        rows.append([f"Reports excluded: {labels.get(code, code)}", str(n)])
    rows += [
        ["Reports awaiting assessment", str(counts["reports_awaiting_assessment"])],
        ["Studies included in review", str(counts["total_studies"])],
        ["Reports of included studies", str(counts["total_reports"])],
    ]
    return Table(["PRISMA 2020 box", "n"], rows)


def _relation(relation: str | None, study: str) -> str:
    """The relation statement without its machine prefix (``overlaps:REACH-2 (44 of ...)``)."""
    if not relation:
        return ""
    head, sep, rest = relation.partition(":")
    if sep and head in ("subgroup_of", "overlaps") and rest.startswith(study):
        return rest[len(study) :].strip().strip("()").strip()
    return relation


def _report_text(study: StudyInfo) -> str:
    parts = []
    for r in study.secondary:
        rel = _relation(r.relation, study.label)
        parts.append(f"{r.label} ({r.role}{': ' + rel if rel else ''})")
    return "; ".join(parts) or "—"


def _ids(study: StudyInfo) -> str:
    p = study.primary
    bits = []
    if p is not None and p.pmid:
        bits.append(f"PMID {p.pmid}")
    if p is not None and p.doi:
        bits.append(f"doi:{p.doi}")
    return ", ".join(bits) or "—"


def studies_table(data: ReportData) -> Table:
    """Characteristics of the included studies: one row per trial."""
    rows = []
    for s in data.studies:
        arms = "; ".join(f"{a.treatment} (n={a.n if a.n is not None else '?'})" for a in s.arms)
        outcomes = ", ".join(s.analysed) or "—"
        if s.descriptive:
            outcomes += f" (descriptive only: {', '.join(s.descriptive)})"
        author = f"{s.first_author} " if s.first_author else ""
        rows.append(
            [
                s.label,
                s.registry_id or "—",
                f"{author}{s.year}" if s.year else (s.first_author or "—"),
                arms or "—",
                str(s.total_n) if s.total_n is not None else "—",
                outcomes,
                _ids(s),
                _report_text(s),
            ]
        )
    return Table(
        [
            "Study",
            "Registry id",
            "First author, year",
            "Arms (randomised n)",
            "Total n",
            "Outcomes analysed",
            "Primary report",
            "Attached reports (not analysed as trials)",
        ],
        rows,
    )


def rob_table(rob: RobOutcome) -> Table:
    """RoB 2 judgements of one outcome: D1..D5 and overall per study."""
    cols = ["1", "2", "3", "4", "5", "overall"]
    rows = [
        [r.study, *(JUDGEMENT_LABELS.get(r.judgements.get(c), "?") for c in cols)] for r in rob.rows
    ]
    return Table(["Study", "D1", "D2", "D3", "D4", "D5", "Overall"], rows)


def effects_table(a: OutcomeAnalysis) -> Table:
    """Every treatment vs the reference, with its SUCRA/P-score and mean rank."""
    res = a.result
    assert res is not None
    rank = {r.treatment: r for r in res.ranking}
    name = "SUCRA" if res.ranking_method.startswith("SUCRA") else "P-score"
    rows = []
    for t, s in res.relative_effects.items():
        r = rank.get(t)
        rows.append(
            [
                t,
                effect(s, res.log_scale),
                f"{r.sucra:.3f}" if r else "—",
                f"{r.mean_rank:.2f}" if r and not math.isnan(r.mean_rank) else "—",
            ]
        )
    return Table(
        [
            "Treatment",
            f"{res.measure} vs {res.reference} ({interval_name(res)})",
            name,
            "Mean rank",
        ],
        rows,
    )


def ranking_table(a: OutcomeAnalysis) -> Table:
    """Treatments by SUCRA (or P-score), best first, with the reference included."""
    res = a.result
    assert res is not None
    name = "SUCRA" if res.ranking_method.startswith("SUCRA") else "P-score"
    ranked = sorted(res.ranking, key=lambda r: -r.sucra)
    rows = [
        [str(i + 1), r.treatment, f"{r.sucra:.3f}", "—" if r.p_best is None else f"{r.p_best:.3f}"]
        for i, r in enumerate(ranked)
    ]
    header = ["Order", "Treatment", name, "P(best)"]
    mcse = res.extra.get("sucra_mcse")
    if isinstance(mcse, dict) and mcse:
        # Monte Carlo error of each SUCRA: differences smaller than a few MCSE are noise.
        header.append("SUCRA MCSE")
        for row, r in zip(rows, ranked, strict=True):
            v = mcse.get(r.treatment)
            row.append("—" if v is None else f"{float(v):.3f}")
    return Table(header, rows)


def league_table(a: OutcomeAnalysis) -> Table:
    """Row treatment vs column comparator, natural scale; the diagonal names the treatment."""
    res = a.result
    assert res is not None
    cells = {
        (e.treatment, e.comparator): effect(e.summary, res.log_scale) for e in res.league_table
    }
    ts = list(res.treatments)
    rows = [[t, *("—" if t == c else cells.get((t, c), "") for c in ts)] for t in ts]
    return Table(["vs →", *ts], rows)


def diagnostics_lines(a: OutcomeAnalysis) -> list[str]:
    """Model, heterogeneity, fit and sampler diagnostics, one statement per line."""
    res = a.result
    if res is None:
        return []
    net = res.network or {}
    lines = [
        f"Engine: {res.engine}; {'random' if res.model == 're' else 'fixed'} effects; "
        f"{net.get('studies', a.n_studies)} studies, {len(res.treatments)} treatments; "
        f"reference {res.reference}; {'higher' if res.higher_is_better else 'lower'} is better.",
    ]
    if not res.converged:
        msgs = "; ".join(res.diagnostics.get("messages", [])) or "no reason recorded"
        lines.append(f"NOT CONVERGED: {msgs}.")
        return lines
    if res.tau is not None:
        t = res.tau
        mid = t.q50 if t.q50 is not None else t.mean
        ci = f" ({t.q2_5:.3f}, {t.q97_5:.3f})" if t.q2_5 is not None and t.q97_5 is not None else ""
        lines.append(f"Between-study SD (tau): {mid:.3f}{ci}.")
    if res.model_fit:
        mf = res.model_fit
        parts = []
        for k, label in (("Dbar", "residual deviance"), ("pD", "pD"), ("DIC", "DIC")):
            if mf.get(k) is not None:
                parts.append(f"{label} {float(mf[k]):.1f}")
        if mf.get("n_datapoints") is not None:
            parts.append(f"{mf['n_datapoints']} data points")
        if parts:
            lines.append("Model fit: " + ", ".join(parts) + ".")
    d = res.diagnostics
    if "max_rhat" in d:
        lines.append(
            f"MCMC: max R-hat {d['max_rhat']:.3f}, min ESS bulk {d['min_ess_bulk']:.0f} / tail "
            f"{d['min_ess_tail']:.0f}, divergences {d.get('divergences', 0)}."
        )
    fs = res.extra.get("fit_statistics")
    if isinstance(fs, dict) and fs.get("QE") is not None:
        lines.append(_q_line(fs))
    for m in d.get("messages", []) or []:
        lines.append(f"Note: {m}")
    return lines


def _q_line(fs: dict[str, Any]) -> str:
    """The frequentist residual heterogeneity/inconsistency test (Cochran's Q, chi-square)."""
    from scipy.stats import chi2

    q, df = float(fs["QE"]), int(fs.get("QE_df") or 0)
    p = f", p = {chi2.sf(q, df):.3f}" if df > 0 else ""
    tau2 = (
        f"; tau² {float(fs['tau2']):.4f} ({fs.get('method', '')})"
        if fs.get("tau2") is not None
        else ""
    )
    n = (
        f"; {fs['n_contrasts']} contrasts from {fs['n_studies']} studies"
        if fs.get("n_contrasts")
        else ""
    )
    return f"Residual heterogeneity and inconsistency: Q = {q:.2f} on {df} df{p}{tau2}{n}."


def nodesplit_table(a: OutcomeAnalysis) -> Table | None:
    """The stored node-split results (direct, indirect, difference, p), when there are any."""
    if not a.nodesplit or a.result is None:  # None: not stored; []: no closed loop
        return None
    log = a.result.log_scale
    rows = []
    for s in a.nodesplit:
        if not s.get("converged", True):
            rows.append(
                [
                    str(s.get("comparison")),
                    str(s.get("n_direct_studies", "")),
                    "NOT CONVERGED",
                    "",
                    "",
                    "",
                ]
            )
            continue
        p = s.get("p")
        rows.append(
            [
                str(s.get("comparison")),
                str(s.get("n_direct_studies", "")),
                effect(Summary.from_json(s.get("direct")), log),
                effect(Summary.from_json(s.get("indirect")), log),
                effect(Summary.from_json(s.get("difference")), log),
                "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}"),
            ]
        )
    diff = "Direct/indirect" if log else "Direct − indirect"
    return Table(["Comparison", "Direct studies", "Direct", "Indirect", diff, "p"], rows)


def history_table(runs: list[RunInfo]) -> Table:
    """The version history of one outcome's conclusions, oldest first."""
    rows = []
    for r in runs:
        rows.append(
            [
                f"v{r.version}" if r.version is not None else "—",
                (r.created_at or "—")[:19].replace("T", " "),
                r.trigger or "—",
                r.engine + ("" if r.converged else " (NOT CONVERGED)"),
                ", ".join(f"+{s}" for s in r.added)
                + (", " if r.added and r.removed else "")
                + ", ".join(f"−{s}" for s in r.removed)
                or "—",
                r.summary or "—",
            ]
        )
    return Table(
        ["Version", "Date (UTC)", "Trigger", "Engine", "Studies added/removed", "What changed"],
        rows,
    )


def analysis_status(a: OutcomeAnalysis) -> str:
    """One sentence: where the numbers come from and whether they are current."""
    if a.source == "no_data":
        return f"No network meta-analysis: {a.message}."
    parts = [a.message[0].upper() + a.message[1:] + "."]
    if a.source == "stored" and a.run is not None:
        when = (a.run.created_at or "")[:19].replace("T", " ")
        parts.append(
            f"Fitted {when} UTC" + (f", trigger: {a.run.trigger}." if a.run.trigger else ".")
        )
        if a.stale:
            why = f" ({a.stale_reason})" if a.stale_reason else ""
            parts.append(
                f"STALE: the evidence changed since this run{why}; refit it "
                "(lsr update or lsr nma fit)."
            )
        elif a.stale is False:
            parts.append("Up to date with the current data.")
    if a.result is not None and not a.result.converged:
        parts.append("NOT CONVERGED: its estimates are not reported as conclusions.")
    return " ".join(parts)

"""Provides :func:`load_example`: the example review's trial data from ``example-hcc/trials.csv``.

Only numbers and identifiers are taken (trial label, first author, year, PMID, DOI, registry
id, arm sizes, medians, hazard ratios with CIs, percentages); the free-text ``notes`` column
is not stored. Every value keeps its source reference: the ``S..`` ids that
``value_provenance.csv`` gives for that very cell when the file is there, else the row's
``source_ids``, written as ``example-hcc:S08``.

How the file maps onto the store:

* ``report_type = primary`` rows make one study (trial) each, with its primary report: the
  analysis units.
* ``subgroup_of:X`` and ``overlaps:X (...)`` rows become a subgroup / overlap report of trial
  X, with their own arms and values, kept but never analysed as another trial.
* HR columns sit on the experimental arm's row: they become an OS / PFS ``contrast`` of that
  arm vs the trial's control arm (lnHR and SE from the 95% CI, formula in
  :mod:`living_review.extraction.validate`). An HR without a CI (METIV-HCC PFS) has no
  variance and is kept as a descriptive ``estimate``.
* ORR: ``orr_events`` is empty for every trial, only ``orr_percent`` is given. Percentages are
  kept as descriptive values, not turned into event counts: the denominator each percentage
  was computed on (randomised or evaluable patients) is not stated, and a count rebuilt from a
  rounded percentage is a number no source printed. Where ``orr_events`` is given, it becomes
  arm-level binary data with the arm's randomised n. DCR and grade >= 3 AE percentages are
  likewise descriptive.

Values are written as ``final`` by the extractor ``import:example-hcc`` (verified imported data,
not a dual extraction). Loading twice changes nothing; a changed cell in a newer file is
appended as a new final version, so every version is kept.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from living_review.errors import InputFileError
from living_review.extraction.service import add_study_in, write_value
from living_review.extraction.validate import ExtractionError
from living_review.protocol import Protocol
from living_review.store.engine import write_session
from living_review.store.models import Study

EXTRACTOR = "import:example-hcc"
SOURCE_PREFIX = "example-hcc:"
ORR_NOTE = (
    "ORR is descriptive: trials.csv gives percentages only (orr_events is empty); the "
    "denominator of each percentage is not stated, and counts rebuilt from rounded percentages "
    "would be numbers no source printed"
)
_REQUIRED = ("trial_name", "arm", "report_type", "source_ids")


@dataclass
class LoadSummary:
    """What :func:`load_example` did."""

    trials: list[str] = field(default_factory=list)
    secondary_reports: list[dict[str, str]] = field(default_factory=list)
    arms: int = 0
    values_written: int = 0
    values_unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the summary as plain data."""
        return {**asdict(self), "n_trials": len(self.trials)}


def _provenance(folder: Path) -> dict[tuple[str, str, str], list[str]]:
    """(trial, arm, field) -> source ids, from value_provenance.csv (empty when absent)."""
    path = folder / "value_provenance.csv"
    out: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    if not path.is_file():
        return out
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            key = (row["trial_name"].strip(), row["arm"].strip(), row["field"].strip())
            sid = row["source_id"].strip()
            if sid and sid not in out[key]:
                out[key].append(sid)
    return out


def _parent(report_type: str) -> tuple[str, str | None]:
    """The role and parent trial of a ``report_type``.

    ``primary`` -> ("primary", None); ``overlaps:REACH-2 (44 of ...)`` -> ("overlap", "REACH-2").
    """
    text = report_type.strip()
    if text == "primary":
        return "primary", None
    kind, _, rest = text.partition(":")
    role = {"subgroup_of": "subgroup", "overlaps": "overlap"}.get(kind.strip())
    if role is None or not rest.strip():
        raise ExtractionError(
            f"report_type {text!r}: use primary, subgroup_of:TRIAL or overlaps:TRIAL"
        )
    return role, rest.split("(")[0].strip()


def load_example(*, engine: Engine, protocol: Protocol, folder: Path) -> LoadSummary:
    """Load the example's trials into the store in one transaction (all or nothing)."""
    path = Path(folder) / "trials.csv"
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise InputFileError(path, f"missing column(s): {', '.join(missing)}", line=1)
            rows = [(reader.line_num, dict(r)) for r in reader]
    except FileNotFoundError:
        raise InputFileError(path, "not found (is ../shared/example-hcc present?)") from None
    prov = _provenance(Path(folder))
    trials: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in rows:
        trials.setdefault(row["trial_name"].strip(), []).append((line, row))
    # parents first, so subgroup and overlap reports find their trial
    order = sorted(trials, key=lambda t: _parent(trials[t][0][1]["report_type"])[0] != "primary")
    out = LoadSummary(notes=[ORR_NOTE])
    with write_session(engine) as session:
        for name in order:
            try:
                _load_trial(session, protocol, name, trials[name], prov, out)
            except ExtractionError as exc:
                raise InputFileError(path, str(exc), line=trials[name][0][0]) from None
    return out


def _load_trial(
    session: Any,
    protocol: Protocol,
    name: str,
    rows: list[tuple[int, dict[str, str]]],
    prov: dict[tuple[str, str, str], list[str]],
    out: LoadSummary,
) -> None:
    first = rows[0][1]
    role, parent = _parent(first["report_type"])
    year = first.get("year", "").strip()
    res = add_study_in(
        session,
        label=name,
        registry_id=first.get("nct_id") or None,
        parent=parent,
        role=role if parent else None,
        relation=first["report_type"].strip() if parent else None,
        pmid=first.get("pmid", "").strip() or None,
        doi=first.get("doi", "").strip() or None,
        first_author=first.get("first_author", "").strip() or None,
        year=int(year) if year.isdigit() else None,
        actor=EXTRACTOR,
    )
    out.warnings += res.warnings
    if parent is None:
        out.trials.append(name)
    else:
        out.secondary_reports.append({"report": name, "role": role, "parent": parent})
    study = session.get(Study, res.study_id)
    report = name if parent else None

    def canonical(arm: str) -> str:
        return protocol.treatment_for(arm) or arm  # unknown names fail in write_value

    controls = [r["arm"] for _, r in rows if _is_control(protocol, canonical(r["arm"]))]

    def put(
        kind: str,
        arm: str,
        values: dict[str, Any],
        fields: tuple[str, ...],
        row: dict[str, str],
        **kw: Any,
    ) -> None:
        ids: list[str] = []
        for f in fields:
            ids += [s for s in prov.get((name, arm, f), []) if s not in ids]
        if not ids:
            ids = [s.strip() for s in row["source_ids"].split(";") if s.strip()]
        res = write_value(
            session,
            protocol,
            study=study,
            kind=kind,
            values=values,
            extractor=EXTRACTOR,
            arm=arm,
            report=report,
            final=True,
            source=";".join(SOURCE_PREFIX + s for s in ids),
            **kw,
        )
        out.warnings += res.warnings
        if res.unchanged:
            out.values_unchanged += 1
        else:
            out.values_written += 1

    for _, row in rows:
        arm = row["arm"].strip()
        n = row.get("n_randomized", "").strip()
        put("arm", arm, {"n": n} if n else {}, ("n_randomized",), row)
        out.arms += 1
        for outcome, col in (("OS", "os"), ("PFS", "pfs")):
            med = row.get(f"{col}_median_months", "").strip()
            if med:
                put(
                    "median",
                    arm,
                    {"value": med, "unit": "months"},
                    (f"{col}_median_months",),
                    row,
                    outcome=outcome,
                )
            hr = row.get(f"{col}_hr", "").strip()
            if not hr:
                continue
            comparators = [c for c in controls if c != arm] or [
                r["arm"] for _, r in rows if r["arm"] != arm
            ]
            if len(comparators) != 1:
                raise ExtractionError(
                    f"{name}: cannot tell which arm {arm}'s {outcome} HR is against"
                )
            lo = row.get(f"{col}_hr_ci_low", "").strip()
            hi = row.get(f"{col}_hr_ci_high", "").strip()
            fields = (f"{col}_hr", f"{col}_hr_ci_low", f"{col}_hr_ci_high")
            if lo and hi:
                put(
                    "contrast",
                    arm,
                    {"measure": "HR", "estimate": hr, "lower": lo, "upper": hi},
                    fields,
                    row,
                    outcome=outcome,
                    vs=comparators[0],
                )
            else:
                put(
                    "estimate",
                    arm,
                    {"measure": "HR", "estimate": hr},
                    fields,
                    row,
                    outcome=outcome,
                    vs=comparators[0],
                )
                note = f"{name}: {outcome} HR {hr} has no CI in the source: kept as descriptive"
                if note not in out.notes:
                    out.notes.append(note)
        events = row.get("orr_events", "").strip()
        if events and n:
            put(
                "binary",
                arm,
                {"events": events, "n": n},
                ("orr_events", "n_randomized"),
                row,
                outcome="ORR",
            )
        for outcome, col in (
            ("ORR", "orr_percent"),
            ("DCR", "dcr_percent"),
            ("AE3", "grade3plus_ae_percent"),
        ):
            pct = row.get(col, "").strip()
            if pct:
                put("percent", arm, {"value": pct}, (col,), row, outcome=outcome)


def _is_control(protocol: Protocol, treatment: str) -> bool:
    return any(t.name == treatment and t.kind == "control" for t in protocol.treatments)

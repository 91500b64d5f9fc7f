"""Provides the extraction *form*: what to enter for one study and outcome, checked as typed.

The CLI enters one value per call (:func:`~living_review.extraction.service.add_value`); a
screen shows the whole form of a study × outcome instead. These functions give it, from the
same store and rules:

* :func:`study_form` — the rows the protocol asks for: per arm and per contrast, by the
  outcome's effect measure (HR: a contrast, medians descriptive; OR/RR/RD: arm-level events
  and n, percentages descriptive, or a contrast; MD/SMD: arm-level mean, SD or SE and n, or a
  contrast), plus the design rows (arm sizes, total randomised), plus every item already
  stored for that outcome, so nothing entered elsewhere is invisible.
* :func:`form_issues` — every validation message for what is typed, without writing (the
  same rules :func:`~living_review.extraction.service.write_value` enforces, plus the arm
  sizes against the total across rows).
* :func:`save_form` — the changed rows as new draft versions, all or nothing.
* :func:`study_statuses` and :func:`reconcile_view` — per-study counts for one viewer, and the
  side-by-side view a resolver works from (statuses as :func:`~living_review.extraction.
  service.compare` sets them).

Blinding lives here, not in the screen: a viewer sees another extractor's values (and the
final value) of an item only once they have entered their own value of it. In
:func:`reconcile_view` a lead sees every value, and a third reviewer (who did not enter the
item) sees the values of items at least two extractors have entered, so they can settle a
discrepancy but never read a single extractor's value before entering their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.extraction.service import (
    ItemKey,
    ValueResult,
    _audit,
    _load,
    _same,
    _StudyData,
    check_person,
    compare,
    find_study,
    primary_report,
    write_value,
)
from living_review.extraction.validate import (
    ANALYSED_KINDS,
    ExtractionError,
    Issue,
    _number,
    check_arm_sizes,
    check_treatment,
    check_value,
    errors,
)
from living_review.protocol import Outcome, Protocol
from living_review.screening.reviewers import get_reviewer
from living_review.store.engine import write_session
from living_review.store.models import Study

#: The form's name for the study's design rows (arm sizes, total randomised): not an outcome.
DESIGN = "design"

#: What a person types for each kind, in the order the form shows it. Text fields the protocol
#: fixes (a contrast's measure) are not typed: see :attr:`FormRow.fixed`.
ENTRY_FIELDS: dict[str, tuple[str, ...]] = {
    "arm": ("n",),
    "total": ("n",),
    "binary": ("events", "n"),
    "continuous": ("mean", "sd", "se", "n"),
    "contrast": ("estimate", "lower", "upper", "se"),
    "estimate": ("estimate",),
    "median": ("value", "lower", "upper"),
    "percent": ("value", "n"),
    "extra": ("value",),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "arm": (),
    "total": ("n",),
    "binary": ("events", "n"),
    "continuous": ("mean", "n"),
    "contrast": ("estimate",),
    "estimate": ("estimate",),
    "median": ("value",),
    "percent": ("value",),
    "extra": ("value",),
}
_KIND_LABEL = {
    "arm": "randomised",
    "total": "total randomised",
    "binary": "events / n",
    "continuous": "mean, SD or SE, n",
    "median": "median (descriptive)",
    "percent": "% (descriptive)",
    "estimate": "estimate, no CI (descriptive)",
    "extra": "extra field",
}


def _form_kinds(outcome: Outcome) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(arm-level kinds, contrast kinds) the protocol's measure asks for."""
    if outcome.measure == "HR":
        return ("median",), ("contrast",)
    if outcome.measure in ("OR", "RR", "RD"):
        return ("binary", "percent"), ("contrast",)
    return ("continuous", "median"), ("contrast",)


# --- the form --------------------------------------------------------------------------------


@dataclass
class FormRow:
    """One item of the form: what to type, and what the viewer may see of it.

    ``others`` and ``final`` are None while the viewer is blinded (they have not entered the
    item yet); ``entered_by`` names the other extractors who have (names only, no values).
    """

    key: str
    """The item as compare, resolve and history name it (``OS/contrast/ramucirumab vs placebo``)."""
    kind: str
    outcome: str | None
    arm: str | None
    vs: str | None
    name: str
    label: str
    """What the row is, for people (``ramucirumab vs placebo · HR, 95% CI or SE``)."""
    fields: tuple[str, ...]
    fixed: dict[str, Any]
    """Values the protocol sets (a contrast's measure), added to what is typed."""
    analysed: bool
    mine: dict[str, Any] | None = None
    my_source: str | None = None
    entered_by: list[str] = field(default_factory=list)
    others: dict[str, dict[str, Any]] | None = None
    other_sources: dict[str, str | None] | None = None
    final: dict[str, Any] | None = None
    final_by: str | None = None
    final_source: str | None = None
    matches_final: bool | None = None
    """Whether the viewer's value equals the final one (None: no final, or nothing entered)."""
    status: str = "empty"
    """From the viewer's side: ``empty``, ``mine`` (only theirs), ``hidden`` (only others',
    blinded), ``agree``, ``differ``, ``resolved`` (a final newer than every draft), ``final``
    (a final value and no drafts, e.g. imported verified data)."""

    def as_json(self) -> dict[str, Any]:
        """Return the row as plain data."""
        return asdict(self)


@dataclass
class StudyForm:
    """The form of one study × outcome (``outcome`` is :data:`DESIGN` for arm sizes)."""

    study_id: int
    study: str
    outcome: str
    outcome_label: str
    measure: str | None
    arms: list[str]
    rows: list[FormRow]
    viewer: str

    def row(self, key: str) -> FormRow:
        """The row called ``key`` (a clear error otherwise)."""
        for r in self.rows:
            if r.key == key:
                return r
        raise ExtractionError(f"{self.study}: the {self.outcome} form has no row {key!r}")

    def as_json(self) -> dict[str, Any]:
        """Return the form as plain data."""
        return asdict(self)


def _key_text(outcome: str | None, kind: str, arm: str | None, vs: str | None, name: str) -> str:
    """The item's name, as :func:`~living_review.extraction.service.describe_key` writes it."""
    parts = [outcome or DESIGN, kind]
    if arm:
        parts.append(f"{arm} vs {vs}" if vs else arm)
    if name:
        parts.append(name)
    return "/".join(parts)


def _comparator(protocol: Protocol, arms: Sequence[str]) -> str | None:
    """The arm every other arm is compared with: the control, else the NMA reference, else the
    last arm in the protocol's treatment order (a head-to-head trial: first vs second)."""
    kinds = {t.name: t.kind for t in protocol.treatments}
    controls = [a for a in arms if kinds.get(a) == "control"]
    if len(controls) == 1:
        return controls[0]
    ref = protocol.nma.reference if protocol.nma else None
    if ref in arms:
        return ref
    return arms[-1] if len(arms) > 1 else None


def _ordered_arms(protocol: Protocol, arms: set[str]) -> list[str]:
    order = {t.name: i for i, t in enumerate(protocol.treatments)}
    return sorted(arms, key=lambda a: (order.get(a, len(order)), a))


def _row_label(kind: str, arm: str | None, vs: str | None, name: str, measure: str | None) -> str:
    what = {
        "contrast": f"{measure}, 95% CI or SE",
        "extra": name or "extra field",
    }.get(kind, _KIND_LABEL.get(kind, kind))
    who = f"{arm} vs {vs}" if arm and vs else (arm or "whole trial")
    return f"{who} · {what}"


def _blank_rows(
    protocol: Protocol, outcome: Outcome | None, arms: list[str]
) -> list[tuple[str, str | None, str | None, str]]:
    """(kind, arm, vs, name) of the rows the protocol asks for, in the form's order."""
    if outcome is None:
        return [("arm", a, None, "") for a in arms] + [("total", None, None, "")]
    arm_kinds, contrast_kinds = _form_kinds(outcome)
    rows: list[tuple[str, str | None, str | None, str]] = [
        (k, a, None, "") for a in arms for k in arm_kinds
    ]
    comp = _comparator(protocol, arms)
    if comp is not None:
        rows += [(k, a, comp, "") for a in arms if a != comp for k in contrast_kinds]
    return rows


def study_form(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    outcome: str,
    viewer: str,
    extra_arms: Sequence[str] = (),
) -> StudyForm:
    """The form of ``study`` × ``outcome`` (or :data:`DESIGN`) as ``viewer`` may see it.

    Arms are the primary report's arms plus ``extra_arms`` (treatment names or aliases, mapped
    to the protocol's names; an arm is stored with its first value). Subgroup and overlap
    reports are not part of the form (their values are entered with ``lsr extract add
    --report``).
    """
    who = check_person(engine, protocol, viewer)
    out = None if outcome.casefold() == DESIGN else protocol.outcome(outcome)
    if out is None and outcome.casefold() != DESIGN:
        known = ", ".join([DESIGN, *(o.name for o in protocol.outcomes)])
        raise ExtractionError(f"outcome {outcome!r} is not in the protocol (forms: {known})")
    with Session(engine) as session:
        st = find_study(session, study)
        data = _load(session, st)
    primary = next((r for r in data.reports.values() if r.role == "primary"), None)
    pid = primary.id if primary is not None else None
    stored = {a.treatment for a in data.arms.values() if a.report_id == pid}
    for name in extra_arms:
        canonical, issues = check_treatment(protocol, name, where=st.label)
        if canonical is None:
            raise ExtractionError(issues[0].message, issues)
        stored.add(canonical)
    arms = _ordered_arms(protocol, stored)
    oname = out.name if out else None
    measure = out.measure if out else None
    specs = _blank_rows(protocol, out, arms)
    seen = {_key_text(oname, *s) for s in specs}
    for key in sorted(data.versions, key=data.key_text):  # items stored outside the blank form
        if key.report_id != pid or key.outcome != oname:
            continue
        spec = (
            key.kind,
            data.arms[key.arm_id].treatment if key.arm_id is not None else None,
            data.arms[key.arm2_id].treatment if key.arm2_id is not None else None,
            key.name,
        )
        if _key_text(oname, *spec) not in seen:
            specs.append(spec)
            seen.add(_key_text(oname, *spec))
    by_text = {data.key_text(k): k for k in data.versions if k.report_id == pid}
    rows = []
    for kind, arm, vs, name in specs:
        text = _key_text(oname, kind, arm, vs, name)
        row = FormRow(
            key=text,
            kind=kind,
            outcome=oname,
            arm=arm,
            vs=vs,
            name=name,
            label=_row_label(kind, arm, vs, name, measure),
            fields=ENTRY_FIELDS.get(kind, ("value",)),
            fixed={"measure": measure} if kind in ("contrast", "estimate") and measure else {},
            analysed=kind in ANALYSED_KINDS,
        )
        if text in by_text:
            _fill(row, data, by_text[text], who)
        rows.append(row)
    return StudyForm(
        study_id=int(st.id or 0),
        study=st.label,
        outcome=oname or DESIGN,
        outcome_label=out.label if out else "Arms and total randomised",
        measure=measure,
        arms=arms,
        rows=rows,
        viewer=who,
    )


def _resolved(data: _StudyData, key: ItemKey) -> bool:
    """A final value newer than every extractor's current draft (a later draft reopens it)."""
    final = data.final(key)
    if final is None:
        return False
    drafts = [data.current(key, w) for w in data.extractors()]
    return all(d is None or int(d.id or 0) < int(final.id or 0) for d in drafts)


def _fill(row: FormRow, data: _StudyData, key: ItemKey, viewer: str) -> None:
    """Put the viewer's value, and what blinding lets them see of the others', into ``row``."""
    mine = data.current(key, viewer)
    others = {
        w: r for w in data.extractors() if w != viewer and (r := data.current(key, w)) is not None
    }
    final = data.final(key)
    row.entered_by = sorted(others)
    if mine is not None:
        row.mine, row.my_source = dict(mine.values), mine.source
        row.others = {w: dict(r.values) for w, r in others.items()}
        row.other_sources = {w: r.source for w, r in others.items()}
        if final is not None:
            row.final, row.final_by, row.final_source = (
                dict(final.values),
                final.extractor,
                final.source,
            )
            row.matches_final = _same(mine.values, final.values)
    if mine is not None and _resolved(data, key):
        row.status = "resolved"
    elif mine is not None and others:
        agree = all(_same(mine.values, r.values) for r in others.values())
        row.status = "agree" if agree else "differ"
    elif mine is not None:
        row.status = "mine"
    elif others:
        row.status = "hidden"
    elif final is not None:
        row.status = "final"


# --- checking what is typed ------------------------------------------------------------------


@dataclass
class EntryCheck:
    """What a row's typed text amounts to: the values to store (when complete) and issues."""

    values: dict[str, Any] | None
    issues: list[Issue]
    empty: bool

    @property
    def ok(self) -> bool:
        """Complete and without errors (warnings allowed): it can be saved."""
        return self.values is not None and not errors(self.issues)


def _where(form: StudyForm, row: FormRow) -> str:
    parts = [form.study]
    if row.outcome:
        parts.append(row.outcome)
    if row.arm:
        parts.append(f"{row.arm} vs {row.vs}" if row.vs else row.arm)
    return ", ".join(parts)


def check_texts(
    protocol: Protocol,
    *,
    kind: str,
    outcome: str | None,
    texts: Mapping[str, str],
    where: str,
    fixed: Mapping[str, Any] | None = None,
) -> EntryCheck:
    """Check the typed text of one value of ``kind`` with the store's rules, writing nothing.

    Nothing typed is nothing to check. A number that does not parse, or a missing required
    field, is an error on that field; once every field parses, the value rules of
    :func:`~living_review.extraction.validate.check_value` apply (events <= n, the CI contains
    the estimate, CI asymmetry warning, SE > 0, ...). ``fixed`` values (a contrast's measure)
    are added to what is typed.
    """
    fields = ENTRY_FIELDS.get(kind, ("value",))
    given = {k: v.strip() for k, v in texts.items() if k in fields and v and v.strip()}
    if not given:
        return EntryCheck(None, [], True)
    issues: list[Issue] = []
    values: dict[str, Any] = dict(fixed or {})
    for key in fields:
        if key not in given:
            continue
        if kind == "extra":
            values[key] = given[key]
            continue
        try:
            values[key] = _number(given[key], f"{where}: {key}")
        except ExtractionError as exc:
            issues.append(Issue("error", key, str(exc)))
    for key in _REQUIRED.get(kind, ()):
        if key not in given:
            issues.append(Issue("error", key, f"{where}: {kind} needs {key}"))
    if issues:
        return EntryCheck(None, issues, False)
    out = protocol.outcome(outcome) if outcome else None
    return EntryCheck(values, check_value(kind, values, where=where, outcome=out), False)


def check_entry(
    protocol: Protocol, form: StudyForm, row: FormRow, texts: Mapping[str, str]
) -> EntryCheck:
    """Check one form row's typed text (see :func:`check_texts`)."""
    return check_texts(
        protocol,
        kind=row.kind,
        outcome=row.outcome,
        texts=texts,
        where=_where(form, row),
        fixed=row.fixed,
    )


def form_issues(
    protocol: Protocol, form: StudyForm, entries: Mapping[str, Mapping[str, str]]
) -> dict[str, EntryCheck]:
    """Check every row's typed text (by row key), and the arm sizes against the total.

    Rows missing from ``entries`` count as empty. The arm sizes check is the one the store
    applies while values are being entered: arms adding up to more than the total is an
    error; to less, once every arm has a size, a warning.
    """
    checks = {r.key: check_entry(protocol, form, r, entries.get(r.key, {})) for r in form.rows}
    if form.outcome == DESIGN:
        sizes: dict[str, float | None] = {}
        total: float | None = None
        total_key = None
        for r in form.rows:
            c = checks[r.key]
            n = c.values.get("n") if c.values and not errors(c.issues) else None
            if r.kind == "total":
                total, total_key = n, r.key
            elif r.kind == "arm" and r.arm:
                sizes[r.arm] = n
        if total_key is not None:
            checks[total_key].issues += check_arm_sizes(
                sizes, total, where=form.study, complete=False
            )
    return checks


# --- saving ----------------------------------------------------------------------------------


def _changed(row: FormRow, check: EntryCheck) -> bool:
    return check.values is not None and (row.mine is None or not _same(row.mine, check.values))


def save_form(
    *,
    engine: Engine,
    protocol: Protocol,
    form: StudyForm,
    entries: Mapping[str, Mapping[str, str]],
    sources: Mapping[str, str | None],
    extractor: str,
) -> list[ValueResult]:
    """Write the rows whose typed values or source changed as ``extractor``'s new drafts.

    All or nothing: any row with an error (or one the store refuses) leaves the store as it
    was, and the error names the row. Empty rows are skipped; a value cannot be withdrawn by
    clearing it (every version is kept), only replaced.
    """
    who = check_person(engine, protocol, extractor)
    checks = form_issues(protocol, form, entries)
    bad = [i for c in checks.values() for i in errors(c.issues)]
    if bad:
        raise ExtractionError("; ".join(i.message for i in bad), bad)
    todo = [
        r
        for r in form.rows
        if checks[r.key].values is not None
        and (_changed(r, checks[r.key]) or (sources.get(r.key) or None) != r.my_source)
    ]
    out: list[ValueResult] = []
    with write_session(engine) as session:
        st = find_study(session, form.study_id)
        primary_report(session, st, who)
        for r in todo:
            values = checks[r.key].values
            assert values is not None
            res = write_value(
                session,
                protocol,
                study=st,
                kind=r.kind,
                values=values,
                extractor=who,
                outcome=r.outcome,
                arm=r.arm,
                vs=r.vs,
                name=r.name,
                source=sources.get(r.key) or None,
            )
            if not res.unchanged:
                _audit(
                    session,
                    who,
                    "extraction_value",
                    res.id,
                    study=st.label,
                    key=res.key,
                    status=res.status,
                )
            out.append(res)
    return out


# --- per-study status and the resolver's view ------------------------------------------------


@dataclass
class Counts:
    """Items of a study (or of one outcome) seen from one viewer."""

    mine: int = 0
    """Items the viewer has entered."""
    others: int = 0
    """Items another extractor has entered (values not shown: counts only)."""
    differ: int = 0
    """Items two or more extractors entered with different values, not yet resolved."""
    final: int = 0
    """Items with a final value (resolved, or imported verified data)."""


@dataclass
class StudyStatus:
    """One study in the extraction list, for one viewer."""

    study_id: int
    label: str
    registry_id: str | None
    arms: list[str]
    total: Counts
    by_outcome: dict[str, Counts]
    """Per outcome name (:data:`DESIGN` for arm sizes) of the primary report."""

    def as_json(self) -> dict[str, Any]:
        """Return the status as plain data."""
        return asdict(self)


def study_statuses(*, engine: Engine, protocol: Protocol, viewer: str) -> list[StudyStatus]:
    """Every study with counts of what ``viewer`` entered, others entered, differs, is final."""
    who = check_person(engine, protocol, viewer)
    out = []
    with Session(engine) as session:
        for st in session.scalars(select(Study).order_by(col(Study.id))):
            data = _load(session, st)
            primary = next((r for r in data.reports.values() if r.role == "primary"), None)
            total, per = (
                Counts(),
                {DESIGN: Counts(), **{o.name: Counts() for o in protocol.outcomes}},
            )
            for key in data.versions:
                mine = data.current(key, who)
                others = [
                    r
                    for w in data.extractors()
                    if w != who and (r := data.current(key, w)) is not None
                ]
                drafts = ([mine] if mine else []) + others
                differ = (
                    len(drafts) > 1
                    and not all(_same(drafts[0].values, d.values) for d in drafts[1:])
                    and not _resolved(data, key)
                )
                bucket = [total]
                if primary is not None and key.report_id == primary.id:
                    bucket.append(per.setdefault(key.outcome or DESIGN, Counts()))
                for c in bucket:
                    c.mine += mine is not None
                    c.others += bool(others)
                    c.differ += differ
                    c.final += data.final(key) is not None
            arms = sorted(
                a.treatment
                for a in data.arms.values()
                if primary is not None and a.report_id == primary.id
            )
            out.append(StudyStatus(int(st.id or 0), st.label, st.registry_id, arms, total, per))
    return out


@dataclass
class ReconcileItem:
    """One item as a resolver sees it: each extractor's value side by side, and the final."""

    key: str
    kind: str
    outcome: str | None
    fields: tuple[str, ...]
    fixed: dict[str, Any]
    status: str
    """As compare sets it: ``agree``, ``differ``, ``missing`` or ``single``."""
    visible: bool
    """False while the viewer may not see the values (see :func:`reconcile_view`)."""
    values: dict[str, dict[str, Any] | None]
    sources: dict[str, str | None]
    final: dict[str, Any] | None
    final_source: str | None
    final_by: str | None
    resolved: bool
    """A final value newer than every extractor's current value."""

    @property
    def open(self) -> bool:
        """A discrepancy still to resolve."""
        return self.status in ("differ", "missing") and not self.resolved


@dataclass
class ReconcileView:
    """A study's items for a resolver, discrepancies first (see :func:`reconcile_view`)."""

    study_id: int
    study: str
    viewer: str
    extractors: list[str]
    items: list[ReconcileItem]

    @property
    def discrepancies(self) -> list[ReconcileItem]:
        """The open discrepancies (differ or missing, not resolved)."""
        return [i for i in self.items if i.open]


def reconcile_view(
    *, engine: Engine, protocol: Protocol, study: str | int, viewer: str
) -> ReconcileView:
    """The study's items with every extractor's current value, as :func:`compare` lists them.

    Blinded like the form: a viewer who is not a lead sees an item's values (and its final)
    once they entered it themselves, or once two extractors have (a discrepancy a third
    reviewer may settle); an item only one extractor has entered stays hidden from the others.
    """
    who = check_person(engine, protocol, viewer)
    cmp = compare(engine=engine, study=study)
    with Session(engine) as session:
        data = _load(session, find_study(session, study))
    lead = get_reviewer(engine, protocol, who).is_lead
    keys = {data.key_text(k): k for k in data.versions}
    measures = {o.name: o.measure for o in protocol.outcomes}
    items = []
    for it in cmp["items"]:
        k = keys[it["key"]]
        entered = [w for w, v in it["values"].items() if v is not None]
        visible = lead or who in entered or len(entered) >= 2
        measure = measures.get(k.outcome or "")
        items.append(
            ReconcileItem(
                key=it["key"],
                kind=k.kind,
                outcome=k.outcome,
                fields=ENTRY_FIELDS.get(k.kind, ("value",)),
                fixed={"measure": measure} if k.kind in ("contrast", "estimate") else {},
                status=it["status"],
                visible=visible,
                values={w: (v if visible or w == who else None) for w, v in it["values"].items()},
                sources={w: (s if visible or w == who else None) for w, s in it["sources"].items()},
                final=(it["final"] or {}).get("values") if visible else None,
                final_source=(it["final"] or {}).get("source") if visible else None,
                final_by=(it["final"] or {}).get("extractor") if visible else None,
                resolved=_resolved(data, k),
            )
        )
    items.sort(key=lambda i: (not i.open, i.key))
    return ReconcileView(int(data.study.id or 0), data.study.label, who, cmp["extractors"], items)

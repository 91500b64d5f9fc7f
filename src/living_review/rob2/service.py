"""Provides RoB 2 in the store: per-assessor assessments, comparison, consensus, final table.

The CLI (``lsr rob2 assess|compare|resolve|show|plot``), the TUI's RoB 2 screen, the report and
the living NMA loop call these functions, never the table directly.

* One assessment judges one result: a study × a protocol outcome. Each assessor's saves are
  append-only versions (:class:`~living_review.store.models.RoB2Assessment`); their current
  assessment is their newest row. Answers may be partial while in progress; every answer given
  is checked against its answer set and the skip logic when it is given, and completion checks
  that every required question is answered (the same rules as ``lsr rob2 judge``).
* The algorithm's proposals are stored with each version (with its rule ids and version), and
  the assessor's overrides beside them, each with its justification. When two or more domains
  have some concerns and none is high, completing asks for the overall decision (confirm some
  concerns, or high with a justification): RoB 2 has no numeric threshold for it.
* :func:`compare` lists where two assessors' answers and judgements differ; :func:`resolve`
  writes the ``consensus`` version, which is the final one: :func:`final_judgments` is what
  plots, the report and the NMA's bias-adjusted views read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from living_review.protocol import Protocol
from living_review.rob2.algorithm import (
    ALGORITHM_VERSION,
    OVERALL,
    Assessment,
    Judgement,
    Override,
    OverrideError,
    assess,
    judge_validated,
    parse_judgement,
    worst,
)
from living_review.rob2.questions import (
    ANSWER_CLASS,
    DOMAIN_IDS,
    AnswerError,
    Question,
    RoB2Error,
    Variant,
    asked_questions,
    check_deviations,
    check_variant,
    describe,
    next_question,
    questions,
    validate_answers,
)
from living_review.store.engine import write_session
from living_review.store.models import AuditEvent, RoB2Assessment, Study

if TYPE_CHECKING:
    from living_review.rob2.plots import PlotRow

ROLES = ("assessor", "consensus")
DIRECTIONS: tuple[str, ...] = (
    "na",
    "favours_experimental",
    "favours_comparator",
    "towards_null",
    "away_from_null",
    "unpredictable",
)
"""Predicted direction of bias (optional, per domain and overall), as the RoB 2 template lists."""
STATUSES = ("not_started", "in_progress", "dual_complete", "consensus")
"""Status of a study × outcome: nobody started; started (fewer than two complete); two or more
assessors complete (awaiting consensus); a consensus (final) assessment exists."""


# --- progress: what the answers so far allow the algorithm to say ------------------------------


@dataclass(frozen=True)
class Progress:
    """The live state of a (possibly partial) answer set: what to ask next, what is proposed.

    ``proposed`` holds a judgement for every domain whose asked questions are all answered
    (None for the others); ``overall`` is proposed only when every domain is. This is what the
    TUI shows after each key and what an in-progress version stores.
    """

    variant: Variant
    answers: dict[str, str]
    deviations: frozenset[str] | None
    proposed: dict[str, Judgement | None]
    rules: dict[str, str]
    next: Question | None
    dropped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every asked question has an answer (the assessment can be completed)."""
        return self.next is None

    @property
    def proposed_overall(self) -> Judgement | None:
        """The worst domain proposal, once every domain has one."""
        if any(j is None for j in self.proposed.values()):
            return None
        return worst(j for j in self.proposed.values() if j is not None)

    def asked(self) -> list[Question]:
        """The questions asked given the answers so far, in order."""
        return asked_questions(self.variant, self.answers, self.deviations)


def _check_given(
    variant: Variant,
    merged: Mapping[str, str],
    given: Iterable[str],
    deviations: frozenset[str] | None,
) -> None:
    """Each answer given now must be a question of the variant, allowed and from its set."""
    asked = {q.id: q for q in asked_questions(variant, merged, deviations)}
    every = {q.id: q for q in questions(variant)}
    for qid in given:
        value = merged.get(qid)
        q = every.get(qid)
        if q is None:
            where = " (2.7 exists only for the effect of assignment)" if qid == "2.7" else ""
            raise AnswerError(
                f"{qid!r} is not a question of the RoB 2 {variant} variant{where}", question=qid
            )
        if qid not in asked:
            if value == "NA":
                continue
            raise AnswerError(
                f"question {qid} must not be answered: it is asked only when "
                f"{describe(q.condition)} (skip logic)",
                question=qid,
            )
        if value not in q.answers:
            raise AnswerError(
                f"answer {value!r} for {qid} is not one of {', '.join(q.answers)}", question=qid
            )


def _prune(
    variant: Variant, answers: Mapping[str, str], deviations: frozenset[str] | None
) -> tuple[dict[str, str], list[str]]:
    """Keep the answers of asked questions; list those an earlier change made inapplicable.

    An answer the skip logic no longer asks for (2.3 after 2.1 and 2.2 became N) is dropped
    from the new version; the older version that held it stays in the store.
    """
    asked = {q.id for q in asked_questions(variant, answers, deviations)}
    kept = {k: v for k, v in answers.items() if k in asked and v != "NA"}
    return kept, sorted(k for k, v in answers.items() if k not in kept and v != "NA")


def progress(
    variant: str,
    answers: Mapping[str, object],
    deviations: Iterable[str] | None = None,
    *,
    given: Iterable[str] | None = None,
) -> Progress:
    """Check a partial answer set and propose what can be proposed so far.

    ``given`` names the answers just entered (default: all): those must be allowed by the
    skip logic and come from their question's answer set; earlier answers that are no longer
    asked are dropped (listed in ``dropped``). Never raises for a missing answer.
    """
    v = check_variant(variant)
    devs = check_deviations(v, deviations)
    clean: dict[str, str] = {}
    for k, value in answers.items():
        if not isinstance(value, str):
            raise AnswerError(f"answer {value!r} for {k} must be text", question=str(k))
        code = value.strip().upper()
        if code not in ANSWER_CLASS:
            raise AnswerError(
                f"answer {value!r} for {k} is not one of Y, PY, PN, N, NI", question=str(k)
            )
        clean[str(k).strip()] = code
    _check_given(v, clean, list(clean) if given is None else list(given), devs)
    kept, dropped = _prune(v, clean, devs)
    proposed: dict[str, Judgement | None] = {}
    rules: dict[str, str] = {}
    for d in DOMAIN_IDS:
        if next_question(v, kept, devs, domain=d) is not None:
            proposed[d] = None
            continue
        done = validate_answers(v, kept, devs, domains=(d,))
        result = judge_validated(d, v, done)
        proposed[d], rules[d] = result.judgement, result.rule
    return Progress(v, kept, devs, proposed, rules, next_question(v, kept, devs), dropped)


# --- stored versions ---------------------------------------------------------------------------


@dataclass
class AssessmentView:
    """One stored version as plain data (what show/compare/history return)."""

    id: int
    study_id: int
    study: str
    outcome: str
    assessor: str
    role: str
    status: str
    variant: str
    deviations: list[str] | None
    answers: dict[str, str]
    proposed: dict[str, str | None]
    rules: dict[str, str]
    overrides: dict[str, dict[str, Any]]
    support: dict[str, str]
    directions: dict[str, str]
    domains: dict[str, str | None]
    overall: str | None
    overridden: list[str]
    several_some_concerns: bool
    algorithm_version: str
    numerical_result: str | None
    note: str | None
    supersedes_id: int | None
    created_at: str | None
    dropped: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the version as plain data."""
        return asdict(self)


def _finals(
    proposed: Mapping[str, str | None], overrides: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, str | None], str | None]:
    domains: dict[str, str | None] = {}
    for d in DOMAIN_IDS:
        o = overrides.get(d)
        domains[d] = str(o["judgement"]) if o else proposed.get(d)
    if any(j is None for j in domains.values()):
        return domains, None
    o = overrides.get(OVERALL)
    if o:
        return domains, str(o["judgement"])
    return domains, worst(Judgement(str(j)) for j in domains.values()).value


def _view(row: RoB2Assessment, study: Study, dropped: list[str] | None = None) -> AssessmentView:
    domains, overall = _finals(row.proposed, row.overrides)
    overridden = [d for d in DOMAIN_IDS if domains[d] != row.proposed.get(d)]
    if overall is not None and overall != row.proposed.get(OVERALL):
        overridden.append(OVERALL)
    finals = [j for j in domains.values() if j is not None]
    several = (
        len(finals) == len(DOMAIN_IDS)
        and "high" not in finals
        and finals.count("some_concerns") >= 2
    )
    return AssessmentView(
        id=int(row.id or 0),
        study_id=int(study.id or 0),
        study=study.label,
        outcome=row.outcome,
        assessor=row.assessor,
        role=row.role,
        status=row.status,
        variant=row.variant,
        deviations=row.deviations,
        answers=dict(row.answers),
        proposed=dict(row.proposed),
        rules=dict(row.rules),
        overrides={k: dict(v) for k, v in row.overrides.items()},
        support=dict(row.support),
        directions=dict(row.directions),
        domains=domains,
        overall=overall,
        overridden=overridden,
        several_some_concerns=several,
        algorithm_version=row.algorithm_version,
        numerical_result=row.numerical_result,
        note=row.note,
        supersedes_id=row.supersedes_id,
        created_at=row.created_at.isoformat() if row.created_at else None,
        dropped=list(dropped or []),
    )


def _audit(session: Session, actor: str, action: str, entity_id: Any, **detail: Any) -> None:
    session.add(
        AuditEvent(
            actor=actor, action=action, entity="rob2", entity_id=str(entity_id), detail=detail
        )
    )


def _outcome(protocol: Protocol, outcome: str) -> str:
    out = protocol.outcome(outcome)
    if out is None:
        known = ", ".join(o.name for o in protocol.outcomes)
        raise RoB2Error(f"outcome {outcome!r} is not in the protocol (outcomes: {known})")
    return out.name


def _person(engine: Engine, protocol: Protocol, name: str) -> str:
    from living_review.extraction.service import check_person

    return check_person(engine, protocol, name)


def _find_study(session: Session, ref: str | int) -> Study:
    from living_review.extraction.service import find_study

    return find_study(session, ref)


def _rows(
    session: Session, study_id: int | None = None, outcome: str | None = None
) -> list[RoB2Assessment]:
    q = select(RoB2Assessment).order_by(col(RoB2Assessment.id))
    if study_id is not None:
        q = q.where(col(RoB2Assessment.study_id) == study_id)
    if outcome is not None:
        q = q.where(col(RoB2Assessment.outcome) == outcome)
    return list(session.scalars(q))


def _current(
    rows: Sequence[RoB2Assessment], role: str, assessor: str | None = None
) -> dict[str, RoB2Assessment]:
    """Newest row per assessor of ``role`` (rows oldest first)."""
    out: dict[str, RoB2Assessment] = {}
    for r in rows:
        if r.role == role and (assessor is None or r.assessor == assessor):
            out[r.assessor] = r
    return out


def _consensus(rows: Sequence[RoB2Assessment]) -> RoB2Assessment | None:
    found = [r for r in rows if r.role == "consensus" and r.status == "complete"]
    return found[-1] if found else None


def _carry_overrides(
    previous: Mapping[str, Mapping[str, Any]],
    given: Mapping[str, Override],
    proposed: Mapping[str, Judgement | None],
    who: str,
    at: str,
) -> dict[str, dict[str, Any]]:
    """Overrides of the new version: those given now, and earlier ones still about the same
    proposal (an override answers one proposal; when the answers change the proposal, the old
    override no longer applies and is left behind in the older version)."""
    out: dict[str, dict[str, Any]] = {}
    for d in DOMAIN_IDS:
        p = proposed.get(d)
        if d in given:
            o = given[d]
            out[d] = {"judgement": o.judgement.value, "justification": o.justification,
                      "by": o.by or who, "at": o.at or at}  # fmt: skip
        elif d in previous and p is not None and previous[d].get("proposed") == p.value:
            out[d] = dict(previous[d])
        if d in out and p is not None:
            out[d]["proposed"] = p.value
    finals = [Judgement(out[d]["judgement"]) if d in out else proposed[d] for d in DOMAIN_IDS]
    proposed_overall = (
        None if any(j is None for j in finals) else worst(j for j in finals if j is not None)
    )
    if OVERALL in given:
        o = given[OVERALL]
        out[OVERALL] = {"judgement": o.judgement.value, "justification": o.justification,
                        "by": o.by or who, "at": o.at or at}  # fmt: skip
    basis = {d: j.value for d, j in zip(DOMAIN_IDS, finals, strict=True) if j is not None}
    if (
        OVERALL not in given
        and OVERALL in previous
        and proposed_overall is not None
        and previous[OVERALL].get("basis") == basis
    ):
        out[OVERALL] = dict(previous[OVERALL])
    if OVERALL in out and proposed_overall is not None:
        out[OVERALL]["proposed"] = proposed_overall.value
        out[OVERALL]["basis"] = basis  # the domain judgements the overall decision was about
    return out


def _as_overrides(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Override]:
    return {
        k: Override(
            parse_judgement(v["judgement"], f"override {k}"),
            str(v.get("justification") or ""),
            v.get("by"),
            v.get("at"),
        )  # fmt: skip
        for k, v in stored.items()
    }


def _check_notes(
    variant: Variant, support: Mapping[str, object], directions: Mapping[str, object]
) -> tuple[dict[str, str], dict[str, str]]:
    """Support text is per question ID or domain; a direction per domain or overall."""
    ids = {q.id for q in questions(variant)} | set(DOMAIN_IDS)
    sup: dict[str, str] = {}
    for key, text in support.items():
        if str(key) not in ids:
            raise RoB2Error(f"support for {key!r}: not a question ID or domain of {variant}")
        if not isinstance(text, str):
            raise RoB2Error(f"support for {key}: must be text")
        sup[str(key)] = text.strip()
    dirs: dict[str, str] = {}
    for key, value in directions.items():
        if str(key) not in (*DOMAIN_IDS, OVERALL):
            raise RoB2Error(f"direction for {key!r}: give a domain 1-5 or overall")
        code = str(value).strip().lower().replace(" ", "_").replace("-", "_")
        if code not in DIRECTIONS:
            raise RoB2Error(f"direction {value!r} for {key} is not one of {', '.join(DIRECTIONS)}")
        dirs[str(key)] = code
    return sup, dirs


def _require_overall_decision(a: Assessment) -> None:
    """RoB 2's "several some concerns" clause is the assessor's call: ask for it explicitly."""
    if a.several_some_concerns and OVERALL not in a.overrides:
        raise OverrideError(
            f"{a.prompt} Decide before completing: confirm the overall judgement "
            "(overall=some_concerns) or escalate it (overall=high with a justification)."
        )


@dataclass
class SaveResult:
    """What :func:`save_assessment` wrote, and the live state after it."""

    assessment: AssessmentView
    unchanged: bool
    next_question: str | None
    prompt: str | None

    def as_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {
            **self.assessment.as_json(),
            "unchanged": self.unchanged,
            "next_question": self.next_question,
            "prompt": self.prompt,
        }


def save_assessment(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    outcome: str,
    assessor: str,
    answers: Mapping[str, object] | None = None,
    variant: str | None = None,
    deviations: Iterable[str] | None = None,
    overrides: Mapping[str, Override] | None = None,
    complete: bool = False,
    role: str = "assessor",
    base: Mapping[str, Any] | None = None,
    numerical_result: str | None = None,
    note: str | None = None,
    support: Mapping[str, object] | None = None,
    directions: Mapping[str, object] | None = None,
) -> SaveResult:
    """Append a version of ``assessor``'s assessment of ``study`` × ``outcome``.

    ``answers`` update the assessor's current answers (or ``base``'s, see :func:`resolve`).
    Every answer given is checked now; ``complete=True`` also requires every asked question
    to be answered, checks the overrides (a changed judgement needs a justification) and, when
    several domains have some concerns and none is high, an explicit overall decision. A
    save that changes nothing writes nothing. ``support`` (text per question or domain) and
    ``directions`` (predicted direction of bias per domain or overall, one of
    :data:`DIRECTIONS`) update the earlier ones. Errors leave the store untouched.
    """
    if role not in ROLES:
        raise RoB2Error(f"role {role!r} is not one of {', '.join(ROLES)}")
    who = _person(engine, protocol, assessor)
    oname = _outcome(protocol, outcome)
    with write_session(engine) as session:
        st = _find_study(session, study)
        sid = int(st.id or 0)
        rows = _rows(session, sid, oname)
        prev = _current(rows, role, who).get(who)
        start: Mapping[str, Any] = base or (
            {
                "variant": prev.variant,
                "deviations": prev.deviations,
                "answers": prev.answers,
                "overrides": prev.overrides,
                "numerical_result": prev.numerical_result,
                "support": prev.support,
                "directions": prev.directions,
            }
            if prev is not None
            else {}
        )
        v = check_variant(variant or start.get("variant") or "assignment")
        devs_in = deviations if deviations is not None else start.get("deviations")
        if v != "adhering":
            devs_in = None if deviations is None else devs_in
        old_answers = dict(start.get("answers") or {})
        if start.get("variant") and start.get("variant") != v:
            old_answers = {k: a for k, a in old_answers.items() if not k.startswith("2.")}
        given = dict(answers or {})
        merged = {**old_answers, **given}
        prog = progress(v, merged, devs_in, given=list(given))
        sup, dirs = _check_notes(v, support or {}, directions or {})
        sup = {k: t for k, t in {**(start.get("support") or {}), **sup}.items() if t}
        dirs = {**(start.get("directions") or {}), **dirs}
        at = datetime.now().astimezone().isoformat(timespec="seconds")
        stored_overrides = _carry_overrides(
            start.get("overrides") or {}, dict(overrides or {}), prog.proposed, who, at
        )
        status = "in_progress"
        stored_answers = prog.answers
        proposed: dict[str, str | None] = {
            d: (j.value if j is not None else None) for d, j in prog.proposed.items()
        }
        proposed[OVERALL] = prog.proposed_overall.value if prog.proposed_overall else None
        if complete:
            full = assess(v, prog.answers, deviations=prog.deviations,
                          overrides=_as_overrides(stored_overrides))  # fmt: skip
            _require_overall_decision(full)
            proposed[OVERALL] = worst(r.judgement for r in full.proposed.values()).value
            stored_answers = dict(full.answers)  # with NA for skipped questions, as RoB 2 does
            status = "complete"
        else:
            _check_partial_overrides(proposed, stored_overrides)
        devs_out = sorted(prog.deviations) if prog.deviations is not None else None
        result_text = numerical_result or start.get("numerical_result")
        same = prev is not None and (
            prev.variant == v
            and prev.deviations == devs_out
            and prev.answers == stored_answers
            and prev.overrides == stored_overrides
            and prev.status == status
            and prev.numerical_result == result_text
            and prev.support == sup
            and prev.directions == dirs
            and base is None
            and note is None
        )
        if same and prev is not None:
            return SaveResult(
                _view(prev, st), True, _next_id(prog), _prompt(proposed, stored_overrides)
            )
        row = RoB2Assessment(
            study_id=sid,
            outcome=oname,
            assessor=who,
            role=role,
            status=status,
            variant=v,
            deviations=devs_out,
            answers=stored_answers,
            proposed=proposed,
            rules=prog.rules,
            overrides=stored_overrides,
            support=sup,
            directions=dirs,
            algorithm_version=ALGORITHM_VERSION,
            numerical_result=result_text,
            note=note,
            supersedes_id=prev.id if prev is not None else None,
        )
        session.add(row)
        session.flush()
        _audit(session, who, "rob2_consensus" if role == "consensus" else "rob2_assess", row.id,
               study=st.label, outcome=oname, status=status, answers=len(prog.answers),
               overall=_finals(proposed, stored_overrides)[1])  # fmt: skip
        view = _view(row, st, prog.dropped)
        return SaveResult(view, False, _next_id(prog), _prompt(proposed, stored_overrides))


def _next_id(prog: Progress) -> str | None:
    return prog.next.id if prog.next is not None else None


def _prompt(proposed: Mapping[str, str | None], overrides: Mapping[str, Any]) -> str | None:
    from living_review.rob2.algorithm import SEVERAL_SOME_CONCERNS_PROMPT

    domains, _ = _finals(proposed, overrides)
    finals = list(domains.values())
    if None in finals or "high" in finals or OVERALL in overrides:
        return None
    n = finals.count("some_concerns")
    return SEVERAL_SOME_CONCERNS_PROMPT.format(n=n) if n >= 2 else None


def _check_partial_overrides(
    proposed: Mapping[str, str | None], overrides: Mapping[str, Mapping[str, Any]]
) -> None:
    """While in progress, an override is allowed only for a judged domain, with its reason."""
    for key, o in overrides.items():
        if key not in proposed:
            raise OverrideError(
                f"override key {key!r} is not one of {', '.join(DOMAIN_IDS)}, {OVERALL}"
            )
        if proposed[key] is None:
            what = "the overall judgement" if key == OVERALL else f"domain {key}"
            raise OverrideError(f"{what} has no proposal yet: answer its questions first")
        if o["judgement"] != proposed[key] and not str(o.get("justification") or "").strip():
            raise OverrideError(
                f"overriding {key} from {proposed[key]} to {o['judgement']} needs a justification"
            )


@dataclass(frozen=True)
class Preview:
    """What saving these answers and overrides would propose, without saving (for the TUI).

    ``overrides`` are the ones a save would store: those given, and stored ones that still
    answer the same proposal; ``domains``/``overall`` apply them; ``prompt`` is the "several
    some concerns" question when it is still open.
    """

    progress: Progress
    overrides: dict[str, dict[str, Any]]
    proposed: dict[str, str | None]
    domains: dict[str, str | None]
    overall: str | None
    prompt: str | None


def preview(
    variant: str,
    answers: Mapping[str, object],
    deviations: Iterable[str] | None = None,
    *,
    overrides: Mapping[str, Override] | None = None,
    stored_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    who: str = "",
) -> Preview:
    """Propose judgements for a working answer set the way :func:`save_assessment` would."""
    prog = progress(variant, answers, deviations)
    at = datetime.now().astimezone().isoformat(timespec="seconds")
    kept = _carry_overrides(stored_overrides or {}, dict(overrides or {}), prog.proposed, who, at)
    proposed: dict[str, str | None] = {
        d: (j.value if j is not None else None) for d, j in prog.proposed.items()
    }
    proposed[OVERALL] = prog.proposed_overall.value if prog.proposed_overall else None
    domains, overall = _finals(proposed, kept)
    return Preview(prog, kept, proposed, domains, overall, _prompt(proposed, kept))


# --- dual assessment: compare and resolve ------------------------------------------------------


def _load_result(
    session: Session, protocol: Protocol | None, study: str | int, outcome: str
) -> tuple[Study, str, list[RoB2Assessment]]:
    st = _find_study(session, study)
    oname = _outcome(protocol, outcome) if protocol is not None else outcome
    return st, oname, _rows(session, int(st.id or 0), oname)


def compare(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    outcome: str,
    assessors: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Where assessors' current assessments differ: per question, per domain, overall.

    ``questions`` lists every question anyone answered, with each assessor's code and a
    ``status``: ``agree`` (same code), ``same_class`` (Y vs PY, or N vs PN: the algorithm
    reads them alike, but the codes differ), ``differ`` or ``missing``. ``domains`` does the
    same for final domain judgements and ``overall``. ``discrepancies`` counts what is not
    ``agree``; ``complete`` says whether every compared assessment is complete.
    """
    with Session(engine) as session:
        st, oname, rows = _load_result(session, protocol, study, outcome)
        current = _current(rows, "assessor")
        who = list(assessors) if assessors else sorted(current)
        for w in who:
            if w not in current:
                raise RoB2Error(f"{st.label} / {oname}: {w!r} has no RoB 2 assessment")
        views = {w: _view(current[w], st) for w in who}
    order: dict[str, int] = {}
    for q in questions("assignment") + questions("adhering"):
        order.setdefault(q.id, len(order))
    qids = sorted({k for v in views.values() for k in v.answers}, key=lambda k: order.get(k, 99))
    qrows = []
    for qid in qids:
        codes = {w: views[w].answers.get(qid) for w in who}
        qrows.append({"question": qid, "answers": codes, "status": _status(codes)})
    drows = []
    for key in (*DOMAIN_IDS, OVERALL):
        judged = {
            w: (views[w].overall if key == OVERALL else views[w].domains.get(key)) for w in who
        }
        drows.append({"domain": key, "judgements": judged, "status": _status(judged)})
    variants = {w: views[w].variant for w in who}
    return {
        "study": st.label,
        "study_id": st.id,
        "outcome": oname,
        "assessors": who,
        "variants": variants,
        "variant_agrees": len(set(variants.values())) <= 1,
        "complete": all(v.status == "complete" for v in views.values()),
        "questions": qrows,
        "domains": drows,
        "question_discrepancies": [r for r in qrows if r["status"] != "agree"],
        "domain_discrepancies": [r for r in drows if r["status"] != "agree"],
        "assessments": {w: v.as_json() for w, v in views.items()},
    }


def _status(values: Mapping[str, str | None]) -> str:
    vals = list(values.values())
    if len(vals) < 2:
        return "single"
    if any(v is None for v in vals):
        return "missing"
    if len(set(vals)) == 1:
        return "agree"
    if len({ANSWER_CLASS.get(str(v), v) for v in vals}) == 1:
        return "same_class"
    return "differ"


def agreed_answers(cmp: Mapping[str, Any]) -> dict[str, str]:
    """The answers every compared assessor gave identically (a consensus starts from these)."""
    return {
        r["question"]: next(iter(r["answers"].values()))
        for r in cmp["questions"]
        if r["status"] == "agree"
    }


def resolve(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    outcome: str,
    resolver: str,
    use: str | None = None,
    answers: Mapping[str, object] | None = None,
    variant: str | None = None,
    deviations: Iterable[str] | None = None,
    overrides: Mapping[str, Override] | None = None,
    note: str | None = None,
    support: Mapping[str, object] | None = None,
    directions: Mapping[str, object] | None = None,
) -> SaveResult:
    """Write the consensus (final) assessment of ``study`` × ``outcome`` as ``resolver``.

    Starts from ``use``'s current assessment (answers, variant, overrides) when given, else
    from the answers the assessors agree on (or the resolver's earlier consensus); ``answers``
    and ``overrides`` settle the rest. The consensus must be complete. Every assessor's
    versions stay in the store.
    """
    who = _person(engine, protocol, resolver)
    base: dict[str, Any] | None = None
    with Session(engine) as session:
        st, oname, rows = _load_result(session, protocol, study, outcome)
        current = _current(rows, "assessor")
        if use is not None:
            taken = current.get(use)
            if taken is None:
                raise RoB2Error(f"{st.label} / {oname}: {use!r} has no RoB 2 assessment to use")
            if taken.status != "complete":
                raise RoB2Error(f"{st.label} / {oname}: {use}'s assessment is not complete")
            base = {
                "variant": taken.variant,
                "deviations": taken.deviations,
                "answers": taken.answers,
                "overrides": taken.overrides,
                "numerical_result": taken.numerical_result,
                "support": taken.support,
                "directions": taken.directions,
            }
        elif _current(rows, "consensus", who).get(who) is None:
            if len(current) < 2:
                raise RoB2Error(
                    f"{st.label} / {oname}: consensus needs two assessments "
                    f"(have: {', '.join(sorted(current)) or 'none'}); or --use ASSESSOR"
                )
            cmp = compare(engine=engine, protocol=protocol, study=st.id or 0, outcome=oname)
            variants = set(cmp["variants"].values())
            if variant is None and len(variants) > 1:
                raise RoB2Error(
                    f"{st.label} / {oname}: the assessors used different Domain 2 variants "
                    f"({', '.join(sorted(variants))}); give the consensus variant"
                )
            base = {
                "variant": variant or variants.pop(),
                "answers": agreed_answers(cmp) if cmp["variant_agrees"] else {},
            }
    return save_assessment(
        engine=engine, protocol=protocol, study=study, outcome=oname, assessor=who,
        answers=answers, variant=variant, deviations=deviations, overrides=overrides,
        complete=True, role="consensus", base=base, note=note, support=support,
        directions=directions,
    )  # fmt: skip


# --- reading ------------------------------------------------------------------------------------


def history(
    *, engine: Engine, protocol: Protocol, study: str | int, outcome: str
) -> list[dict[str, Any]]:
    """Every version of every assessment of one result, oldest first (nothing dropped)."""
    with Session(engine) as session:
        st, _, rows = _load_result(session, protocol, study, outcome)
        return [_view(r, st).as_json() for r in rows]


def current_assessment(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int,
    outcome: str,
    assessor: str,
    role: str = "assessor",
) -> AssessmentView | None:
    """``assessor``'s current version (None when they have not started)."""
    with Session(engine) as session:
        st, _, rows = _load_result(session, protocol, study, outcome)
        row = _current(rows, role, assessor).get(assessor)
        return _view(row, st) if row is not None else None


@dataclass
class ResultStatus:
    """The RoB 2 state of one study × outcome (derived from the stored versions)."""

    study_id: int
    study: str
    outcome: str
    status: str
    assessors: dict[str, str]  # assessor -> in_progress | complete
    consensus: dict[str, Any] | None  # domains, overall, resolver of the final assessment

    def as_json(self) -> dict[str, Any]:
        """Return the status as plain data."""
        return asdict(self)


def _result_status(st: Study, outcome: str, rows: Sequence[RoB2Assessment]) -> ResultStatus:
    current = _current(rows, "assessor")
    assessors = {w: r.status for w, r in sorted(current.items())}
    final = _consensus(rows)
    if final is not None:
        status = "consensus"
        view = _view(final, st)
        cons: dict[str, Any] | None = {
            "domains": view.domains,
            "overall": view.overall,
            "resolver": view.assessor,
            "id": view.id,
        }
    else:
        cons = None
        done = sum(1 for s in assessors.values() if s == "complete")
        status = "dual_complete" if done >= 2 else ("in_progress" if rows else "not_started")
    return ResultStatus(int(st.id or 0), st.label, outcome, status, assessors, cons)


def list_status(
    *,
    engine: Engine,
    protocol: Protocol,
    study: str | int | None = None,
    outcome: str | None = None,
) -> list[ResultStatus]:
    """Status of every study × protocol outcome (or of one study / one outcome)."""
    outcomes = [_outcome(protocol, outcome)] if outcome else [o.name for o in protocol.outcomes]
    out: list[ResultStatus] = []
    with Session(engine) as session:
        if study is not None:
            studies = [_find_study(session, study)]
        else:
            studies = list(session.scalars(select(Study).order_by(col(Study.label))))
        by_result: dict[tuple[int, str], list[RoB2Assessment]] = {}
        for r in _rows(session, int(studies[0].id or 0) if study is not None else None):
            by_result.setdefault((r.study_id, r.outcome), []).append(r)
        for st in studies:
            for o in outcomes:
                out.append(_result_status(st, o, by_result.get((int(st.id or 0), o), [])))
    return out


@dataclass(frozen=True)
class FinalJudgment:
    """The final (consensus) RoB 2 judgements of one study × outcome."""

    study_id: int
    study: str
    outcome: str
    variant: str
    domains: dict[str, str]
    overall: str
    proposed: dict[str, str]
    overridden: list[str]
    resolver: str
    assessment_id: int
    algorithm_version: str
    created_at: str

    def as_json(self) -> dict[str, Any]:
        """Return the judgements as plain data."""
        return asdict(self)

    def plot_row(self, label: str | None = None, weight: float = 1.0) -> PlotRow:
        """A robvis plot row of the final judgements."""
        from living_review.rob2.plots import PlotRow

        cells: dict[str, Judgement | None] = {d: Judgement(j) for d, j in self.domains.items()}
        cells[OVERALL] = Judgement(self.overall)
        return PlotRow(label or self.study, cells, weight)


def final_judgments(engine: Engine, outcome: str | None = None) -> list[FinalJudgment]:
    """The consensus RoB 2 judgements, one per study × outcome, ordered by study label.

    ``outcome`` is a protocol outcome name (case-insensitive; None: every outcome). Only
    complete consensus assessments count: results without one are absent, never guessed.
    """
    out: list[FinalJudgment] = []
    with Session(engine) as session:
        studies = {int(s.id or 0): s for s in session.scalars(select(Study))}
        grouped: dict[tuple[int, str], list[RoB2Assessment]] = {}
        for r in _rows(session):
            if outcome is None or r.outcome.casefold() == outcome.casefold():
                grouped.setdefault((r.study_id, r.outcome), []).append(r)
        for (sid, oname), rows in grouped.items():
            final = _consensus(rows)
            if final is None:
                continue
            view = _view(final, studies[sid])
            out.append(
                FinalJudgment(
                    study_id=sid,
                    study=view.study,
                    outcome=oname,
                    variant=view.variant,
                    domains={d: str(j) for d, j in view.domains.items()},
                    overall=str(view.overall),
                    proposed={k: str(v) for k, v in view.proposed.items()},
                    overridden=view.overridden,
                    resolver=view.assessor,
                    assessment_id=view.id,
                    algorithm_version=view.algorithm_version,
                    created_at=view.created_at or "",
                )
            )
    out.sort(key=lambda f: (f.study.casefold(), f.outcome))
    return out

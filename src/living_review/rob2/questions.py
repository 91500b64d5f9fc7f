"""Provides the RoB 2 signalling questions (IRPG variant) and their skip logic, as data.

Why data rather than ``if`` statements: the same table drives validation (``lsr rob2 judge``),
the TUI that asks one question at a time, and the audit text shown to the assessor ("asked
because 2.3 is Y/PY"), so the three cannot drift apart. The source is
``shared/specs/rob2.md`` section 3 (RoB 2 template and guidance of 22 August 2019).

Licence: the RoB 2 question wording is CC BY-NC-ND 4.0 and is deliberately **not** shipped.
Each question carries its official ID plus a short label of our own; the full wording and
guidance are at https://www.riskofbias.info (see :data:`WORDING_URL`).

Every condition refers only to earlier questions of the same domain, so "which questions are
asked" is well defined when answers are evaluated in question order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from living_review.errors import LsrError

WORDING_URL = "https://www.riskofbias.info"
"""Where the full (licensed) question wording and guidance live."""

Variant: TypeAlias = Literal["assignment", "adhering"]
VARIANTS: tuple[Variant, ...] = ("assignment", "adhering")
"""Domain 2 variants: effect of assignment (ITT) and effect of adhering (per-protocol)."""

Deviation: TypeAlias = Literal[
    "non_protocol_interventions", "implementation_failures", "non_adherence"
]
DEVIATIONS: tuple[Deviation, ...] = (
    "non_protocol_interventions",
    "implementation_failures",
    "non_adherence",
)
"""Deviations an effect-of-adhering assessment may address (at least one when given)."""

DEVIATION_LABELS: dict[str, str] = {
    "non_protocol_interventions": "non-protocol interventions",
    "implementation_failures": "implementation failures",
    "non_adherence": "non-adherence",
}

ANSWER_CODES: tuple[str, ...] = ("Y", "PY", "PN", "N", "NI", "NA")
"""Every answer code, in the template's order. NA only ever means "the logic skipped it"."""

ANSWER_CLASS: dict[str, str] = {"Y": "Y", "PY": "Y", "N": "N", "PN": "N", "NI": "NI", "NA": "NA"}
"""The class the algorithm reads: Y and PY are interchangeable, and so are N and PN."""

_DISPLAY_ORDER = ("Y", "PY", "N", "PN", "NI", "NA")
_FULL = ("Y", "PY", "PN", "N", "NI")
_NO_NI = ("Y", "PY", "PN", "N")

YES = frozenset({"Y", "PY"})
NO = frozenset({"N", "PN"})
YES_OR_NI = frozenset({"Y", "PY", "NI"})
NO_OR_NI = frozenset({"N", "PN", "NI"})


class RoB2Error(LsrError):
    """A RoB 2 input the user must fix (answers, variant, overrides, plot data)."""


class AnswerError(RoB2Error):
    """A signalling-question answer breaks the answer set or the skip logic.

    ``question`` is the question ID the message is about (None for whole-input problems),
    so a UI can jump to the offending question.
    """

    def __init__(self, message: str, *, question: str | None = None) -> None:
        self.question = question
        super().__init__(message)


def _codes_text(codes: Iterable[str]) -> str:
    """Render a set of codes as "Y/PY/NI" (classes grouped, so "N/PN" rather than "PN/N")."""
    wanted = set(codes)
    return "/".join(c for c in _DISPLAY_ORDER if c in wanted)


# --- conditions (the skip logic as data) -------------------------------------------------


@dataclass(frozen=True)
class AnswerIn:
    """True when ``question`` was asked and answered with one of ``codes``."""

    question: str
    codes: frozenset[str]


@dataclass(frozen=True)
class Addressed:
    """True when the adhering assessment addresses this kind of deviation."""

    deviation: Deviation


@dataclass(frozen=True)
class AnyOf:
    """True when at least one part is true."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    """True when every part is true."""

    parts: tuple[Condition, ...]


Condition: TypeAlias = AnswerIn | Addressed | AnyOf | AllOf


@dataclass(frozen=True)
class Question:
    """One signalling question: its ID, our own short label, its answers and when it is asked.

    ``condition`` None means "always asked". ``answers`` lists the codes an assessor may give
    when the question is asked; NA is never among them, because a question that is asked
    applies (NA is what the logic stores for a skipped conditional question).
    ``yes_is_unfavourable`` tells a UI not to colour answers by Y/N: for these questions
    "Yes" points towards bias.
    """

    id: str
    domain: str
    label: str
    answers: tuple[str, ...]
    condition: Condition | None = None
    yes_is_unfavourable: bool = False

    @property
    def conditional(self) -> bool:
        """Whether the skip logic can leave this question out (it is then stored as NA)."""
        return self.condition is not None


@dataclass(frozen=True)
class Domain:
    """A RoB 2 domain: its number ("1".."5"), its name and a short plot label."""

    id: str
    name: str
    short: str


DOMAINS: dict[str, Domain] = {
    "1": Domain("1", "Bias arising from the randomization process", "Randomization"),
    "2": Domain("2", "Bias due to deviations from intended interventions", "Deviations"),
    "3": Domain("3", "Bias due to missing outcome data", "Missing data"),
    "4": Domain("4", "Bias in measurement of the outcome", "Measurement"),
    "5": Domain("5", "Bias in selection of the reported result", "Reporting"),
}
DOMAIN_IDS: tuple[str, ...] = tuple(DOMAINS)

_D1 = (
    Question("1.1", "1", "Allocation sequence random", _FULL),
    Question("1.2", "1", "Allocation concealed until assignment", _FULL),
    Question("1.3", "1", "Baseline imbalance suggests a problem", _FULL, yes_is_unfavourable=True),
)

_AWARE = AnyOf((AnswerIn("2.1", YES_OR_NI), AnswerIn("2.2", YES_OR_NI)))
_D2_AWARENESS = (
    Question("2.1", "2", "Participants aware of assignment", _FULL, yes_is_unfavourable=True),
    Question("2.2", "2", "Carers/deliverers aware of assignment", _FULL, yes_is_unfavourable=True),
)
_D2_ASSIGNMENT = (
    *_D2_AWARENESS,
    Question(
        "2.3", "2", "Deviations arose from trial context", _FULL, _AWARE, yes_is_unfavourable=True
    ),
    Question(
        "2.4",
        "2",
        "Those deviations likely affected the outcome",
        _FULL,
        AnswerIn("2.3", YES),
        yes_is_unfavourable=True,
    ),
    Question(
        "2.5", "2", "Those deviations balanced between groups", _FULL, AnswerIn("2.4", YES_OR_NI)
    ),
    Question("2.6", "2", "Analysis appropriate for effect of assignment", _FULL),
    Question(
        "2.7",
        "2",
        "Substantial impact of analysing outside randomized groups",
        _FULL,
        AnswerIn("2.6", NO_OR_NI),
        yes_is_unfavourable=True,
    ),
)
_D2_ADHERING = (
    *_D2_AWARENESS,
    Question(
        "2.3",
        "2",
        "Non-protocol interventions balanced between groups",
        _FULL,
        AllOf((Addressed("non_protocol_interventions"), _AWARE)),
    ),
    Question(
        "2.4",
        "2",
        "Implementation failures could have affected the outcome",
        _FULL,
        Addressed("implementation_failures"),
        yes_is_unfavourable=True,
    ),
    Question(
        "2.5",
        "2",
        "Non-adherence could have affected the outcome",
        _FULL,
        Addressed("non_adherence"),
        yes_is_unfavourable=True,
    ),
    Question(
        "2.6",
        "2",
        "Analysis appropriate for effect of adhering",
        _FULL,
        AnyOf((AnswerIn("2.3", NO_OR_NI), AnswerIn("2.4", YES_OR_NI), AnswerIn("2.5", YES_OR_NI))),
    ),
)
_D3 = (
    Question("3.1", "3", "Outcome data for (nearly) all randomized", _FULL),
    Question(
        "3.2", "3", "Evidence result not biased by missing data", _NO_NI, AnswerIn("3.1", NO_OR_NI)
    ),
    Question(
        "3.3",
        "3",
        "Missingness could depend on true value",
        _FULL,
        AnswerIn("3.2", NO),
        yes_is_unfavourable=True,
    ),
    Question(
        "3.4",
        "3",
        "Missingness likely depended on true value",
        _FULL,
        AnswerIn("3.3", YES_OR_NI),
        yes_is_unfavourable=True,
    ),
)
_D4 = (
    Question("4.1", "4", "Measurement method inappropriate", _FULL, yes_is_unfavourable=True),
    Question(
        "4.2", "4", "Measurement could differ between groups", _FULL, yes_is_unfavourable=True
    ),
    Question(
        "4.3",
        "4",
        "Outcome assessors aware of intervention",
        _FULL,
        AllOf((AnswerIn("4.1", NO_OR_NI), AnswerIn("4.2", NO_OR_NI))),
        yes_is_unfavourable=True,
    ),
    Question(
        "4.4",
        "4",
        "Knowledge of intervention could influence assessment",
        _FULL,
        AnswerIn("4.3", YES_OR_NI),
        yes_is_unfavourable=True,
    ),
    Question(
        "4.5",
        "4",
        "Knowledge of intervention likely influenced assessment",
        _FULL,
        AnswerIn("4.4", YES_OR_NI),
        yes_is_unfavourable=True,
    ),
)
_D5 = (
    Question("5.1", "5", "Analysed per plan finalized before unblinding", _FULL),
    Question(
        "5.2",
        "5",
        "Result selected from multiple outcome measurements",
        _FULL,
        yes_is_unfavourable=True,
    ),
    Question("5.3", "5", "Result selected from multiple analyses", _FULL, yes_is_unfavourable=True),
)

QUESTIONS: dict[Variant, tuple[Question, ...]] = {
    "assignment": (*_D1, *_D2_ASSIGNMENT, *_D3, *_D4, *_D5),
    "adhering": (*_D1, *_D2_ADHERING, *_D3, *_D4, *_D5),
}
"""All signalling questions per Domain 2 variant, in the order they are asked."""

_DEVIATION_QUESTION: dict[str, str] = {
    "non_protocol_interventions": "2.3",
    "implementation_failures": "2.4",
    "non_adherence": "2.5",
}


def check_variant(variant: object) -> Variant:
    """Return ``variant`` if it names a Domain 2 variant, else raise a clear error."""
    if variant == "assignment":
        return "assignment"
    if variant == "adhering":
        return "adhering"
    raise RoB2Error(
        f"variant {variant!r} is not one of assignment, adhering "
        "(the effect of interest selects the Domain 2 questions)"
    )


def questions(variant: Variant, domain: str | None = None) -> tuple[Question, ...]:
    """The questions of ``variant`` (optionally of one domain), in the order they are asked."""
    qs = QUESTIONS[check_variant(variant)]
    if domain is None:
        return qs
    if domain not in DOMAINS:
        raise RoB2Error(f"domain {domain!r} is not one of {', '.join(DOMAIN_IDS)}")
    return tuple(q for q in qs if q.domain == domain)


def question(variant: Variant, question_id: str) -> Question:
    """Look one question up by ID (for labels and answer sets)."""
    for q in questions(variant):
        if q.id == question_id:
            return q
    raise AnswerError(
        f"{question_id!r} is not a RoB 2 question of the {variant} variant", question=question_id
    )


def check_deviations(variant: Variant, deviations: Iterable[str] | None) -> frozenset[str] | None:
    """Validate the deviations an adhering assessment addresses (None: infer from answers).

    The template requires at least one deviation when the aim is the effect of adhering, and
    none at all for the effect of assignment, where the question does not arise.
    """
    if deviations is None:
        return None
    found = frozenset(deviations)
    if variant != "adhering":
        raise RoB2Error("deviations_addressed applies only to the adhering variant")
    unknown = sorted(found - set(DEVIATIONS))
    if unknown:
        raise RoB2Error(
            f"deviation {unknown[0]!r} is not one of {', '.join(DEVIATIONS)} (deviations_addressed)"
        )
    if not found:
        raise RoB2Error(
            "deviations_addressed must name at least one deviation for the adhering variant"
        )
    return found


def inferred_deviations(answers: Mapping[str, object]) -> frozenset[str]:
    """Deviations an adhering assessment addresses, read from which 2.3–2.5 were answered.

    Used when no preliminary considerations are given (``lsr rob2 judge``): a deviation
    question answered with anything but NA means its deviation is addressed. The TUI always
    passes the explicit set, so a missing answer there is reported as missing.
    """
    return frozenset(
        dev for dev, qid in _DEVIATION_QUESTION.items() if answers.get(qid) not in (None, "NA")
    )


def _holds(cond: Condition, answers: Mapping[str, str], deviations: frozenset[str]) -> bool:
    if isinstance(cond, AnswerIn):
        return answers.get(cond.question) in cond.codes
    if isinstance(cond, Addressed):
        return cond.deviation in deviations
    if isinstance(cond, AnyOf):
        return any(_holds(p, answers, deviations) for p in cond.parts)
    return all(_holds(p, answers, deviations) for p in cond.parts)


def describe(cond: Condition | None) -> str:
    """When a question is asked, in words ("2.3 is Y/PY"); for UI hints and messages."""
    if cond is None:
        return "always"
    if isinstance(cond, AnswerIn):
        return f"{cond.question} is {_codes_text(cond.codes)}"
    if isinstance(cond, Addressed):
        return f"{DEVIATION_LABELS[cond.deviation]} are addressed"
    joiner = " or " if isinstance(cond, AnyOf) else " and "
    return joiner.join(describe(p) for p in cond.parts)


def _negation(
    cond: Condition, answers: Mapping[str, str], deviations: frozenset[str], variant: Variant
) -> str:
    """Why ``cond`` is false right now, in words ("2.1 and 2.2 are N/PN")."""
    if isinstance(cond, AnswerIn):
        asked_by = question(variant, cond.question)
        other = [c for c in asked_by.answers if c not in cond.codes]
        text = f"{cond.question} is {_codes_text(other)}"
        return f"{text} or not asked" if asked_by.conditional else text
    if isinstance(cond, Addressed):
        return f"{DEVIATION_LABELS[cond.deviation]} are not addressed"
    if isinstance(cond, AnyOf):
        parts = [_negation(p, answers, deviations, variant) for p in cond.parts]
        if all(isinstance(p, AnswerIn) for p in cond.parts):
            tails = {t.split(" is ", 1)[1] for t in parts}
            if len(tails) == 1:  # "2.1 is N/PN" + "2.2 is N/PN" -> "2.1 and 2.2 are N/PN"
                ids = [p.question for p in cond.parts if isinstance(p, AnswerIn)]
                return f"{', '.join(ids[:-1])} and {ids[-1]} are {tails.pop()}"
        return " and ".join(parts)
    failing = [p for p in cond.parts if not _holds(p, answers, deviations)]
    return " and ".join(_negation(p, answers, deviations, variant) for p in failing)


def is_asked(
    q: Question,
    answers: Mapping[str, str],
    deviations: frozenset[str] | None = None,
) -> bool:
    """Whether the skip logic asks ``q`` given the answers so far.

    ``deviations`` None means "infer from the answers" (see :func:`inferred_deviations`).
    Answers to questions that are themselves not asked must already be absent or NA in
    ``answers``; :func:`asked_questions` and :func:`validate_answers` guarantee that.
    """
    if q.condition is None:
        return True
    devs = inferred_deviations(answers) if deviations is None else deviations
    return _holds(q.condition, answers, devs)


def asked_questions(
    variant: Variant,
    answers: Mapping[str, str],
    deviations: Iterable[str] | None = None,
    domain: str | None = None,
) -> list[Question]:
    """The questions asked so far, in order, given the answers given so far.

    A follow-up question appears once the answer it depends on is given, so a UI can ask
    ``[q for q in asked_questions(...) if q.id not in answers][0]`` one at a time (see
    :func:`next_question`). Answers to questions the logic skips are ignored here.
    """
    devs = check_deviations(variant, deviations)
    if devs is None:
        devs = inferred_deviations(answers) if variant == "adhering" else frozenset()
    seen: dict[str, str] = {}
    asked: list[Question] = []
    for q in questions(variant, domain):
        if q.condition is None or _holds(q.condition, seen, devs):
            asked.append(q)
            if q.id in answers:
                seen[q.id] = answers[q.id]
    return asked


def next_question(
    variant: Variant,
    answers: Mapping[str, str],
    deviations: Iterable[str] | None = None,
    domain: str | None = None,
) -> Question | None:
    """The next question to ask (None when the domain, or the assessment, is complete)."""
    for q in asked_questions(variant, answers, deviations, domain):
        if q.id not in answers:
            return q
    return None


def validate_answers(
    variant: Variant,
    answers: Mapping[str, object],
    deviations: Iterable[str] | None = None,
    domains: Sequence[str] | None = None,
) -> dict[str, str]:
    """Check answers against the answer sets and the skip logic; return them completed.

    Checks, in question order, so the first message names the first problem: every asked
    question has an answer from its set (NA is refused there: the question applies); every
    skipped question is absent or NA. Keys that are no question of the variant are errors
    (within ``domains`` when given, so a per-domain check can receive a whole answer set).
    The result holds every question of ``domains``, with NA stored for skipped ones, as the
    template stores them.
    """
    variant = check_variant(variant)
    devs = check_deviations(variant, deviations)
    wanted = tuple(domains) if domains is not None else DOMAIN_IDS
    for d in wanted:
        if d not in DOMAINS:
            raise RoB2Error(f"domain {d!r} is not one of {', '.join(DOMAIN_IDS)}")
    known = {q.id for q in questions(variant)}
    for key in answers:
        if key in known:
            continue
        if domains is not None and str(key).split(".", 1)[0] not in wanted:
            continue
        where = " (2.7 exists only for the effect of assignment)" if key == "2.7" else ""
        raise AnswerError(
            f"{key!r} is not a question of the RoB 2 {variant} variant{where}", question=str(key)
        )
    if devs is None:
        devs = inferred_deviations(answers) if variant == "adhering" else frozenset()
    done: dict[str, str] = {}
    for q in questions(variant):
        if q.domain not in wanted:
            continue
        value = answers.get(q.id)
        if q.condition is None or _holds(q.condition, done, devs):
            if value is None:
                why = "" if q.condition is None else f" (asked because {describe(q.condition)})"
                raise AnswerError(f"question {q.id} is required{why}", question=q.id)
            if not isinstance(value, str) or value not in q.answers:
                raise AnswerError(
                    f"answer {value!r} for {q.id} is not one of {', '.join(q.answers)}",
                    question=q.id,
                )
            done[q.id] = value
        else:
            if value not in (None, "NA"):
                why = _negation(q.condition, done, devs, variant)
                raise AnswerError(
                    f"question {q.id} must not be answered when {why} (skip logic)",
                    question=q.id,
                )
            done[q.id] = "NA"
    return done

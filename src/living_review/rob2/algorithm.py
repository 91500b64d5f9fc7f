"""Provides the RoB 2 algorithm: proposed domain judgements, the overall judgement, overrides.

The decision tables below are ``shared/specs/rob2.md`` section 4 row by row (the official
decision diagrams of the RoB 2 guidance of 22 August 2019, cross-checked against the Excel
tool's VBA), kept as data so that each row can be audited against the spec and every
judgement names the rule (leaf of the diagram) that produced it. A unit test enumerates every
valid answer pattern and checks that exactly one row matches, so the tables have no gaps and
no overlaps.

The algorithm only *proposes*. Per the Cochrane Handbook (v6.3, ch. 8) the assessor may
override any judgement, but only with a written justification; and when several domains
have some concerns (none high) RoB 2 asks the assessor, with no numeric threshold, whether
the result deserves "high" overall. We report that as a prompt and never escalate
automatically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from living_review.rob2.questions import (
    ANSWER_CLASS,
    DOMAIN_IDS,
    RoB2Error,
    Variant,
    check_deviations,
    check_variant,
    inferred_deviations,
    validate_answers,
)

ALGORITHM_VERSION = "rob2-irpg-2019-08-22.1"
"""Stored with each assessment: which rule set proposed its judgements."""

OVERALL = "overall"


class OverrideError(RoB2Error):
    """An override is malformed, lacks its justification, or contradicts RoB 2's definitions."""


class Judgement(StrEnum):
    """A RoB 2 judgement; the value is the JSON spelling scripts rely on."""

    LOW = "low"
    SOME_CONCERNS = "some_concerns"
    HIGH = "high"

    @property
    def label(self) -> str:
        """The wording RoB 2 uses ("Some concerns")."""
        return {"low": "Low", "some_concerns": "Some concerns", "high": "High"}[self.value]

    @property
    def symbol(self) -> str:
        """A symbol so that no display relies on colour alone (+, !, −)."""
        return {"low": "+", "some_concerns": "!", "high": "\u2212"}[self.value]

    @property
    def rank(self) -> int:
        """Severity order: low < some concerns < high."""
        return {"low": 0, "some_concerns": 1, "high": 2}[self.value]


def parse_judgement(value: object, where: str) -> Judgement:
    """Read a judgement from JSON, naming ``where`` it came from when it is not one."""
    if isinstance(value, str) and value in {j.value for j in Judgement}:
        return Judgement(value)
    allowed = ", ".join(j.value for j in Judgement)
    raise OverrideError(f"{where}: judgement {value!r} is not one of {allowed}")


def worst(judgements: Iterable[Judgement]) -> Judgement:
    """The most severe judgement (low when there are none)."""
    return max(judgements, key=lambda j: j.rank, default=Judgement.LOW)


# --- the decision tables, as data ----------------------------------------------------------

_Y = frozenset({"Y"})
_N = frozenset({"N"})
_NI = frozenset({"NI"})
_NA = frozenset({"NA"})
_Y_NI = frozenset({"Y", "NI"})
_N_NI = frozenset({"N", "NI"})
_Y_NA = frozenset({"Y", "NA"})
_N_NA = frozenset({"N", "NA"})


@dataclass(frozen=True)
class Is:
    """The answer class (Y, N, NI, NA) of ``question`` is one of ``classes``."""

    question: str
    classes: frozenset[str]

    def holds(self, c: Mapping[str, str]) -> bool:
        """Whether the answer classes ``c`` satisfy this cell of the table."""
        return c[self.question] in self.classes


@dataclass(frozen=True)
class Both:
    """Every one of ``questions`` is in ``classes`` ("2.1 & 2.2 both N")."""

    questions: tuple[str, ...]
    classes: frozenset[str]

    def holds(self, c: Mapping[str, str]) -> bool:
        """Whether the answer classes ``c`` satisfy this cell of the table."""
        return all(c[q] in self.classes for q in self.questions)


@dataclass(frozen=True)
class Either:
    """At least one of ``questions`` is in ``classes`` ("either Y/NI")."""

    questions: tuple[str, ...]
    classes: frozenset[str]

    def holds(self, c: Mapping[str, str]) -> bool:
        """Whether the answer classes ``c`` satisfy this cell of the table."""
        return any(c[q] in self.classes for q in self.questions)


@dataclass(frozen=True)
class Neither:
    """None of ``questions`` is in ``classes`` ("neither Y")."""

    questions: tuple[str, ...]
    classes: frozenset[str]

    def holds(self, c: Mapping[str, str]) -> bool:
        """Whether the answer classes ``c`` satisfy this cell of the table."""
        return not any(c[q] in self.classes for q in self.questions)


Cell: TypeAlias = Is | Both | Either | Neither
Floor: TypeAlias = Literal["floor"]
"""D4's result that depends on 4.2: low when 4.2 is N/PN, some concerns when it is NI."""

L, S, H = Judgement.LOW, Judgement.SOME_CONCERNS, Judgement.HIGH


@dataclass(frozen=True)
class Rule:
    """One row of a decision table: when every cell holds, the result applies."""

    id: str
    when: tuple[Cell, ...]
    result: Judgement | Floor

    def matches(self, c: Mapping[str, str]) -> bool:
        """Whether every cell of this row holds for the answer classes ``c``."""
        return all(cell.holds(c) for cell in self.when)


_BOTH_N_21_22 = Both(("2.1", "2.2"), _N)
_AWARE = Either(("2.1", "2.2"), _Y_NI)
_CLEAN45 = Both(("2.4", "2.5"), _N_NA)
_PROBLEM45 = Either(("2.4", "2.5"), _Y_NI)
_NOT_AWARE_NA = Is("2.3", _NA)

D1_RULES: tuple[Rule, ...] = (
    Rule("D1.1", (Is("1.2", _N),), H),
    Rule("D1.2", (Is("1.2", _Y), Is("1.1", _N)), S),
    Rule("D1.3", (Is("1.2", _Y), Is("1.1", _Y_NI), Is("1.3", _N_NI)), L),
    Rule("D1.4", (Is("1.2", _Y), Is("1.1", _Y_NI), Is("1.3", _Y)), S),
    Rule("D1.5", (Is("1.2", _NI), Is("1.3", _N_NI)), S),
    Rule("D1.6", (Is("1.2", _NI), Is("1.3", _Y)), H),
)

D2A_PART1_RULES: tuple[Rule, ...] = (
    Rule("P1.1", (_BOTH_N_21_22,), L),
    Rule("P1.2", (_AWARE, Is("2.3", _N)), L),
    Rule("P1.3", (_AWARE, Is("2.3", _NI)), S),
    Rule("P1.4", (_AWARE, Is("2.3", _Y), Is("2.4", _N)), S),
    Rule("P1.5", (_AWARE, Is("2.3", _Y), Is("2.4", _Y_NI), Is("2.5", _Y)), S),
    Rule("P1.6", (_AWARE, Is("2.3", _Y), Is("2.4", _Y_NI), Is("2.5", _N_NI)), H),
)

D2A_PART2_RULES: tuple[Rule, ...] = (
    Rule("P2.1", (Is("2.6", _Y),), L),
    Rule("P2.2", (Is("2.6", _N_NI), Is("2.7", _N)), S),
    Rule("P2.3", (Is("2.6", _N_NI), Is("2.7", _Y_NI)), H),
)

D2B_RULES: tuple[Rule, ...] = (
    Rule("D2B.1", (_BOTH_N_21_22, _NOT_AWARE_NA, _CLEAN45), L),
    Rule("D2B.2", (_BOTH_N_21_22, _NOT_AWARE_NA, _PROBLEM45, Is("2.6", _Y)), S),
    Rule("D2B.3", (_BOTH_N_21_22, _NOT_AWARE_NA, _PROBLEM45, Is("2.6", _N_NI)), H),
    Rule("D2B.4", (_AWARE, Is("2.3", _Y_NA), _CLEAN45), L),
    Rule("D2B.5", (_AWARE, Is("2.3", _Y_NA), _PROBLEM45, Is("2.6", _Y)), S),
    Rule("D2B.6", (_AWARE, Is("2.3", _Y_NA), _PROBLEM45, Is("2.6", _N_NI)), H),
    Rule("D2B.7", (_AWARE, Is("2.3", _N_NI), Is("2.6", _Y)), S),
    Rule("D2B.8", (_AWARE, Is("2.3", _N_NI), Is("2.6", _N_NI)), H),
)

D3_RULES: tuple[Rule, ...] = (
    Rule("D3.1", (Is("3.1", _Y),), L),
    Rule("D3.2", (Is("3.1", _N_NI), Is("3.2", _Y)), L),
    Rule("D3.3", (Is("3.1", _N_NI), Is("3.2", _N), Is("3.3", _N)), L),
    Rule("D3.4", (Is("3.1", _N_NI), Is("3.2", _N), Is("3.3", _Y_NI), Is("3.4", _N)), S),
    Rule("D3.5", (Is("3.1", _N_NI), Is("3.2", _N), Is("3.3", _Y_NI), Is("3.4", _Y_NI)), H),
)

_D4_NOT_INAPPROPRIATE = Is("4.1", _N_NI)
_D4_NO_DIFFERENCE = Is("4.2", _N_NI)
D4_RULES: tuple[Rule, ...] = (
    Rule("D4.1", (Is("4.1", _Y),), H),
    Rule("D4.2", (_D4_NOT_INAPPROPRIATE, Is("4.2", _Y)), H),
    Rule("D4.3", (_D4_NOT_INAPPROPRIATE, _D4_NO_DIFFERENCE, Is("4.3", _N)), "floor"),
    Rule(
        "D4.4", (_D4_NOT_INAPPROPRIATE, _D4_NO_DIFFERENCE, Is("4.3", _Y_NI), Is("4.4", _N)), "floor"
    ),
    Rule(
        "D4.5",
        (
            _D4_NOT_INAPPROPRIATE,
            _D4_NO_DIFFERENCE,
            Is("4.3", _Y_NI),
            Is("4.4", _Y_NI),
            Is("4.5", _N),
        ),
        S,
    ),
    Rule(
        "D4.6",
        (
            _D4_NOT_INAPPROPRIATE,
            _D4_NO_DIFFERENCE,
            Is("4.3", _Y_NI),
            Is("4.4", _Y_NI),
            Is("4.5", _Y_NI),
        ),
        H,
    ),
)

D5_RULES: tuple[Rule, ...] = (
    Rule("D5.1", (Either(("5.2", "5.3"), _Y),), H),
    Rule("D5.2", (Either(("5.2", "5.3"), _NI), Neither(("5.2", "5.3"), _Y)), S),
    Rule("D5.3", (Is("5.2", _N), Is("5.3", _N), Is("5.1", _Y)), L),
    Rule("D5.4", (Is("5.2", _N), Is("5.3", _N), Is("5.1", _N_NI)), S),
)


def rule_tables(domain: str, variant: Variant) -> tuple[tuple[Rule, ...], ...]:
    """The decision table(s) for one domain; D2 (assignment) has two parts, worst one wins."""
    if domain == "1":
        return (D1_RULES,)
    if domain == "2":
        return (D2A_PART1_RULES, D2A_PART2_RULES) if variant == "assignment" else (D2B_RULES,)
    if domain == "3":
        return (D3_RULES,)
    if domain == "4":
        return (D4_RULES,)
    if domain == "5":
        return (D5_RULES,)
    raise RoB2Error(f"domain {domain!r} is not one of {', '.join(DOMAIN_IDS)}")


def matching_rules(table: Iterable[Rule], classes: Mapping[str, str]) -> list[Rule]:
    """Every row of ``table`` that matches (exactly one for valid answers; tests prove it)."""
    return [rule for rule in table if rule.matches(classes)]


@dataclass(frozen=True)
class DomainResult:
    """The algorithm's proposal for one domain and the rule(s) that produced it (audit trail)."""

    domain: str
    judgement: Judgement
    rule: str


def _apply(table: tuple[Rule, ...], classes: Mapping[str, str], domain: str) -> Rule:
    found = matching_rules(table, classes)
    if len(found) != 1:  # pragma: no cover - the exhaustive table test rules this out
        raise AssertionError(
            f"RoB 2 domain {domain} table matched {[r.id for r in found]} for {dict(classes)}"
        )
    return found[0]


def _result(rule: Rule, classes: Mapping[str, str]) -> Judgement:
    if rule.result == "floor":
        return Judgement.LOW if classes["4.2"] == "N" else Judgement.SOME_CONCERNS
    return rule.result


def judge_validated(domain: str, variant: Variant, answers: Mapping[str, str]) -> DomainResult:
    """Judge one domain from answers already completed by :func:`validate_answers`."""
    classes = {qid: ANSWER_CLASS[code] for qid, code in answers.items()}
    rules = [_apply(table, classes, domain) for table in rule_tables(domain, variant)]
    judgement = worst(_result(rule, classes) for rule in rules)
    return DomainResult(domain, judgement, "+".join(rule.id for rule in rules))


def judge_domain(
    domain: str,
    answers: Mapping[str, object],
    variant: Variant = "assignment",
    deviations: Iterable[str] | None = None,
) -> DomainResult:
    """Validate one domain's answers (others in ``answers`` are ignored) and judge it.

    A missing required answer, or an answer the skip logic forbids, is an
    :class:`~living_review.rob2.questions.AnswerError`: RoB 2 gives no judgement for an
    incomplete domain, and we do not guess one.
    """
    variant = check_variant(variant)
    done = validate_answers(variant, answers, deviations, domains=(domain,))
    return judge_validated(domain, variant, done)


# --- overrides and the assessment -----------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """The assessor's final judgement for a domain or overall, with why (and who, when)."""

    judgement: Judgement
    justification: str = ""
    by: str | None = None
    at: str | None = None


SEVERAL_SOME_CONCERNS_PROMPT = (
    "{n} domains have some concerns and none is high: RoB 2 asks whether together they "
    "substantially lower confidence in this result. If so, override the overall judgement to "
    "high with a justification; RoB 2 sets no numeric threshold, so nothing is escalated "
    "automatically."
)


@dataclass(frozen=True)
class Assessment:
    """One RoB 2 assessment of one result: answers, proposals, overrides and final judgements.

    ``proposed`` is what the algorithm says per domain; ``domains`` applies the assessor's
    overrides; ``proposed_overall`` is the worst final domain judgement (spec section 5);
    ``overall`` is the final overall judgement (an override when the assessor gave one).
    """

    variant: Variant
    answers: Mapping[str, str]
    proposed: Mapping[str, DomainResult]
    overrides: Mapping[str, Override] = field(default_factory=dict)
    deviations_addressed: frozenset[str] | None = None
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def domains(self) -> dict[str, Judgement]:
        """Final judgement per domain ("1".."5"): the override if any, else the proposal."""
        return {
            d: self.overrides[d].judgement if d in self.overrides else r.judgement
            for d, r in self.proposed.items()
        }

    @property
    def proposed_overall(self) -> Judgement:
        """High if any final domain is high, else some concerns if any is, else low."""
        return worst(self.domains.values())

    @property
    def several_some_concerns(self) -> bool:
        """Whether the "several some concerns → high?" question must be put to the assessor."""
        finals = list(self.domains.values())
        return Judgement.HIGH not in finals and finals.count(Judgement.SOME_CONCERNS) >= 2

    @property
    def prompt(self) -> str | None:
        """The text of the "several some concerns" prompt, when it applies."""
        if not self.several_some_concerns:
            return None
        n = list(self.domains.values()).count(Judgement.SOME_CONCERNS)
        return SEVERAL_SOME_CONCERNS_PROMPT.format(n=n)

    @property
    def overall(self) -> Judgement:
        """The final overall judgement."""
        if OVERALL in self.overrides:
            return self.overrides[OVERALL].judgement
        return self.proposed_overall

    @property
    def overridden(self) -> list[str]:
        """Keys ("1".."5", "overall") whose final judgement differs from the proposal."""
        keys = [d for d, r in self.proposed.items() if self.domains[d] != r.judgement]
        if self.overall != self.proposed_overall:
            keys.append(OVERALL)
        return keys

    def as_json(self) -> dict[str, Any]:
        """The ``lsr rob2 judge --json`` object: ``domains`` and ``overall`` are the contract."""
        return {
            "variant": self.variant,
            "domains": {d: j.value for d, j in self.domains.items()},
            "overall": self.overall.value,
            "proposed": {
                "domains": {d: r.judgement.value for d, r in self.proposed.items()},
                "overall": self.proposed_overall.value,
            },
            "rules": {d: r.rule for d, r in self.proposed.items()},
            "several_some_concerns": self.several_some_concerns,
            "prompt": self.prompt,
            "overrides": {
                key: {
                    "judgement": o.judgement.value,
                    "justification": o.justification,
                    "by": o.by,
                    "at": o.at,
                }
                for key, o in self.overrides.items()
            },
            "overridden": self.overridden,
            "algorithm_version": self.algorithm_version,
        }


def _check_overrides(
    proposed: Mapping[str, DomainResult], overrides: Mapping[str, Override]
) -> None:
    for key in overrides:
        if key not in DOMAIN_IDS and key != OVERALL:
            raise OverrideError(
                f"override key {key!r} is not one of {', '.join(DOMAIN_IDS)}, {OVERALL}"
            )
    for d, result in proposed.items():
        o = overrides.get(d)
        if o is not None and o.judgement != result.judgement and not o.justification.strip():
            raise OverrideError(
                f"overriding domain {d} from {result.judgement.value} to {o.judgement.value} "
                "needs a justification"
            )
    finals = [
        overrides[d].judgement if d in overrides else r.judgement for d, r in proposed.items()
    ]
    proposed_overall = worst(finals)
    o = overrides.get(OVERALL)
    if o is None or o.judgement == proposed_overall:
        return
    if not o.justification.strip():
        raise OverrideError(
            f"overriding the overall judgement from {proposed_overall.value} to "
            f"{o.judgement.value} needs a justification"
        )
    if o.judgement.rank < proposed_overall.rank:
        raise OverrideError(
            f"the overall judgement cannot be {o.judgement.value} while a domain is "
            f"{proposed_overall.value} (RoB 2 defines overall as at least the worst domain); "
            "override that domain's judgement instead"
        )


def assess(
    variant: Variant,
    answers: Mapping[str, object],
    *,
    deviations: Iterable[str] | None = None,
    overrides: Mapping[str, Override] | None = None,
) -> Assessment:
    """Validate a complete answer set, propose every judgement and apply overrides.

    ``deviations`` is the adhering variant's "deviations addressed" (None: inferred from
    which of 2.3–2.5 were answered). An override that changes a judgement needs a non-empty
    justification; the overall may be raised (e.g. several some concerns → high) but not set
    below the worst final domain, since RoB 2 defines it that way: lower a domain instead.
    """
    variant = check_variant(variant)
    devs = check_deviations(variant, deviations)
    done = validate_answers(variant, answers, devs)
    proposed = {d: judge_validated(d, variant, done) for d in DOMAIN_IDS}
    ov = dict(overrides or {})
    _check_overrides(proposed, ov)
    if devs is None and variant == "adhering":
        devs = inferred_deviations(done)
    return Assessment(variant, done, proposed, ov, devs)


_INPUT_KEYS = frozenset({"variant", "answers", "deviations_addressed", "overrides"})
_OVERRIDE_KEYS = frozenset({"judgement", "judgment", "justification", "by", "at"})


def _override_from_json(key: str, value: object) -> Override:
    where = f"override {key}"
    if not isinstance(value, Mapping):
        raise OverrideError(f"{where} must be an object with judgement and justification")
    unknown = sorted(set(value) - _OVERRIDE_KEYS)
    if unknown:
        raise OverrideError(f"{where}: unknown key {unknown[0]!r}")
    raw = value.get("judgement", value.get("judgment"))
    if raw is None:
        raise OverrideError(f"{where}: judgement is required")
    justification = value.get("justification", "")
    if not isinstance(justification, str):
        raise OverrideError(f"{where}: justification must be text")
    by, at = value.get("by"), value.get("at")
    return Override(
        parse_judgement(raw, where),
        justification,
        None if by is None else str(by),
        None if at is None else str(at),
    )


def assessment_from_json(obj: object, *, extra_keys: Iterable[str] = ()) -> Assessment:
    """Build an :class:`Assessment` from the JSON input of ``lsr rob2 judge``.

    Shape: ``{"variant": "assignment"|"adhering", "answers": {"1.1": "Y", ...},
    "deviations_addressed": [...]?, "overrides": {"3": {"judgement": "high",
    "justification": "..."}, "overall": {...}}?}``. Unknown keys are errors (a misspelt
    "overrides" silently ignored would be an override silently lost), except ``extra_keys``
    a caller reads itself (e.g. ``study`` in plot input).
    """
    if not isinstance(obj, Mapping):
        raise RoB2Error("expected a JSON object with variant and answers")
    unknown = sorted(set(obj) - _INPUT_KEYS - set(extra_keys))
    if unknown:
        raise RoB2Error(f"unknown key {unknown[0]!r} (expected variant, answers, overrides)")
    if "variant" not in obj:
        raise RoB2Error("variant is required (assignment or adhering)")
    answers = obj.get("answers")
    if not isinstance(answers, Mapping):
        raise RoB2Error('answers must be an object such as {"1.1": "Y", "1.2": "PY"}')
    deviations = obj.get("deviations_addressed")
    if deviations is not None and (
        not isinstance(deviations, list) or not all(isinstance(d, str) for d in deviations)
    ):
        raise RoB2Error("deviations_addressed must be a list of names")
    raw_overrides = obj.get("overrides") or {}
    if not isinstance(raw_overrides, Mapping):
        raise OverrideError('overrides must be an object such as {"3": {"judgement": ...}}')
    overrides = {str(k): _override_from_json(str(k), v) for k, v in raw_overrides.items()}
    return assess(
        check_variant(obj["variant"]), answers, deviations=deviations, overrides=overrides
    )

"""RoB 2: the spec's test vectors, the skip logic, the decision tables and overrides.

The spec is ``shared/specs/rob2.md``. Its test vectors (section 6) are transcribed below as
written there. Beyond them, every valid answer pattern of every domain is enumerated and
judged twice, by our decision tables and by the spec's reference sketch (section 6,
transcribed here as an independent oracle), so a wrong table row cannot hide behind the
sixteen vectors.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from living_review.errors import LsrError
from living_review.rob2 import (
    AnswerError,
    Judgement,
    Override,
    OverrideError,
    RoB2Error,
    asked_questions,
    assess,
    assessment_from_json,
    judge_domain,
    next_question,
    questions,
    validate_answers,
)
from living_review.rob2.algorithm import matching_rules, rule_tables
from living_review.rob2.questions import DEVIATIONS, DOMAIN_IDS, Variant

LOW, SC, HIGH = Judgement.LOW, Judgement.SOME_CONCERNS, Judgement.HIGH
SPEC_LABEL = {"Low": LOW, "Some concerns": SC, "High": HIGH}


def _answers(text: str) -> dict[str, str]:
    """Parse the spec's "1.1 PY, 1.2 Y, 1.3 NI" notation."""
    answers: dict[str, str] = {}
    for item in text.split(","):
        qid, code = item.split()
        answers[qid] = code
    return answers


# Spec section 6, "Test vectors", row by row: (domain, answers, expected).
SPEC_VECTORS: list[tuple[str, str, str]] = [
    ("D1", "1.1 PY, 1.2 Y, 1.3 NI", "Low"),
    ("D1", "1.1 N, 1.2 Y, 1.3 N", "Some concerns"),
    ("D1", "1.1 Y, 1.2 NI, 1.3 PY", "High"),
    ("D1", "1.1 NI, 1.2 NI, 1.3 NI", "Some concerns"),
    ("D2A", "2.1 Y, 2.2 Y, 2.3 Y, 2.4 NI, 2.5 NI, 2.6 Y", "High"),  # "High (part 1)"
    ("D2A", "2.1 N, 2.2 N, 2.6 N, 2.7 PN", "Some concerns"),
    ("D2A", "2.1 PN, 2.2 N, 2.6 NI, 2.7 NI", "High"),
    ("D2B", "2.1 N, 2.2 N, 2.4 NA, 2.5 PY, 2.6 Y", "Some concerns"),
    ("D2B", "2.1 Y, 2.2 Y, 2.3 NI, 2.6 N", "High"),
    ("D3", "3.1 N, 3.2 N, 3.3 Y, 3.4 PN", "Some concerns"),
    ("D3", "3.1 NI, 3.2 N, 3.3 NI, 3.4 NI", "High"),
    ("D4", "4.1 N, 4.2 NI, 4.3 N", "Some concerns"),
    ("D4", "4.1 NI, 4.2 PN, 4.3 Y, 4.4 N", "Low"),
    ("D4", "4.1 N, 4.2 N, 4.3 Y, 4.4 Y, 4.5 NI", "High"),
    ("D5", "5.1 NI, 5.2 N, 5.3 PN", "Some concerns"),
    ("D5", "5.1 Y, 5.2 NI, 5.3 N", "Some concerns"),
]


def _domain_and_variant(label: str) -> tuple[str, Variant]:
    if label == "D2A":
        return "2", "assignment"
    if label == "D2B":
        return "2", "adhering"
    return label[1], "assignment"


def test_every_spec_vector_is_transcribed(shared: Path) -> None:
    """The spec's vector table and ours have the same rows (guards against a dropped row)."""
    text = (shared / "specs" / "rob2.md").read_text(encoding="utf-8")
    table = text.split("Test vectors", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (D[1-5][AB]?) \| ([^|]+) \| ([^|]+) \|$", table, flags=re.M)
    parsed = [(d, a.strip(), e.strip().split(" (")[0]) for d, a, e in rows]
    assert parsed == SPEC_VECTORS


@pytest.mark.parametrize(
    ("domain", "answers", "expected"),
    SPEC_VECTORS,
    ids=[f"{d}-{i}" for i, (d, _, _) in enumerate(SPEC_VECTORS, start=1)],
)
def test_spec_vector(domain: str, answers: str, expected: str) -> None:
    d, variant = _domain_and_variant(domain)
    result = judge_domain(d, _answers(answers), variant)
    assert result.judgement == SPEC_LABEL[expected]


# The D2B vectors again, with the deviations addressed given explicitly (as the TUI will).
@pytest.mark.parametrize(
    ("answers", "deviations", "expected", "rule"),
    [
        ("2.1 N, 2.2 N, 2.4 NA, 2.5 PY, 2.6 Y", ["non_adherence"], SC, "D2B.2"),
        ("2.1 Y, 2.2 Y, 2.3 NI, 2.6 N", ["non_protocol_interventions"], HIGH, "D2B.8"),
    ],
)
def test_spec_vectors_d2b_with_explicit_deviations(
    answers: str, deviations: list[str], expected: Judgement, rule: str
) -> None:
    result = judge_domain("2", _answers(answers), "adhering", deviations)
    assert (result.judgement, result.rule) == (expected, rule)


def test_d2a_vector_is_high_from_part_1() -> None:
    result = judge_domain("2", _answers("2.1 Y, 2.2 Y, 2.3 Y, 2.4 NI, 2.5 NI, 2.6 Y"))
    assert result.rule == "P1.6+P2.1"


# --- every valid answer pattern, against the spec's reference sketch -----------------------

Y, N = {"Y", "PY"}, {"N", "PN"}


def _worst(*js: str) -> str:
    order = ["Low", "Some concerns", "High"]
    return max(js, key=order.index)


def _sketch(domain: str, variant: str, a: Mapping[str, str]) -> str:
    """Spec section 6's reference sketch, transcribed (skipped questions hold "NA")."""
    if domain == "1":
        q11, q12, q13 = a["1.1"], a["1.2"], a["1.3"]
        if q12 in N:
            return "High"
        if q12 in Y:
            if q11 in N:
                return "Some concerns"
            return "Low" if (q13 in N or q13 == "NI") else "Some concerns"
        return "High" if q13 in Y else "Some concerns"
    if domain == "2" and variant == "assignment":
        if a["2.1"] in N and a["2.2"] in N:  # noqa: SIM114 - the spec's sketch, verbatim
            p1 = "Low"
        elif a["2.3"] in N:
            p1 = "Low"
        elif a["2.3"] == "NI":  # noqa: SIM114
            p1 = "Some concerns"
        elif a["2.4"] in N:
            p1 = "Some concerns"
        else:
            p1 = "Some concerns" if a["2.5"] in Y else "High"
        if a["2.6"] in Y:  # noqa: SIM108
            p2 = "Low"
        else:
            p2 = "Some concerns" if a["2.7"] in N else "High"
        return _worst(p1, p2)
    if domain == "2":
        clean45 = all(a[q] in N | {"NA"} for q in ("2.4", "2.5"))
        aware = not (a["2.1"] in N and a["2.2"] in N)
        if aware and a["2.3"] in N | {"NI"}:
            return "Some concerns" if a["2.6"] in Y else "High"
        if clean45:
            return "Low"
        return "Some concerns" if a["2.6"] in Y else "High"
    if domain == "3":
        if a["3.1"] in Y or a["3.2"] in Y:
            return "Low"
        if a["3.3"] in N:
            return "Low"
        return "Some concerns" if a["3.4"] in N else "High"
    if domain == "4":
        if a["4.1"] in Y or a["4.2"] in Y:
            return "High"
        floor = "Low" if a["4.2"] in N else "Some concerns"
        if a["4.3"] in N or a["4.4"] in N:
            return floor
        return "Some concerns" if a["4.5"] in N else "High"
    if a["5.2"] in Y or a["5.3"] in Y:
        return "High"
    if "NI" in (a["5.2"], a["5.3"]):
        return "Some concerns"
    return "Low" if a["5.1"] in Y else "Some concerns"


def _walk(
    variant: Variant, domain: str, deviations: list[str] | None, so_far: dict[str, str]
) -> Iterator[dict[str, str]]:
    """Every complete answer set of one domain, following the skip logic."""
    q = next_question(variant, so_far, deviations, domain)
    if q is None:
        yield dict(so_far)
        return
    for code in q.answers:
        yield from _walk(variant, domain, deviations, {**so_far, q.id: code})


def _cases() -> Iterator[tuple[str, Variant, list[str] | None]]:
    for d in DOMAIN_IDS:
        yield d, "assignment", None
    for r in range(1, len(DEVIATIONS) + 1):
        for devs in itertools.combinations(DEVIATIONS, r):
            yield "2", "adhering", list(devs)


@pytest.mark.parametrize(
    ("domain", "variant", "deviations"),
    list(_cases()),
    ids=lambda v: "+".join(v) if isinstance(v, list) else str(v),
)
def test_tables_are_complete_disjoint_and_match_the_reference_sketch(
    domain: str, variant: Variant, deviations: list[str] | None
) -> None:
    rules_hit: set[str] = set()
    n = 0
    for answers in _walk(variant, domain, deviations, {}):
        n += 1
        done = validate_answers(variant, answers, deviations, domains=(domain,))
        classes = {q: {"PY": "Y", "PN": "N"}.get(code, code) for q, code in done.items()}
        for table in rule_tables(domain, variant):
            assert len(matching_rules(table, classes)) == 1, answers
        result = judge_domain(domain, answers, variant, deviations)
        assert result.judgement == SPEC_LABEL[_sketch(domain, variant, done)], answers
        rules_hit.update(result.rule.split("+"))
    assert n > 1
    if deviations is None or len(deviations) == len(DEVIATIONS):
        # with every question reachable, every row of the table(s) must be reachable too
        all_rules = {r.id for table in rule_tables(domain, variant) for r in table}
        assert rules_hit == all_rules


def test_y_py_and_n_pn_are_interchangeable() -> None:
    strong = judge_domain("1", {"1.1": "Y", "1.2": "N", "1.3": "N"})
    weak = judge_domain("1", {"1.1": "PY", "1.2": "PN", "1.3": "PN"})
    assert strong == weak


def test_d4_with_4_2_no_information_is_never_low() -> None:
    """The spec's known divergence (one open implementation returns Low here); we must not."""
    for answers in _walk("assignment", "4", None, {"4.1": "N", "4.2": "NI"}):
        assert judge_domain("4", answers).judgement != LOW


def test_appropriate_adherence_analysis_is_at_best_some_concerns() -> None:
    answers = _answers("2.1 Y, 2.2 N, 2.3 N, 2.4 N, 2.5 N, 2.6 Y")
    result = judge_domain("2", answers, "adhering", list(DEVIATIONS))
    assert (result.judgement, result.rule) == (SC, "D2B.7")


# --- skip logic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "variant", "answers", "message"),
    [
        (
            "2",
            "assignment",
            "2.1 N, 2.2 PN, 2.3 Y, 2.6 Y",
            "question 2.3 must not be answered when 2.1 and 2.2 are N/PN (skip logic)",
        ),
        (
            "2",
            "assignment",
            "2.1 Y, 2.2 N, 2.3 N, 2.4 Y, 2.6 Y",
            "question 2.4 must not be answered when 2.3 is N/PN/NI or not asked (skip logic)",
        ),
        (
            "2",
            "assignment",
            "2.1 Y, 2.2 N, 2.3 Y, 2.4 N, 2.5 Y, 2.6 Y",
            "question 2.5 must not be answered when 2.4 is N/PN or not asked (skip logic)",
        ),
        (
            "2",
            "assignment",
            "2.1 N, 2.2 N, 2.6 Y, 2.7 N",
            "question 2.7 must not be answered when 2.6 is Y/PY (skip logic)",
        ),
        (
            "3",
            "assignment",
            "3.1 PY, 3.2 Y",
            "question 3.2 must not be answered when 3.1 is Y/PY (skip logic)",
        ),
        (
            "3",
            "assignment",
            "3.1 N, 3.2 Y, 3.3 N",
            "question 3.3 must not be answered when 3.2 is Y/PY or not asked (skip logic)",
        ),
        (
            "4",
            "assignment",
            "4.1 Y, 4.2 N, 4.3 N",
            "question 4.3 must not be answered when 4.1 is Y/PY (skip logic)",
        ),
        (
            "4",
            "assignment",
            "4.1 N, 4.2 N, 4.3 N, 4.4 Y",
            "question 4.4 must not be answered when 4.3 is N/PN or not asked (skip logic)",
        ),
        (
            "2",
            "adhering",
            "2.1 N, 2.2 N, 2.3 Y, 2.5 Y, 2.6 Y",
            "question 2.3 must not be answered when 2.1 and 2.2 are N/PN (skip logic)",
        ),
        (
            "2",
            "adhering",
            "2.1 Y, 2.2 Y, 2.3 Y, 2.6 Y",
            "question 2.6 must not be answered when 2.3 is Y/PY or not asked and 2.4 is "
            "N/PN or not asked and 2.5 is N/PN or not asked (skip logic)",
        ),
    ],
)
def test_skip_logic_forbids_answers(
    domain: str, variant: Variant, answers: str, message: str
) -> None:
    with pytest.raises(AnswerError) as err:
        judge_domain(domain, _answers(answers), variant)
    assert str(err.value) == message
    assert err.value.question == message.split()[1]


def test_skipped_questions_may_be_given_as_na() -> None:
    explicit = judge_domain("3", {"3.1": "Y", "3.2": "NA", "3.3": "NA", "3.4": "NA"})
    absent = judge_domain("3", {"3.1": "Y"})
    assert explicit == absent and explicit.judgement == LOW


@pytest.mark.parametrize(
    ("domain", "variant", "answers", "message"),
    [
        ("1", "assignment", "1.1 Y, 1.3 N", "question 1.2 is required"),
        (
            "2",
            "assignment",
            "2.1 Y, 2.2 N, 2.6 Y",
            "question 2.3 is required (asked because 2.1 is Y/PY/NI or 2.2 is Y/PY/NI)",
        ),
        (
            "2",
            "assignment",
            "2.1 N, 2.2 N, 2.6 PN",
            "question 2.7 is required (asked because 2.6 is N/PN/NI)",
        ),
        ("3", "assignment", "3.1 NI", "question 3.2 is required (asked because 3.1 is N/PN/NI)"),
        (
            "4",
            "assignment",
            "4.1 N, 4.2 N, 4.3 NI, 4.4 PY",
            "question 4.5 is required (asked because 4.4 is Y/PY/NI)",
        ),
        ("5", "assignment", "5.1 Y, 5.2 N", "question 5.3 is required"),
    ],
)
def test_missing_required_answer(domain: str, variant: Variant, answers: str, message: str) -> None:
    with pytest.raises(AnswerError, match=re.escape(message) + "$"):
        judge_domain(domain, _answers(answers), variant)


@pytest.mark.parametrize(
    ("domain", "answers", "message"),
    [
        (
            "1",
            {"1.1": "X", "1.2": "Y", "1.3": "N"},
            "answer 'X' for 1.1 is not one of Y, PY, PN, N, NI",
        ),
        (
            "1",
            {"1.1": "y", "1.2": "Y", "1.3": "N"},
            "answer 'y' for 1.1 is not one of Y, PY, PN, N, NI",
        ),
        (
            "1",
            {"1.1": "NA", "1.2": "Y", "1.3": "N"},
            "answer 'NA' for 1.1 is not one of Y, PY, PN, N, NI",
        ),
        (
            "1",
            {"1.1": 1, "1.2": "Y", "1.3": "N"},
            "answer 1 for 1.1 is not one of Y, PY, PN, N, NI",
        ),
        ("3", {"3.1": "N", "3.2": "NI"}, "answer 'NI' for 3.2 is not one of Y, PY, PN, N"),
        # an asked question applies, so "not applicable" is refused there
        (
            "3",
            {"3.1": "N", "3.2": "N", "3.3": "NA"},
            "answer 'NA' for 3.3 is not one of Y, PY, PN, N, NI",
        ),
    ],
)
def test_answer_outside_its_set(domain: str, answers: dict[str, object], message: str) -> None:
    with pytest.raises(AnswerError, match=re.escape(message) + "$"):
        judge_domain(domain, answers)


def test_errors_are_lsr_errors() -> None:
    with pytest.raises(LsrError):
        judge_domain("1", {})
    assert issubclass(AnswerError, RoB2Error) and issubclass(OverrideError, RoB2Error)


def test_unknown_question_ids() -> None:
    with pytest.raises(AnswerError, match=r"'2\.7' is not a question of the RoB 2 adhering"):
        judge_domain("2", _answers("2.1 N, 2.2 N, 2.5 N, 2.6 Y, 2.7 N"), "adhering")
    with pytest.raises(AnswerError, match=r"'6\.1' is not a question"):
        validate_answers("assignment", {"6.1": "Y"})


def test_per_domain_judgement_ignores_other_domains() -> None:
    answers = {**_answers("1.1 Y, 1.2 Y, 1.3 N"), "3.1": "bogus"}
    assert judge_domain("1", answers).judgement == LOW


def test_unknown_variant() -> None:
    with pytest.raises(RoB2Error, match="variant 'itt' is not one of assignment, adhering"):
        judge_domain("1", {}, "itt")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variant", "deviations", "message"),
    [
        ("adhering", [], "at least one deviation"),
        ("adhering", ["unblinding"], "'unblinding' is not one of"),
        ("assignment", ["non_adherence"], "only to the adhering variant"),
    ],
)
def test_bad_deviations(variant: Variant, deviations: list[str], message: str) -> None:
    with pytest.raises(RoB2Error, match=message):
        asked_questions(variant, {}, deviations)


def test_explicit_deviations_make_their_question_required() -> None:
    answers = _answers("2.1 N, 2.2 N, 2.6 Y")
    with pytest.raises(
        AnswerError,
        match=r"question 2\.4 is required \(asked because "
        r"implementation failures are addressed\)",
    ):
        judge_domain("2", answers, "adhering", ["implementation_failures"])
    with pytest.raises(AnswerError, match="when non-adherence are not addressed"):
        judge_domain(
            "2", {**answers, "2.4": "N", "2.5": "Y"}, "adhering", ["implementation_failures"]
        )


# --- asking one question at a time ------------------------------------------------------------


def _ids(variant: Variant, answers: dict[str, str], **kw: object) -> list[str]:
    return [q.id for q in asked_questions(variant, answers, **kw)]  # type: ignore[arg-type]


def test_follow_up_questions_appear_as_answers_arrive() -> None:
    assert _ids("assignment", {}, domain="2") == ["2.1", "2.2", "2.6"]
    assert _ids("assignment", {"2.1": "N", "2.2": "NI"}, domain="2") == [
        "2.1",
        "2.2",
        "2.3",
        "2.6",
    ]
    answers = {"2.1": "N", "2.2": "NI", "2.3": "PY", "2.4": "NI", "2.6": "PN"}
    assert _ids("assignment", answers, domain="2") == [
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "2.5",
        "2.6",
        "2.7",
    ]
    assert [
        q.id for q in asked_questions("assignment", answers, domain="2") if q.id not in answers
    ] == ["2.5", "2.7"]
    nq = next_question("assignment", answers, domain="2")
    assert nq is not None and nq.id == "2.5"


def test_next_question_walks_a_whole_assessment() -> None:
    answers: dict[str, str] = {}
    order = []
    while (q := next_question("assignment", answers)) is not None:
        order.append(q.id)
        answers[q.id] = "Y"
    # all "Y": 2.3 asked (aware), 2.4 (2.3 Y), 2.5 (2.4 Y); 2.7 skipped (2.6 Y); 3.2+ skipped
    # (3.1 Y); 4.3+ skipped (4.1 Y)
    assert order == [
        "1.1",
        "1.2",
        "1.3",
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "2.5",
        "2.6",
        "3.1",
        "4.1",
        "4.2",
        "5.1",
        "5.2",
        "5.3",
    ]


def test_adhering_questions_follow_the_deviations_addressed() -> None:
    devs = ["implementation_failures"]
    assert _ids("adhering", {}, deviations=devs, domain="2") == ["2.1", "2.2", "2.4"]
    assert _ids("adhering", {"2.1": "Y", "2.2": "N"}, deviations=devs, domain="2") == [
        "2.1",
        "2.2",
        "2.4",
    ]
    answers = {"2.1": "Y", "2.2": "N", "2.4": "NI"}
    assert _ids("adhering", answers, deviations=devs, domain="2") == [
        "2.1",
        "2.2",
        "2.4",
        "2.6",
    ]
    every = list(DEVIATIONS)
    assert _ids("adhering", {"2.1": "Y", "2.2": "N"}, deviations=every, domain="2") == [
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "2.5",
    ]


def test_question_counts_match_the_spec() -> None:
    """Spec: 22 questions per assessment for the effect of assignment, 21 for adhering."""
    assert len(questions("assignment")) == 22
    assert len(questions("adhering")) == 21
    assert [q.id for q in questions("adhering", "2")] == ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]


def test_labels_are_our_own_not_the_licensed_wording(shared: Path) -> None:
    """RoB 2 wording is CC BY-NC-ND: labels are short phrases, never an official question."""
    spec = (shared / "specs" / "rob2.md").read_text(encoding="utf-8")
    official = re.findall(r"^\| \d\.\d \| ([^|]+\?) \|", spec, flags=re.M)
    assert len(official) >= 20
    official_lower = [t.lower() for t in official]
    for variant in ("assignment", "adhering"):
        for q in questions(variant):
            label = q.label.lower()
            assert q.label and len(q.label.split()) <= 8, q.id
            assert not any(t.rstrip("?") in label for t in official_lower), q.id


# --- whole assessments, overall judgement and overrides ---------------------------------------

ALL_LOW_ASSIGNMENT = _answers(
    "1.1 Y, 1.2 Y, 1.3 N, 2.1 N, 2.2 N, 2.6 Y, 3.1 Y, 4.1 N, 4.2 N, 4.3 N, 5.1 Y, 5.2 N, 5.3 N"
)


def _with(base: dict[str, str], text: str) -> dict[str, str]:
    return {**base, **_answers(text)}


def test_all_low_is_low_overall() -> None:
    a = assess("assignment", ALL_LOW_ASSIGNMENT)
    assert a.domains == dict.fromkeys(DOMAIN_IDS, LOW)
    assert a.overall == a.proposed_overall == LOW
    assert not a.several_some_concerns and a.prompt is None
    assert a.answers["2.3"] == "NA" and a.answers["3.4"] == "NA"  # skipped: stored as NA


def test_one_some_concerns_gives_some_concerns_without_prompt() -> None:
    a = assess("assignment", _with(ALL_LOW_ASSIGNMENT, "5.1 NI"))
    assert a.domains["5"] == SC and a.overall == SC
    assert not a.several_some_concerns


def test_any_high_gives_high() -> None:
    a = assess("assignment", _with(ALL_LOW_ASSIGNMENT, "1.2 N, 5.1 NI, 3.1 NI, 3.2 N, 3.3 N"))
    assert a.domains["1"] == HIGH and a.overall == HIGH
    assert not a.several_some_concerns  # a high domain: nothing to ask


def test_several_some_concerns_prompts_but_never_escalates() -> None:
    answers = _with(ALL_LOW_ASSIGNMENT, "1.2 NI, 5.1 NI")
    a = assess("assignment", answers)
    assert [a.domains[d] for d in DOMAIN_IDS] == [SC, LOW, LOW, LOW, SC]
    assert a.several_some_concerns and a.prompt is not None and a.prompt.startswith("2 domains")
    assert a.overall == SC  # the prompt is the assessor's decision, not ours


def test_several_some_concerns_escalation_needs_a_justification() -> None:
    answers = _with(ALL_LOW_ASSIGNMENT, "1.2 NI, 5.1 NI")
    with pytest.raises(OverrideError, match="overall judgement from some_concerns to high needs"):
        assess("assignment", answers, overrides={"overall": Override(HIGH, "  ")})
    a = assess(
        "assignment",
        answers,
        overrides={"overall": Override(HIGH, "concealment and selection together", by="AB")},
    )
    assert a.overall == HIGH and a.proposed_overall == SC and a.overridden == ["overall"]
    confirmed = assess("assignment", answers, overrides={"overall": Override(SC)})
    assert confirmed.overall == SC and confirmed.overridden == []


def test_domain_override_needs_justification_and_feeds_the_overall() -> None:
    with pytest.raises(OverrideError, match="overriding domain 3 from low to high needs"):
        assess("assignment", ALL_LOW_ASSIGNMENT, overrides={"3": Override(HIGH)})
    a = assess(
        "assignment",
        ALL_LOW_ASSIGNMENT,
        overrides={"3": Override(HIGH, "30% lost to follow-up in one arm")},
    )
    assert a.proposed["3"].judgement == LOW and a.domains["3"] == HIGH
    assert a.proposed_overall == HIGH and a.overall == HIGH
    assert a.overridden == ["3"]


def test_overall_cannot_be_set_below_the_worst_domain() -> None:
    answers = _with(ALL_LOW_ASSIGNMENT, "1.2 N")
    with pytest.raises(OverrideError, match="cannot be low while a domain is high"):
        assess("assignment", answers, overrides={"overall": Override(LOW, "trust me")})


def test_unknown_override_key() -> None:
    with pytest.raises(OverrideError, match="override key '6'"):
        assess("assignment", ALL_LOW_ASSIGNMENT, overrides={"6": Override(HIGH, "x")})


def test_both_domain_2_variants_in_whole_assessments() -> None:
    base = {k: v for k, v in ALL_LOW_ASSIGNMENT.items() if not k.startswith("2.")}
    itt = assess("assignment", _with(base, "2.1 Y, 2.2 Y, 2.3 NI, 2.6 Y"))
    pp = assess("adhering", _with(base, "2.1 Y, 2.2 Y, 2.3 NI, 2.6 Y"))
    assert (itt.domains["2"], itt.proposed["2"].rule) == (SC, "P1.3+P2.1")
    assert (pp.domains["2"], pp.proposed["2"].rule) == (SC, "D2B.7")
    assert pp.deviations_addressed == frozenset({"non_protocol_interventions"})
    # 2.7 belongs to the assignment variant only
    with pytest.raises(AnswerError, match="2.7"):
        assess("adhering", _with(base, "2.1 N, 2.2 N, 2.6 N, 2.7 N"))


def test_json_input_and_output_contract() -> None:
    a = assessment_from_json(
        {
            "variant": "assignment",
            "answers": _with(ALL_LOW_ASSIGNMENT, "4.2 NI"),
            "overrides": {"1": {"judgement": "some_concerns", "justification": "imbalance"}},
        }
    )
    out = a.as_json()
    assert out["domains"] == {
        "1": "some_concerns",
        "2": "low",
        "3": "low",
        "4": "some_concerns",
        "5": "low",
    }
    assert out["overall"] == "some_concerns"
    assert out["proposed"]["domains"]["1"] == "low"
    assert out["rules"]["4"] == "D4.3"
    assert out["several_some_concerns"] is True and out["overridden"] == ["1"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "expected a JSON object"),
        ({"answers": {}}, "variant is required"),
        ({"variant": "assignment"}, "answers must be an object"),
        ({"variant": "assignment", "answers": {}, "overides": {}}, "unknown key 'overides'"),
        (
            {"variant": "assignment", "answers": ALL_LOW_ASSIGNMENT, "overrides": {"1": "high"}},
            "override 1 must be an object",
        ),
        (
            {
                "variant": "assignment",
                "answers": ALL_LOW_ASSIGNMENT,
                "overrides": {"1": {"judgement": "moderate", "justification": "x"}},
            },
            "judgement 'moderate' is not one of low, some_concerns, high",
        ),
        (
            {"variant": "adhering", "answers": {}, "deviations_addressed": "non_adherence"},
            "deviations_addressed must be a list",
        ),
    ],
)
def test_json_input_errors(obj: object, message: str) -> None:
    with pytest.raises(RoB2Error, match=re.escape(message)):
        assessment_from_json(obj)

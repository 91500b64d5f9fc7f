"""Provides RoB 2 (Cochrane risk of bias, individually randomized parallel-group trials).

One assessment judges one result (study × outcome): the signalling questions and their skip
logic (:mod:`~living_review.rob2.questions`), the algorithm that proposes each domain and the
overall judgement, with the assessor's justified overrides (:mod:`~living_review.rob2.algorithm`),
and the robvis-style plots (:mod:`~living_review.rob2.plots`, which imports matplotlib only
when a plot is drawn, so importing this package stays cheap).

The RoB 2 question wording is CC BY-NC-ND and is not shipped; questions carry their IDs and
our own short labels (full wording: https://www.riskofbias.info).
"""

from __future__ import annotations

from living_review.rob2.algorithm import (
    ALGORITHM_VERSION,
    Assessment,
    DomainResult,
    Judgement,
    Override,
    OverrideError,
    assess,
    assessment_from_json,
    judge_domain,
)
from living_review.rob2.questions import (
    DOMAINS,
    VARIANTS,
    AnswerError,
    Question,
    RoB2Error,
    Variant,
    asked_questions,
    next_question,
    questions,
    validate_answers,
)

__all__ = [
    "ALGORITHM_VERSION",
    "DOMAINS",
    "VARIANTS",
    "AnswerError",
    "Assessment",
    "DomainResult",
    "Judgement",
    "Override",
    "OverrideError",
    "Question",
    "RoB2Error",
    "Variant",
    "assess",
    "assessment_from_json",
    "asked_questions",
    "judge_domain",
    "next_question",
    "questions",
    "validate_answers",
]

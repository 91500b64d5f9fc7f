"""Provides data extraction: studies and their reports, arms, values, dual extraction.

* :mod:`~living_review.extraction.validate` — every rule a value must pass, and the one place
  the conversions to the analysis scale (lnHR and its SE from a CI) are written down.
* :mod:`~living_review.extraction.service` — studies, reports (primary / subgroup / overlap),
  arms and append-only value versions; compare two extractors, resolve to final values, and
  the final data of an outcome as rows the NMA reads.
* :mod:`~living_review.extraction.example` — the example review's trials from
  ``example-hcc/trials.csv``.

This module imports nothing heavy, so ``lsr --help`` stays fast.
"""

from __future__ import annotations

from living_review.extraction.validate import ExtractionError, Issue

__all__ = ["ExtractionError", "Issue"]

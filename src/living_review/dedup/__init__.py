"""Provides deduplication across databases: automatic, reviewable, reversible.

The core (:mod:`~living_review.dedup.normalise`, :mod:`~living_review.dedup.blocking`,
:mod:`~living_review.dedup.scoring`, :mod:`~living_review.dedup.rules`,
:mod:`~living_review.dedup.cluster`, :mod:`~living_review.dedup.pipeline`) is pure functions
over in-memory records; :mod:`~living_review.dedup.service` is the store adapter.
"""

from __future__ import annotations

from living_review.dedup.pipeline import DedupResult, deduplicate
from living_review.dedup.scoring import PairScore, compare

__all__ = ["DedupResult", "PairScore", "compare", "deduplicate"]

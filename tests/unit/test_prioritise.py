"""The prioritiser: reproducible rankings, sensible order on a tiny corpus, cold start."""

from __future__ import annotations

import random

import pytest

from living_review.screening.prioritise import (
    PrioritiseError,
    PrioritySettings,
    order_unscreened,
    rank_records,
    sample_weights,
)

STATIN = "statin therapy lowers cholesterol in randomised trial of adults"
OTHER = "soil bacteria diversity in alpine meadows measured by sequencing"

KEYS = list(range(101, 121))
# 10 statin-like records (even keys) and 10 ecology records (odd keys), interleaved
TEXTS = [f"{STATIN} cohort {i}" if i % 2 == 0 else f"{OTHER} site {i}" for i in range(len(KEYS))]


def test_ranking_puts_records_like_the_includes_first() -> None:
    labels = {101: 1, 102: 0}  # key 101 is index 0: statin; key 102 is index 1: ecology
    ranking = rank_records(KEYS, TEXTS, labels, PrioritySettings())
    top = ranking.order[:9]
    assert all((k - 101) % 2 == 0 for k in top), top
    assert ranking.training_size == 2
    assert ranking.n_includes == 1
    assert 101 not in ranking.order and 102 not in ranking.order


@pytest.mark.parametrize("model", ["lr", "svm", "nb", "ensemble"])
def test_same_inputs_same_ranking(model: str) -> None:
    settings = PrioritySettings(model=model, exploration=0.2, seed=7)
    labels = {101: 1, 102: 0, 104: 0, 103: 1}
    first = rank_records(KEYS, TEXTS, labels, settings)
    again = rank_records(KEYS, TEXTS, labels, settings)
    assert first.order == again.order
    assert first.fingerprint == again.fingerprint
    assert sorted(first.order) == sorted(set(KEYS) - set(labels))
    rebuilt = PrioritySettings.from_json(first.as_json()["settings"])
    assert rebuilt == settings


def test_a_different_seed_changes_only_the_exploration() -> None:
    labels = {101: 1, 102: 0}
    plain = rank_records(KEYS, TEXTS, labels, PrioritySettings(exploration=0.0, seed=1))
    plain2 = rank_records(KEYS, TEXTS, labels, PrioritySettings(exploration=0.0, seed=2))
    assert plain.order == plain2.order


def test_exploration_share_is_roughly_kept() -> None:
    scores = list(range(1000, 0, -1))  # row 0 best
    rows = list(range(1000))
    out = order_unscreened(scores, rows, exploration=0.1, rng=random.Random(3))  # type: ignore[arg-type]
    assert sorted(out) == rows
    # picks that jump the queue: the row is not the best one still left
    left = set(rows)
    jumps = 0
    for r in out:
        jumps += r != min(left)
        left.discard(r)
    assert 50 <= jumps <= 150


def test_cold_start_from_protocol_terms() -> None:
    ranking = rank_records(
        KEYS, TEXTS, {}, PrioritySettings(), protocol_terms=["statin", "cholesterol"]
    )
    assert all((k - 101) % 2 == 0 for k in ranking.order[:10])


def test_cold_start_from_known_includes_only() -> None:
    ranking = rank_records(KEYS, TEXTS, {102: 1}, PrioritySettings())
    assert all((k - 101) % 2 == 1 for k in ranking.order[:9])


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(PrioritiseError, match="unknown prioritisation model"):
        PrioritySettings(model="bert")
    with pytest.raises(PrioritiseError, match="exploration"):
        PrioritySettings(exploration=1.5)


def test_features_are_reused_for_the_same_records() -> None:
    from living_review.screening.prioritise import _cached_features

    settings = PrioritySettings()
    first = _cached_features(TEXTS, settings)
    assert _cached_features(list(TEXTS), settings) is first
    assert _cached_features([*TEXTS, "one more record"], settings) is not first


def test_balancer_gives_includes_ratio_times_the_exclude_weight() -> None:
    """ASReview's balancer by hand: 1 include, 3 excludes, ratio 9.8, weights of mean 1."""
    import numpy as np

    y = np.array([1, 0, 0, 0])
    w = sample_weights(y, 9.8)
    # raw: include 1, each exclude 1 / (9.8 * 3); rescaled so the 4 weights sum to 4
    scale = 4 / (1 + 1 / 9.8)
    assert w[0] == pytest.approx(scale)
    assert w[1:] == pytest.approx([scale / (9.8 * 3)] * 3)
    assert w[0] / w[1:].sum() == pytest.approx(9.8)
    equal = sample_weights(y, None)
    assert equal[0] == pytest.approx(equal[1:].sum())
    assert equal.sum() == pytest.approx(4)


def test_nearest_include_is_the_largest_cosine_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each record's similarity to its closest include, computed row chunk by row chunk and
    over the most recent includes only, equals a dense brute force over those includes."""
    import numpy as np

    from living_review.screening import prioritise

    x = prioritise.featurise(TEXTS, PrioritySettings())
    includes = [0, 2, 4, 7]
    dense = x.toarray()
    expect = (dense @ dense[includes].T).max(axis=1)
    monkeypatch.setattr(prioritise, "NEIGHBOUR_ROW_CHUNK", 3)  # several chunks, one ragged
    assert np.allclose(prioritise.nearest_include(x, includes), expect, atol=1e-6)
    monkeypatch.setattr(prioritise, "NEIGHBOUR_MAX_INCLUDES", 2)  # the last two labelled
    recent = (dense @ dense[[4, 7]].T).max(axis=1)
    assert np.allclose(prioritise.nearest_include(x, includes), recent, atol=1e-6)


def test_neighbour_weight_mixes_the_two_rankings() -> None:
    """Weight 0 is the classifier alone; weight w averages the two rank scores."""
    import numpy as np

    from living_review.screening.prioritise import _rank01, featurise, fit_scores, nearest_include

    base = PrioritySettings()
    x = featurise(TEXTS, base)
    rows, ys = [0, 1, 2, 3], [1, 0, 1, 0]
    alone = fit_scores(x, rows, ys, base)
    mixed = fit_scores(x, rows, ys, PrioritySettings(neighbour_weight=0.25))
    expect = 0.75 * _rank01(alone) + 0.25 * _rank01(nearest_include(x, [0, 2]))
    assert np.allclose(mixed, expect)
    with pytest.raises(PrioritiseError, match="neighbour weight"):
        PrioritySettings(neighbour_weight=1.5)
    assert PrioritySettings.from_json({"model": "svm"}).neighbour_weight == 0.0

"""The stopping rule's arithmetic on small cases whose answers are derived by hand.

Each expected value is worked out in the comment above it with binomial coefficients, not
with SciPy, so the test can catch a wrong K_tar, a wrong tail or swapped arguments.
"""

from __future__ import annotations

import pytest

from living_review.screening.stopping import (
    StoppingError,
    estimate,
    k_target,
    random_sampling_p,
    ranked_quasi_sampling_p,
)


def test_k_target_exact_boundary() -> None:
    # 19 found; recall < 95% means more than 19 / 0.95 = 20 includes in all, i.e. >= 21,
    # so the sampled pool must hold >= 2 (nothing was found in it yet).
    assert k_target(19, 19, 0.95) == 2
    # 40 found before: 40 / 0.95 = 42.1 -> >= 43 in all -> >= 3 missing.
    assert k_target(40, 40, 0.95) == 3


def test_random_sample_without_includes() -> None:
    # K_tar = 2 in a pool of 10, sample 5, none found: C(8,5) / C(10,5) = 56 / 252.
    assert random_sampling_p(pool=10, sample=5, k=0, r_al=19) == pytest.approx(56 / 252)


def test_random_sample_with_one_include() -> None:
    # r_al = 8, k = 1, tau = 0.9: 9 / 0.9 = 10 -> K_tar = 10 - 8 + 1 = 3 in a pool of 20.
    # P(X <= 1), sample 10: (C(17,10) + 3 C(17,9)) / C(20,10) = (19448 + 72930) / 184756 = 1/2.
    p = random_sampling_p(pool=20, sample=10, k=1, r_al=8, target=0.9)
    assert p == pytest.approx(0.5)


def test_null_impossible_when_too_few_records_left() -> None:
    # K_tar = 2 but only one record of the pool is unsampled: the null cannot hold.
    assert random_sampling_p(pool=10, sample=9, k=0, r_al=19) == 0.0


def test_impossible_sample_is_an_error() -> None:
    with pytest.raises(StoppingError):
        random_sampling_p(pool=5, sample=6, k=0, r_al=1)
    with pytest.raises(StoppingError):
        k_target(3, 3, 1.0)


def test_ranked_quasi_sampling_by_hand() -> None:
    # Screened [1, 0, 0, 0] of 10, tau = 0.5.  Windows (last n screened):
    #   n=1: pool 7, K_tar 2, P(0) = 5/7;   n=2: pool 8, K_tar 2, P(0) = C(6,2)/C(8,2) = 15/28
    #   n=3: pool 9, K_tar 2, P(0) = C(7,3)/C(9,3) = 35/84  <- smallest
    #   n=4: pool 10, k=1, K_tar 3, P(X<=1) = (C(7,4) + 3 C(7,3)) / C(10,4) = 140/210
    p, window = ranked_quasi_sampling_p([1, 0, 0, 0], 10, target=0.5)
    assert window == 3
    assert p == pytest.approx(35 / 84)


def test_everything_screened_reaches_the_target() -> None:
    est = estimate([1, 1, 0, 0, 0], 5)
    assert est.p_value == 0.0
    assert est.reached
    assert est.sentence().startswith("≥ 95% recall reached with 95% confidence after 5 of 5")


def test_nothing_screened_is_not_reached() -> None:
    est = estimate([], 100)
    assert not est.reached
    assert "not yet shown" in est.sentence()
    assert est.as_json()["screened"] == 0


def test_long_run_of_excludes_after_includes_is_reached() -> None:
    # 10 includes first, then 960 excludes, 30 left. Best window: the 960 excludes, pool
    # 960 + 30, K_tar = floor(10 / 0.95 - 10) + 1 = 1, P(0) = 30 / 990 < 0.05 -- reached.
    # After 900 excludes (90 left) P(0) = 90 / 990 > 0.05; after 10 excludes, far from it.
    est = estimate([1] * 10 + [0] * 960, 1000)
    assert est.reached
    assert est.window == 960
    assert est.p_value == pytest.approx(30 / 990)
    assert estimate([1] * 10 + [0] * 900, 1000).p_value == pytest.approx(90 / 990)
    assert estimate([1] * 10 + [0] * 10, 1000).p_value > 0.05


def _every_window(labels: list[int], n_total: int, target: float) -> list[float]:
    """The p of every window "the last n screened", straight from the rule (no shortcut)."""
    from scipy.stats import hypergeom

    r_total, out = sum(labels), []
    for n in range(1, len(labels) + 1):
        k = sum(labels[-n:])
        pool = n_total - len(labels) + n
        k_tar = k_target(r_total, r_total - k, target)
        out.append(0.0 if k_tar - k > pool - n else float(hypergeom.cdf(k, pool, k_tar, n)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_ranked_quasi_sampling_equals_the_minimum_over_every_window(seed: int) -> None:
    # The function tests only the last window of each run of equal k (see its docstring);
    # the minimum must be the one a test of every window finds, at a window attaining it.
    import random

    rng = random.Random(seed)
    seen = rng.randint(1, 120)
    n_total = seen + rng.randint(0, 80)
    rate = rng.choice([0.02, 0.1, 0.3, 0.7])
    labels = [int(rng.random() < rate * (1 - i / (seen + 1))) for i in range(seen)]
    target = rng.choice([0.8, 0.9, 0.95])
    every = _every_window(labels, n_total, target)
    p, window = ranked_quasi_sampling_p(labels, n_total, target)
    assert p == pytest.approx(min(every), rel=1e-9, abs=1e-300)
    assert every[window - 1] == pytest.approx(p, rel=1e-9, abs=1e-300)

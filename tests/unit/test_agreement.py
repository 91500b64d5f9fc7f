"""Cohen's kappa and its CI: equal to scikit-learn, and to published worked examples."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from sklearn.metrics import cohen_kappa_score

from living_review.agreement import CATEGORIES, agreement_table, cohen_kappa, kappa_from_table


@pytest.mark.parametrize("seed", range(20))
def test_kappa_equals_sklearn_on_random_decisions(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(5, 400)
    bias = rng.random()
    first = [rng.choice(CATEGORIES) for _ in range(n)]
    second = [f if rng.random() < bias else rng.choice(CATEGORIES) for f in first]
    ours = cohen_kappa(first, second)
    expected = cohen_kappa_score(first, second, labels=list(CATEGORIES))
    assert ours.kappa == pytest.approx(expected, abs=1e-12)
    assert ours.p_o == pytest.approx(sum(a == b for a, b in zip(first, second, strict=True)) / n)
    assert ours.ci is not None and ours.kappa is not None
    assert ours.ci[0] <= ours.kappa <= ours.ci[1]


def test_ci_matches_sas_proc_freq_agreement_study() -> None:
    """SAS/STAT User's Guide, PROC FREQ, "Getting Started: Agreement Study" (skin condition
    ratings of two dermatologists, 88 patients, 4 categories): simple kappa 0.3449, ASE
    0.0724, 95% confidence limits 0.2030 to 0.4868. SAS's ASE is the large-sample SE of
    Fleiss, Cohen & Everitt (1969).
    https://support.sas.com/documentation/cdl/en/statug/63033/HTML/default/statug_freq_sect004.htm
    """
    table = [[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]]
    s = kappa_from_table(table)
    assert s.n == 88
    assert s.kappa == pytest.approx(0.3449, abs=5e-5)
    assert s.se == pytest.approx(0.0724, abs=5e-5)
    assert s.ci is not None
    assert s.ci[0] == pytest.approx(0.2030, abs=5e-5)
    assert s.ci[1] == pytest.approx(0.4868, abs=5e-5)


def test_ci_matches_fleiss_paik_example_in_statpsych() -> None:
    """Fleiss & Paik (2003), *Statistical Methods for Rates and Proportions*, 3rd ed., as
    reproduced by R's statpsych::ci.kappa(.05, 31, 12, 4, 58): Cohen kappa 0.6756757,
    SE 0.07344761, 95% CI 0.5317210 to 0.8196303
    (https://dgbonett.github.io/statpsych/reference/ci.kappa.html).
    ci.kappa's f01 is "y = 0 and x = 1": with rows x, the table is [[31, 4], [12, 58]].
    """
    s = kappa_from_table([[31, 4], [12, 58]])
    assert s.kappa == pytest.approx(0.6756757, abs=1e-7)
    assert s.se == pytest.approx(0.07344761, abs=1e-8)
    assert s.ci == pytest.approx((0.5317210, 0.8196303), abs=1e-7)


def test_perfect_agreement() -> None:
    first = ["include", "exclude", "maybe", "exclude", "include"]
    s = cohen_kappa(first, list(first))
    assert s.kappa == pytest.approx(1.0) == cohen_kappa_score(first, first)
    assert s.se == pytest.approx(0.0) and s.ci == pytest.approx((1.0, 1.0))
    assert s.p_o == 1.0


def test_one_category_only_leaves_kappa_undefined() -> None:
    """Both reviewers excluded everything: chance agreement is 1 and kappa is 0/0.

    scikit-learn returns NaN here; we return None (JSON null) rather than a number, with
    percent agreement still reported.
    """
    first = ["exclude"] * 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score(first, first))
    s = cohen_kappa(first, list(first))
    assert s.kappa is None and s.ci is None and s.p_o == 1.0 and s.n == 10


def test_empty_and_bad_tables() -> None:
    s = kappa_from_table([[0, 0], [0, 0]])
    assert (s.n, s.kappa, s.p_o) == (0, None, None)
    with pytest.raises(ValueError, match="square"):
        kappa_from_table([[1, 2, 3], [4, 5, 6]])


def test_agreement_table_orientation() -> None:
    t = agreement_table(["include", "exclude"], ["exclude", "exclude"])
    assert t == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]  # rows: first rater


def test_worse_than_chance_is_negative_and_ci_clipped() -> None:
    s = kappa_from_table([[0, 5], [5, 0]])
    assert s.kappa == pytest.approx(-1.0) and s.ci is not None and s.ci[0] >= -1.0

"""Every extraction rule can fail, with a message naming study, outcome and field; and the
conversions to the analysis scale are the stated formulas."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from living_review.extraction.validate import (
    ExtractionError,
    arm_sd,
    check_arm_sizes,
    check_treatment,
    check_value,
    contrast_te_se,
    normalise_values,
)
from living_review.protocol import Protocol, load_protocol

REPO = Path(__file__).resolve().parents[2]
WHERE = "REACH-2, OS, ramucirumab vs placebo"


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol(REPO / "protocol" / "review.toml")


def levels(issues: list) -> list[str]:
    return [i.level for i in issues]


def hr(**values: object) -> dict:
    return normalise_values("contrast", {"measure": "HR", **values}, where=WHERE)


def test_events_above_n_fail(protocol: Protocol) -> None:
    orr = protocol.outcome("ORR")
    v = normalise_values("binary", {"events": "12", "n": "10"}, where="KN-240, ORR, placebo")
    [issue] = check_value("binary", v, where="KN-240, ORR, placebo", outcome=orr)
    assert issue.level == "error" and issue.field == "events"
    assert "KN-240, ORR, placebo" in issue.message and "exceed n = 10" in issue.message
    ok = normalise_values("binary", {"events": 10, "n": 10}, where="x")
    assert check_value("binary", ok, where="x", outcome=orr) == []
    neg = normalise_values("binary", {"events": -1, "n": 10}, where="x")
    assert levels(check_value("binary", neg, where="x", outcome=orr)) == ["error"]


def test_n_must_be_a_positive_whole_number() -> None:
    for n in ("0", "-3", "10.5"):
        v = normalise_values("arm", {"n": n}, where="REACH, placebo")
        [issue] = check_value("arm", v, where="REACH, placebo")
        assert issue.field == "n" and "REACH, placebo" in issue.message


def test_ci_must_contain_the_estimate(protocol: Protocol) -> None:
    os_ = protocol.outcome("OS")
    [issue] = check_value(
        "contrast", hr(estimate=0.71, lower=0.75, upper=0.95), where=WHERE, outcome=os_
    )
    assert issue.level == "error" and "does not contain 0.71" in issue.message
    assert WHERE in issue.message
    [issue] = check_value(
        "contrast", hr(estimate=0.71, lower=0.95, upper=0.53), where=WHERE, outcome=os_
    )
    assert "not below upper" in issue.message
    [issue] = check_value(
        "contrast", hr(estimate=0.71, lower=0, upper=0.95), where=WHERE, outcome=os_
    )
    assert "must be > 0" in issue.message
    [issue] = check_value("contrast", hr(estimate=0.71, lower=0.5), where=WHERE, outcome=os_)
    assert "both lower and upper" in issue.message


def test_asymmetric_ci_on_the_log_scale_is_a_warning(protocol: Protocol) -> None:
    os_ = protocol.outcome("OS")
    # REACH-2 as published: symmetric on the log scale, no warning
    assert (
        check_value(
            "contrast", hr(estimate=0.710, lower=0.531, upper=0.949), where=WHERE, outcome=os_
        )
        == []
    )
    # symmetric on the natural scale (a typical typo or wrong-scale CI) is not on the log scale
    [issue] = check_value(
        "contrast", hr(estimate=0.71, lower=0.31, upper=0.96), where=WHERE, outcome=os_
    )
    assert issue.level == "warning" and "asymmetric" in issue.message and WHERE in issue.message
    # the tolerance is a parameter
    assert (
        check_value(
            "contrast",
            hr(estimate=0.71, lower=0.31, upper=0.96),
            where=WHERE,
            outcome=os_,
            tolerance=0.9,
        )
        == []
    )


def test_se_must_be_positive(protocol: Protocol) -> None:
    os_ = protocol.outcome("OS")
    [issue] = check_value("contrast", hr(estimate=0.71, se=0), where=WHERE, outcome=os_)
    assert issue.field == "se" and "must be > 0" in issue.message
    [issue] = check_value(
        "contrast", hr(estimate=0.71, se=0.1, lower=0.5, upper=0.9), where=WHERE, outcome=os_
    )
    assert "not both" in issue.message
    [issue] = check_value("contrast", hr(estimate=0.71), where=WHERE, outcome=os_)
    assert "needs a 95% CI or an SE" in issue.message
    cont = normalise_values("continuous", {"mean": 1, "sd": -2, "n": 20}, where="T, QoL, a")
    assert levels(check_spread_issues(cont)) == ["error"]
    both = normalise_values("continuous", {"mean": 1, "sd": 2, "se": 1, "n": 20}, where="x")
    assert levels(check_spread_issues(both)) == ["error"]


def check_spread_issues(values: dict) -> list:
    from living_review.extraction.validate import check_spread

    return check_spread(values, where="T, QoL, a")


def test_measure_must_be_the_protocols(protocol: Protocol) -> None:
    v = normalise_values(
        "contrast", {"measure": "or", "estimate": 0.7, "lower": 0.5, "upper": 0.98}, where=WHERE
    )
    [issue] = check_value("contrast", v, where=WHERE, outcome=protocol.outcome("OS"))
    assert issue.field == "measure" and "analysed as HR" in issue.message
    b = normalise_values("binary", {"events": 3, "n": 10}, where="x")
    [issue] = check_value("binary", b, where="REACH, OS, placebo", outcome=protocol.outcome("OS"))
    assert "not arm-level binary" in issue.message


def test_treatment_must_be_known_aliases_map(protocol: Protocol) -> None:
    assert check_treatment(protocol, "Cyramza", where="REACH") == ("ramucirumab", [])
    assert check_treatment(protocol, "best supportive care", where="REACH")[0] == "placebo"
    name, [issue] = check_treatment(protocol, "sorafenib", where="REACH, arm")
    assert name is None and "'sorafenib' is not in the protocol" in issue.message
    assert "REACH, arm" in issue.message


def test_arm_sizes_add_up_to_the_total() -> None:
    assert (
        check_arm_sizes({"ramucirumab": 197, "placebo": 95}, 292, where="R2", complete=True) == []
    )
    [issue] = check_arm_sizes({"ramucirumab": 197, "placebo": 95}, 300, where="R2", complete=True)
    assert issue.level == "error" and "do not add up to the total randomised 300" in issue.message
    assert "R2" in issue.message
    # while entering, a shortfall is only a warning; an excess is always an error
    [issue] = check_arm_sizes({"ramucirumab": 197, "placebo": 95}, 300, where="R2", complete=False)
    assert issue.level == "warning"
    [issue] = check_arm_sizes({"ramucirumab": 197, "placebo": 95}, 200, where="R2", complete=False)
    assert issue.level == "error" and "exceed" in issue.message
    # an arm without a size (CELESTIAL) cannot be checked for equality
    assert (
        check_arm_sizes({"cabozantinib": None, "placebo": None}, 707, where="C", complete=True)
        == []
    )
    assert check_arm_sizes({"a": 10, "b": 10}, None, where="C", complete=True) == []


def test_other_rules() -> None:
    with pytest.raises(ExtractionError, match="contrast has no field 'hr'"):
        normalise_values("contrast", {"hr": 1}, where=WHERE)
    with pytest.raises(ExtractionError, match="binary needs events"):
        normalise_values("binary", {"n": 10}, where=WHERE)
    with pytest.raises(ExtractionError, match="estimate = 'abc' is not a number"):
        normalise_values("contrast", {"measure": "HR", "estimate": "abc"}, where=WHERE)
    with pytest.raises(ExtractionError, match="unknown kind"):
        normalise_values("weird", {}, where=WHERE)
    pct = normalise_values("percent", {"value": "101"}, where="x")
    assert "not in 0-100" in check_value("percent", pct, where="x", outcome=None)[1].message


def test_log_hr_and_se_from_a_95_ci() -> None:
    # REACH-2 OS: HR 0.710 (95% CI 0.531-0.949)
    te, se = contrast_te_se(hr(estimate="0.710", lower="0.531", upper="0.949"))
    assert te == pytest.approx(math.log(0.710))
    assert se == pytest.approx((math.log(0.949) - math.log(0.531)) / (2 * 1.959964))
    assert (round(te, 4), round(se, 4)) == (-0.3425, 0.1481)
    # a 90% CI uses the 95% quantile; an SE given is used as is; MD is not logged
    te90, se90 = contrast_te_se(hr(estimate=0.71, lower=0.56, upper=0.9, level=0.9))
    assert se90 == pytest.approx((math.log(0.9) - math.log(0.56)) / (2 * 1.644854), rel=1e-6)
    te_se, se_se = contrast_te_se(hr(estimate=0.71, se=0.15))
    assert te_se == pytest.approx(math.log(0.71)) and se_se == 0.15
    md = normalise_values(
        "contrast", {"measure": "MD", "estimate": -2, "lower": -4, "upper": 0}, where="x"
    )
    te_md, se_md = contrast_te_se(md)
    assert te_md == -2.0 and se_md == pytest.approx(4 / (2 * 1.959964))
    assert arm_sd({"mean": 1, "se": 0.5, "n": 16}) == pytest.approx(2.0)
    assert arm_sd({"mean": 1, "sd": 3, "n": 16}) == 3.0

"""The conclusions diff on hand-made runs: studies, null crossings, ranks vs MC noise, tau."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from living_review.living import (
    LivingError,
    RunRecord,
    diff_runs,
    result_from_json,
)

NOT_OK = "R-hat 1.08 > 1.01 for tau"


def effect(hr: float, lo: float, hi: float, mcse: float | None = None) -> dict[str, Any]:
    """A relative effect as the result JSON holds it (log scale + natural)."""
    out: dict[str, Any] = {
        "mean": math.log(hr),
        "sd": 0.1,
        "q2.5": math.log(lo),
        "q50": math.log(hr),
        "q97.5": math.log(hi),
        "natural": {"median": hr, "q2.5": lo, "q97.5": hi},
    }
    if mcse is not None:
        out["mcse"] = mcse
    return out


def result(
    effects: dict[str, dict[str, Any]],
    sucra: dict[str, float],
    *,
    mcse: dict[str, float] | None = None,
    tau: tuple[float, float] | None = None,
    nodesplit: list[dict[str, Any]] | None = None,
    converged: bool = True,
) -> dict[str, Any]:
    trts = ["placebo", *effects]
    out: dict[str, Any] = {
        "engine": "bayes",
        "model": "re",
        "status": "ok" if converged else "not_converged",
        "converged": converged,
        "measure": "HR",
        "scale": "log HR",
        "reference": "placebo",
        "treatments": trts,
        "ranking_direction": "lower is better",
        "relative_effects": effects,
        "tau": None
        if tau is None
        else {"mean": tau[0], "sd": 0.05, "q2.5": 0.0, "q50": tau[0], "q97.5": 0.3, "mcse": tau[1]},
        "sucra": sucra,
        "ranking_method": "SUCRA",
        "ranking": {t: {"sucra": s, "mean_rank": 1 + 2 * (1 - s)} for t, s in sucra.items()},
        "league_table": [],
        "diagnostics": {"converged": converged, "messages": [] if converged else [NOT_OK]},
        "dic": None,
        "network": {},
        "timing_seconds": {},
    }  # fmt: skip
    if mcse is not None:
        out["sucra_mcse"] = mcse
    if nodesplit is not None:
        out["nodesplit_frequentist"] = nodesplit
    return out


def run(
    rid: int,
    version: int,
    studies: dict[str, str],
    res: dict[str, Any],
    *,
    settings_hash: str = "s1",
) -> RunRecord:
    return RunRecord(
        id=rid,
        outcome="OS",
        version=version,
        engine="bayes",
        created_at=datetime(2026, 11, 21, tzinfo=UTC),
        trigger="manual",
        studies=sorted(studies),
        data_hash="d" + "".join(sorted(studies.values())),
        settings={"seed": 1},
        seed=1,
        converged=res["converged"],
        diagnostics=res["diagnostics"],
        result=res,
        predecessor_id=rid - 1 if rid > 1 else None,
        settings_hash=settings_hash,
        study_hashes=studies,
    )


BASE_STUDIES = {"KEYNOTE-240": "a", "REACH": "b", "REACH-2": "c"}
MCSE = {"placebo": 0.004, "pembrolizumab": 0.006, "ramucirumab": 0.006}


def v3() -> RunRecord:
    res = result(
        {"pembrolizumab": effect(0.78, 0.66, 0.92), "ramucirumab": effect(0.82, 0.70, 1.02)},
        {"placebo": 0.05, "pembrolizumab": 0.60, "ramucirumab": 0.85},
        mcse=MCSE,
        tau=(0.05, 0.002),
    )
    return run(3, 3, BASE_STUDIES, res)


def test_added_study_null_crossing_and_readable_summary() -> None:
    res = result(
        {"pembrolizumab": effect(0.78, 0.69, 0.89), "ramucirumab": effect(0.82, 0.71, 0.97)},
        {"placebo": 0.05, "pembrolizumab": 0.61, "ramucirumab": 0.84},
        mcse=MCSE,
        tau=(0.051, 0.002),
    )
    cur = run(4, 4, {**BASE_STUDIES, "KEYNOTE-394": "e"}, res)
    d = diff_runs(v3(), cur)
    assert (d.studies_added, d.studies_removed, d.studies_changed) == (["KEYNOTE-394"], [], [])
    by = {e.treatment: e for e in d.effects}
    assert by["ramucirumab"].flag == "now excludes the null"
    assert by["ramucirumab"].excludes_null_prev is False and by["ramucirumab"].excludes_null_cur
    assert by["pembrolizumab"].flag is None
    assert by["pembrolizumab"].prev == {"estimate": 0.78, "lower": 0.66, "upper": 0.92}
    # SUCRA moved by 0.01, inside 2 * sqrt(0.006^2 + 0.006^2) = 0.017: noise, ranks unchanged
    assert not d.ranks_changed and not any(r.beyond_noise for r in d.ranks)
    assert d.tau is not None and d.tau["changed"] is False
    assert d.summary() == (
        "OS v4 (bayes), +KEYNOTE-394: ramucirumab vs placebo HR 0.82 [0.70, 1.02] → "
        "0.82 [0.71, 0.97] (now excludes the null); pembrolizumab vs placebo HR "
        "0.78 [0.66, 0.92] → 0.78 [0.69, 0.89]; ranks unchanged"
    )
    js = d.as_json()
    assert js["studies_added"] == ["KEYNOTE-394"] and js["effects"][0]["treatment"]


def test_rank_change_beyond_noise_is_reported_and_within_noise_is_not() -> None:
    prev = v3()
    swapped = result(
        {"pembrolizumab": effect(0.70, 0.60, 0.80), "ramucirumab": effect(0.85, 0.70, 1.02)},
        {"placebo": 0.05, "pembrolizumab": 0.90, "ramucirumab": 0.55},
        mcse=MCSE,
        tau=(0.05, 0.002),
    )
    d = diff_runs(prev, run(4, 4, BASE_STUDIES, swapped))
    assert d.ranks_changed
    moved = {r.treatment: (r.rank_prev, r.rank_cur) for r in d.ranks if r.beyond_noise}
    assert moved == {"pembrolizumab": (2, 1), "ramucirumab": (1, 2)}
    assert "ranks: pembrolizumab 2→1, ramucirumab 1→2" in d.summary()
    # a swap of two near-equal SUCRAs within their MC error is not a rank change
    near = result(
        {"pembrolizumab": effect(0.78, 0.66, 0.92), "ramucirumab": effect(0.82, 0.70, 1.02)},
        {"placebo": 0.05, "pembrolizumab": 0.725, "ramucirumab": 0.72},
        mcse={"placebo": 0.004, "pembrolizumab": 0.01, "ramucirumab": 0.01},
    )
    prev_near = run(
        3,
        3,
        BASE_STUDIES,
        result(
            {"pembrolizumab": effect(0.78, 0.66, 0.92), "ramucirumab": effect(0.82, 0.70, 1.02)},
            {"placebo": 0.05, "pembrolizumab": 0.715, "ramucirumab": 0.73},
            mcse={"placebo": 0.004, "pembrolizumab": 0.01, "ramucirumab": 0.01},
        ),
    )
    d2 = diff_runs(prev_near, run(4, 4, BASE_STUDIES, near))
    assert not d2.ranks_changed and "ranks unchanged" in d2.summary()


def test_exact_pscores_use_the_printed_precision_as_the_threshold() -> None:
    a = result({"pembrolizumab": effect(0.78, 0.66, 0.92)}, {"placebo": 0.1, "pembrolizumab": 0.9})
    b = result(
        {"pembrolizumab": effect(0.78, 0.66, 0.92)}, {"placebo": 0.104, "pembrolizumab": 0.896}
    )
    d = diff_runs(run(1, 1, BASE_STUDIES, a), run(2, 2, BASE_STUDIES, b))
    assert not any(r.beyond_noise for r in d.ranks)
    assert d.summary() == "OS v2 (bayes): estimates unchanged; ranks unchanged"


def test_removed_changed_studies_settings_tau_and_new_inconsistency() -> None:
    split = [{"comparison": "pembrolizumab vs ramucirumab", "p": 0.01, "converged": True}]
    res = result(
        {"pembrolizumab": effect(0.90, 0.75, 1.08)},
        {"placebo": 0.2, "pembrolizumab": 0.8},
        mcse={"placebo": 0.004, "pembrolizumab": 0.004},
        tau=(0.20, 0.003),
        nodesplit=split,
    )
    cur = run(4, 4, {"KEYNOTE-240": "a", "REACH-2": "z"}, res, settings_hash="s2")
    d = diff_runs(v3(), cur)
    assert d.studies_removed == ["REACH"] and d.studies_changed == ["REACH-2"]
    assert d.settings_changed
    by = {e.treatment: e for e in d.effects}
    assert by["ramucirumab"].flag == "treatment removed" and by["ramucirumab"].cur is None
    assert by["pembrolizumab"].flag == "now includes the null"
    # a limit next to the null gets a third decimal, so the flag never reads as a contradiction
    near = effect(0.79, 0.62, 0.998)["natural"]
    by["pembrolizumab"].cur = {"estimate": near["median"], "lower": 0.62, "upper": 0.998}
    assert (
        by["pembrolizumab"]
        .text("HR", "placebo")
        .endswith("→ 0.79 [0.62, 0.998] (now includes the null)")
    )
    assert d.tau == {"prev": 0.05, "cur": 0.2, "noise": pytest.approx(0.0072, abs=1e-4),
                     "changed": True}  # fmt: skip
    assert d.new_inconsistency == [{"comparison": "pembrolizumab vs ramucirumab", "p": 0.01}]
    text = d.summary()
    assert text.startswith("OS v4 (bayes), -REACH, data of REACH-2 changed, settings changed: ")
    assert "tau 0.050 → 0.200" in text and "new inconsistency: pembrolizumab vs ramucirumab" in text
    # an inconsistency already present before is not new
    again = run(5, 5, {"KEYNOTE-240": "a", "REACH-2": "z"}, res, settings_hash="s2")
    assert diff_runs(cur, again).new_inconsistency == []


def test_a_run_that_did_not_converge_is_not_reported_as_a_conclusion() -> None:
    bad = result(
        {"pembrolizumab": effect(0.5, 0.1, 0.9), "ramucirumab": effect(0.82, 0.70, 1.02)},
        {"placebo": 0.05, "pembrolizumab": 0.95, "ramucirumab": 0.5},
        converged=False,
    )
    d = diff_runs(v3(), run(4, 4, BASE_STUDIES, bad))
    assert not d.reportable and d.messages == ["R-hat 1.08 > 1.01 for tau"]
    assert d.summary() == (
        "OS v4 (bayes): NOT CONVERGED (R-hat 1.08 > 1.01 for tau); not reported as a "
        "conclusion (the conclusions stand as of v3)"
    )


def test_first_run_and_mismatched_runs() -> None:
    d = diff_runs(None, v3())
    assert d.prev_run_id is None and d.studies_added == [] and not d.ranks_changed
    assert d.summary().startswith(
        "OS v3 (bayes) (no earlier converged run): pembrolizumab vs placebo HR 0.78 [0.66, 0.92]; "
    )
    first = v3()
    first.version = 1
    assert diff_runs(None, first).summary().startswith("OS v1 (bayes) (first run): ")
    other = v3()
    other.engine = "frequentist"
    with pytest.raises(LivingError, match="one outcome and engine"):
        diff_runs(other, v3())


def test_result_json_round_trips_to_the_engine_result() -> None:
    r = v3().nma_result()
    again = result_from_json(v3().result)
    assert r.reference == "placebo" and r.log_scale and not r.higher_is_better
    assert r.sucra == {"placebo": 0.05, "pembrolizumab": 0.60, "ramucirumab": 0.85}
    assert r.relative_effects["pembrolizumab"].natural()["median"] == pytest.approx(0.78)
    assert r.extra["sucra_mcse"] == MCSE and again.as_json()["sucra"] == r.sucra

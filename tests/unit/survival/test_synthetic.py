"""The synthetic example: its files are what the generator writes, and reconstructing them
recovers the simulated truth.

Tolerances (the "digitisation" has click noise: 0.04 months in time, 0.002 in S):

* Cox log HR within 0.15 of its true SE — the spec's perfect-digitisation run (§5) was 0.1 SE
  off; an error of that size changes no inference;
* ΔRMST (τ = 24 months) within 0.15 of its true SE, RMST per arm within 0.25 months;
* events within 2% of the truth (with the published totals given);
* medians: the true KM at the reconstructed median within 0.02 of 0.5. A median is where the
  curve crosses 0.5; where the curve is flat there a tiny error in S moves it by months, so the
  honest check is in S, not in time (the absolute differences are printed by ``lsr km``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from living_review.survival.digitised import read_curves
from living_review.survival.estimates import cox_hr, median_survival, rmst2
from living_review.survival.guyot import km_step, reconstruct
from living_review.survival.service import example_dir
from living_review.survival.synthetic import SEED, simulate_trials, write_example


def manifest() -> dict:
    return json.loads((example_dir() / "manifest.json").read_text())


def test_package_files_are_the_generators_output(tmp_path: Path) -> None:
    write_example(tmp_path, SEED)
    for f in sorted(example_dir().glob("*.csv")) + [example_dir() / "manifest.json"]:
        assert (tmp_path / f.name).read_text() == f.read_text(), f.name
    got = json.loads((tmp_path / "truth.json").read_text())
    want = json.loads((example_dir() / "truth.json").read_text())
    assert got.keys() == want.keys()
    for study in got:
        for k, v in want[study].items():
            assert got[study][k] == pytest.approx(v, rel=1e-9), (study, k)
    assert manifest()["synthetic"] is True
    assert "synthetic" in (example_dir() / "README.md").read_text().lower()


@pytest.mark.parametrize("entry", manifest()["studies"], ids=lambda e: e["study"])
def test_reconstruction_recovers_the_simulated_truth(entry: dict) -> None:
    folder = example_dir()
    truth = json.loads((folder / "truth.json").read_text())[entry["study"]]
    patients = simulate_trials(SEED)[entry["study"]]
    curves = read_curves(
        folder / entry["points"], folder / entry["at_risk"], total_events=entry["total_events"]
    )
    a1, a0 = entry["arms"]
    r1, r0 = reconstruct(curves[a1]), reconstruct(curves[a0])
    hr = cox_hr(r1.ipd.time, r1.ipd.event, r0.ipd.time, r0.ipd.event)
    assert abs(hr["log_hr"] - truth["log_hr"]) < 0.15 * truth["se_log_hr"]
    r = rmst2(r1.ipd.time, r1.ipd.event, r0.ipd.time, r0.ipd.event, tau=truth["tau"])
    assert abs(r.diff - truth["drmst"]) < 0.15 * truth["drmst_se"]
    assert r.arm1.rmst == pytest.approx(truth["rmst_1"], abs=0.25)
    assert r.arm0.rmst == pytest.approx(truth["rmst_0"], abs=0.25)
    assert abs(r1.ipd.events - truth["events_1"]) <= 0.02 * truth["events_1"]
    assert abs(r0.ipd.events - truth["events_0"]) <= 0.02 * truth["events_0"]
    for rec, (t, e) in ((r1, patients[0]), (r0, patients[1])):
        med = median_survival(rec.ipd.time, rec.ipd.event)
        assert med is not None
        s_true = km_step(t, e.astype(np.int64), np.array([med - 1e-9, med]))
        # the true curve crosses 0.5 within 0.02 of the reconstructed median's step
        assert s_true[0] >= 0.5 - 0.02 and s_true[1] <= 0.5 + 0.02
        assert rec.diagnostics["mean_abs_error"] < 0.005

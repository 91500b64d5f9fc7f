"""Network reading and validation: formats, multi-arm covariance, clear errors, connectivity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from living_review.nma.data import NMADataError, network_from_records, read_network
from living_review.nma.frequentist import fit_frequentist


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_contrast_file_with_multi_arm_covariance(shared: Path) -> None:
    net = read_network(shared / "nma-reference" / "data" / "senn2013_contrast.csv", "contrast")
    assert net.reference == "placebo"  # the first treat2 (netmeta's comparator)
    assert net.n_studies == 26 and net.n_treatments == 10
    willms = next(s for s in net.contrast_studies if s.study == "3")
    assert willms.treatments == ("placebo", "metformin", "acarbose")  # order of appearance
    cov = willms.cov_matrix
    # off-diagonal = variance of the baseline arm = (se_ab^2 + se_cb^2 - se_ac^2) / 2
    v = (0.466949472415**2 + 0.375802818804**2 - 0.357852574339**2) / 2
    assert cov[0, 1] == pytest.approx(v) and cov[0, 0] == pytest.approx(0.375802818804**2)
    assert willms.y == pytest.approx((-1.2, -1.0))


def test_treatment_file_fixes_order_and_reference(shared: Path) -> None:
    d = shared / "nma-reference" / "data"
    net = read_network(d / "smoking_arm.csv", "arm-binary", treatments=d / "smoking_treatments.csv")
    assert net.treatments == ("No contact", "Self-help", "Individual counselling",
                              "Group counselling")  # fmt: skip
    assert net.measure == "OR" and net.log_scale
    assert sum(len(s.arms) > 2 for s in net.arm_studies) == 2


def test_rebasing_a_multi_arm_contrast_study_is_exact(shared: Path) -> None:
    net = read_network(shared / "nma-reference" / "data" / "senn2013_contrast.csv", "contrast")
    s = next(s for s in net.contrast_studies if s.study == "3")
    r = s.rebased(["metformin", "acarbose", "placebo"])
    assert r.treatments == ("metformin", "acarbose", "placebo")
    # acarbose vs metformin = -1.0 - (-1.2) = 0.2 and its variance is seTE^2 of that row
    assert r.y[0] == pytest.approx(0.2) and r.cov_matrix[0, 0] == pytest.approx(0.357852574339**2)
    assert r.y[1] == pytest.approx(1.2)


def test_mixed_arm_and_contrast_network_matches_the_arm_network(shared: Path) -> None:
    """TSD2 Program 8 style: studies 1-3 arm-level, 4-7 contrast-level, one network."""
    d = shared / "nma-reference" / "data"
    tf = d / "parkinsons_treatments.csv"
    arm = read_network(d / "parkinsons_arm.csv", "arm-continuous", treatments=tf)
    con = read_network(d / "parkinsons_contrast.csv", "contrast", treatments=tf)
    a_part = network_from_records(
        [
            {"study": s.study, "treatment": a.treatment, "n": a.n, "mean": a.mean, "sd": a.sd}
            for s in arm.arm_studies[:3]
            for a in s.arms
        ],
        "arm-continuous",
        treatments=arm.treatments,
    )
    rows = [r for r in _csv_rows(d / "parkinsons_contrast.csv") if int(r["study"]) > 3]
    c_part = network_from_records(rows, "contrast", treatments=arm.treatments)
    mixed = a_part.combine(c_part).with_order(arm.treatments)
    assert mixed.n_studies == 7 and mixed.arm_kind == "continuous"
    full = fit_frequentist(arm, model="fe")
    mix = fit_frequentist(mixed, model="fe")
    for t, s in full.relative_effects.items():
        assert mix.relative_effects[t].mean == pytest.approx(s.mean, abs=1e-9)
    assert fit_frequentist(con, model="fe").relative_effects["Cabergoline"].mean == (
        pytest.approx(full.relative_effects["Cabergoline"].mean, abs=1e-9)
    )


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("arm-binary", "study,treatment,n\n1,A,10\n", "missing column(s) events"),
        ("arm-binary", "study,treatment,n,events\n1,A,10,2\n1,B,10,x\n", "line 3"),
        ("arm-binary", "study,treatment,n,events\n1,A,10,2\n1,B,10,11\n", "between 0 and n"),
        ("arm-binary", "study,treatment,n,events\n1,A,10,2\n1,A,10,3\n", "twice"),
        ("arm-binary", "study,treatment,n,events\n1,A,10,2\n2,A,10,3\n2,B,9,1\n", "one arm"),
        ("arm-continuous", "study,treatment,n,mean,sd\n1,A,10,2,0\n1,B,10,1,1\n", "sd = 0"),
        ("contrast", "study,treat1,treat2,TE,seTE\n1,B,A,0.5,-1\n", "seTE"),
        (
            "contrast",
            "study,treat1,treat2,TE,seTE\n1,B,A,0.5,0.2\n1,C,A,0.3,0.2\n",
            "missing: B vs C",
        ),
        (
            "contrast",
            "study,treat1,treat2,TE,seTE\n1,B,A,0.5,0.2\n1,C,A,0.3,0.2\n1,C,B,0.0,0.2\n",
            "inconsistent multi-arm contrasts",
        ),
        (
            "contrast",
            "study,treat1,treat2,TE,seTE\n1,B,A,0.5,0.2\n1,C,A,0.3,0.2\n1,C,B,-0.2,0.3\n",
            "non-positive variance",
        ),
    ],
)
def test_errors_name_the_file_and_problem(
    tmp_path: Path, fmt: str, text: str, expected: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(NMADataError) as exc:
        read_network(p, fmt)  # type: ignore[arg-type]
    assert str(p) in str(exc.value) and expected in str(exc.value)


def test_disconnected_network_names_its_components(tmp_path: Path) -> None:
    p = write(
        tmp_path, "study,treatment,n,events\n1,A,9,1\n1,B,9,2\n2,C,9,1\n2,D,9,3\n3,E,9,1\n3,D,9,1\n"
    )
    with pytest.raises(NMADataError, match=r"2 components .*\{A, B\}; \{C, D, E\}"):
        read_network(p, "arm-binary")


def test_unknown_reference_and_missing_file(tmp_path: Path) -> None:
    p = write(tmp_path, "study,treatment,n,events\n1,A,9,1\n1,B,9,2\n")
    with pytest.raises(NMADataError, match="reference treatment 'Z'"):
        read_network(p, "arm-binary", reference="Z")
    with pytest.raises(NMADataError, match="file not found"):
        read_network(tmp_path / "nope.csv", "arm-binary")


def test_records_errors_name_the_record() -> None:
    with pytest.raises(NMADataError, match="record 2"):
        network_from_records(
            [{"study": 1, "treatment": "A", "n": 5, "events": 1},
             {"study": 1, "treatment": "B", "n": -5, "events": 1}],
            "arm-binary",
        )  # fmt: skip


def test_zero_cells_are_fine(tmp_path: Path) -> None:
    p = write(tmp_path, "study,treatment,n,events\n1,A,20,0\n1,B,20,3\n2,A,30,2\n2,B,30,5\n")
    res = fit_frequentist(read_network(p, "arm-binary"), model="fe")
    assert res.diagnostics["zero_cell_correction"] == ["1"]
    assert np.isfinite(res.relative_effects["B"].mean)


def test_importing_nma_does_not_import_pymc() -> None:
    code = (
        "import json, sys, living_review.nma, living_review.nma.bayes, "
        "living_review.nma.frequentist, living_review.cli_nma\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('pymc', 'pytensor', 'arviz', 'nutpie', 'numba'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []

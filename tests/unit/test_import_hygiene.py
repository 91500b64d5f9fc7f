"""The core never imports Textual, and importing it does not pull in PyMC or scikit-learn.

Checked in a subprocess: a static import graph (import-linter, also run in CI) cannot prove
that an import deferred into a function really stays deferred.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CORE_MODULES = [
    "living_review",
    "living_review.cli",
    "living_review.importing",
    "living_review.status",
    "living_review.searches",
    "living_review.workspace",
    "living_review.sources.registry",
    "living_review.nma",
    "living_review.nma.bayes",
    "living_review.rob2",
    "living_review.dedup.service",
    "living_review.screening.queue",
    "living_review.agreement",
    "living_review.prisma",
    "living_review.extraction.service",
    "living_review.cli_extract",
    "living_review.cli_km",
    "living_review.survival.service",
    "living_review.survival.pooling",
    "living_review.survival.plots",
]


def test_core_imports_no_textual_nor_pymc() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('textual', 'living_review_tui', 'pymc', 'pytensor', 'sklearn', 'matplotlib', "
        "'lifelines'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


def test_import_linter_contract() -> None:
    """import-linter's static check of the same rule (the pyproject ``importlinter`` contract)."""
    exe = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(exe), "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout

"""Crash safety: SIGKILL an import and a dedup pass at random moments, repeatedly.

After every kill the store is exactly as before, or as after a whole transaction (the
import, or the import and the dedup pass), SQLite's integrity check passes, and running the
same import and dedup again completes. ``benchmarks/concurrency.py --crash`` runs >= 20 kills
per engine; here a few per engine keep the suite quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from living_review.importing import RunInfo, import_records
from living_review.workspace import Workspace
from tests.integration.team_data import crash_rounds, make_records


@pytest.mark.slow
def test_sigkill_mid_import_or_dedup_leaves_a_whole_state(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_records(workspace.engine, make_records(200), RunInfo(database="pubmed"))
    out = crash_rounds(workspace, tmp_path, rounds=6, n_file=600, seed=7)
    assert out["corrupt"] == 0, out
    assert out["rerun_failures"] == 0, out
    assert out["kills"] >= 3, out  # most rounds must really kill a running child
    assert set(out["outcomes"]) <= {"before", "imported", "deduped"}

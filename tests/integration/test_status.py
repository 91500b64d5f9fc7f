"""The status report: counts derived from the store, and the next step it points to."""

from __future__ import annotations

from living_review.dedup.service import run_dedup
from living_review.importing import RunInfo, import_records
from living_review.sources.base import ParsedRecord
from living_review.status import review_status
from living_review.workspace import Workspace


def rec(key: str, title: str) -> ParsedRecord:
    return ParsedRecord(
        source_key=key, title=title, authors=["Zhu, A"], year=2019, journal="Lancet Oncol",
        volume="20", pages="282-296", doi="10.1016/S1470-2045(18)30937-9", raw=key,
    )  # fmt: skip


def test_counts_and_next_steps_follow_the_review(workspace: Workspace) -> None:
    st = review_status(workspace)
    assert st.records == 0 and any("search load" in s for s in st.next_steps)
    title = "Ramucirumab after sorafenib in patients with advanced hepatocellular carcinoma"
    import_records(workspace.engine, [rec("1", title)], RunInfo(database="pubmed"))
    import_records(workspace.engine, [rec("E1", title)], RunInfo(database="embase"))
    st = review_status(workspace)
    assert (st.identified_total, st.records, st.awaiting_dedup) == (2, 2, 2)
    assert any("remove duplicates: 2 records" in s for s in st.next_steps)
    run_dedup(workspace.engine)
    st = review_status(workspace)
    assert (st.duplicates_removed, st.unique_records, st.awaiting_dedup) == (1, 1, 0)
    assert any("screen titles and abstracts: 1 of 1" in s for s in st.next_steps)

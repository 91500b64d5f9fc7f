"""The import service: one transaction per run, links by accession, never merges across DBs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from living_review.errors import InputFileError, LsrError
from living_review.importing import RunInfo, import_records
from living_review.sources.base import ParsedRecord
from living_review.store.models import AuditEvent, Record, RecordSource, SearchRun
from living_review.workspace import Workspace


def rec(key: str | None, title: str, *, doi: str | None = None, raw: str = "") -> ParsedRecord:
    return ParsedRecord(source_key=key, title=title, doi=doi, raw=raw or f"raw {key} {title}")


def counts(ws: Workspace) -> tuple[int, int, int]:
    with Session(ws.engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Record)) or 0,
            s.scalar(select(func.count()).select_from(RecordSource)) or 0,
            s.scalar(select(func.count()).select_from(SearchRun)) or 0,
        )


def test_new_records_then_linked_by_accession(workspace: Workspace) -> None:
    first = import_records(
        workspace.engine, [rec("1", "A"), rec("2", "B")], RunInfo(database="embase")
    )
    assert (first.records_in_file, first.new_records, first.linked_records) == (2, 2, 0)
    second = import_records(
        workspace.engine, [rec("2", "B"), rec("3", "C")], RunInfo(database="embase")
    )
    assert (second.records_in_file, second.new_records, second.linked_records) == (2, 1, 1)
    assert counts(workspace) == (3, 4, 2)


def test_same_accession_other_database_is_not_merged(workspace: Workspace) -> None:
    import_records(workspace.engine, [rec("1", "A", doi="10.1/x")], RunInfo(database="embase"))
    res = import_records(workspace.engine, [rec("1", "A", doi="10.1/x")], RunInfo(database="wos"))
    assert res.new_records == 1
    assert counts(workspace)[0] == 2


def test_same_doi_is_never_merged_at_import(workspace: Workspace) -> None:
    """Conference abstracts in one supplement share a DOI: import must keep them apart."""
    res = import_records(
        workspace.engine,
        [rec("a1", "Abstract one", doi="10.1/supp"), rec("a2", "Abstract two", doi="10.1/supp")],
        RunInfo(database="embase"),
    )
    assert res.new_records == 2


def test_repeated_accession_within_one_file_is_one_record(workspace: Workspace) -> None:
    res = import_records(
        workspace.engine, [rec("7", "A"), rec("7", "A"), rec("8", "B")], RunInfo(database="wos")
    )
    assert (res.records_in_file, res.new_records, res.linked_records) == (3, 2, 1)
    assert counts(workspace) == (2, 2, 1)


def test_records_without_accession_are_each_kept(workspace: Workspace) -> None:
    res = import_records(
        workspace.engine, [rec(None, "A"), rec(None, "A")], RunInfo(database="other")
    )
    assert res.new_records == 2


def test_changed_raw_text_is_kept_on_the_link(workspace: Workspace) -> None:
    import_records(workspace.engine, [rec("1", "A", raw="v1")], RunInfo(database="embase"))
    import_records(workspace.engine, [rec("1", "A", raw="v2")], RunInfo(database="embase"))
    with Session(workspace.engine) as s:
        raws = s.scalars(select(col(RecordSource.raw)).order_by(col(RecordSource.id))).all()
        assert raws == [None, "v2"]
        assert s.scalar(select(col(Record.raw))) == "v1"


def test_failure_mid_stream_leaves_store_unchanged(workspace: Workspace) -> None:
    import_records(workspace.engine, [rec("1", "A")], RunInfo(database="embase"))
    before = counts(workspace)

    def broken() -> Iterator[ParsedRecord]:
        for i in range(5000):  # more than one batch is written before the error
            yield rec(f"k{i}", f"T{i}")
        raise InputFileError("x.ris", "record without ER", line=9, record=5001)

    with pytest.raises(InputFileError, match=r"x.ris, line 9, record 5001"):
        import_records(workspace.engine, broken(), RunInfo(database="embase"))
    assert counts(workspace) == before


def test_audit_event_per_import(workspace: Workspace) -> None:
    import_records(workspace.engine, [rec("1", "A")], RunInfo(database="embase", actor="ana"))
    with Session(workspace.engine) as s:
        ev = s.scalars(select(AuditEvent)).one()
    assert ev.action == "import" and ev.actor == "ana" and ev.detail["new_records"] == 1


def test_unknown_database(workspace: Workspace) -> None:
    with pytest.raises(LsrError, match="unknown database"):
        import_records(workspace.engine, [], RunInfo(database="medline!"))


def test_every_field_round_trips(workspace: Workspace) -> None:
    """Unicode text, lists and nested JSON come back exactly as parsed."""
    parsed = ParsedRecord(
        source_key="rt",
        title="Ünïcode “title” ✓",
        authors=["Müller, Jörg", "García, Ana"],
        year=2024,
        journal="J",
        pages="e1",
        doi="10.1/x",
        pmid="rt",
        publication_types=["Journal Article"],
        language="eng",
        flags=["erratum"],
        extra={"author_details": [{"LastName": "Müller"}], "n": 1, "nested": {"a": [None]}},
        raw="<PubmedArticle>é</PubmedArticle>",
    )
    import_records(workspace.engine, [parsed], RunInfo(database="pubmed"))
    with Session(workspace.engine) as s:
        back = s.scalars(select(Record).where(col(Record.source_key) == "rt")).one()
    for field in ("title", "authors", "year", "journal", "pages", "doi", "pmid", "flags",
                  "publication_types", "language", "extra", "raw"):  # fmt: skip
        assert getattr(back, field) == getattr(parsed, field), field

"""Fuzzed importers: structured mutations of small valid files, imported into a real store.

The property: importing any such file either succeeds or raises our clear error
(:class:`LsrError`, naming the file); nothing else escapes, and a refused file leaves the
store exactly as it was (every table's digest unchanged). CI runs a modest number of cases;
``benchmarks/fuzz.py`` runs >= 10,000 per importer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from living_review.errors import InputFileError, LsrError
from living_review.export import table_digests
from living_review.importing import import_file
from living_review.store import migrate
from living_review.store.engine import make_engine, sqlite_url
from tests.unit.fuzz_inputs import DATABASE, SEEDS, mutated

CASES = 30


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(sqlite_url(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_seed_files_import(fmt: str, store: Engine, tmp_path: Path) -> None:
    """The unmutated seeds are valid: every mutation starts from a file that imports."""
    path = tmp_path / f"seed.{fmt}"
    path.write_text(SEEDS[fmt], encoding="utf-8")
    result = import_file(store, path, database=DATABASE[fmt], fmt="auto")
    assert result.file_format == fmt and result.records_in_file == 2


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_mutated_files_raise_only_our_error_and_leave_the_store_alone(
    fmt: str, store: Engine, tmp_path: Path
) -> None:
    path = tmp_path / f"case.{fmt}"
    outcomes = {"imported": 0, "refused": 0}

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=mutated(fmt), auto=st.booleans())
    def check(data: bytes, auto: bool) -> None:
        path.write_bytes(data)
        before = table_digests(store)
        try:
            import_file(store, path, database=DATABASE[fmt], fmt="auto" if auto else fmt)
        except LsrError as exc:
            assert table_digests(store) == before, "a refused file changed the store"
            if isinstance(exc, InputFileError):
                assert exc.path in (str(path), "-")  # the message names the file
            outcomes["refused"] += 1
            return
        outcomes["imported"] += 1

    check()
    assert outcomes["imported"] + outcomes["refused"] >= CASES // 2


def test_csv_with_bare_carriage_returns_is_our_error(store: Engine, tmp_path: Path) -> None:
    """Found by the fuzzer: classic-Mac line endings made csv.Error escape from sniffing."""
    path = tmp_path / "mac.csv"
    path.write_bytes(SEEDS["csv"].replace("\n", "\r").encode("utf-8"))
    before = table_digests(store)
    for fmt in ("auto", "csv"):
        with pytest.raises(InputFileError, match="mac.csv"):
            import_file(store, path, database="other", fmt=fmt)
    assert table_digests(store) == before

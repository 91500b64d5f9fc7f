"""The protocol loader: valid protocols load; every error names the key and the line."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from living_review.errors import ProtocolError
from living_review.protocol import load_protocol, parse_protocol

TEMPLATE = files("living_review").joinpath("templates/review.toml").read_text("utf-8")
REPO = Path(__file__).resolve().parents[2]


def test_template_is_valid() -> None:
    p = parse_protocol(TEMPLATE)
    assert p.review.title == "A new living review"
    assert p.screening.mode == "dual"


def test_example_review_protocol_is_valid() -> None:
    p = load_protocol(REPO / "protocol" / "review.toml")
    assert p.outcome("os") is not None
    assert p.outcome("OS").measure == "HR"  # type: ignore[union-attr]
    assert p.nma is not None and p.treatment_for(p.nma.reference) == p.nma.reference


def _error(text: str) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, "review.toml")
    return str(info.value)


def test_unknown_key_names_key_and_line() -> None:
    text = TEMPLATE.replace('mode = "dual"', 'mode = "dual"\nmodee = "x"')
    line = text.splitlines().index('modee = "x"') + 1
    msg = _error(text)
    assert "screening.modee" in msg
    assert f"line {line}" in msg
    assert "unknown key" in msg


def test_bad_value_in_array_of_tables_names_entry_and_line() -> None:
    text = TEMPLATE.replace('measure = "OR"', 'measure = "XX"')
    line = text.splitlines().index('measure = "XX"') + 1
    msg = _error(text)
    assert "outcomes[0].measure" in msg
    assert f"line {line}" in msg


def test_missing_required_key() -> None:
    text = TEMPLATE.replace('population = "Describe the population"\n', "")
    msg = _error(text)
    assert "question.population" in msg and "missing" in msg


def test_toml_syntax_error_has_line() -> None:
    msg = _error(TEMPLATE.replace("[screening]", "[screening"))
    assert "invalid TOML" in msg and "line" in msg


def test_alias_clash_between_treatments() -> None:
    text = TEMPLATE.replace('name = "intervention"', 'name = "intervention"\naliases = ["CONTROL"]')
    msg = _error(text)
    assert "CONTROL" in msg and "also used by" in msg


def test_nma_reference_must_be_a_treatment() -> None:
    msg = _error(TEMPLATE + '\n[nma]\nreference = "nothing"\n')
    assert "nma.reference" in msg or "'nothing'" in msg


def test_treatment_lookup_by_alias() -> None:
    text = TEMPLATE.replace('name = "intervention"', 'name = "intervention"\naliases = ["Drug-X"]')
    p = parse_protocol(text)
    assert p.treatment_for("drug-x") == "intervention"
    assert p.treatment_for("unknown") is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no protocol file"):
        load_protocol(tmp_path / "review.toml")

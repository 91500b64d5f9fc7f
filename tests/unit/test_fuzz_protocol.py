"""Fuzzed protocol loader: any mutation of a valid protocol loads or raises ProtocolError.

Mutations are structured on TOML lines (drop, repeat, swap, rename a key, replace a value
with another TOML type, add a table, cut the file), so most cases are valid TOML that the
schema must judge; the error must name the key (and line) rather than escape as a crash.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from living_review.errors import LsrError, ProtocolError
from living_review.protocol import load_protocol, parse_protocol

SEED = """[review]
title = "An invented living review"
short_name = "invented"
living = true

[question]
population = "Adults with invented disease"
intervention = "Drug A"
comparator = "Placebo"
outcomes = "Overall survival"

[eligibility]
include = ["Randomised trial"]
exclude = ["Not randomised"]
include_terms = ["randomised"]

[[exclusion_reasons]]
code = "wrong-design"
label = "Wrong design"

[[outcomes]]
name = "os"
label = "Overall survival"
measure = "HR"
lower_is_better = true
primary = true

[[treatments]]
name = "placebo"
kind = "control"

[[treatments]]
name = "drug-a"
aliases = ["Drug A", "DA-1"]

[[reviewers]]
name = "ana"
role = "lead"

[screening]
mode = "dual"
dual_share = 0.5

[nma]
reference = "placebo"
model = "re"
tau_max = 5.0
chains = 2
"""

_VALUES = st.sampled_from(
    ['""', '"x"', "0", "-1", "1e999", "nan", "inf", "true", "[]", "[1, 2]", '["a", 1]', "{}",
     '{ a = 1 }', "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", '"""multi\nline"""',
     "'literal'", '"\\u0000"', '"' + "x" * 3000 + '"', "99999999999999999999", "0.0",
     '"lead"', '"reviewer"', '"boss"', '"OR"', '"XX"', '"single"', '"dual_sample"', '"re"']
)  # fmt: skip
_KEYS = st.sampled_from(
    ["title", "name", "role", "code", "label", "measure", "mode", "reference", "include",
     "aliases", "kind", "dual_share", "chains", "unknown_key", '"quoted key"', "a.b", "x"]
)  # fmt: skip
_HEADERS = st.sampled_from(
    ["[review]", "[[outcomes]]", "[[treatments]]", "[[reviewers]]", "[nma]", "[screening]",
     "[eligibility]", "[[exclusion_reasons]]", "[search]", "[bogus]", "[review.sub]", "[[review]]",
     "[", "[[]]"]
)  # fmt: skip


@st.composite
def mutated_protocol(draw: st.DrawFn) -> str:
    """A valid protocol with 1-4 structured edits."""
    lines = SEED.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "repeat", "swap", "value", "key", "insert", "header",
                                   "cut", "text"]))  # fmt: skip
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, line)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value" and "=" in line:
            lines[i] = line[: line.index("=") + 1] + " " + draw(_VALUES)
        elif op == "key" and "=" in line:
            lines[i] = draw(_KEYS) + " =" + line[line.index("=") + 1 :]
        elif op == "insert":
            lines.insert(i, f"{draw(_KEYS)} = {draw(_VALUES)}")
        elif op == "header":
            lines.insert(i, draw(_HEADERS))
        elif op == "cut":
            lines = [*lines[:i], line[: draw(st.integers(0, len(line)))]]
        elif op == "text":
            lines[i] = line + draw(st.text(max_size=10))
    return "\n".join(lines)


def test_seed_protocol_is_valid() -> None:
    p = parse_protocol(SEED)
    assert p.nma is not None and p.nma.reference == "placebo"


@settings(max_examples=300, deadline=None, database=None)
@given(text=mutated_protocol())
def test_mutated_protocols_load_or_raise_protocol_error(text: str) -> None:
    try:
        parse_protocol(text, "review.toml")
    except ProtocolError as exc:
        assert str(exc).startswith("review.toml")  # names the file (and key, line)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=64), at=st.integers(0, len(SEED)))
def test_protocol_file_with_bad_bytes_raises_our_error(
    tmp_path: Path, data: bytes, at: int
) -> None:
    raw = SEED.encode("utf-8")
    path = tmp_path / "review.toml"
    path.write_bytes(raw[:at] + data + raw[at:])
    with contextlib.suppress(LsrError):  # our error, or a valid protocol
        load_protocol(path)

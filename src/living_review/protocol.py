"""Provides the review protocol (``protocol/review.toml``): its schema and its loader.

The protocol is the review's single source of settings: the question, eligibility, exclusion
reasons, outcomes, treatments and aliases, reviewers, screening and NMA settings. It is
validated strictly (unknown keys are errors, since a typo silently ignored is a setting
silently lost), and every error names the key and the line in the file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from living_review.errors import ProtocolError

PROTOCOL_PATH = Path("protocol") / "review.toml"

Measure = Literal["OR", "RR", "RD", "MD", "SMD", "HR"]
Role = Literal["lead", "reviewer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Strict):
    """The review question in PICO form, in the team's own words."""

    population: str
    intervention: str
    comparator: str
    outcomes: str
    study_design: str = "randomised controlled trials"
    setting: str | None = None


class Eligibility(_Strict):
    """Inclusion and exclusion criteria, and the terms screening highlights."""

    include: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    include_terms: list[str] = Field(default_factory=list)
    """Words highlighted in the include colour while screening (and used as a cold-start prior)."""
    exclude_terms: list[str] = Field(default_factory=list)
    """Words highlighted in the exclude colour while screening."""


class ExclusionReason(_Strict):
    """A reason a full-text report may be excluded; PRISMA box H counts by these."""

    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    label: str


class Outcome(_Strict):
    """An outcome the review analyses, with its effect measure and direction."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    label: str
    measure: Measure
    lower_is_better: bool
    """True for harms and hazards (HR of death): a smaller effect ranks better."""
    primary: bool = False


class Treatment(_Strict):
    """A treatment node of the network, with the names reports use for it."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: Literal["active", "control"] = "active"


class ReviewerEntry(_Strict):
    """A reviewer named in the protocol (more can be added with ``lsr reviewer add``)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
    role: Role = "reviewer"


class Screening(_Strict):
    """How many reviewers screen each record, and what counts as a conflict."""

    mode: Literal["single", "dual", "dual_sample"] = "dual"
    dual_share: Annotated[float, Field(gt=0, le=1)] = 1.0
    """With ``dual_sample``: the random share of records screened by two reviewers."""
    maybe_is_conflict: bool = True
    prioritise: bool = True


class Search(_Strict):
    """Settings for the saved searches in ``searches/`` and the live PubMed client."""

    databases: list[str] = Field(default_factory=lambda: ["pubmed"])
    email: str | None = None
    """E-utilities asks for a contact e-mail; the NCBI_EMAIL environment variable overrides."""
    tool: str = "living-review"
    start_date: str | None = None
    """First publication date the strategy covers (YYYY/MM/DD), if limited."""


class NMASettings(_Strict):
    """Network meta-analysis settings (TSD2 defaults)."""

    reference: str
    model: Literal["fe", "re"] = "re"
    d_prior_sd: Annotated[float, Field(gt=0)] = 100.0
    tau_prior: Literal["uniform", "half_normal"] = "uniform"
    tau_max: Annotated[float, Field(gt=0)] = 5.0
    """Upper bound of the uniform prior on tau (or the half-normal's scale)."""
    chains: Annotated[int, Field(ge=1)] = 4
    tune: Annotated[int, Field(ge=100)] = 1000
    draws: Annotated[int, Field(ge=100)] = 1000
    seed: int = 20260101
    sampler: Literal["auto", "exact", "nutpie", "pymc"] = "auto"
    """``auto``: exact independent draws for all-normal outcomes (contrasts such as hazard
    ratios, arm means), nutpie's NUTS for binary arms; ``nutpie``/``pymc`` force NUTS."""
    exclude_rob: list[Literal["high", "some_concerns"]] = Field(default_factory=list)
    """RoB 2 sensitivity analysis: leave out results whose final (consensus) overall RoB 2
    judgement for the outcome is one of these. Results not yet assessed stay in (and are named
    in the run's warnings): absence of an assessment is not evidence of bias."""


class ReviewInfo(_Strict):
    """What the review is called and asks."""

    title: str
    short_name: str
    registration: str | None = None
    living: bool = True


class Protocol(_Strict):
    """The whole protocol; see ``protocol/review.toml`` in the example review."""

    review: ReviewInfo
    question: Question
    eligibility: Eligibility
    exclusion_reasons: list[ExclusionReason] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    treatments: list[Treatment] = Field(min_length=2)
    reviewers: list[ReviewerEntry] = Field(default_factory=list)
    screening: Screening = Field(default_factory=Screening)
    search: Search = Field(default_factory=Search)
    nma: NMASettings | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Protocol:
        _unique(self.outcomes, "outcomes", "name")
        _unique(self.exclusion_reasons, "exclusion_reasons", "code")
        _unique(self.reviewers, "reviewers", "name")
        seen: dict[str, str] = {}
        for i, t in enumerate(self.treatments):
            for alias in [t.name, *t.aliases]:
                key = alias.casefold()
                if key in seen and seen[key] != t.name:
                    raise ValueError(
                        f"treatments[{i}]: name or alias {alias!r} is also used by {seen[key]!r}"
                    )
                seen[key] = t.name
        if self.nma is not None and self.nma.reference.casefold() not in seen:
            raise ValueError(f"nma.reference {self.nma.reference!r} is not a listed treatment")
        return self

    def treatment_for(self, name: str) -> str | None:
        """Return the canonical treatment for a name or alias (case-insensitive), else None."""
        key = name.strip().casefold()
        for t in self.treatments:
            if key == t.name.casefold() or key in (a.casefold() for a in t.aliases):
                return t.name
        return None

    def outcome(self, name: str) -> Outcome | None:
        """Return the outcome called ``name`` (case-insensitive), else None."""
        return next((o for o in self.outcomes if o.name.casefold() == name.casefold()), None)


def _unique(items: list[Any], where: str, attr: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr).casefold()
        if value in seen:
            raise ValueError(f"{where}[{i}].{attr} {getattr(item, attr)!r} is repeated")
        seen.add(value)


# --- loading, with errors that name the key and the line --------------------------------------


def load_protocol(path: Path) -> Protocol:
    """Read and validate a protocol file; raise :class:`ProtocolError` naming key and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(f"{path}: no protocol file (run 'lsr init' to create one)") from None
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    return parse_protocol(text, path)


def parse_protocol(text: str, path: Path | str = "review.toml") -> Protocol:
    """Validate protocol TOML text; errors name the file, the dotted key and its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{path}: invalid TOML: {exc}") from None
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        key = _dotted(loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against the protocol schema)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        line = _line_of(text, loc)
        where = f"{path}, line {line}" if line else str(path)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ProtocolError(f"{where}: {key or '(top level)'}: {msg}{more}") from None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Find the line where the key at ``loc`` is written (best effort, for error messages).

    tomllib does not report positions of keys, and no maintained TOML library exposes them,
    so we walk the table headers: ``[a.b]`` / ``[[a]]`` (counting array-of-tables entries)
    then ``key =`` lines inside the table found.
    """
    lines = text.splitlines()
    path: list[str] = []
    for part in loc:
        if isinstance(part, int):
            if path:
                path[-1] = f"{path[-1]}#{part}"
        else:
            path.append(str(part))
    counts: dict[str, int] = {}
    best: int | None = None
    current = ""
    header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")
    keyline = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")
    for i, line in enumerate(lines, start=1):
        m = header.match(line)
        if m:
            name = m.group(2).replace('"', "")
            if m.group(1) == "[[":
                n = counts.get(name, 0)
                counts[name] = n + 1
                name = f"{name}#{n}"
            current = name
            if _matches(current, path):
                best = i
            continue
        k = keyline.match(line)
        if k:
            full = f"{current}.{k.group(1).strip(chr(34))}" if current else k.group(1)
            if _matches(full, path):
                best = i
                if full == ".".join(path):
                    return i
    return best


def _matches(name: str, path: list[str]) -> bool:
    parts = name.split(".")
    return parts == path[: len(parts)]

"""Provides the checks and conversions of extracted values, one rule per function.

Every rule returns :class:`Issue` objects (an ``error`` refuses the value, a ``warning`` is
shown and stored with it) whose message names the study, the outcome, the arm(s) and the field,
so a reviewer can go straight back to the page the number came from.

Conversions to the analysis scale, stated once here and used everywhere (store, CLI, NMA):

* Ratio measures (HR, OR, RR) are analysed on the log scale:
  ``TE = ln(estimate)`` and, from a 95% confidence interval,
  ``SE = (ln(upper) - ln(lower)) / (2 * 1.959964)``; 1.959964 is the 97.5% normal quantile
  (for another level L, the (1 + L) / 2 quantile is used).
  A standard error entered directly (``se``) must already be the SE of ``ln(estimate)``.
* Difference measures (MD, SMD, RD): ``TE = estimate``, ``SE = (upper - lower) / (2 * 1.959964)``.
* Arm-level continuous data given with an SE of the mean: ``SD = SE * sqrt(n)``.

Why the SE comes from the CI width and not from one half of it: reported limits are rounded,
so the two halves differ slightly; the full width averages that rounding out. A large
difference between the halves on the log scale (beyond :data:`ASYMMETRY_TOLERANCE`) is a
warning: it usually means a typo, a CI of another quantity, or a CI on the wrong scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

from living_review.errors import LsrError
from living_review.protocol import Outcome, Protocol

#: The 97.5% quantile of the standard normal (a 95% CI is estimate +- Z95 * SE).
Z95 = 1.959964

#: Largest accepted relative asymmetry of a CI around its estimate on the analysis scale,
#: |(hi - est) - (est - lo)| / (hi - lo), before a warning (rounded limits stay well below).
ASYMMETRY_TOLERANCE = 0.10

LOG_MEASURES = frozenset({"HR", "OR", "RR"})
CONTRAST_MEASURES = ("HR", "OR", "RR", "MD", "SMD", "RD")

#: What each kind of value holds. ``arm``: a randomised arm (n optional: not every report
#: gives it); ``total``: randomised in the whole report; ``binary``/``continuous``: arm-level
#: outcome data; ``contrast``: an effect estimate with a CI or SE; ``median``, ``percent`` and
#: ``estimate`` (an effect with no CI or SE): descriptive only, never analysed; ``extra``: a
#: further field the team records (any value).
KINDS = (
    "arm",
    "total",
    "binary",
    "continuous",
    "contrast",
    "median",
    "percent",
    "estimate",
    "extra",
)
ARM_KINDS = frozenset({"arm", "binary", "continuous", "median", "percent"})
CONTRAST_KINDS = frozenset({"contrast", "estimate"})
OUTCOME_KINDS = frozenset({"binary", "continuous", "contrast", "median", "percent", "estimate"})
ANALYSED_KINDS = frozenset({"binary", "continuous", "contrast"})

_FIELDS: dict[str, tuple[set[str], set[str]]] = {  # kind -> (required, optional)
    "arm": (set(), {"n"}),
    "total": ({"n"}, set()),
    "binary": ({"events", "n"}, set()),
    "continuous": ({"mean", "n"}, {"sd", "se"}),
    "contrast": ({"measure", "estimate"}, {"lower", "upper", "se", "level"}),
    "estimate": ({"measure", "estimate"}, set()),
    "median": ({"value"}, {"lower", "upper", "unit"}),
    "percent": ({"value"}, {"n"}),
    "extra": ({"value"}, set()),
}
_TEXT_FIELDS = frozenset({"measure", "unit"})

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One finding about a value: ``error`` (refused) or ``warning`` (kept, shown)."""

    level: Level
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        """Return the issue as plain data."""
        return asdict(self)


class ExtractionError(LsrError):
    """An extracted value or action that cannot be accepted; the message says what to fix."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        self.issues = issues or []
        super().__init__(message)


def errors(issues: list[Issue]) -> list[Issue]:
    """The error-level issues of ``issues``."""
    return [i for i in issues if i.level == "error"]


def raise_errors(issues: list[Issue]) -> None:
    """Raise :class:`ExtractionError` listing every error in ``issues`` (if any)."""
    bad = errors(issues)
    if bad:
        raise ExtractionError("; ".join(i.message for i in bad), bad)


# --- values: parsing -------------------------------------------------------------------------


def normalise_values(kind: str, values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Return ``values`` with numbers as numbers (text from the CLI is parsed).

    Raises :class:`ExtractionError` for an unknown kind, an unknown or missing field, or a
    value that is not a number where one is needed. Empty values are dropped (not given).
    """
    if kind not in _FIELDS:
        raise ExtractionError(f"{where}: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    required, optional = _FIELDS[kind]
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in required | optional:
            allowed = ", ".join(sorted(required | optional))
            raise ExtractionError(f"{where}: {kind} has no field {key!r} (fields: {allowed})")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if kind == "extra" or key in _TEXT_FIELDS:
            out[key] = raw.strip().upper() if key == "measure" else raw
            continue
        out[key] = _number(raw, f"{where}: {key}")
    missing = sorted(required - out.keys())
    if missing:
        raise ExtractionError(f"{where}: {kind} needs {', '.join(missing)}")
    return out


def _number(raw: Any, what: str) -> float | int:
    if isinstance(raw, bool):
        raise ExtractionError(f"{what} = {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ExtractionError(f"{what} = {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ExtractionError(f"{what} = {raw!r} is not a finite number")
    return int(value) if value.is_integer() and not _has_point(raw) else value


def _has_point(raw: Any) -> bool:
    """Keep "0.710" a float and "197" an int, as written."""
    return isinstance(raw, float) or (isinstance(raw, str) and any(c in raw for c in ".eE"))


# --- values: the rules -----------------------------------------------------------------------


def check_value(
    kind: str,
    values: Mapping[str, Any],
    *,
    where: str,
    outcome: Outcome | None = None,
    tolerance: float = ASYMMETRY_TOLERANCE,
) -> list[Issue]:
    """Every rule that applies to one value of ``kind`` (already normalised)."""
    issues: list[Issue] = []
    if kind in OUTCOME_KINDS and outcome is None:
        issues.append(Issue("error", "outcome", f"{where}: a {kind} value needs an outcome"))
    if kind in ("arm", "total", "binary", "continuous", "percent") and "n" in values:
        issues += check_n(values["n"], where=where)
    if kind == "binary":
        issues += check_events(values["events"], values["n"], where=where)
    elif kind == "continuous":
        issues += check_spread(values, where=where)
    elif kind in CONTRAST_KINDS:
        issues += check_measure(values["measure"], outcome, where=where)
        if kind == "contrast":
            issues += check_contrast(values, where=where, tolerance=tolerance)
    elif kind == "median":
        issues += check_interval(values, "value", where=where, positive=False)
        if values["value"] < 0:
            issues.append(Issue("error", "value", f"{where}: median {values['value']} < 0"))
    elif kind == "percent" and not 0 <= values["value"] <= 100:
        issues.append(
            Issue("error", "value", f"{where}: percent = {values['value']} is not in 0-100")
        )
    if outcome is not None and kind in ("binary", "continuous"):
        fits = ("OR", "RR", "RD") if kind == "binary" else ("MD", "SMD")
        if outcome.measure not in fits:
            issues.append(
                Issue(
                    "error",
                    "kind",
                    f"{where}: outcome {outcome.name} is analysed as {outcome.measure}, so it "
                    f"takes {'contrast' if outcome.measure == 'HR' else 'other'} data, not "
                    f"arm-level {kind} data",
                )
            )
    return issues


def check_n(n: float, *, where: str, field: str = "n") -> list[Issue]:
    """A number of participants is a whole number above zero."""
    if n <= 0 or n != int(n):
        return [Issue("error", field, f"{where}: {field} = {n} must be a whole number above 0")]
    return []


def check_events(events: float, n: float, *, where: str) -> list[Issue]:
    """Events are a whole number between 0 and n."""
    if events != int(events) or events < 0:
        return [Issue("error", "events", f"{where}: events = {events} must be a whole number >= 0")]
    if events > n:
        return [Issue("error", "events", f"{where}: events = {events:g} exceed n = {n:g}")]
    return []


def check_spread(values: Mapping[str, Any], *, where: str) -> list[Issue]:
    """A continuous arm has exactly one of SD or SE, and it is above zero."""
    given = [k for k in ("sd", "se") if k in values]
    if len(given) != 1:
        return [Issue("error", "sd", f"{where}: give either sd or se for the arm mean (one)")]
    key = given[0]
    if values[key] <= 0:
        return [Issue("error", key, f"{where}: {key} = {values[key]} must be > 0")]
    return []


def check_measure(measure: str, outcome: Outcome | None, *, where: str) -> list[Issue]:
    """The effect measure is known and is the one the protocol analyses the outcome with."""
    if measure not in CONTRAST_MEASURES:
        return [
            Issue(
                "error",
                "measure",
                f"{where}: measure {measure!r} is not one of {', '.join(CONTRAST_MEASURES)}",
            )
        ]
    if outcome is not None and measure != outcome.measure:
        return [
            Issue(
                "error",
                "measure",
                f"{where}: outcome {outcome.name} is analysed as {outcome.measure} in the "
                f"protocol, not {measure}",
            )
        ]
    return []


def check_interval(
    values: Mapping[str, Any], est_key: str, *, where: str, positive: bool
) -> list[Issue]:
    """A CI has both limits, lower < upper, and contains the estimate (ratios: all > 0)."""
    has_lo, has_hi = "lower" in values, "upper" in values
    if has_lo != has_hi:
        return [Issue("error", "lower", f"{where}: a CI needs both lower and upper")]
    if not has_lo:
        return []
    est, lo, hi = values[est_key], values["lower"], values["upper"]
    if positive and min(est, lo, hi) <= 0:
        return [
            Issue(
                "error",
                est_key,
                f"{where}: a ratio and its CI must be > 0 (got {est} [{lo}, {hi}])",
            )
        ]
    if not lo < hi:
        return [Issue("error", "lower", f"{where}: CI lower {lo} is not below upper {hi}")]
    if not lo <= est <= hi:
        return [Issue("error", est_key, f"{where}: the CI [{lo}, {hi}] does not contain {est}")]
    return []


def check_contrast(
    values: Mapping[str, Any], *, where: str, tolerance: float = ASYMMETRY_TOLERANCE
) -> list[Issue]:
    """An effect estimate: a CI containing it (asymmetry warned), or an SE above zero."""
    log = values["measure"] in LOG_MEASURES
    issues: list[Issue] = []
    if log and values["estimate"] <= 0:
        issues.append(
            Issue(
                "error",
                "estimate",
                f"{where}: {values['measure']} = {values['estimate']} must be > 0",
            )
        )
    has_ci = "lower" in values or "upper" in values
    if "se" in values:
        if has_ci:
            issues.append(Issue("error", "se", f"{where}: give a CI or an SE, not both"))
        elif values["se"] <= 0:
            issues.append(Issue("error", "se", f"{where}: se = {values['se']} must be > 0"))
        return issues
    if not has_ci:
        return [
            *issues,
            Issue(
                "error",
                "lower",
                f"{where}: an effect estimate needs a 95% CI or an SE "
                "(without either, enter it as kind 'estimate': descriptive only)",
            ),
        ]
    level = values.get("level", 0.95)
    if not 0.5 <= level < 1:
        issues.append(Issue("error", "level", f"{where}: CI level {level} must be in [0.5, 1)"))
    issues += check_interval(values, "estimate", where=where, positive=log)
    if errors(issues):
        return issues
    asym = ci_asymmetry(values["estimate"], values["lower"], values["upper"], log=log)
    if asym > tolerance:
        scale = "log scale" if log else "analysis scale"
        issues.append(
            Issue(
                "warning",
                "upper",
                f"{where}: the CI [{values['lower']}, {values['upper']}] is asymmetric around "
                f"{values['estimate']} on the {scale} ({asym:.0%} of its width; tolerance "
                f"{tolerance:.0%}): check the numbers",
            )
        )
    return issues


def ci_asymmetry(est: float, lo: float, hi: float, *, log: bool) -> float:
    """|(hi - est) - (est - lo)| / (hi - lo) on the analysis scale (0 = symmetric)."""
    if log:
        est, lo, hi = math.log(est), math.log(lo), math.log(hi)
    return abs((hi - est) - (est - lo)) / (hi - lo)


def check_treatment(protocol: Protocol, name: str, *, where: str) -> tuple[str | None, list[Issue]]:
    """Map an arm name to the protocol's treatment (through aliases); unknown is an error."""
    canonical = protocol.treatment_for(name)
    if canonical is None:
        known = ", ".join(t.name for t in protocol.treatments)
        return None, [
            Issue(
                "error",
                "treatment",
                f"{where}: treatment {name!r} is not in the protocol (names or aliases of: "
                f"{known}); add it or an alias to protocol/review.toml",
            )
        ]
    return canonical, []


def check_arm_sizes(
    sizes: Mapping[str, float | None], total: float | None, *, where: str, complete: bool
) -> list[Issue]:
    """Arm sizes add up to the report's total randomised, where a total is given.

    While values are being entered (``complete=False``) only arms adding up to *more* than the
    total is an error (another arm may still be coming); on data declared complete (final
    values, ``complete=True``) any difference is an error.
    """
    if total is None:
        return []
    known = {t: n for t, n in sizes.items() if n is not None}
    s = sum(known.values())
    parts = " + ".join(f"{t} {n:g}" for t, n in known.items()) or "no arm sizes"
    if s > total:
        return [
            Issue(
                "error",
                "n",
                f"{where}: arm sizes ({parts} = {s:g}) exceed the total randomised {total:g}",
            )
        ]
    if s != total and (complete and len(known) == len(sizes)):
        return [
            Issue(
                "error",
                "n",
                f"{where}: arm sizes ({parts} = {s:g}) do not add up to the "
                f"total randomised {total:g}",
            )
        ]
    if s != total and len(known) == len(sizes) and sizes:
        return [
            Issue(
                "warning",
                "n",
                f"{where}: arm sizes so far ({parts} = {s:g}) are below the "
                f"total randomised {total:g}",
            )
        ]
    return []


# --- conversions -----------------------------------------------------------------------------


def z_for(level: float = 0.95) -> float:
    """The normal quantile of a two-sided ``level`` CI (1.959964 for 95%)."""
    return Z95 if level == 0.95 else NormalDist().inv_cdf((1 + level) / 2)


def contrast_te_se(values: Mapping[str, Any]) -> tuple[float, float]:
    """The effect on the analysis scale and its SE (see the module docstring for the formulas).

    Ratios: ``TE = ln(estimate)``, ``SE = (ln(upper) - ln(lower)) / (2 * 1.959964)``;
    differences: ``TE = estimate``, ``SE = (upper - lower) / (2 * 1.959964)``; or the entered
    ``se`` (already on the analysis scale).
    """
    log = values["measure"] in LOG_MEASURES
    est = float(values["estimate"])
    te = math.log(est) if log else est
    if "se" in values:
        return te, float(values["se"])
    lo, hi = float(values["lower"]), float(values["upper"])
    width = (math.log(hi) - math.log(lo)) if log else (hi - lo)
    return te, width / (2 * z_for(float(values.get("level", 0.95))))


def arm_sd(values: Mapping[str, Any]) -> float:
    """The SD of a continuous arm: as entered, or ``SE * sqrt(n)``."""
    if "sd" in values:
        return float(values["sd"])
    return float(values["se"]) * math.sqrt(float(values["n"]))

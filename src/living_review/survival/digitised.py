"""Provides :class:`DigitisedCurve` and the readers of digitised Kaplan-Meier data.

A *digitised curve* is what a reviewer reads off a published figure with a digitiser
(WebPlotDigitizer, DigitizeIt, ScanIt, ...): the clicked ``(t, S(t))`` points of one arm, the
numbers-at-risk table printed under the plot, and optionally the arm's total events. The
reconstruction (:mod:`living_review.survival.guyot`) is only as good as these inputs, so they are
checked here with errors that name the file and line:

* curve CSV: columns ``time`` and ``survival`` (header aliases ``t``/``x`` and
  ``s``/``surv``/``y``; a headerless two-column export is read as time, survival), optional
  ``arm`` column to hold several arms in one file. Survival on ``[0, 1]`` or in percent
  (detected when any value exceeds 1.5, or forced with ``scale``).
* at-risk CSV: columns ``time`` and ``n_risk`` (aliases ``n``, ``at_risk``), optional ``arm``;
  the first time must be 0 and its count is the arm size.

Small digitiser jitter is repaired as IPDfromKM's ``preprocess()`` does (clip to the axes, make S
non-increasing, keep at most two reads per time, prepend (0, 1)); anything larger than
``tolerance`` is the user's error, not something to silently "fix".
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from living_review.errors import InputFileError, LsrError

Scale = Literal["auto", "proportion", "percent"]

#: Largest rise of S (on [0, 1]) or step back in time (as a fraction of the time range)
#: treated as digitiser jitter and repaired; anything larger is an error naming the line.
TOLERANCE = 0.02

_TIME = ("time", "t", "x", "months", "years")
_SURV = ("survival", "surv", "s", "s(t)", "y", "km", "probability")
_NRISK = ("n_risk", "n.risk", "nrisk", "at_risk", "n", "number_at_risk")


class DigitisedDataError(InputFileError):
    """A digitised curve or at-risk table cannot be used; names the file and line."""


class SurvivalError(LsrError):
    """A survival computation cannot be done with the data given (e.g. τ beyond follow-up)."""


@dataclass(frozen=True)
class DigitisedCurve:
    """One arm's digitised Kaplan-Meier curve with its numbers at risk.

    ``times``/``surv`` are the clicked points (after preprocessing: sorted, S on [0, 1],
    non-increasing, starting at (0, 1)). ``risk_times``/``risk_counts`` is the table under the
    plot (``risk_times[0] == 0``, ``risk_counts[0]`` = arm size); empty when not published.
    """

    arm: str
    times: tuple[float, ...]
    surv: tuple[float, ...]
    risk_times: tuple[float, ...] = ()
    risk_counts: tuple[int, ...] = ()
    total_events: int | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def n(self) -> int | None:
        """Arm size (the first number at risk), if known."""
        return self.risk_counts[0] if self.risk_counts else None

    def as_json(self) -> dict[str, Any]:
        """A JSON-serialisable copy (what the store keeps)."""
        return {
            "arm": self.arm,
            "points": [[t, s] for t, s in zip(self.times, self.surv, strict=True)],
            "at_risk": [[t, n] for t, n in zip(self.risk_times, self.risk_counts, strict=True)],
            "total_events": self.total_events,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DigitisedCurve:
        """Inverse of :meth:`as_json`."""
        pts = data.get("points") or []
        nar = data.get("at_risk") or []
        d = data.get("total_events")
        return cls(
            arm=str(data.get("arm", "")),
            times=tuple(float(p[0]) for p in pts),
            surv=tuple(float(p[1]) for p in pts),
            risk_times=tuple(float(r[0]) for r in nar),
            risk_counts=tuple(int(r[1]) for r in nar),
            total_events=None if d is None else int(d),
        )

    def sha256(self) -> str:
        """Hash of the inputs of a reconstruction (stored to tell when it must be re-run)."""
        blob = json.dumps(self.as_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


# --- reading ---------------------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Header (lower-cased) or None for a headerless numeric file, and (line, cells) rows."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            raw = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(fh), start=1)]
    except FileNotFoundError:
        raise DigitisedDataError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DigitisedDataError(path, f"not a text CSV file ({exc.reason})") from None
    raw = [(i, r) for i, r in raw if any(r)]
    if not raw:
        raise DigitisedDataError(path, "the file is empty")
    first = raw[0][1]
    try:
        [float(c) for c in first if c]
    except ValueError:
        return [c.lower() for c in first], raw[1:]
    return None, raw


def _col(header: Sequence[str], names: Sequence[str], path: Path, what: str) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise DigitisedDataError(path, f"no {what} column (expected one of {', '.join(names)})", line=1)


def _float(cell: str, path: Path, line: int, what: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise DigitisedDataError(path, f"{what} {cell!r} is not a number", line=line) from None
    if not math.isfinite(v):
        raise DigitisedDataError(path, f"{what} {cell!r} is not a finite number", line=line)
    return v


def _columns(path: Path, second: Sequence[str], what: str) -> list[tuple[int, str, float, str]]:
    """(line, arm, time, second cell) rows of a curve or at-risk file."""
    header, rows = _rows(path)
    if header is None:
        ti, vi, ai = 0, 1, None
    else:
        ti = _col(header, _TIME, path, "time")
        vi = _col(header, second, path, what)
        ai = header.index("arm") if "arm" in header else None
    out = []
    for line, cells in rows:
        if len(cells) <= max(ti, vi, ai or 0):
            raise DigitisedDataError(path, "too few columns", line=line)
        if not cells[ti] and not cells[vi]:
            continue  # a digitiser's empty row (IPDfromKM drops NA rows too)
        arm = cells[ai] if ai is not None else ""
        out.append((line, arm, _float(cells[ti], path, line, "time"), cells[vi]))
    if not out:
        raise DigitisedDataError(path, "no data rows")
    return out


def read_points(
    path: Path | str, *, scale: Scale = "auto", tolerance: float = TOLERANCE
) -> dict[str, tuple[list[float], list[float], list[int]]]:
    """Digitised points per arm: ``arm -> (times, survival on [0,1], file lines)``.

    Times must not step back by more than ``tolerance`` of the time range (a digitiser exports
    in time order; a larger step back means a mis-click or an unsorted file). Checks of S are
    in :func:`make_curve`, which knows the lines.
    """
    p = Path(path)
    rows = _columns(p, _SURV, "survival")
    vals = [(line, arm, t, _float(s, p, line, "survival")) for line, arm, t, s in rows]
    top = max(v[3] for v in vals)
    if scale == "percent" or (scale == "auto" and top > 1.5):
        vals = [(line, arm, t, s / 100.0) for line, arm, t, s in vals]
    arms: dict[str, tuple[list[float], list[float], list[int]]] = {}
    for line, arm, t, s in vals:
        ts, ss, ls = arms.setdefault(arm, ([], [], []))
        ts.append(t)
        ss.append(s)
        ls.append(line)
    for arm, (ts, _, ls) in arms.items():
        span = (max(ts) - min(ts)) or 1.0
        for k in range(1, len(ts)):
            if ts[k] < ts[k - 1] - tolerance * span:
                who = f" (arm {arm})" if arm else ""
                raise DigitisedDataError(
                    p,
                    f"time {ts[k]:g} is before the previous point's {ts[k - 1]:g}{who}; "
                    "digitised points must be in time order (sort the file by time)",
                    line=ls[k],
                )
    return arms


def read_at_risk(path: Path | str) -> dict[str, tuple[list[float], list[int], list[int]]]:
    """Numbers at risk per arm: ``arm -> (times, counts, file lines)``, checked.

    Times strictly increase from 0; counts are whole numbers that never increase.
    """
    p = Path(path)
    arms: dict[str, tuple[list[float], list[int], list[int]]] = {}
    for line, arm, t, cell in _columns(p, _NRISK, "n_risk"):
        v = _float(cell, p, line, "number at risk")
        if v < 0 or v != int(v):
            raise DigitisedDataError(
                p, f"number at risk {cell!r} is not a whole number >= 0", line=line
            )
        ts, ns, ls = arms.setdefault(arm, ([], [], []))
        if not ts and abs(t) > 1e-9:
            raise DigitisedDataError(
                p, f"the first at-risk time must be 0 (the arm size), not {t:g}", line=line
            )
        if ts and t <= ts[-1]:
            raise DigitisedDataError(
                p, f"at-risk time {t:g} does not come after {ts[-1]:g}", line=line
            )
        if ns and v > ns[-1]:
            raise DigitisedDataError(
                p,
                f"number at risk rises from {ns[-1]} to {int(v)} at time {t:g}; "
                "at-risk counts can only fall",
                line=line,
            )
        ts.append(t)
        ns.append(int(v))
        ls.append(line)
    for arm, (_, ns, ls) in arms.items():
        if ns[0] == 0:
            raise DigitisedDataError(p, f"arm {arm or '?'} has 0 patients at time 0", line=ls[0])
    return arms


# --- checking and preprocessing --------------------------------------------------------------


def make_curve(
    arm: str,
    times: Sequence[float],
    surv: Sequence[float],
    *,
    risk_times: Sequence[float] = (),
    risk_counts: Sequence[int] = (),
    total_events: int | None = None,
    source: str = "points",
    lines: Sequence[int] | None = None,
    tolerance: float = TOLERANCE,
) -> DigitisedCurve:
    """Check and preprocess one arm's points (IPDfromKM ``preprocess()`` steps 1, 3-5).

    Raises :class:`DigitisedDataError` (naming ``source`` and the line) when a value is off the
    axes or S rises by more than ``tolerance``: that is a mis-click or a wrong file, not noise.
    Isolated-outlier removal (IPDfromKM step 2) is not done: with the monotone repair below an
    outlier click can only lower the curve, and the reviewer sees it in the overlay plot.
    """
    where = list(lines) if lines is not None else list(range(1, len(times) + 1))
    if len(times) != len(surv):
        raise DigitisedDataError(source, "times and survival differ in length")
    if not times:
        raise DigitisedDataError(source, f"arm {arm!r} has no digitised points")
    span = (max(times) - min(times)) or 1.0
    pts: list[tuple[float, float]] = []
    notes: list[str] = []
    repaired = 0
    for k, (t, s) in enumerate(zip(times, surv, strict=True)):
        line = where[k]
        if t < -tolerance * span:
            raise DigitisedDataError(source, f"negative time {t:g}", line=line)
        if s < -tolerance or s > 1 + tolerance:
            raise DigitisedDataError(
                source, f"survival {s:g} is off the [0, 1] axis (percent? use scale)", line=line
            )
        t, s = max(t, 0.0), min(max(s, 0.0), 1.0)
        if pts and t < pts[-1][0]:
            t = pts[-1][0]  # jitter at a vertical drop (checked in read_points)
        if pts and s > pts[-1][1]:
            if s - pts[-1][1] > tolerance:
                raise DigitisedDataError(
                    source,
                    f"survival rises from {pts[-1][1]:g} to {s:g} at time {t:g}; a Kaplan-Meier "
                    "curve never rises (mis-click, or two arms mixed up?)",
                    line=line,
                )
            s = pts[-1][1]
            repaired += 1
        pts.append((t, s))
    if repaired:
        notes.append(f"{repaired} point(s) rising by <= {tolerance:g} set to the previous value")
    # drop exact duplicates; keep at most the top and bottom read at each time
    kept: list[tuple[float, float]] = []
    for t, s in pts:
        if kept and kept[-1] == (t, s):
            continue
        if len(kept) >= 2 and kept[-1][0] == t and kept[-2][0] == t:
            kept[-1] = (t, s)  # S is non-increasing, so this is the new bottom
            continue
        kept.append((t, s))
    if len(kept) < len(pts):
        notes.append(f"{len(pts) - len(kept)} duplicate read(s) dropped")
    if kept[0][0] > 0 or kept[0][1] < 1:
        if kept[0][0] == 0:
            kept[0] = (0.0, 1.0)
        else:
            kept.insert(0, (0.0, 1.0))
        notes.append("(0, 1) prepended")
    rt, rc = list(risk_times), [int(c) for c in risk_counts]
    if rc and total_events is not None and not 0 <= total_events <= rc[0]:
        raise DigitisedDataError(
            source, f"total events {total_events} must lie between 0 and the arm size {rc[0]}"
        )
    return DigitisedCurve(
        arm=arm,
        times=tuple(t for t, _ in kept),
        surv=tuple(s for _, s in kept),
        risk_times=tuple(rt),
        risk_counts=tuple(rc),
        total_events=total_events,
        notes=tuple(notes),
    )


def consistency_warnings(curve: DigitisedCurve) -> list[str]:
    """Where the at-risk table and the curve disagree beyond rounding (warnings, not errors).

    Between two at-risk times only events and censoring remove patients, so
    ``n_{i+1} <= n_i * S(t_{i+1}) / S(t_i)`` up to rounding and digitising error.
    """
    out: list[str] = []
    for i in range(1, len(curve.risk_times)):
        s0, s1 = surv_at(curve, curve.risk_times[i - 1]), surv_at(curve, curve.risk_times[i])
        if s0 <= 0:
            break
        bound = curve.risk_counts[i - 1] * s1 / s0
        if curve.risk_counts[i] > bound + 1 + 0.05 * curve.risk_counts[i - 1]:
            out.append(
                f"arm {curve.arm}: {curve.risk_counts[i]} at risk at t={curve.risk_times[i]:g} "
                f"but the curve allows at most ~{bound:.0f}; check the table and the points"
            )
    return out


def surv_at(curve: DigitisedCurve, t: float) -> float:
    """The digitised curve read as a step function: S at the last point with time <= t."""
    s = 1.0
    for tk, sk in zip(curve.times, curve.surv, strict=True):
        if tk > t:
            break
        s = sk
    return s


def read_curves(
    points: Path | str,
    at_risk: Path | str | None = None,
    *,
    total_events: Mapping[str, int] | None = None,
    scale: Scale = "auto",
    arm: str | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, DigitisedCurve]:
    """Read and check one figure's curves (one or several arms) with their at-risk table.

    ``arm`` names the arm of a file without an ``arm`` column (default: the file's stem).
    Arms in the at-risk file must match those of the points file.
    """
    pts = read_points(points, scale=scale, tolerance=tolerance)
    nar = read_at_risk(at_risk) if at_risk is not None else {}
    default = arm or Path(points).stem

    def name(a: str) -> str:
        return a or default

    if nar and {name(a) for a in nar} != {name(a) for a in pts}:
        raise DigitisedDataError(
            str(at_risk),
            f"arms {sorted(name(a) for a in nar)} do not match the points file's "
            f"{sorted(name(a) for a in pts)}",
        )
    events = dict(total_events or {})
    unknown = set(events) - {name(a) for a in pts}
    if unknown:
        raise SurvivalError(f"total events given for unknown arm(s): {', '.join(sorted(unknown))}")
    out: dict[str, DigitisedCurve] = {}
    nar_by_name = {name(a): v for a, v in nar.items()}
    for a, (ts, ss, ls) in pts.items():
        rt, rc, _ = nar_by_name.get(name(a), ([], [], []))
        out[name(a)] = make_curve(
            name(a),
            ts,
            ss,
            risk_times=rt,
            risk_counts=rc,
            total_events=events.get(name(a)),
            source=str(points),
            lines=ls,
            tolerance=tolerance,
        )
    return out


def with_total_events(curve: DigitisedCurve, events: int | None) -> DigitisedCurve:
    """The same curve with its published total events set (or cleared)."""
    return replace(curve, total_events=events)


def write_points(path: Path, curves: Iterable[DigitisedCurve]) -> None:
    """Write curves as ``arm,time,survival`` (the format :func:`read_points` reads)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "time", "survival"])
        for c in curves:
            for t, s in zip(c.times, c.surv, strict=True):
                w.writerow([c.arm, f"{t:.4f}", f"{s:.4f}"])


def write_at_risk(path: Path, curves: Iterable[DigitisedCurve]) -> None:
    """Write at-risk tables as ``arm,time,n_risk``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "time", "n_risk"])
        for c in curves:
            for t, n in zip(c.risk_times, c.risk_counts, strict=True):
                w.writerow([c.arm, f"{t:g}", n])

"""Provides :class:`Network`: the evidence of one NMA, read from CSV files or extraction rows.

Three data formats are accepted (those of ``shared/nma-reference/data``):

* ``arm-binary``: ``study, study_label, treatment, n, events`` (binomial, logit link; OR)
* ``arm-continuous``: ``study, study_label, treatment, n, mean, sd`` (normal, identity; MD)
* ``contrast``: ``study, study_label, treat1, treat2, TE, seTE`` where TE is treat1 *minus*
  treat2 (the netmeta convention). Multi-arm studies list all k(k-1)/2 contrasts.

Arm-level and contrast-level studies may be mixed in one network (:meth:`Network.combine`,
NICE DSU TSD2 Program 8 style), as long as the contrasts are on the scale of the arm model.

Conventions shared by both engines (and by the reference scripts' ``R/common.R``):

* ``Network.treatments[0]`` is the reference; the order of the others fixes the order of the
  basic parameters ``d[k]``.
* Within a study, the arm whose treatment comes first in ``Network.treatments`` is the study
  baseline (TSD2). Contrast studies store ``y[j]`` = effect of arm ``j+1`` vs the baseline and
  their covariance: ``Var(y_j) = seTE_j^2`` and, for multi-arm studies,
  ``Cov(y_j, y_l) = (seTE_jb^2 + seTE_lb^2 - seTE_jl^2) / 2`` = the variance of the baseline
  arm, which must be the same for every triangle (checked).

Every problem with the input is an :class:`NMADataError` naming the file and the line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from living_review.errors import InputFileError

DataFormat = Literal["arm-binary", "arm-continuous", "contrast"]
ArmKind = Literal["binary", "continuous"]
FORMATS: tuple[DataFormat, ...] = ("arm-binary", "arm-continuous", "contrast")

#: Effect measures analysed on the log scale (shown exponentiated on the natural scale).
LOG_MEASURES = frozenset({"OR", "RR", "HR"})
MEASURES = ("OR", "RR", "HR", "MD", "SMD", "RD")

_COLUMNS: dict[DataFormat, tuple[str, ...]] = {
    "arm-binary": ("study", "treatment", "n", "events"),
    "arm-continuous": ("study", "treatment", "n", "mean", "sd"),
    "contrast": ("study", "treat1", "treat2", "TE", "seTE"),
}

#: Tolerances of the multi-arm consistency checks (as in ``R/common.R``: 1e-6 on TE,
#: relative 1e-6 on the implied baseline-arm variance).
_TE_TOL = 1e-6
_VAR_RTOL = 1e-6


class NMADataError(InputFileError):
    """NMA input data are unusable; the message names the file and line (or the studies)."""


@dataclass(frozen=True)
class Arm:
    """One arm of an arm-level study."""

    treatment: str
    n: float
    events: float | None = None
    mean: float | None = None
    sd: float | None = None

    @property
    def se(self) -> float:
        """Standard error of the arm mean, sd / sqrt(n) (TSD2 Program 5 data)."""
        assert self.sd is not None
        return self.sd / math.sqrt(self.n)


@dataclass(frozen=True)
class ArmStudy:
    """An arm-level study; ``arms[0]`` is the study baseline."""

    study: str
    label: str
    kind: ArmKind
    arms: tuple[Arm, ...]
    line: int | None = None

    @property
    def treatments(self) -> tuple[str, ...]:
        """Treatments of the arms, baseline first."""
        return tuple(a.treatment for a in self.arms)


@dataclass(frozen=True)
class ContrastStudy:
    """A contrast-level study: effects of arms 2..k vs the baseline arm, with covariance.

    ``cov`` is the (k-1) x (k-1) within-study covariance of ``y``; for two-arm studies it is
    ``[[seTE^2]]``. ``arm_variance_baseline`` is the baseline arm's variance for multi-arm
    studies (the off-diagonal of ``cov``), ``None`` for two-arm studies.
    """

    study: str
    label: str
    treatments: tuple[str, ...]
    y: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    line: int | None = None

    @property
    def cov_matrix(self) -> npt.NDArray[np.float64]:
        """``cov`` as a numpy array."""
        return np.asarray(self.cov, dtype=float)

    def rebased(self, order: Sequence[str]) -> ContrastStudy:
        """The same study with its baseline chosen as the first of its arms in ``order``.

        Contrasts vs the new baseline b' are ``y'_j = y_j - y_b'`` (with ``y_b = 0``), a linear
        map A; the covariance transforms as ``A cov A^T``.
        """
        rank = {t: i for i, t in enumerate(order)}
        new = tuple(sorted(self.treatments, key=lambda t: rank[t]))
        if new == self.treatments:
            return self
        k = len(self.treatments)
        # full vector of arm effects relative to the old baseline: theta = B y, theta_0 = 0
        b = np.zeros((k, k - 1))
        b[1:, :] = np.eye(k - 1)
        pos = {t: i for i, t in enumerate(self.treatments)}
        a = np.zeros((k - 1, k - 1))
        for j, t in enumerate(new[1:]):
            a[j] = b[pos[t]] - b[pos[new[0]]]
        y = a @ np.asarray(self.y)
        cov = a @ self.cov_matrix @ a.T
        return replace(
            self,
            treatments=new,
            y=tuple(float(v) for v in y),
            cov=tuple(tuple(float(v) for v in row) for row in cov),
        )


@dataclass(frozen=True)
class Network:
    """The evidence network of one outcome.

    Attributes
    ----------
    treatments
        All treatments; ``treatments[0]`` is the reference.
    arm_studies, contrast_studies
        The studies, baselines first within each study.
    measure
        Effect measure of the analysis scale (``OR``, ``RR``, ``HR`` on the log scale; ``MD``...).
    source
        Where the data came from (a file path, or ``extractions``), for messages.
    """

    treatments: tuple[str, ...]
    arm_studies: tuple[ArmStudy, ...] = ()
    contrast_studies: tuple[ContrastStudy, ...] = ()
    measure: str = "MD"
    source: str = "<data>"
    notes: tuple[str, ...] = field(default=())

    # ----------------------------------------------------------------- properties
    @property
    def reference(self) -> str:
        """The reference treatment (``d[1] = 0``)."""
        return self.treatments[0]

    @property
    def arm_kind(self) -> ArmKind | None:
        """``binary`` or ``continuous`` when there are arm-level studies, else ``None``."""
        return self.arm_studies[0].kind if self.arm_studies else None

    @property
    def log_scale(self) -> bool:
        """Whether effects are analysed on the log scale (exponentiate for the natural scale)."""
        return self.measure in LOG_MEASURES

    @property
    def n_studies(self) -> int:
        """Number of studies."""
        return len(self.arm_studies) + len(self.contrast_studies)

    @property
    def n_treatments(self) -> int:
        """Number of treatments."""
        return len(self.treatments)

    def study_treatments(self) -> list[tuple[str, ...]]:
        """Treatments of every study (arm studies first), baseline first."""
        return [s.treatments for s in self.arm_studies] + [
            s.treatments for s in self.contrast_studies
        ]

    def edges(self) -> dict[tuple[str, str], int]:
        """Number of studies comparing each pair of treatments directly (pairs in order)."""
        rank = {t: i for i, t in enumerate(self.treatments)}
        out: dict[tuple[str, str], int] = {}
        for ts in self.study_treatments():
            for i, a in enumerate(ts):
                for b in ts[i + 1 :]:
                    key = (a, b) if rank[a] < rank[b] else (b, a)
                    out[key] = out.get(key, 0) + 1
        return out

    def patients(self) -> dict[str, float | None]:
        """Patients randomised per treatment (arm-level studies only; ``None`` if unknown)."""
        out: dict[str, float | None] = dict.fromkeys(self.treatments)
        for s in self.arm_studies:
            for a in s.arms:
                out[a.treatment] = (out[a.treatment] or 0.0) + a.n
        return out

    # ----------------------------------------------------------------- transforms
    def with_reference(self, reference: str) -> Network:
        """The same network with ``reference`` moved to the front (studies re-based)."""
        if reference not in self.treatments:
            raise NMADataError(
                self.source,
                f"reference treatment {reference!r} is not in the network "
                f"(treatments: {', '.join(self.treatments)})",
            )
        order = (reference,) + tuple(t for t in self.treatments if t != reference)
        return self.with_order(order)

    def with_order(self, order: Sequence[str]) -> Network:
        """The same network with treatments in ``order`` (``order[0]`` = reference)."""
        if sorted(order) != sorted(self.treatments):
            raise NMADataError(self.source, "treatment order must list every treatment once")
        rank = {t: i for i, t in enumerate(order)}
        arm = tuple(
            replace(s, arms=tuple(sorted(s.arms, key=lambda a: rank[a.treatment])))
            for s in self.arm_studies
        )
        con = tuple(s.rebased(order) for s in self.contrast_studies)
        return replace(self, treatments=tuple(order), arm_studies=arm, contrast_studies=con)

    def combine(self, other: Network) -> Network:
        """Merge two networks (e.g. arm-level and contrast-level studies of one outcome).

        The measures must agree, and arm-level studies must all be of one kind. Study ids must
        be distinct. The reference of ``self`` is kept.
        """
        if self.measure != other.measure:
            raise NMADataError(
                other.source,
                f"cannot combine {self.measure} data with {other.measure} data",
            )
        if self.arm_kind and other.arm_kind and self.arm_kind != other.arm_kind:
            raise NMADataError(other.source, "cannot combine binary and continuous arm data")
        ids = {s.study for s in self.arm_studies} | {s.study for s in self.contrast_studies}
        other_ids = [s.study for s in other.arm_studies] + [s.study for s in other.contrast_studies]
        clash = [sid for sid in other_ids if sid in ids]
        if clash:
            raise NMADataError(other.source, f"study ids also in {self.source}: {clash[:5]}")
        order = self.treatments + tuple(t for t in other.treatments if t not in self.treatments)
        net = Network(
            treatments=order,
            arm_studies=self.arm_studies + other.arm_studies,
            contrast_studies=self.contrast_studies + other.contrast_studies,
            measure=self.measure,
            source=f"{self.source} + {other.source}",
            notes=self.notes + other.notes,
        ).with_order(order)
        check_connected(net)
        return net

    # ----------------------------------------------------------------- model inputs
    def contrast_index(self) -> ContrastIndex:
        """Index arrays of every contrast "arm k vs study baseline" (arm studies first)."""
        rank = {t: i for i, t in enumerate(self.treatments)}
        study: list[int] = []
        base: list[int] = []
        trt: list[int] = []
        for i, ts in enumerate(self.study_treatments()):
            for t in ts[1:]:
                study.append(i)
                base.append(rank[ts[0]])
                trt.append(rank[t])
        return ContrastIndex(
            study=np.asarray(study, dtype=np.int64),
            base=np.asarray(base, dtype=np.int64),
            treatment=np.asarray(trt, dtype=np.int64),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for display (studies, treatments, multi-arm studies, arms) and the comparisons."""
        sizes = [len(t) for t in self.study_treatments()]
        return {
            "studies": self.n_studies,
            "treatments": self.n_treatments,
            "multi_arm_studies": sum(1 for k in sizes if k > 2),
            "arms": sum(sizes),
            "reference": self.reference,
            "measure": self.measure,
            # Kept with each stored run, so its network can be drawn as it was analysed.
            "comparisons": [[a, b, n] for (a, b), n in self.edges().items()],
        }


@dataclass(frozen=True)
class ContrastIndex:
    """For every contrast (arm vs study baseline): its study, baseline and treatment index."""

    study: npt.NDArray[np.int64]
    base: npt.NDArray[np.int64]
    treatment: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.study.shape[0])


# --------------------------------------------------------------------------- reading
def read_network(
    path: Path | str,
    fmt: DataFormat,
    *,
    reference: str | None = None,
    treatments: Sequence[str] | Path | str | None = None,
    measure: str | None = None,
) -> Network:
    """Read a network from a CSV file in one of the reference formats.

    Parameters
    ----------
    path
        The CSV file.
    fmt
        ``arm-binary``, ``arm-continuous`` or ``contrast``.
    reference
        The reference treatment. Default: the first entry of ``treatments`` when given, else
        the first treatment of the file (arm formats) or the first ``treat2`` (contrast format;
        netmeta's "treat1 vs treat2" puts the comparator second).
    treatments
        Treatment order (a list, or a ``code,treatment`` CSV such as
        ``smoking_treatments.csv``); it fixes the order of ``d[k]`` and the study baselines.
        Default: reference first, then order of first appearance.
    measure
        Effect measure: OR for ``arm-binary`` (fixed), MD for ``arm-continuous`` (fixed),
        and for ``contrast`` one of MD (default), OR, RR, HR, SMD, RD.
    """
    p = Path(path)
    if fmt not in FORMATS:
        raise NMADataError(p, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise NMADataError(p, "file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NMADataError(p, f"not a readable CSV file ({exc})") from None
    missing = [c for c in _COLUMNS[fmt] if c not in header]
    if missing:
        raise NMADataError(
            p,
            f"missing column(s) {', '.join(missing)} for format {fmt} "
            f"(header: {', '.join(header) or 'none'})",
            line=1,
        )
    order = _read_treatment_order(treatments) if treatments is not None else None
    return build_network(
        rows, fmt, source=str(p), reference=reference, treatments=order, measure=measure
    )


def network_from_records(
    records: Iterable[Mapping[str, Any]],
    fmt: DataFormat,
    *,
    source: str = "extractions",
    reference: str | None = None,
    treatments: Sequence[str] | None = None,
    measure: str | None = None,
) -> Network:
    """Build a network from dict rows with the CSV columns (e.g. from stored extractions).

    Errors name ``source`` and the record number (1-based).
    """
    rows = [(i, dict(r)) for i, r in enumerate(records, start=1)]
    return build_network(
        rows,
        fmt,
        source=source,
        reference=reference,
        treatments=treatments,
        measure=measure,
        line_is_record=True,
    )


def _read_treatment_order(spec: Sequence[str] | Path | str) -> list[str]:
    """A treatment order from a list, or from a ``code,treatment`` CSV (sorted by code)."""
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        try:
            with p.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            raise NMADataError(p, "treatments file not found") from None
        if not rows or "treatment" not in rows[0]:
            raise NMADataError(p, "treatments file needs a 'treatment' column", line=1)
        if "code" in rows[0]:
            try:
                rows.sort(key=lambda r: float(r["code"]))
            except ValueError:
                raise NMADataError(p, "'code' must be numeric") from None
        return [r["treatment"].strip() for r in rows]
    return [str(t) for t in spec]


def build_network(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    fmt: DataFormat,
    *,
    source: str,
    reference: str | None = None,
    treatments: Sequence[str] | None = None,
    measure: str | None = None,
    line_is_record: bool = False,
) -> Network:
    """Validate ``(line, row)`` pairs and build the network (see :func:`read_network`)."""

    def err(message: str, line: int | None = None) -> NMADataError:
        if line_is_record:
            return NMADataError(source, message, record=line)
        return NMADataError(source, message, line=line)

    if not rows:
        raise err("no data rows")
    measure = _check_measure(fmt, measure, err)

    # group rows by study, keeping file order
    studies: dict[str, list[tuple[int, dict[str, str]]]] = {}
    seen_order: list[str] = []
    for line, raw in rows:
        row = {str(k).strip(): ("" if v is None else str(v).strip()) for k, v in raw.items() if k}
        sid = row.get("study", "")
        if not sid:
            raise err("empty 'study'", line)
        studies.setdefault(sid, []).append((line, row))
        for col in ("treatment", "treat2", "treat1"):
            t = row.get(col, "")
            if t and t not in seen_order:
                seen_order.append(t)

    order = _treatment_order(seen_order, rows, fmt, reference, treatments, source, err)
    rank = {t: i for i, t in enumerate(order)}

    arm_studies: list[ArmStudy] = []
    contrast_studies: list[ContrastStudy] = []
    notes: list[str] = []
    for sid, srows in studies.items():
        label = srows[0][1].get("study_label") or sid
        if fmt == "contrast":
            contrast_studies.append(_contrast_study(sid, label, srows, rank, err))
        else:
            arm_studies.append(_arm_study(sid, label, srows, rank, fmt, err))
    net = Network(
        treatments=tuple(order),
        arm_studies=tuple(arm_studies),
        contrast_studies=tuple(contrast_studies),
        measure=measure,
        source=source,
        notes=tuple(notes),
    )
    check_connected(net)
    return net


def _check_measure(fmt: DataFormat, measure: str | None, err: Any) -> str:
    fixed = {"arm-binary": "OR", "arm-continuous": "MD"}
    if fmt in fixed:
        if measure not in (None, fixed[fmt]):
            raise err(f"format {fmt} is analysed as {fixed[fmt]}, not {measure}")
        return fixed[fmt]
    m = (measure or "MD").upper()
    if m not in MEASURES:
        raise err(f"unknown effect measure {measure!r}; use one of {', '.join(MEASURES)}")
    return m


def _treatment_order(
    seen: list[str],
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    fmt: DataFormat,
    reference: str | None,
    treatments: Sequence[str] | None,
    source: str,
    err: Any,
) -> list[str]:
    if treatments is not None:
        order = [t for t in treatments if t in seen]
        unknown = [t for t in seen if t not in treatments]
        if unknown:
            raise err(f"treatment(s) not in the treatment list: {', '.join(unknown)}")
    else:
        order = list(seen)
        if fmt == "contrast":
            # netmeta convention: treat2 is the comparator; the first one is the natural reference
            first_t2 = str(rows[0][1].get("treat2", "")).strip()
            if first_t2 in order:
                order.remove(first_t2)
                order.insert(0, first_t2)
    if reference is not None:
        if reference not in order:
            raise NMADataError(
                source,
                f"reference treatment {reference!r} is not in the data "
                f"(treatments: {', '.join(order)})",
            )
        order.remove(reference)
        order.insert(0, reference)
    return order


def _num(row: Mapping[str, str], col: str, line: int, err: Any) -> float:
    raw = row.get(col, "")
    try:
        value = float(raw)
    except ValueError:
        raise err(f"{col} = {raw!r} is not a number", line) from None
    if not math.isfinite(value):
        raise err(f"{col} = {raw!r} is not a finite number", line)
    return value


def _arm_study(
    sid: str,
    label: str,
    srows: list[tuple[int, dict[str, str]]],
    rank: dict[str, int],
    fmt: DataFormat,
    err: Any,
) -> ArmStudy:
    arms: list[Arm] = []
    seen: set[str] = set()
    for line, row in srows:
        t = row["treatment"]
        if not t:
            raise err("empty 'treatment'", line)
        if t in seen:
            raise err(f"study {label!r} has treatment {t!r} twice", line)
        seen.add(t)
        n = _num(row, "n", line, err)
        if n <= 0:
            raise err(f"n = {n:g} must be positive", line)
        if fmt == "arm-binary":
            r = _num(row, "events", line, err)
            if r < 0 or r > n:
                raise err(f"events = {r:g} must lie between 0 and n = {n:g}", line)
            if r != int(r) or n != int(n):
                raise err("events and n must be whole numbers", line)
            arms.append(Arm(t, n=n, events=r))
        else:
            mean = _num(row, "mean", line, err)
            sd = _num(row, "sd", line, err)
            if sd <= 0:
                raise err(f"sd = {sd:g} must be positive", line)
            arms.append(Arm(t, n=n, mean=mean, sd=sd))
    if len(arms) < 2:
        raise err(f"study {label!r} has only one arm", srows[0][0])
    arms.sort(key=lambda a: rank[a.treatment])
    kind: ArmKind = "binary" if fmt == "arm-binary" else "continuous"
    return ArmStudy(study=sid, label=label, kind=kind, arms=tuple(arms), line=srows[0][0])


def _contrast_study(
    sid: str,
    label: str,
    srows: list[tuple[int, dict[str, str]]],
    rank: dict[str, int],
    err: Any,
) -> ContrastStudy:
    first = srows[0][0]
    pairs: dict[tuple[str, str], tuple[float, float, int]] = {}  # (a, b) -> (TE a-b, se, line)
    for line, row in srows:
        t1, t2 = row["treat1"], row["treat2"]
        if not t1 or not t2:
            raise err("empty 'treat1' or 'treat2'", line)
        if t1 == t2:
            raise err(f"treat1 and treat2 are both {t1!r}", line)
        te = _num(row, "TE", line, err)
        se = _num(row, "seTE", line, err)
        if se <= 0:
            raise err(f"seTE = {se:g} must be positive", line)
        if (t1, t2) in pairs or (t2, t1) in pairs:
            raise err(f"study {label!r} lists the contrast {t1} vs {t2} twice", line)
        pairs[(t1, t2)] = (te, se, line)

    def get(a: str, b: str) -> tuple[float, float]:
        """Effect of a vs b and its SE."""
        if (a, b) in pairs:
            te, se, _ = pairs[(a, b)]
            return te, se
        te, se, _ = pairs[(b, a)]
        return -te, se

    codes = sorted({t for ab in pairs for t in ab}, key=lambda t: rank[t])
    k = len(codes)
    if len(pairs) != k * (k - 1) // 2:
        missing = [
            f"{a} vs {b}"
            for i, a in enumerate(codes)
            for b in codes[i + 1 :]
            if (a, b) not in pairs and (b, a) not in pairs
        ]
        raise err(
            f"study {label!r} has {k} arms, so it must list all {k * (k - 1) // 2} pairwise "
            f"contrasts; missing: {', '.join(missing)}",
            first,
        )
    base = codes[0]
    y: list[float] = [get(t, base)[0] for t in codes[1:]]
    ses: list[float] = [get(t, base)[1] for t in codes[1:]]
    cov = np.diag(np.square(ses))
    if k > 2:
        # Var(baseline arm) from every triangle (b, j, l): (se_jb^2 + se_lb^2 - se_jl^2) / 2
        vs: list[float] = []
        for j in range(1, k):
            for m in range(j + 1, k):
                te_ml, se_ml = get(codes[m], codes[j])
                hit = pairs.get((codes[m], codes[j]), pairs.get((codes[j], codes[m])))
                lno = hit[2] if hit else first
                if abs((y[m - 1] - y[j - 1]) - te_ml) > _TE_TOL:
                    raise err(
                        f"study {label!r}: inconsistent multi-arm contrasts: "
                        f"{codes[m]} vs {codes[j]} is {te_ml:g} but "
                        f"({codes[m]} vs {base}) - ({codes[j]} vs {base}) = "
                        f"{y[m - 1] - y[j - 1]:g}",
                        lno,
                    )
                vs.append((ses[j - 1] ** 2 + ses[m - 1] ** 2 - se_ml**2) / 2)
        v = float(np.mean(vs))
        if max(vs) - min(vs) > _VAR_RTOL * max(abs(x) for x in vs):
            raise err(
                f"study {label!r}: inconsistent multi-arm standard errors (the implied "
                f"variance of the {base} arm differs between contrasts: "
                f"{min(vs):.6g} to {max(vs):.6g})",
                first,
            )
        if v <= 0:
            raise err(
                f"study {label!r}: the standard errors imply a non-positive variance "
                f"({v:.4g}) for the {base} arm",
                first,
            )
        cov = cov + v * (1 - np.eye(k - 1))
        if np.linalg.eigvalsh(cov).min() <= 0:
            raise err(f"study {label!r}: the contrast covariance is not positive definite", first)
    return ContrastStudy(
        study=sid,
        label=label,
        treatments=tuple(codes),
        y=tuple(y),
        cov=tuple(tuple(float(x) for x in row) for row in cov),
        line=first,
    )


def check_connected(net: Network) -> None:
    """Raise :class:`NMADataError` naming the components when the network is disconnected."""
    import networkx as nx  # deferred: networkx costs ~0.2 s at import

    g = nx.Graph()
    g.add_nodes_from(net.treatments)
    g.add_edges_from(net.edges())
    parts = [sorted(c, key=net.treatments.index) for c in nx.connected_components(g)]
    if len(parts) > 1:
        parts.sort(key=lambda c: net.treatments.index(c[0]))
        named = "; ".join(f"{{{', '.join(c)}}}" for c in parts)
        raise NMADataError(
            net.source,
            f"the network is disconnected: {len(parts)} components that no study links: "
            f"{named}. Analyse them separately or add evidence that connects them",
        )

"""Writes the report (``report.md`` with ``figures/``, or one ``report.html``) all or nothing.

Everything is first written to a hidden temporary folder inside the output folder and moved
into place only when every figure and the document are done, so a failure (a full disk, a
figure that cannot be drawn) never leaves half a report, or a report pointing at figures of
another version. An output path that is a file, or a folder that cannot be created or written,
is a clear :class:`~living_review.report.build.ReportError` before anything is drawn.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from living_review.report.build import ReportData, ReportError, build_report
from living_review.workspace import Workspace

FORMATS: tuple[str, ...] = ("md", "html")
FIGURES = "figures"
#: Marks a figures folder as written by ``lsr report`` (so a rerun may replace it).
MARKER = ".lsr-report"


@dataclass
class WrittenReport:
    """What :func:`write_report` wrote."""

    path: Path
    format: str
    figures: list[Path]
    """Figure files next to a Markdown report (none for HTML: its figures are embedded)."""
    embedded: int
    """Figures embedded in an HTML report."""
    data: ReportData = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        """``lsr report --json``: the files written and what each section holds."""
        return {
            "path": str(self.path),
            "format": self.format,
            "figures": [str(p) for p in self.figures],
            "embedded_figures": self.embedded,
            "sections": self.data.summary(),
        }


def _prepare(out: Path) -> bool:
    """Check (and create) the output folder; True when this call created it."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out}: is a file, not a folder; give a folder for the report")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ReportError(f"--out {out}: {parent} is a file, not a folder")
            break
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(
            f"--out {out}: cannot create the folder ({exc.strerror or exc})"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        _cleanup(out, created)
        raise ReportError(f"--out {out}: the folder is not writable")
    return created


def _cleanup(out: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out, ignore_errors=True)


def write_report(
    ws: Workspace, *, fmt: str = "html", out: Path | None = None, data: ReportData | None = None
) -> WrittenReport:
    """Build (unless ``data`` is given) and write the report into ``out`` (default ``report/``).

    Markdown: ``report.md`` and its PNG figures in ``figures/`` next to it (the folder is
    replaced as a whole). HTML: one ``report.html`` with the figures embedded.
    """
    if fmt not in FORMATS:
        raise ReportError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    from living_review.report.document import blocks
    from living_review.report.figures import draw_figures
    from living_review.report.html import render_html
    from living_review.report.markdown import render_markdown

    out = Path(out) if out is not None else ws.root / "report"
    created = _prepare(out)
    tmp: Path | None = None
    try:
        data = data if data is not None else build_report(ws)
        tmp = Path(tempfile.mkdtemp(prefix=".lsr-report-", dir=out))
        figs = draw_figures(data, _mkdir(tmp / FIGURES))
        doc = blocks(data, figs)
        name = f"report.{fmt}"
        if fmt == "md":
            text = render_markdown(doc, figs)
        else:
            text = render_html(doc, figs, title=data.title)
        (tmp / name).write_text(text, encoding="utf-8")
        figures: list[Path] = []
        if fmt == "md":
            (tmp / FIGURES / MARKER).write_text("figures of report.md, replaced by lsr report\n")
            _swap_figures(out, tmp)
            try:
                os.replace(tmp / name, out / name)
            except OSError:
                _restore_figures(out, tmp)
                raise
            figures = [out / FIGURES / p.name for p in figs.files.values()]
        else:
            os.replace(tmp / name, out / name)
    except OSError as exc:
        _cleanup(out, created)
        raise ReportError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from None
    except BaseException:
        _cleanup(out, created)
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    embedded = len(figs.files) if fmt == "html" else 0
    return WrittenReport(out / name, fmt, figures, embedded, data)


def _swap_figures(out: Path, tmp: Path) -> None:
    """Put the new ``figures/`` in place, keeping the old one in ``tmp`` until the end.

    A ``figures/`` folder that ``lsr report`` did not write (no marker file) is the user's:
    it is never replaced.
    """
    final = out / FIGURES
    if final.exists():
        if not (final / MARKER).is_file():
            raise ReportError(
                f"--out {out}: {final} exists and was not written by lsr report; "
                "give another --out folder"
            )
        os.replace(final, tmp / "old-figures")
    os.replace(tmp / FIGURES, final)


def _restore_figures(out: Path, tmp: Path) -> None:
    """Undo :func:`_swap_figures` (the report file could not be written)."""
    final = out / FIGURES
    shutil.rmtree(final, ignore_errors=True)
    if (tmp / "old-figures").exists():
        os.replace(tmp / "old-figures", final)


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path

"""Provides the review report (``lsr report``): one self-contained Markdown or HTML document.

:mod:`~living_review.report.build` collects everything the report shows from the store into
a :class:`~living_review.report.build.ReportData` (pure data, no drawing);
:mod:`~living_review.report.figures` draws its figures; :mod:`~living_review.report.markdown`
and :mod:`~living_review.report.html` render it; :mod:`~living_review.report.write` writes the
files all at once or not at all. matplotlib is imported only while figures are drawn.
"""

from __future__ import annotations

from living_review.report.build import ReportData, ReportError, build_report
from living_review.report.write import FORMATS, WrittenReport, write_report

__all__ = [
    "FORMATS",
    "ReportData",
    "ReportError",
    "WrittenReport",
    "build_report",
    "write_report",
]

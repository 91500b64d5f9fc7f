"""Renders the report's blocks as Markdown (GitHub-flavoured tables; figures as relative links).

Every piece of text is escaped: a study label or a reason holding ``|``, ``*``, ``_``, ``<``
or a newline must not break a table or turn into markup.
"""

from __future__ import annotations

import re

from living_review.report.document import (
    Alert,
    Block,
    Bullets,
    Figure,
    Heading,
    Para,
    TableBlock,
)
from living_review.report.figures import Figures

#: Characters that are markup anywhere in a line (``|`` splits table cells).
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
#: Markup only at the start of a line: headings, quotes, list items ("-", "+", "1.").
_LEADING = re.compile(r"^(#|[-+](?=\s)|\d+(?=[.)]\s))")


def escape(text: str, *, line_start: bool = True) -> str:
    """Markdown-escape plain text (one line: newlines become spaces).

    Hand-written because the libraries (markdown-it, mistune) parse Markdown but do not
    escape text into it; the rule is CommonMark's: backslash-escape ASCII punctuation that
    could start markup, and a line-start marker.
    """
    flat = _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    if not line_start:  # after "## " or "| ": a list or heading marker cannot start here
        return flat
    # "#", "-", "+" take a backslash; an ordered-list marker "1." takes it before the dot
    return _LEADING.sub(
        lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), flat
    )


def cell(text: str) -> str:
    """A table cell: escaped, never empty (an empty cell collapses some renderers' tables)."""
    return escape(text, line_start=False) or " "


def render_markdown(blocks: list[Block], figs: Figures) -> str:
    """The whole report as Markdown; figures link to ``figures/<file>`` next to it."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            if b.level == 2:  # an explicit anchor: renderers' own heading ids differ
                out.append(f'<a id="{b.anchor}"></a>')
            out.append(f"{'#' * b.level} {escape(b.text, line_start=False)}")
        elif isinstance(b, Para):
            label = f"**{escape(b.label)}.** " if b.label else ""
            out.append((label + escape(b.text)).rstrip())
        elif isinstance(b, Alert):
            out.append(f"> **{escape(b.text)}**")
        elif isinstance(b, Bullets) and b.anchors:
            out.append(
                "\n".join(f"- [{escape(i)}](#{a})" for i, a in zip(b.items, b.anchors, strict=True))
            )
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {escape(i)}" for i in b.items))
        elif isinstance(b, TableBlock):
            t = b.table
            lines = [f"*{escape(b.caption)}*", ""]
            lines.append("| " + " | ".join(cell(h) for h in t.header) + " |")
            lines.append("|" + "|".join("---" for _ in t.header) + "|")
            lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in t.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            path = figs.get(b.key)
            if path is not None:
                out.append(f"![{escape(b.alt)}]({figs.folder.name}/{path.name})")
    return "\n\n".join(out) + "\n"

"""Renders the report's blocks as one self-contained HTML file.

Self-contained means: the CSS is inline, every figure is embedded as a ``data:`` PNG, and the
document loads nothing from anywhere (no scripts, fonts or stylesheets by URL), so it can be
mailed, archived or opened offline and still show everything.
"""

from __future__ import annotations

import base64
from html import escape

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

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 max-width:1100px;margin:2rem auto;padding:0 1rem;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem;border-bottom:2px solid #1f3b5c;padding-bottom:.3rem}
h2{font-size:1.3rem;margin-top:2.2rem;border-bottom:1px solid #c8d0da}
h3{font-size:1.12rem;margin-top:1.6rem}h4{font-size:1rem;margin-bottom:.4rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.86rem}
caption{caption-side:top;text-align:left;font-style:italic;padding:.2rem 0;color:#44505e}
th,td{border:1px solid #c8d0da;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#eef2f6}tr:nth-child(even) td{background:#fafbfc}
.wide{overflow-x:auto}
figure{margin:.8rem 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7ec}
figcaption{font-size:.85rem;color:#44505e}
.alert{padding:.5rem .8rem;border-left:4px solid;margin:.6rem 0}
.alert.info{background:#eef5fc;border-color:#4a7bb7}
.alert.warning{background:#fff7e0;border-color:#d49b00}
.alert.danger{background:#fdecea;border-color:#b03a2e;font-weight:600}
nav ul{list-style:none;padding-left:0}
"""


def _img(path_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(path_bytes).decode("ascii")


def render_html(blocks: list[Block], figs: Figures, *, title: str) -> str:
    """The whole report as one HTML document with its figures embedded."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f'<h{b.level} id="{escape(b.anchor)}">{escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            label = f"<strong>{escape(b.label)}.</strong> " if b.label else ""
            body.append(f"<p>{label}{escape(b.text)}</p>")
        elif isinstance(b, Alert):
            body.append(f'<div class="alert {escape(b.kind)}" role="note">{escape(b.text)}</div>')
        elif isinstance(b, Bullets):
            if b.anchors:
                items = "".join(
                    f'<li><a href="#{escape(a)}">{escape(i)}</a></li>'
                    for i, a in zip(b.items, b.anchors, strict=True)
                )
            else:
                items = "".join(f"<li>{escape(i)}</li>" for i in b.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(b, TableBlock):
            t = b.table
            head = "".join(f'<th scope="col">{escape(h)}</th>' for h in t.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in t.rows
            )
            body.append(
                f'<div class="wide"><table><caption>{escape(b.caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
            )
        elif isinstance(b, Figure):
            path = figs.get(b.key)
            if path is not None:
                caption = figs.captions.get(b.key, b.alt)
                body.append(
                    f'<figure id="fig-{escape(b.key)}"><img alt="{escape(b.alt)}" '
                    f'src="{_img(path.read_bytes())}"><figcaption>{escape(caption)}'
                    "</figcaption></figure>"
                )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )

"""Self-contained HTML for the report: inline CSS, PNGs as base64 data URIs, no scripts, no network.

Every piece of text is escaped here, so values from data or config can never inject markup.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CSS = """
:root { --ink:#1e293b; --muted:#64748b; --line:#e2e8f0; --accent:#c2410c; --good:#0f766e;
  --bg:#f8fafc; --small:13px; --body:15px; --large:18px; --title:24px; }
* { box-sizing: border-box; }
body { margin:0; font:var(--body)/1.55 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
  sans-serif; color:var(--ink); background:var(--bg); }
header { background:#0f172a; color:#f8fafc; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:var(--title); font-weight:650; letter-spacing:-.01em; }
header p { margin:0; color:#cbd5e1; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:8px 40px; position:sticky;
  top:0; z-index:1; font-size:var(--small); }
nav a { color:var(--muted); text-decoration:none; margin-right:16px; display:inline-block; }
nav a:hover { color:var(--accent); }
main { max-width:1180px; margin:0 auto; padding:8px 40px 60px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 26px;
  margin:22px 0; min-width:0; overflow-wrap:break-word; }
h2 { margin:0 0 6px; font-size:var(--large); }
h3 { margin:18px 0 6px; font-size:var(--body); color:#334155; }
p { margin:6px 0; }
p.intro { color:var(--muted); margin:0 0 12px; max-width:80ch; }
.grid { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
.grid > div { flex:1 1 320px; min-width:0; }
figure { margin:8px 0; }
figure img { max-width:100%; height:auto; display:block; }
figcaption, .note, .k, footer, td.small { font-size:var(--small); }
figcaption { color:var(--muted); margin-top:4px; }
.scroll { max-width:100%; overflow-x:auto; }
table { border-collapse:collapse; margin:8px 0 4px; font-size:var(--small);
  font-variant-numeric:tabular-nums; }
table.fixed { table-layout:fixed; width:100%; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:top; overflow-wrap:break-word; }
th.n, td.n { text-align:right; }
td.n { white-space:nowrap; overflow-wrap:normal; }
thead th { background:#f1f5f9; color:#334155; font-weight:600; }
tr.total td { font-weight:600; border-top:2px solid #cbd5e1; }
ul.reasons { margin:0; padding-left:16px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:10px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 14px; min-width:150px;
  max-width:100%; }
.card .v { font-size:var(--large); font-weight:650; }
.card .k { color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.note { color:var(--muted); font-style:italic; }
.alert { border-left:4px solid var(--accent); background:#fff7ed; padding:8px 12px; }
.tier-high { color:#b91c1c; font-weight:600; }
.tier-medium { color:#b45309; font-weight:600; }
.tier-other { color:var(--muted); font-weight:600; }
.wf { display:grid; grid-template-columns:minmax(0,9em) minmax(0,1fr) 4.8em; gap:1px 6px;
  align-items:center; font-size:var(--small); line-height:1.3; }
.wf .l { white-space:nowrap; overflow:hidden; text-overflow:ellipsis; color:#334155; }
.wf .t { position:relative; height:11px; background:#f1f5f9; border-radius:2px; }
.wf .b { position:absolute; top:0; height:11px; border-radius:2px; }
.wf .up { background:var(--accent); } .wf .down { background:var(--good); }
.wf .base { background:#94a3b8; }
.wf .x { text-align:right; white-space:nowrap; color:var(--muted); }
footer { color:var(--muted); text-align:center; padding:20px; }
"""


@dataclass
class Section:
    """One titled part of the report; `body` is already-rendered HTML from this module."""

    anchor: str
    title: str
    intro: str = ""
    parts: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> Section:
        self.parts.extend(parts)
        return self


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def image(png: bytes, alt: str, caption: str = "") -> str:
    """A figure with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>'


def grid(*cells: str) -> str:
    """Cells side by side, wrapping on narrow screens."""
    return '<div class="grid">' + "".join(f"<div>{cell}</div>" for cell in cells) + "</div>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def paragraph(text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{esc(text)}</p>"


def cards(items: Iterable[tuple[str, str]]) -> str:
    """Headline numbers as small cards: (label, value)."""
    inner = "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>'
        for k, v in items
    )
    return f'<div class="cards">{inner}</div>'


NUMERIC = ' class="n"'


def table(
    frame: pd.DataFrame,
    formats: dict[str, Callable[[object], str]] | None = None,
    table_id: str = "",
    index_label: str | None = None,
    css: str = "",
    total_row: str | None = None,
    row_class: Callable[[object], str] | None = None,
    markup: Iterable[str] = (),
    widths: Iterable[str] | None = None,
) -> str:
    """A frame as an HTML table; the index is the first column, NaN shows as an em dash.

    Numeric columns are right-aligned and never wrap; text wraps inside its cell, and the table
    scrolls inside its own box if it still cannot fit. `markup` names columns whose values are
    HTML already built by this module; `widths` (one per column, index first) fixes the layout
    to the box's width."""
    formats = formats or {}
    markup = set(markup)
    label = index_label if index_label is not None else (frame.index.name or "")
    numeric = [
        str(c) not in markup and pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns
    ]
    head = f"<th>{esc(label)}</th>" + "".join(
        f"<th{NUMERIC if number else ''}>{esc(c)}</th>"
        for c, number in zip(map(str, frame.columns), numeric, strict=True)
    )
    rows = []
    for position, key in enumerate(frame.index):
        cells = [f"<td>{esc(key)}</td>"]
        # Column by column, so integer columns stay integers (a row Series would upcast).
        for number, column in enumerate(frame.columns):
            value = frame.iat[position, number]
            if str(column) in markup:
                cells.append(f"<td>{value}</td>")
                continue
            text = "—" if _missing(value) else formats.get(str(column), _default)(value)
            cells.append(f"<td{NUMERIC if numeric[number] else ''}>{esc(text)}</td>")
        classes = []
        if total_row is not None and str(key) == total_row:
            classes.append("total")
        if row_class is not None and row_class(key):
            classes.append(row_class(key))
        cls = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    classes = " ".join(filter(None, [css, "fixed" if widths is not None else ""]))
    ident = f' id="{esc(table_id)}"' if table_id else ""
    ident += f' class="{esc(classes)}"' if classes else ""
    columns = ""
    if widths is not None:
        columns = "<colgroup>" + "".join(f'<col style="width:{esc(w)}">' for w in widths)
        columns += "</colgroup>"
    return (
        f'<div class="scroll"><table{ident}>{columns}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def bullets(items: Iterable[str]) -> str:
    """Short texts as a list (an empty string when there are none)."""
    entries = "".join(f"<li>{esc(item)}</li>" for item in items if item)
    return f'<ul class="reasons">{entries}</ul>' if entries else ""


def waterfall(steps: list[tuple[str, str, float, float, str]], top: float | None = None) -> str:
    """A small waterfall: per step (label, kind up|down|base, from, to, value text) a bar from
    `from` to `to`, the track spanning 0..`top` (default: a little beyond the largest end), so
    waterfalls drawn with one `top` compare."""
    top = (top or max([max(a, b) for _, _, a, b, _ in steps] + [1e-9])) * 1.08
    rows = []
    for label, kind, start, end, text in steps:
        left, width = min(start, end) / top * 100, max(abs(end - start) / top * 100, 0.6)
        rows.append(
            f'<div class="l">{esc(label)}</div><div class="t"><div class="b {esc(kind)}" '
            f'style="left:{left:.1f}%;width:{width:.1f}%"></div></div>'
            f'<div class="x">{esc(text)}</div>'
        )
    return f'<div class="wf">{"".join(rows)}</div>'


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _default(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):,.2f}"
    return str(value)


def render(title: str, subtitle: str, sections: list[Section], footer: str = "") -> str:
    """The whole page."""
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>'
        + (f'<p class="intro">{esc(s.intro)}</p>' if s.intro else "")
        + "".join(s.parts)
        + "</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network: forbid every remote fetch, allow only inline styles and data: images.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main><footer>{esc(footer)}</footer></body></html>"
    )

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
:root { --ink:#1e293b; --muted:#64748b; --line:#e2e8f0; --accent:#c2410c; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
  sans-serif; color:var(--ink); background:var(--bg); }
header { background:#0f172a; color:#f8fafc; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:650; letter-spacing:-.01em; }
header p { margin:0; color:#cbd5e1; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:10px 40px; position:sticky;
  top:0; z-index:1; }
nav a { color:var(--muted); text-decoration:none; margin-right:18px; font-size:14px; }
nav a:hover { color:var(--accent); }
main { max-width:1180px; margin:0 auto; padding:8px 40px 60px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 26px;
  margin:22px 0; }
h2 { margin:0 0 6px; font-size:20px; }
h3 { margin:18px 0 6px; font-size:16px; color:#334155; }
p.intro { color:var(--muted); margin:0 0 12px; max-width:80ch; }
.grid { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
.grid > div { flex:1 1 320px; min-width:0; }
figure { margin:8px 0; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
table { border-collapse:collapse; margin:8px 0 4px; font-size:14px;
  font-variant-numeric:tabular-nums; }
th, td { padding:6px 12px; border-bottom:1px solid var(--line); text-align:right; }
th:first-child, td:first-child { text-align:left; white-space:nowrap; }
table.facts td { text-align:left; }
thead th { background:#f1f5f9; color:#334155; font-weight:600; }
tr.total td { font-weight:600; border-top:2px solid #cbd5e1; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:10px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 14px; min-width:150px; }
.card .v { font-size:20px; font-weight:650; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.note { color:var(--muted); font-style:italic; }
.tier-high { color:#b91c1c; font-weight:600; }
.tier-medium { color:#b45309; font-weight:600; }
.tier-other { color:var(--muted); font-weight:600; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:20px; }
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


def table(
    frame: pd.DataFrame,
    formats: dict[str, Callable[[object], str]] | None = None,
    table_id: str = "",
    index_label: str | None = None,
    css: str = "",
    total_row: str | None = None,
    row_class: Callable[[object], str] | None = None,
) -> str:
    """A frame as an HTML table; the index is the first column, NaN shows as an em dash."""
    formats = formats or {}
    label = index_label if index_label is not None else (frame.index.name or "")
    head = "".join(f"<th>{esc(c)}</th>" for c in [label, *map(str, frame.columns)])
    rows = []
    for position, key in enumerate(frame.index):
        cells = [f"<td>{esc(key)}</td>"]
        # Column by column, so integer columns stay integers (a row Series would upcast).
        for number, column in enumerate(frame.columns):
            value = frame.iat[position, number]
            text = "—" if _missing(value) else formats.get(str(column), _default)(value)
            cells.append(f"<td>{esc(text)}</td>")
        classes = []
        if total_row is not None and str(key) == total_row:
            classes.append("total")
        if row_class is not None and row_class(key):
            classes.append(row_class(key))
        cls = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    ident += f' class="{esc(css)}"' if css else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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

"""The page: one self-contained HTML file with plotly.js embedded once, no network, text escaped.

plotly.js goes into the first figure's ``<script>`` (``include_plotlyjs=True``) and every later figure
uses it (``False``). A Content-Security-Policy forbids every fetch (no ``connect-src``, images and
fonts only from ``data:``/``blob:``), so the page can only work offline, and the browser test would see
any attempt to reach the network as a policy violation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.io as pio

from clustersim.report.data import esc

__all__ = ["Section", "Card", "Page", "table_html", "render_page", "CSP"]

#: Inline scripts and styles only (plotly creates both); no fetch, no external script, style or font.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:")

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:20px 28px 60px}
header h1{font-size:26px;margin:8px 0 4px}
header p{margin:2px 0;color:#555}
h2{font-size:19px;margin:30px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:12px 16px;min-width:200px;flex:1}
.card .label{font-size:13px;color:#666;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600;margin:4px 0}
.card .sub{font-size:13px;color:#555}
table{border-collapse:collapse;background:#fff;font-size:14px;margin:8px 0;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #e1e4e8;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data th,table.data td{white-space:nowrap}
.note{color:#555;font-size:14px;margin:4px 0 8px}
.fig{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:4px;margin:8px 0}
.tables{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.tables>div{min-width:0;max-width:100%}
.row{display:flex;gap:16px}
.row>section{flex:0 0 calc(50% - 8px);min-width:0}
@media (max-width:1000px){.row{display:block}}
caption{text-align:left;font-weight:600}
footer{color:#777;font-size:12px;margin-top:40px}
.scroll{overflow-x:auto}
"""


@dataclass
class Card:
    """A headline figure: label, value, and a line under it (plain text; escaped when rendered)."""

    label: str
    value: str
    sub: str = ""


@dataclass
class Section:
    """One part of the report: a heading, an explanation, an optional figure, optional extra HTML.

    ``title`` and ``note`` are plain text (escaped when rendered); ``extra_html`` is HTML that its
    builder escaped already (tables from :func:`table_html`).
    """

    title: str
    note: str = ""
    figure: Any = None  # plotly.graph_objects.Figure
    extra_html: str = ""
    half: bool = False  # drawn at half width, beside the next half-width section


@dataclass
class Page:
    title: str
    subtitle: list[str] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    details_html: str = ""
    sections: list[Section] = field(default_factory=list)
    footer: str = ""


def table_html(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None, *, caption: str = "") -> str:
    """An HTML table; every cell is escaped, numbers are right-aligned."""
    out = ["<table class='data'>" if header else "<table>"]  # a data table scrolls sideways, never wraps
    if caption:
        out.append(f"<caption class='note'>{esc(caption)}</caption>")
    if header:
        out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for cell in row:
            cls = " class='num'" if isinstance(cell, (int, float)) and not isinstance(cell, bool) else ""
            cells.append(f"<td{cls}>{esc(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def kv_table(items: Mapping[str, Any] | Sequence[tuple[str, Any]], caption: str = "") -> str:
    """A two-column table of label and value."""
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    return table_html([(k, v) for k, v in pairs], caption=caption)


def render_page(page: Page) -> str:
    """The whole HTML document: plotly.js once (with the first figure), every figure with a stable id."""
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(page.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><h1>{esc(page.title)}</h1>",
        *(f"<p>{esc(line)}</p>" for line in page.subtitle),
        "</header>",
    ]
    if page.cards:
        parts.append("<div class='cards'>")
        for c in page.cards:
            parts.append(f"<div class='card'><div class='label'>{esc(c.label)}</div>"
                         f"<div class='value'>{esc(c.value)}</div><div class='sub'>{esc(c.sub)}</div></div>")
        parts.append("</div>")
    if page.details_html:
        parts.append(f"<div class='tables'>{page.details_html}</div>")
    plotly_js_done = False
    row_open = 0  # half-width sections in the open row (two per row)
    for n, sec in enumerate(page.sections):
        if row_open and (not sec.half or row_open == 2):
            parts.append("</div>")
            row_open = 0
        if sec.half:
            if not row_open:
                parts.append("<div class='row'>")
            row_open += 1
        parts.append(f"<section><h2>{esc(sec.title)}</h2>")
        if sec.note:
            parts.append(f"<p class='note'>{esc(sec.note)}</p>")
        if sec.figure is not None:
            div = pio.to_html(sec.figure, full_html=False, include_plotlyjs=not plotly_js_done,
                              div_id=f"figure-{n}", config={"displaylogo": False, "responsive": True,
                                                            "modeBarButtonsToRemove": ["lasso2d", "select2d"]})
            plotly_js_done = True
            parts.append(f"<div class='fig'>{div}</div>")
        parts.append(sec.extra_html)
        parts.append("</section>")
    if row_open:
        parts.append("</div>")
    parts.append(f"<footer>{esc(page.footer)}</footer></main></body></html>\n")
    return "\n".join(parts)

"""HTML pieces of the report: sortable tables, embedded images, neuron contexts, the page shell.

Everything is inline (CSS, a few lines of JS, images as base64 PNG) so the report is one file
that opens from disk in any browser, offline, with no server and no CDN.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.neurons import Context

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-bottom: .3em; }
table { border-collapse: collapse; font-size: 12.5px; margin: .5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[data-order=asc]::after { content: " \\25B2"; } th[data-order=desc]::after { content: " \\25BC"; }
.scroll { max-height: 520px; overflow: auto; display: inline-block; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; } .grid img { width: 380px; }
img { max-width: 100%; } .muted { color: #666; } .problem { color: #a33; }
.ctx { font: 12px/1.6 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all;
       border-left: 3px solid #ccc; padding: 2px 8px; margin: 4px 0; }
.ctx.pos { border-color: #d62728; } .ctx mark { background: #ffd24d; font-weight: bold; }
.ctx .tok { border-right: 1px dotted #ddd; } .neuron { border-top: 1px dashed #ccc; padding-top: .5em; }
"""

# Click a header to sort by it (numbers numerically), click again to reverse. Any script error
# is written to <body data-js-error>, and data-ready marks a script that ran to its end: the
# headless-browser test reads both from the DOM.
JS = """
window.addEventListener("error", e => { document.body.dataset.jsError = e.message; });
function cellKey(td) {
  const v = td.dataset.value !== undefined ? td.dataset.value : td.textContent.trim();
  const n = Number(v);
  return v !== "" && !Number.isNaN(n) ? n : v.toLowerCase();
}
document.querySelectorAll("table.sortable th").forEach(th => th.addEventListener("click", () => {
  const table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
  const asc = th.dataset.order !== "asc";
  table.querySelectorAll("th").forEach(h => delete h.dataset.order);
  th.dataset.order = asc ? "asc" : "desc";
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = cellKey(a.cells[i]), y = cellKey(b.cells[i]);
    if (typeof x !== typeof y) return (typeof x === "number" ? -1 : 1) * (asc ? 1 : -1);
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
  });
  rows.forEach(r => body.appendChild(r));
}));
document.body.dataset.ready = "1";
"""


def table(
    frame: pd.DataFrame,
    table_id: str,
    links: dict[str, Sequence[str | None]] | None = None,
    digits: int = 3,
) -> str:
    """A sortable <table>; links maps a column to one href (or None) per row, to link cells."""
    links = links or {}
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for n, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            text, numeric = _cell(value, digits)
            href = links[column][n] if column in links else None
            inner = f'<a href="{escape(href)}">{escape(text)}</a>' if href else escape(text)
            cells.append(f'<td class="num">{inner}</td>' if numeric else f"<td>{inner}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable" id="{escape(table_id)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(value, digits: int) -> tuple[str, bool]:
    if isinstance(value, bool | np.bool_):
        return str(value), False
    if isinstance(value, int | np.integer):
        return str(value), True
    if isinstance(value, float):
        return ("" if math.isnan(value) else f"{value:.{digits}f}"), True
    return str(value), False


def image(path: str | Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def context(ctx: Context) -> str:
    """One example's tokens, the probed one marked; whitespace made visible, one line each."""
    spans = []
    for i, token in enumerate(ctx.tokens):
        text = escape(token.replace("\n", "\u21b5").replace("\t", "\u2192"))
        spans.append(
            f"<mark>{text}</mark>" if i == ctx.highlight else f'<span class="tok">{text}</span>'
        )
    kind = "pos" if ctx.label else "neg"
    return (
        f'<div class="ctx {kind}"><b>{ctx.activation:+.3f}</b> '
        f'<span class="muted">label {ctx.label}</span> &nbsp;{"".join(spans)}</div>'
    )


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}<script>{JS}</script></body></html>\n"
    )

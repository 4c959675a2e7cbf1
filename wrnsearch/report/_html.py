"""The report page's own HTML: its style, the script that sorts its tables, and the table of trials.

Plain strings, no plotly: the figures are :mod:`wrnsearch.report._figures`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from wrnsearch.objectives import ERROR, OBJECTIVES
from wrnsearch.report._figures import Point, fmt, value_text

PAGE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #555; margin: 2px 0; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; padding: 0; list-style: none; margin: 10px 0; }
.counts li { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 4px 10px; }
.counts b { font-size: 16px; margin-right: 4px; }
.note { border-left: 4px solid #888; background: #fff; padding: 8px 12px; margin: 10px 0; }
.warning { border-left-color: #e69f00; background: #fff8e6; }
.empty { border-left-color: #5b84b1; font-size: 15px; }
details { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 10px 0; }
details pre { max-height: 420px; overflow: auto; font-size: 12px; }
.plot { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; margin: 10px 0; padding: 4px; min-width: 0; }
/* fixed columns: a plot is drawn while the page is parsed, before its neighbour exists */
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; }
@media (max-width: 1100px) { .grid { grid-template-columns: minmax(0, 1fr); } }
.caption { color: #555; font-size: 13px; margin: 2px 4px 10px; }
footer { margin-top: 28px; }
table.sortable { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
table.sortable th, table.sortable td { border: 1px solid #ddd; padding: 4px 8px; text-align: right;
                                       white-space: nowrap; }
table.sortable th { background: #f0f0f0; cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
table.sortable td.text, table.sortable th.text { text-align: left; }
"""

# Click a header to sort by it; again to reverse. Numbers sort by value (data-sort), missing last.
# Once everything is laid out, a resize event lets every (responsive) plot fit its final box.
SORT_JS = """
window.addEventListener("load", function () { window.dispatchEvent(new Event("resize")); });
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, col) {
    th.tabIndex = 0;
    th.title = "sort by " + th.textContent;
    function sort() {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      function key(row) {
        var cell = row.cells[col];
        return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
      }
      var numeric = rows.every(function (r) { var v = key(r); return v === "" || !isNaN(Number(v)); });
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown",
                        function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });
});
"""


def size_text(n_bytes: int) -> str:
    """``2.1 MB``, ``18 KB``: a file's size as a reader wants it (decimal units, as browsers show them)."""
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} KB"


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def cell(value: Any, text: str, *, numeric: bool = True) -> str:
    if numeric:
        sort = "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else repr(float(value))
        return f'<td data-sort="{sort}">{escape(text)}</td>'
    return f'<td class="text">{escape(text)}</td>'


def trials_table(points: Sequence[Point], table_id: str, caption: str) -> str:
    others = [o for o in OBJECTIVES.values() if o is not ERROR]
    headers = ["trial", "arch", "val error %", "test error %", *(o.column for o in others), "device", "epochs"]
    lines = [f'<table class="sortable" id="{table_id}"><caption class="caption">{escape(caption)}</caption>',
             "<thead><tr>"]
    text_columns = ("arch", "device")
    lines += [f'<th scope="col" class="{"text" if h in text_columns else "number"}">{escape(h)}</th>' for h in headers]
    lines.append("</tr></thead><tbody>")
    for p in points:
        epochs = p.epochs if isinstance(p.epochs, (int, float)) and not isinstance(p.epochs, bool) else None
        lines.append("<tr>" + "".join([
            cell(p.number, str(p.number)),
            cell(None, p.arch, numeric=False),
            cell(p.error, fmt(p.error)),
            cell(p.test_error, fmt(p.test_error)),
            *(cell(getattr(p, o.name), value_text(o, getattr(p, o.name))) for o in others),
            cell(None, p.device, numeric=False),
            cell(epochs, "-" if epochs is None else str(epochs)),
        ]) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)

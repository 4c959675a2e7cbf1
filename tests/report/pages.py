"""Reading a written report: the figures its page draws, decoded from the page, and the page opened
in Chromium with the network refused."""

from __future__ import annotations

import json
import re
from pathlib import Path


def figure_of(text: str, div_id: str) -> tuple[list[dict], dict]:
    """The data and layout of the figure drawn into ``div_id``, decoded from the page's Plotly.newPlot call."""
    call = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', text)
    assert call, f"no plot {div_id}"
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(text, call.end())
    layout, _ = decoder.raw_decode(text, re.compile(r",\s*").match(text, end).end())
    return data, layout


def open_report(browser, path: Path):
    """Load the report from disk with the network refused; return the page and what went wrong."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def refuse_network(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            problems.append(f"network request: {route.request.url}")
            route.abort()

    page.route("**/*", refuse_network)
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    # the figures are drawn once the page's plotly.js is unpacked, after the page has loaded
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.plotly-graph-div')).every(d => d._fullLayout)", timeout=60_000
    )
    return page, problems

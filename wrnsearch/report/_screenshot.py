"""A PNG of a report as a browser draws it (README's picture: ``wrnsearch report RUN_DIR --png FILE``).

The page is opened in headless Chromium through Playwright (both optional: ``pip install
playwright`` and Debian's ``chromium``, or ``$WRNSEARCH_CHROMIUM``), every plotly figure is waited
for, and the top of the page is captured at a fixed viewport, so that the same report gives the
same picture.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wrnsearch.errors import RunError

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
_DRAWN = """() => { const plots = document.querySelectorAll(".js-plotly-plot");
    return plots.length > 0 && Array.from(plots).every(p => p._fullLayout && p.querySelector(".main-svg")); }"""


def chromium_path() -> Path | None:
    """``$WRNSEARCH_CHROMIUM``, else the first chromium on PATH (None: none)."""
    if env := os.environ.get("WRNSEARCH_CHROMIUM"):
        return Path(env)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def screenshot_report(html: str | Path, png: str | Path, *, width: int = 1280, height: int = 1000) -> Path:
    """Capture the top ``width`` x ``height`` pixels of the report ``html`` into ``png``, once every
    figure is drawn.

    Raises:
        RunError: without Playwright or Chromium (saying how to install them), or when the page does
            not draw its figures within a minute.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RunError("--png needs Playwright: pip install playwright (and a Chromium: apt-get install "
                       "chromium, or set $WRNSEARCH_CHROMIUM)") from None
    chromium = chromium_path()
    if chromium is None or not chromium.exists():
        raise RunError("--png needs a Chromium: apt-get install chromium, or set $WRNSEARCH_CHROMIUM to one")
    target = Path(png)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.goto(Path(html).resolve().as_uri())
            try:
                page.wait_for_function(_DRAWN, timeout=60_000)
            except PlaywrightError as e:
                raise RunError(f"{html}: the report's figures were not drawn within a minute ({e})") from None
            page.wait_for_timeout(500)  # plotly's transitions end
            page.screenshot(path=str(target), full_page=False)
        finally:
            browser.close()
    return target

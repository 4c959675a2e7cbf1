"""plotly.js inside the page, gzip-compressed, and the script that unpacks it and draws the figures.

plotly.js is 4.8 MB of the page's 4.9 (every trace type, the 3-D scatter's WebGL included); gzip
takes it to 1.5 MB and base64 back up to 2.0 MB. The page carries it so, and the browser's own
``DecompressionStream('gzip')`` (Chromium 80+, Firefox 113+, Safari 16.4+) unpacks it when the page
has loaded: the page stays one file that works offline, at 40 % of the size. The figures' scripts
wait, as inert ``<script type="text/x-wrnsearch-figure">`` elements, until plotly is there; a
browser without the decompressor says so on the page, whose tables are complete without it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import hashlib
import re

import plotly.offline

from wrnsearch.files import atomic_write_text, cache_dir

FIGURE_SCRIPT = "text/x-wrnsearch-figure"
PACKED_ID = "plotlyjs-gzip"
STATUS_ID = "plotly-status"

# Unpack plotly.js, run it, then each figure's script in page order; mark the page drawn (the
# browser tests wait for it) and let the responsive plots fit their boxes.
_LOADER_JS = """
(function () {
  var status = document.getElementById("@STATUS@");
  function fail(message) { status.textContent = message; status.hidden = false; }
  function run(code) { var s = document.createElement("script"); s.text = code; document.head.appendChild(s); }
  if (typeof DecompressionStream === "undefined") {
    fail("This browser cannot unpack the page's copy of plotly.js (DecompressionStream, in Chrome 80, "
         + "Firefox 113, Safari 16.4 and later), so the plots are not drawn; the tables are complete.");
    return;
  }
  var packed = atob(document.getElementById("@PACKED@").textContent);
  var bytes = new Uint8Array(packed.length);
  for (var i = 0; i < packed.length; i++) { bytes[i] = packed.charCodeAt(i); }
  new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text().then(function (js) {
    run(js);
    document.querySelectorAll('script[type="@FIGURE@"]').forEach(function (s) { run(s.textContent); });
    document.body.setAttribute("data-plotly", "drawn");
    window.dispatchEvent(new Event("resize"));
  }).catch(function (e) { fail("The plots could not be drawn: " + e); });
})();
""".replace("@STATUS@", STATUS_ID).replace("@PACKED@", PACKED_ID).replace("@FIGURE@", FIGURE_SCRIPT)


@functools.lru_cache(maxsize=1)
def packed_plotlyjs() -> str:
    """plotly.js of the installed plotly, gzip-compressed (no timestamp: the same bytes every time),
    in base64. Compressing takes about half a second of CPU, paid once per plotly version: the
    result is kept in ``$WRNSEARCH_CACHE`` (``~/.cache/wrnsearch``), keyed by plotly.js's own hash,
    so that a dashboard-side ``wrnsearch report`` every few seconds does not pay it each time."""
    source = plotly.offline.get_plotlyjs().encode("utf-8")
    cached = cache_dir() / f"plotly-{hashlib.sha256(source).hexdigest()[:16]}.js.gz.b64"
    try:
        return cached.read_text()
    except OSError:
        pass
    packed = base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode("ascii")
    with contextlib.suppress(OSError):  # no cache where the home is read-only: compressed each time
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cached, packed)
    return packed



@functools.lru_cache(maxsize=1)
def plotlyjs_size() -> int:
    """Bytes of plotly.js unpacked."""
    return len(plotly.offline.get_plotlyjs().encode("utf-8"))


def defer_scripts(figure_html: str) -> str:
    """A figure's HTML (from ``plotly.io.to_html``) with its scripts left for the loader to run."""
    return re.sub(r"<script(\s+type=\"text/javascript\")?>", f'<script type="{FIGURE_SCRIPT}">', figure_html)


def status_html() -> str:
    """Where the page says why its plots are missing, hidden while they are not."""
    return f'<p class="note warning" id="{STATUS_ID}" hidden></p>'


def loader_html() -> str:
    """The packed plotly.js and its loader, for the end of the page's body."""
    return (f'<script type="application/gzip;base64" id="{PACKED_ID}">{packed_plotlyjs()}</script>\n'
            f"<script>{_LOADER_JS}</script>")

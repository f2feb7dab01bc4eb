"""The HTML report in a real browser: headless Chromium (Debian's package; `.ci/run` installs it).

A probe script injected at the top of the page records every error (window.onerror, unhandled
rejections, console.error, Content-Security-Policy violations, alert() calls); another, after load,
writes into the DOM how many plotly figures exist, how many rendered their ``svg.main-svg``, and every
resource the page fetched. ``chromium --dump-dom`` returns the DOM after a virtual-time budget.

Skips, with the reason, only when no Chromium is installed. Regenerate the docs screenshot with
``python -m tests.test_report_browser --screenshot docs/img/report.png``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from clustersim.report import figure_count, render_html
from tests.test_report import EXAMPLES, EXPECTED_FIGURES, XSS

pytestmark = pytest.mark.browser

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Chromium's own flags for a quiet, offline, throw-away headless run.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0")
#: Seconds one browser run may take before the test fails (a cold start is 1-3 s).
TIMEOUT_S = 60

PROBE_HEAD = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || e.type));
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('rejection: ' + e.reason); });
document.addEventListener('securitypolicyviolation', function (e) {
  window.__errors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
window.alert = function (m) { window.__errors.push('alert: ' + m); };
</script>"""

PROBE_TAIL = """<script>
function box(el) { var r = el.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right, b: r.bottom}; }
function hit(a, b) { return a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1; }
// every text a chart draws around its plot (title, annotations, colour bar, legend) against the toolbar
function overlaps(divs) {
  var out = [];
  divs.forEach(function (d) {
    var bar = d.querySelector('.modebar');
    if (!bar) { out.push(d.id + ': no toolbar'); return; }
    var mb = box(bar);
    d.querySelectorAll('.gtitle, g.annotation, g.colorbar, g.legend').forEach(function (el) {
      var b = box(el);
      if (b.r > b.l && hit(mb, b)) { out.push(d.id + ': toolbar over ' + el.getAttribute('class')); }
    });
  });
  return out;
}
// a table wider than its box must scroll (overflow-x auto or scroll), and no table may stick out of the page
function tables() {
  var main = box(document.querySelector('main'));
  return Array.prototype.slice.call(document.querySelectorAll('table')).map(function (t) {
    var b = box(t);
    return {scroll: t.scrollWidth, client: t.clientWidth, overflow: getComputedStyle(t).overflowX,
            inside: b.r <= main.r + 1 && b.l >= main.l - 1, text: t.textContent.slice(0, 40)};
  });
}
// charts with a range slider: the visible x range, the whole run, the plot's width in pixels, the tick marks
function windows(divs) {
  return divs.filter(function (d) { return d.layout && d.layout.xaxis && d.layout.xaxis.rangeslider &&
                                           d.layout.xaxis.rangeslider.visible; })
    .map(function (d) {
      var xa = d._fullLayout.xaxis;
      var ticks = d._fullData.filter(function (tr) { return tr.mode === 'markers' && tr.y && tr.y[0] === 'checkpointing'; });
      return {id: d.id, range: xa.range, whole: d._fullLayout.xaxis.rangeslider.range, width: xa._length,
              checkpoints: ticks.length ? Array.prototype.slice.call(ticks[0].x) : []};
    });
}
window.addEventListener('load', function () {
  setTimeout(function () {
    var divs = Array.prototype.slice.call(document.querySelectorAll('div.plotly-graph-div'));
    var out = {
      errors: window.__errors,
      figures: divs.length,
      rendered: divs.filter(function (d) { return d.querySelector('svg.main-svg') !== null; }).length,
      empty: divs.filter(function (d) { return d.querySelectorAll('g.trace, g.hm, g.barlayer g.point').length === 0; })
                 .map(function (d) { return d.id; }),
      resources: performance.getEntriesByType('resource').map(function (r) { return r.name; }),
      title: document.title,
      overlaps: overlaps(divs),
      tables: tables(),
      windows: windows(divs)
    };
    var pre = document.createElement('pre');
    pre.id = 'probe-result';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 500);
});
</script>"""


def find_chromium() -> str | None:
    given = os.environ.get("CLUSTERSIM_CHROMIUM")
    if given:
        return given
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; or set CLUSTERSIM_CHROMIUM); "
                    "the HTML report's browser test needs a real browser")
    return path


def _run(browser: str, args: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def load_in_browser(browser: str, page: str, workdir: Path) -> dict[str, Any]:
    """Open the page (with the probes) headless and return what the probe saw."""
    probed = page.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_TAIL + "</body>", 1)
    path = workdir / "report.html"
    path.write_text(probed, encoding="utf-8")
    proc = _run(browser, ["--virtual-time-budget=10000", "--dump-dom", path.as_uri()], workdir)
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the probe wrote nothing (rc {proc.returncode}); stderr:\n{proc.stderr[-3000:]}"
    seen: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    seen["stderr"] = proc.stderr
    return seen


def _check(seen: dict[str, Any], expected_figures: int) -> None:
    assert seen["errors"] == []
    assert "Uncaught" not in seen["stderr"]
    assert seen["figures"] == expected_figures
    assert seen["rendered"] == expected_figures
    assert seen["empty"] == []
    assert [r for r in seen["resources"] if not r.startswith(("data:", "blob:"))] == []
    # the toolbar (top right, down the edge) covers no title, annotation, colour bar or legend
    assert seen["overlaps"] == []
    # a wide table scrolls sideways inside the page instead of being cut
    for t in seen["tables"]:
        assert t["inside"], t
        assert t["scroll"] <= t["client"] + 1 or t["overflow"] in ("auto", "scroll"), t


def _visible_checkpoints(window: dict[str, Any]) -> tuple[int, float]:
    """How many checkpoint ticks the opening view shows, and the fewest pixels between two of them."""
    lo, hi = window["range"]
    xs = sorted(x for x in window["checkpoints"] if lo <= x <= hi)
    px = window["width"] / (hi - lo)
    gaps = [(b - a) * px for a, b in zip(xs, xs[1:], strict=False)]
    return len(xs), min(gaps, default=float("inf"))


@pytest.mark.parametrize("kind", ["costs", "plan", "sweep"])  # hand-built results (tests/test_report.py)
def test_other_reports_render_in_the_browser(kind: str, chromium: str, tmp_path: Path) -> None:
    result = EXAMPLES[kind]()
    seen = load_in_browser(chromium, render_html(result, kind=kind), tmp_path)
    _check(seen, figure_count(result, kind=kind))


def test_simulate_report_renders_every_figure_with_no_errors(chromium: str, tmp_path: Path) -> None:
    """`clustersim simulate scenarios/quickstart.yaml --report` (fewer replicas), with a hostile name."""
    out = tmp_path / "quickstart.html"
    proc = subprocess.run([sys.executable, "-m", "clustersim", "simulate", str(QUICKSTART), "--replicas", "20",
                           "--set", f"name={XSS}", "--report", str(out)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text(encoding="utf-8")
    assert XSS not in page
    seen = load_in_browser(chromium, page, tmp_path)
    _check(seen, EXPECTED_FIGURES["simulate"])
    assert seen["title"] == f"clustersim report: {XSS}"  # shown as text, did not run


#: ``clustersim simulate scenarios/llama3-405b-16k.yaml``: 16,384 GPUs, 100 days, a checkpoint every 4 min.
BIG = QUICKSTART.parent / "llama3-405b-16k.yaml"


@pytest.mark.parametrize("scenario", [QUICKSTART, BIG], ids=["quickstart", "16k-gpus"])
def test_long_run_timeline_opens_on_a_readable_window(scenario: Path, chromium: str, tmp_path: Path) -> None:
    """The timeline of a run with thousands of checkpoints (the 16k-GPU run has ~34,000) opens on a
    window in which single checkpoints are pixels apart, and its slider spans the whole run."""
    out = tmp_path / "run.html"
    proc = subprocess.run([sys.executable, "-m", "clustersim", "simulate", str(scenario), "--replicas", "2",
                           "--workers", "1", "--report", str(out)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr
    seen = load_in_browser(chromium, out.read_text(encoding="utf-8"), tmp_path)
    _check(seen, EXPECTED_FIGURES["simulate"])
    (window,) = seen["windows"]
    lo, hi = window["range"]
    whole = window["whole"]
    assert whole[0] == 0 and whole[1] >= max(window["checkpoints"])  # the slider shows the whole run
    assert (hi - lo) < 0.2 * (whole[1] - whole[0])  # the opening view is a window, not the run
    count, closest_px = _visible_checkpoints(window)
    assert 10 <= count <= 60 and closest_px >= 5  # single checkpoints, told apart
    # and the whole run is there to pan along: many more checkpoints than the window shows, up to its end
    assert len(window["checkpoints"]) > 5 * count and max(window["checkpoints"]) >= 0.8 * whole[1]


def screenshot(png: Path, browser: str | None = None) -> None:
    """The docs' screenshot (1280 x 2400) of `clustersim simulate scenarios/quickstart.yaml --report`."""
    browser = browser or find_chromium()
    if browser is None:
        raise SystemExit("Chromium is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        subprocess.run([sys.executable, "-m", "clustersim", "simulate", str(QUICKSTART), "--report", str(page)],
                       check=True, capture_output=True, timeout=TIMEOUT_S)
        png.parent.mkdir(parents=True, exist_ok=True)
        proc = _run(browser, ["--virtual-time-budget=10000", "--hide-scrollbars", "--window-size=1280,2400",
                              f"--screenshot={png.resolve()}", page.as_uri()], Path(tmp))
        if proc.returncode != 0 or not png.exists():
            raise SystemExit(f"screenshot failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")


if __name__ == "__main__":  # pragma: no cover - the docs' screenshot
    if len(sys.argv) == 3 and sys.argv[1] == "--screenshot":
        screenshot(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m tests.test_report_browser --screenshot docs/img/report.png")

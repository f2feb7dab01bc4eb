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
      title: document.title
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

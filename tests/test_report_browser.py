"""The sweep report in a real browser (headless Debian chromium, no network): every Plotly
figure rendered to SVG, no JS error, and the tables sort when a header is clicked.

The page is loaded with ``--dump-dom``; a copy of it gets two probe scripts (one first in
<head> that records console errors and uncaught exceptions, one last in <body> that clicks
headers and writes what it saw into the DOM). The report's own code runs unchanged. Skipped
only where chromium is missing outside CI; ``.ci/run`` installs it, and in CI this must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bold5000_ae.report import build_report
from tests.test_report import SETTINGS, sweep  # noqa: F401 - the hand-made multirun fixture

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

HEAD_PROBE = """<script>window.__errors = [];
const __error = console.error.bind(console);
console.error = (...a) => { window.__errors.push(a.map(String).join(' ')); __error(...a); };
window.addEventListener('error', e => window.__errors.push('uncaught: ' + e.message));
window.addEventListener('unhandledrejection', e => window.__errors.push('rejection: ' + e.reason));
</script>"""

BODY_PROBE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const labels = () => Array.from(document.querySelectorAll('#ranking tbody tr'))
                            .map(r => r.cells[1].textContent.trim());
  const header = (table, name) => Array.from(document.querySelectorAll(`#${table} thead th`))
                                       .find(th => th.textContent.trim() === name);
  const r2 = header('ranking', 'test/r2'), out = {before: labels()};
  r2.click(); out.ascending = labels(); out.aria = r2.getAttribute('aria-sort');
  r2.click(); out.descending = labels();
  const job = header('runs', 'job'); job.click(); job.click();
  out.jobs = Array.from(document.querySelectorAll('#runs tbody tr'))
                  .map(r => r.cells[0].textContent);
  out.fixed = Array.from(document.querySelectorAll('#ranking tbody tr.reference'))
                   .map(r => r.cells[1].textContent);
  out.plots = document.querySelectorAll('.js-plotly-plot').length;
  out.rendered = Array.from(document.querySelectorAll('.js-plotly-plot'))
                      .filter(d => d.querySelector('svg.main-svg')).length;
  out.svgs = document.querySelectorAll('svg.main-svg').length;
  out.errors = window.__errors;
  const pre = document.createElement('pre'); pre.id = 'browser-check';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 500));</script>"""


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def dump_dom(browser: str, page: Path, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran (virtual time: timers fire without waiting)."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def browser() -> str:
    found = find_browser()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install -y chromium); CI runs this")
    return found


@pytest.mark.subprocess
def test_report_renders_without_errors_and_sorts(browser: str, sweep: Path,  # noqa: F811
                                                 tmp_path: Path) -> None:
    page = build_report(sweep, SETTINGS).files["report.html"]
    text = page.read_text(encoding="utf-8")
    probed = page.with_name("probed.html")  # beside it: the run links stay valid
    probed.write_text(text.replace("<head>", "<head>" + HEAD_PROBE, 1)
                      .replace("</body>", BODY_PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(browser, probed, tmp_path)
    found = re.search(r"<pre id=\"browser-check\">(.*?)</pre>", dom, flags=re.S)
    assert found, dom[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["errors"] == []
    # bars, curves, parallel coordinates: each drew its SVG
    assert seen["plots"] == 3 and seen["rendered"] == 3 and seen["svgs"] >= 3
    # ranked by test/r2 with the reference rows in place: 0.8, 0.50, 0.35, 0.2567, 0.0
    ranked = ["ceiling: noise_ceiling_r2", "model/loss=l1", "model/loss=mse", "baseline: pca_k",
              "baseline: train_mean"]
    assert seen["before"] == ranked
    assert seen["ascending"] == ranked[::-1]  # references sort with the configurations
    assert seen["aria"] == "ascending"
    assert seen["descending"] == ranked
    assert seen["jobs"] == ["4", "3", "2", "1", "0"]  # numbers sort as numbers, descending
    assert sorted(seen["fixed"]) == ["baseline: pca_k", "baseline: train_mean",
                                     "ceiling: noise_ceiling_r2"]

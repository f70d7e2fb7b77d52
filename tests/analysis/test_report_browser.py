"""The report renders in a real browser (headless Chromium): plots, tables, sorting, no errors.

Chromium comes from Debian's package; the fixture installs it when missing and running as root
(CI runs as root on a fresh machine), else the test is skipped with the command to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest
from matplotlib.image import imread

from analysis.aggregate import load_results
from analysis.report import build_report

pytestmark = pytest.mark.slow  # installing chromium on a fresh machine takes a minute or more

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Appended after the report's own script: clicks the f1_k1 header of the best-neurons table
# twice and records the column's order after each click in <body data-...>.
CLICK_SORT = """<script>
const t = document.getElementById("best-neurons");
const th = Array.from(t.tHead.rows[0].cells).find(c => c.textContent === "f1_k1");
const column = () => Array.from(t.tBodies[0].rows).map(r => r.cells[th.cellIndex].textContent);
th.click(); document.body.dataset.sortedAsc = column().join(" ");
th.click(); document.body.dataset.sortedDesc = column().join(" ");
</script></body>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is missing: apt-get install chromium (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=900)
    return shutil.which("chromium")


def browse(chromium: str, page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on a local file with a fresh profile; returns its stdout."""
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def report(report_run, tmp_path) -> Path:
    run_dir, cache = report_run
    return build_report(load_results(run_dir), tmp_path / "report.html", cache=cache)


def test_dom_has_the_tables_and_plots_and_no_script_error(chromium, report, tmp_path):
    dom = browse(chromium, report, tmp_path / "profile", "--dump-dom")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-ready="1"' in body  # the report's script ran to its end
    assert "data-js-error" not in body
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) == 7  # + k=1 intervals
    for table_id in ("best-neurons", "sparsity", "top-neurons"):
        assert f'id="{table_id}"' in dom
    assert "<mark>" in dom  # the probed token of a neuron page's context


def test_clicking_a_header_sorts_the_table(chromium, report, tmp_path):
    clicking = tmp_path / "clicking.html"
    clicking.write_text(report.read_text().replace("</body>", CLICK_SORT))
    dom = browse(chromium, clicking, tmp_path / "profile", "--dump-dom")
    asc = re.search(r'data-sorted-asc="([^"]*)"', dom).group(1).split()
    desc = re.search(r'data-sorted-desc="([^"]*)"', dom).group(1).split()
    values = [float(unescape(v)) for v in asc]
    assert len(values) == 3  # tiny-pythia / python, pythia-70m / python and c: 0.8, 0.9, 0.5
    assert values == sorted(values) and values[0] < values[-1]
    assert desc == asc[::-1]


def test_screenshot_is_not_blank(chromium, report, tmp_path):
    shot = tmp_path / "shot.png"
    browse(
        chromium, report, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}"
    )
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (2400, 1280)
    ink = (image < 0.9).any(axis=-1).mean()  # share of pixels that are not (near) white
    assert ink > 0.05
    assert len({tuple(p) for p in image[::16, ::16].reshape(-1, 3).round(2)}) > 50  # plots' colours

"""The console scripts pyproject.toml declares exist after the set-up and run their command."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_script_points_at_a_callable(name):
    module, _, attr = SCRIPTS[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_installed_scripts_run(tmp_path):
    bin_dir = Path(sys.executable).parent
    missing = [n for n in SCRIPTS if not (bin_dir / n).exists()]
    if missing:
        pytest.skip(f"not installed into this interpreter's bin (pip install -e .): {missing}")
    listed = subprocess.run(
        [str(bin_dir / "probing-features"), "list", "--format", "tsv"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0 and "programming_language\tpython" in listed.stdout
    bad = subprocess.run(
        [str(bin_dir / "probing"), "feature=nonexistent"], capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nonexistent" in bad.stderr

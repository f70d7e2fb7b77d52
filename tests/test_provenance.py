"""Every row says which code, libraries and machine made it."""

from __future__ import annotations

import subprocess

import pytest

from probing import provenance


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A git checkout standing in for the package's own."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "code.py").write_text("x = 1\n")

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", repo.resolve())
    provenance.code_version.cache_clear()
    yield repo
    provenance.code_version.cache_clear()


def test_code_version_names_the_commit_and_a_dirty_tree(checkout):
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    clean = provenance.code_version()
    assert clean.endswith(f"+g{commit}") and not clean.endswith(".dirty")
    (checkout / "code.py").write_text("x = 2\n")
    provenance.code_version.cache_clear()
    assert provenance.code_version() == f"{clean}.dirty"
    (checkout / "untracked.txt").write_text("outputs are not code\n")
    (checkout / "code.py").write_text("x = 1\n")
    provenance.code_version.cache_clear()
    assert provenance.code_version() == clean


def test_outside_a_checkout_the_package_version_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", tmp_path)
    provenance.code_version.cache_clear()
    try:
        assert "+g" not in provenance.code_version()
    finally:
        provenance.code_version.cache_clear()


def test_rows_carry_libraries_device_and_seeds():
    fields = provenance.provenance("cpu", seed=3, probe_seed=4)
    assert {"torch", "numpy", "scikit-learn", "transformers", "python"} <= set(fields["libraries"])
    assert fields["device"].startswith("cpu (") and fields["seed"] == 3
    assert fields["probe_seed"] == 4 and fields["code_version"]

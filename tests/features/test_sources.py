"""File discovery and reading: deterministic lists, nothing that is not text."""

from __future__ import annotations

import os

import pytest

from probing.features.core.errors import FeatureDataError
from probing.features.sources.files import (
    document_reader,
    has_extension,
    read_text,
    require_files,
    walk_files,
)


def test_walk_is_sorted_filtered_and_skips_symlinks_and_excluded_dirs(tmp_path):
    for rel in ["b/z.py", "a/y.py", "a/x.txt", "site-packages/s.py", "small.py"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * (1 if rel == "small.py" else 20))
    os.symlink(tmp_path / "a/y.py", tmp_path / "link.py")
    found = walk_files(
        [tmp_path, tmp_path / "missing"],
        has_extension(".py"),
        min_bytes=20,
        exclude_dirs=("site-packages",),
    )
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/y.py", "b/z.py"]


def test_read_text_rejects_binary_non_utf8_and_minified(tmp_path):
    cases = {
        "ok.txt": b"line one\nline two\n",
        "bin": b"abc\0def\n",
        "latin1": "caf\xe9\n".encode("latin-1"),
        "minified.js": b"var a=1;" * 200,
        "blank": b"  \n\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert read_text(tmp_path / "ok.txt") == "line one\nline two\n"
    for name in ("bin", "latin1", "minified.js", "blank", "absent"):
        assert read_text(tmp_path / name) is None, name


def test_document_reader_drops_exact_copies(tmp_path):
    for name, text in {"1": "same text\n", "2": "same text\n", "3": "other\n"}.items():
        (tmp_path / name).write_text(text)
    read = document_reader(sorted(tmp_path.iterdir()))
    assert [read(i) for i in range(3)] == ["same text\n", None, "other\n"]


def test_require_files_names_roots_and_install_hint():
    with pytest.raises(FeatureDataError, match=r"under /nowhere; apt-get install foo"):
        require_files([], "foo files", ["/nowhere"], "apt-get install foo")

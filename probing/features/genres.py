"""Readers that turn one kind of file on this machine into the plain text of one genre.

Each returns None when a file yields no usable text, so a genre's document list can be filtered
lazily while windows are sampled.
"""

from __future__ import annotations

import ast
import gzip
import re
import shutil
import subprocess
from pathlib import Path

from probing.features.catalogs import read_catalog
from probing.features.registry import FeatureDataError
from probing.features.sources import read_text

_BLANK_RUNS = re.compile(r"\n{3,}")


def read_gzip_text(path: str | Path) -> str | None:
    """A gzip-compressed UTF-8 text (Debian changelogs), None if unreadable or not UTF-8."""
    try:
        text = gzip.decompress(Path(path).read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    return text.replace("\r\n", "\n") if text.strip() and "\0" not in text else None


def require_groff() -> str:
    groff = shutil.which("groff")
    if groff is None:
        raise FeatureDataError("man pages need groff to render: apt-get install groff-base")
    return groff


def render_man_page(path: str | Path) -> str | None:
    """A man page as the text `man` shows, unwrapped (one paragraph a line), without its
    header and footer lines; groff's -k runs preconv, so Latin-1 pages come out as UTF-8."""
    try:
        source = Path(path).read_bytes()
        if str(path).endswith(".gz"):
            source = gzip.decompress(source)
        out = subprocess.run(
            [require_groff(), "-k", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=4000n", "-rHY=0"],
            input=source,
            capture_output=True,
            timeout=30,
            check=False,
        ).stdout.decode("utf-8", errors="replace")
    except (OSError, EOFError, subprocess.TimeoutExpired):
        return None
    lines = [" ".join(line.split()) for line in out.splitlines()]
    nonblank = [i for i, line in enumerate(lines) if line]
    if len(nonblank) < 3:
        return None
    body = "\n".join(lines[nonblank[0] + 1 : nonblank[-1]]).strip()
    return _BLANK_RUNS.sub("\n\n", body) or None


def read_docstrings(path: str | Path) -> str | None:
    """The docstrings of a Python module (module, classes, functions), in source order."""
    text = read_text(path)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = [ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, kinds)]
    return "\n\n".join(d for d in docs if d and len(d.split()) >= 3) or None


def read_msgids(path: str | Path) -> str | None:
    """A program's English interface messages (the msgids of one of its .mo catalogues)."""
    pairs = read_catalog(Path(path), min_words=3)
    return "\n".join(msgid for msgid, _ in pairs) or None

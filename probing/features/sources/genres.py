"""Readers that turn one kind of file into the plain text of one genre.

Each returns None when a file yields no usable text, so a genre's document list can be filtered
lazily while windows are sampled.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from probing.features.sources.files import read_text

_BLOCK_COMMENT = re.compile(r"/\*+(.*?)\*+/", re.DOTALL)
_COMMENT_MARGIN = re.compile(r"^[ \t]*\*+ ?", re.MULTILINE)


def read_comments(path: str | Path, min_words: int = 4) -> str | None:
    """The block comments (/* ... */, JSDoc and Doxygen included) of a C-family source file, their
    leading asterisks removed, one comment a paragraph; comments under min_words words (markers
    such as `/* namespace */`) are left out."""
    text = read_text(path)
    if text is None:
        return None
    blocks = []
    for match in _BLOCK_COMMENT.finditer(text):
        body = _COMMENT_MARGIN.sub("", match.group(1)).strip()
        if len(body.split()) >= min_words:
            blocks.append(body)
    return "\n\n".join(blocks) or None


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

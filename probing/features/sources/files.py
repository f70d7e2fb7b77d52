"""Finding and reading the text files of a source folder, deterministically.

File lists are sorted walks of fixed roots (the unpacked pinned sources, probing.features.sources.pinned,
or a folder the user names), filtered by name, size and content, so the same files give the same
list on every machine. Reading skips what is not text: unreadable files, binaries
(a NUL byte), non-UTF-8 files and minified one-liners.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from probing.features.core.errors import FeatureDataError


def walk_files(
    roots: Iterable[str | Path],
    accept: Callable[[Path], bool],
    min_bytes: int = 0,
    max_bytes: int = 1 << 20,
    exclude_dirs: Iterable[str] = (),
) -> list[Path]:
    """Regular files (no symlinks) under roots that `accept`, with a size in [min_bytes, max_bytes].

    Walk order is sorted and the result is sorted and de-duplicated, so it depends only on what is
    on disk. Roots that do not exist are skipped; the caller decides whether nothing found is fatal.
    """
    excluded = set(exclude_dirs)
    out: set[Path] = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in excluded)
            for name in sorted(filenames):
                path = Path(dirpath, name)
                try:
                    if path.is_symlink() or not path.is_file():
                        continue
                    size = path.stat().st_size
                except OSError:
                    continue
                if min_bytes <= size <= max_bytes and accept(path):
                    out.add(path)
    return sorted(out)


def has_extension(*extensions: str) -> Callable[[Path], bool]:
    return lambda path: path.name.endswith(extensions)


def read_text(path: str | Path, max_mean_line: int = 200) -> str | None:
    """The file as text, or None if it cannot be read, is binary, is not UTF-8 or is minified."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.replace("\r\n", "\n")
    if not text.strip() or len(text) / (text.count("\n") + 1) > max_mean_line:
        return None
    return text


def document_reader(paths: list[Path], seen: set[str] | None = None) -> Callable[[int], str | None]:
    """read(i) -> text of paths[i], or None when unreadable or a copy of a file already read.

    Duplicates (the same header installed twice, one licence in many packages) would otherwise put
    the same text on both sides of a train/test split under different group ids.
    """
    seen = set() if seen is None else seen

    def read(i: int) -> str | None:
        text = read_text(paths[i])
        if text is None:
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest in seen:
            return None
        seen.add(digest)
        return text

    return read


def require_files(paths: list[Path], what: str, roots: Iterable[str], install: str) -> list[Path]:
    """Turn an empty source into one clear error that says where we looked and what to install."""
    if not paths:
        looked = ", ".join(str(r) for r in roots) or "(no roots)"
        raise FeatureDataError(f"no {what} found under {looked}; {install}")
    return paths

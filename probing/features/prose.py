"""English prose already on a Debian machine: licence texts and package copyright files.

Both are written by people for people (the GPL, Apache and MPL texts; each package's statement of
authors and terms), both are redistributable by design, and both are on every Debian install,
so token-level collections that need "just English" (surface text, token position) use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probing.features.sources import document_reader, require_files, walk_files
from probing.features.tokens import Windows, require_count, sample_windows

PROSE_ROOTS = ["/usr/share/common-licenses", "/usr/share/doc"]
PROSE_SOURCE = (
    "English prose on Debian: licence texts in /usr/share/common-licenses and the package "
    "copyright files /usr/share/doc/*/copyright (de-duplicated)"
)
PROSE_LICENCE = "verbatim copying permitted (GPL/LGPL/GFDL/Apache/MPL/Artistic texts); copyright files are Debian package metadata"
INSTALL = "these ship with every Debian/Ubuntu install (apt-get install base-files)"


def is_prose_file(path: Path) -> bool:
    return path.name == "copyright" or path.parent.name == "common-licenses"


def prose_files(roots: list[str], min_bytes: int = 1500) -> list[Path]:
    paths = walk_files(roots, is_prose_file, min_bytes=min_bytes, max_bytes=1 << 20)
    return require_files(paths, "licence or copyright texts", roots, INSTALL)


def prose_windows(
    tokenizer, n_sequences: int, seq_len: int, max_per_doc: int, seed: int, roots: list[str]
) -> tuple[Windows, list[Path], np.random.Generator]:
    """n_sequences windows of English prose; the generator continues the seeded stream."""
    rng = np.random.default_rng(seed)
    paths = prose_files(roots or PROSE_ROOTS)
    windows = sample_windows(
        len(paths), document_reader(paths), tokenizer, n_sequences, seq_len, max_per_doc, rng
    )
    require_count(
        len(windows.lengths),
        n_sequences,
        f"prose windows from {len(paths)} files",
        "lower n_sequences or raise max_per_doc",
    )
    return windows, paths, rng


def prose_meta(windows: Windows, paths: list[Path]) -> dict:
    """Provenance: how many files were found, and the path of every group (file) used."""
    used = sorted(set(windows.docs.tolist()))
    return {
        "files": {"found": len(paths), "used": len(used)},
        "documents": {str(i): str(paths[i]) for i in used},
    }

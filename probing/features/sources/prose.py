"""English prose from a version-pinned package: Django 5.2.8's documentation pages.

Written by people for people (tutorials, topic guides, reference), BSD-licensed, and fixed by the
pin, so every machine builds the same windows; token-level collections that need "just English"
(surface text, token position) use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probing.features.core.tokens import Windows, require_count, sample_windows
from probing.features.sources import pinned
from probing.features.sources.files import document_reader, has_extension, require_files, walk_files

PROSE_ARTEFACTS = ("django",)
PROSE_SOURCE = (
    "English prose: Django 5.2.8's documentation pages (reStructuredText, docs/*.txt) from "
    + pinned.describe(*PROSE_ARTEFACTS)
)
PROSE_LICENCE = pinned.ARTEFACTS["django"].licence
FETCH = "run `python -m probing.features fetch` (or check the `roots` override)"


def prose_roots() -> list[str]:
    return [pinned.root("django", "django-5.2.8", "docs")]


def prose_files(roots: list[str], min_bytes: int = 1500) -> list[Path]:
    paths = walk_files(roots, has_extension(".txt"), min_bytes=min_bytes, max_bytes=1 << 20)
    return require_files(paths, "documentation pages", roots, FETCH)


def prose_windows(
    tokenizer, n_sequences: int, seq_len: int, max_per_doc: int, seed: int, roots: list[str]
) -> tuple[Windows, list[Path], np.random.Generator]:
    """n_sequences windows of English prose; the generator continues the seeded stream."""
    rng = np.random.default_rng(seed)
    paths = prose_files(roots or prose_roots())
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
        "documents": {str(i): pinned.provenance(paths[i]) for i in used},
    }

"""text_source: which kind of document a window comes from (the paper's Pile subsets; here the
genres that version-pinned packages carry: documentation pages, release notes, docstrings and
source-code comments).

All are English and written by people, so a probe must find genre (register, layout, vocabulary),
not language. Groups are documents; whole documents go to one side of a split. Every genre reads
files of probing.features.sources.pinned, so every machine builds the same dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probing.features.builtin.sequence_classes import sequence_class_dataset
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import require_count, sample_windows
from probing.features.sources import pinned
from probing.features.sources.files import has_extension, read_text, require_files, walk_files
from probing.features.sources.genres import read_comments, read_docstrings

RECIPE_VERSION = 2
DJANGO = ("django", "django-5.2.8")


@dataclass(frozen=True)
class Genre:
    roots: Callable[[], list[str]]
    accept: Callable[[Path], bool]
    read: Callable[[Path], str | None]
    files: str
    artefacts: tuple[str, ...]
    exclude_dirs: tuple[str, ...] = ()
    min_bytes: int = 1500
    max_bytes: int = 1 << 20

    @property
    def licence(self) -> str:
        return ", ".join(pinned.ARTEFACTS[a].licence for a in self.artefacts)


GENRES: dict[str, Genre] = {
    "documentation": Genre(
        roots=lambda: [pinned.root(*DJANGO, "docs")],
        accept=has_extension(".txt"),
        read=read_text,
        files="Django 5.2.8's documentation pages (reStructuredText), release notes excluded",
        artefacts=("django",),
        exclude_dirs=("releases",),
    ),
    "release_notes": Genre(
        roots=lambda: [pinned.root(*DJANGO, "docs", "releases")],
        accept=has_extension(".txt"),
        read=read_text,
        files="Django's release notes (docs/releases, one page per release)",
        artefacts=("django",),
        min_bytes=1000,
    ),
    "docstring": Genre(
        roots=lambda: [pinned.root(*DJANGO, "django")],
        accept=has_extension(".py"),
        read=read_docstrings,
        files="docstrings of Django 5.2.8's modules",
        artefacts=("django",),
        exclude_dirs=("__pycache__",),
        min_bytes=4000,
        max_bytes=64 << 10,  # parsing is the cost: 64 KiB modules parse in ~20 ms
    ),
    "code_comment": Genre(
        roots=lambda: [
            pinned.root("lodash", "package"),
            pinned.root("pybind11", "pybind11", "include"),
            pinned.root("psutil", "psutil-7.1.3", "psutil"),
        ],
        accept=has_extension(".js", ".h", ".c"),
        read=read_comments,
        files="block comments of lodash's JavaScript, pybind11's C++ and psutil's C",
        artefacts=("lodash", "pybind11", "psutil"),
        min_bytes=1000,
    ),
}


def genre_paths(name: str, roots: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """The documents of one genre (sorted) and the roots searched; an empty genre is an error."""
    genre = GENRES[name]
    genre_roots = list(roots or genre.roots())
    paths = walk_files(
        genre_roots, genre.accept, genre.min_bytes, genre.max_bytes, genre.exclude_dirs
    )
    fetch = "run `python -m probing.features fetch` (or check the `roots` override)"
    return require_files(paths, f"{name} documents", genre_roots, fetch), genre_roots


def build(
    tokenizer,
    genres: list[str],
    seq_len: int,
    n_per_class: int,
    max_per_doc: int,
    seed: int,
    roots: dict[str, list[str]],
) -> FeatureDataset:
    """n_per_class windows per genre, labels one-hot over genres, groups = document."""
    check_params({"genres": genres})
    rng = np.random.default_rng(seed)
    per_genre, groups = [], []
    meta: dict = {"files": {}, "roots": {}, "documents": {}}
    offset = 0
    for name in genres:
        genre = GENRES[name]
        paths, genre_roots = genre_paths(name, roots.get(name))

        def read_doc(
            i: int, paths: list[Path] = paths, read: Callable[[Path], str | None] = genre.read
        ) -> str | None:
            return read(paths[i])

        windows = sample_windows(
            len(paths),
            read_doc,
            tokenizer,
            n_per_class,
            seq_len,
            max_per_doc,
            rng,
        )
        require_count(
            len(windows.lengths),
            n_per_class,
            f"{name} windows from {len(paths)} documents",
            "raise max_per_doc or lower n_per_class",
        )
        per_genre.append(windows)
        groups.append(windows.docs + offset)
        used = sorted(set(windows.docs.tolist()))
        meta["files"][name] = {"found": len(paths), "used": len(used)}
        meta["roots"][name] = (
            pinned.describe(*genre.artefacts) if name not in roots else genre_roots
        )
        meta["documents"].update({str(d + offset): pinned.provenance(paths[d]) for d in used})
        offset += len(paths)
    return sequence_class_dataset(
        "text_source", genres, per_genre, groups, seq_len, tokenizer, rng, meta
    )


def check_params(params: dict) -> None:
    """The genres: 2+ of those the pinned sources give."""
    genres = params["genres"]
    unknown = sorted(set(genres) - set(GENRES))
    if unknown or len(set(genres)) < 2:
        raise FeatureDataError(f"text_source needs 2+ genres from {sorted(GENRES)}; got {genres}")


COLLECTION = register(
    Collection(
        name="text_source",
        category="text_source",
        source="; ".join(f"{name}: {g.files}" for name, g in GENRES.items()),
        licence="; ".join(f"{name}: {g.licence}" for name, g in GENRES.items()),
        aggregation="mean",
        features={
            name: f"the window is cut from {g.files} (one-vs-rest)" for name, g in GENRES.items()
        },
        defaults={
            "genres": list(GENRES),
            "seq_len": 128,
            "n_per_class": 1000,
            "max_per_doc": 12,
            "seed": 0,
            "roots": {},
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        artefacts=tuple(dict.fromkeys(a for g in GENRES.values() for a in g.artefacts)),
        check=check_params,
    )
)

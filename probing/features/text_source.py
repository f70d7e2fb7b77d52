"""text_source: which kind of document a window comes from (the paper's Pile subsets, here the
genres a Debian machine carries: legal texts, changelogs, manuals, docstrings, UI messages).

All are English and written by people, so a probe must find genre (register, layout, vocabulary),
not language. Groups are documents; whole documents go to one side of a split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probing.features.dataset import FeatureDataset
from probing.features.genres import read_docstrings, read_gzip_text, read_msgids, render_man_page
from probing.features.prose import is_prose_file
from probing.features.registry import Collection, FeatureDataError, register
from probing.features.sequence_classes import sequence_class_dataset
from probing.features.sources import (
    has_extension,
    python_stdlib_root,
    read_text,
    require_files,
    walk_files,
)
from probing.features.tokens import require_count, sample_windows

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Genre:
    roots: Callable[[], list[str]]
    accept: Callable[[Path], bool]
    read: Callable[[Path], str | None]
    files: str
    install: str
    licence: str
    exclude_dirs: tuple[str, ...] = ()
    min_bytes: int = 1500
    max_bytes: int = 1 << 20


def is_changelog(path: Path) -> bool:
    return path.name.startswith("changelog") and path.name.endswith(".gz")


def is_english_man_page(path: Path) -> bool:
    """Sections 1, 5, 8 of the untranslated tree; the Google Cloud SDK's 16k generated gcloud_*
    pages are left out, so one tool does not make up most of the genre."""
    return (
        path.parent.name in ("man1", "man5", "man8")
        and path.parent.parent.name == "man"  # not man/<lang>/man1: translations
        and path.name.endswith(".gz")
        and not path.name.startswith("gcloud")
    )


def is_de_catalog(path: Path) -> bool:
    return path.parts[-3:-1] == ("de", "LC_MESSAGES") and path.suffix == ".mo"


GENRES: dict[str, Genre] = {
    "legal": Genre(
        roots=lambda: ["/usr/share/common-licenses", "/usr/share/doc"],
        accept=is_prose_file,
        read=read_text,
        files="licence texts (/usr/share/common-licenses) and package copyright files",
        install="these ship with every Debian install (base-files)",
        licence="verbatim copying permitted",
    ),
    "changelog": Genre(
        roots=lambda: ["/usr/share/doc"],
        accept=is_changelog,
        read=read_gzip_text,
        files="package changelogs /usr/share/doc/*/changelog*.gz (Debian and upstream)",
        install="Docker images may strip /usr/share/doc; reinstall packages without path-exclude",
        licence="the packages' licences",
        min_bytes=1000,
    ),
    "manual": Genre(
        roots=lambda: ["/usr/share/man"],
        accept=is_english_man_page,
        read=render_man_page,
        files="English man pages (sections 1, 5, 8; no gcloud_*) rendered by groff",
        install="apt-get install man-db groff-base manpages",
        licence="the packages' licences",
        min_bytes=1000,
    ),
    "docstring": Genre(
        roots=lambda: [python_stdlib_root()],
        accept=has_extension(".py"),
        read=read_docstrings,
        files="docstrings of the Python standard library's modules",
        install="the standard library ships with Python",
        licence="PSF-2.0",
        exclude_dirs=("site-packages", "dist-packages", "__pycache__"),
        min_bytes=4000,
        max_bytes=64 << 10,  # parsing is the cost: 64 KiB modules parse in ~20 ms
    ),
    "ui_messages": Genre(
        roots=lambda: ["/usr/share/locale/de/LC_MESSAGES"],
        accept=is_de_catalog,
        read=read_msgids,
        files="programs' English interface messages (the msgids of their gettext catalogues)",
        install="apt-get install the programs (coreutils, git, ...) with their translations",
        licence="the programs' licences (mostly GPL/LGPL)",
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
    return require_files(paths, f"{name} documents", genre_roots, genre.install), genre_roots


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
    unknown = sorted(set(genres) - set(GENRES))
    if unknown or len(genres) < 2:
        raise FeatureDataError(f"text_source needs 2+ genres from {sorted(GENRES)}; got {genres}")
    rng = np.random.default_rng(seed)
    per_genre, groups = [], []
    meta: dict = {"files": {}, "roots": {}, "documents": {}}
    offset = 0
    for name in genres:
        genre = GENRES[name]
        paths, genre_roots = genre_paths(name, roots.get(name))
        windows = sample_windows(
            len(paths),
            lambda i, paths=paths, read=genre.read: read(paths[i]),
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
            f"raise max_per_doc or lower n_per_class, or {genre.install}",
        )
        per_genre.append(windows)
        groups.append(windows.docs + offset)
        used = sorted(set(windows.docs.tolist()))
        meta["files"][name] = {"found": len(paths), "used": len(used)}
        meta["roots"][name] = genre_roots
        meta["documents"].update({str(d + offset): str(paths[d]) for d in used})
        offset += len(paths)
    return sequence_class_dataset(
        "text_source", genres, per_genre, groups, seq_len, tokenizer, rng, meta
    )


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
            "n_per_class": 100,
            "max_per_doc": 3,
            "seed": 0,
            "roots": {},
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
    )
)

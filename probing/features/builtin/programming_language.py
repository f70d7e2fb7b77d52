"""programming_language: which language a window of source code is written in (one-vs-rest).

The code comes from version-pinned registry files (probing.features.sources.pinned): Django's Python and
its reStructuredText docs, psutil's C, pybind11's C++ headers, lodash's JavaScript, so every machine
builds the same dataset. Whole files go to one side of a train/test split (groups are files), so a
probe cannot memorise a file.

Every file gives the same number of windows, whatever its language. The packages differ in how
many files they hold (556 Python files, 47 C++ headers), and windows spread over all of a
language's files would make how many windows a file gives tell its language: the permutation null,
which moves labels among documents of like length, could then hardly move a label off its
language, and its "chance" F1 would be the language's own (0.46-0.49 on the quick preset).
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
from probing.features.sources.files import (
    document_reader,
    has_extension,
    require_files,
    walk_files,
)

RECIPE_VERSION = 3  # 3: the same number of windows from every file
FETCH = "run `python -m probing.features fetch` (or check the `roots` override)"


@dataclass(frozen=True)
class LanguageSource:
    roots: Callable[[], list[str]]
    accept: Callable[[Path], bool]
    exclude_dirs: tuple[str, ...]
    artefact: str  # key of probing.features.sources.pinned.ARTEFACTS
    files: str

    @property
    def licence(self) -> str:
        return pinned.ARTEFACTS[self.artefact].licence


LANGUAGES: dict[str, LanguageSource] = {
    "python": LanguageSource(
        roots=lambda: [pinned.root("django", "django-5.2.8", "django")],
        accept=has_extension(".py"),
        exclude_dirs=("__pycache__",),
        artefact="django",
        files="a .py file of Django 5.2.8",
    ),
    "c": LanguageSource(
        roots=lambda: [pinned.root("psutil", "psutil-7.1.3", "psutil")],
        accept=has_extension(".c", ".h"),
        exclude_dirs=(),
        artefact="psutil",
        files="a .c or .h file of psutil 7.1.3's C extension",
    ),
    "cpp": LanguageSource(
        roots=lambda: [pinned.root("pybind11", "pybind11", "include")],
        accept=has_extension(".h"),
        exclude_dirs=(),
        artefact="pybind11",
        files="a C++ header of pybind11 3.0.1",
    ),
    "javascript": LanguageSource(
        roots=lambda: [pinned.root("lodash", "package")],
        accept=has_extension(".js"),
        exclude_dirs=(),
        artefact="lodash",
        files="a .js module of lodash 4.17.21 (npm)",
    ),
    "restructuredtext": LanguageSource(
        roots=lambda: [pinned.root("django", "django-5.2.8", "docs")],
        accept=has_extension(".txt"),
        exclude_dirs=(),
        artefact="django",
        files="a reStructuredText page of Django 5.2.8's documentation",
    ),
}


def build(
    tokenizer,
    languages: list[str],
    seq_len: int,
    n_per_class: int,
    windows_per_file: int | None,
    min_bytes: int,
    max_bytes: int,
    seed: int,
    roots: dict[str, list[str]],
) -> FeatureDataset:
    """n_per_class windows per language, labels one-hot over languages, groups = file.

    windows_per_file: how many windows every file gives; None: the fewest that let the language
    with the fewest files fill n_per_class.
    """
    check_params({"languages": languages, "windows_per_file": windows_per_file})
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    per_language, groups = [], []
    meta: dict = {"files": {}, "roots": {}, "documents": {}}
    found: dict[str, list[Path]] = {}
    for lang in languages:
        source = LANGUAGES[lang]
        lang_roots = list(roots.get(lang) or source.roots())
        paths = walk_files(lang_roots, source.accept, min_bytes, max_bytes, source.exclude_dirs)
        require_files(paths, f"{lang} files of {min_bytes}-{max_bytes} bytes", lang_roots, FETCH)
        found[lang] = paths
        meta["roots"][lang] = (
            pinned.ARTEFACTS[source.artefact].label if lang not in roots else lang_roots
        )
    per_file = windows_per_file or -(-n_per_class // min(len(p) for p in found.values()))
    meta["windows_per_file"] = per_file
    group_offset = 0
    for lang, paths in found.items():
        windows = sample_windows(
            len(paths),
            document_reader(paths, seen),
            tokenizer,
            n_per_class,
            seq_len,
            per_file,
            rng,
            fill_docs=True,
        )
        require_count(
            len(windows.lengths),
            n_per_class,
            f"{lang} windows from {len(paths)} files, {per_file} a file",
            "raise windows_per_file or lower n_per_class",
        )
        per_language.append(windows)
        groups.append(windows.docs + group_offset)
        meta["files"][lang] = {"found": len(paths), "used": len(set(windows.docs.tolist()))}
        for doc in sorted(set(windows.docs.tolist())):
            meta["documents"][str(doc + group_offset)] = pinned.provenance(paths[doc])
        group_offset += len(paths)
    return sequence_class_dataset(
        "programming_language", languages, per_language, groups, seq_len, tokenizer, rng, meta
    )


def check_params(params: dict) -> None:
    """The languages: 2+ of those the pinned packages give; windows_per_file: None or >= 1."""
    languages = params["languages"]
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown or len(set(languages)) < 2:
        raise FeatureDataError(
            f"programming_language needs 2+ languages from {sorted(LANGUAGES)}; got {languages}"
        )
    per_file = params.get("windows_per_file")
    if per_file is not None and (type(per_file) is not int or per_file < 1):
        raise FeatureDataError(
            f"programming_language: windows_per_file must be a whole number >= 1 or null (as "
            f"few as the language with the fewest files needs); got {per_file!r}"
        )


COLLECTION = register(
    Collection(
        name="programming_language",
        category="programming_language",
        source="code of pinned packages: "
        + "; ".join(f"{lang}: {src.files}" for lang, src in LANGUAGES.items()),
        licence="per file, all redistributable: "
        + "; ".join(f"{lang}: {src.licence}" for lang, src in LANGUAGES.items()),
        aggregation="mean",
        features={
            lang: f"the window is cut from {src.files} (one-vs-rest)"
            for lang, src in LANGUAGES.items()
        },
        defaults={
            "languages": list(LANGUAGES),
            "seq_len": 128,
            "n_per_class": 1000,
            "windows_per_file": None,
            "min_bytes": 1024,
            "max_bytes": 256 * 1024,
            "seed": 0,
            "roots": {},
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        artefacts=tuple(dict.fromkeys(src.artefact for src in LANGUAGES.values())),
        check=check_params,
    )
)

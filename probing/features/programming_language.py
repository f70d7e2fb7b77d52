"""programming_language: which language a window of source code is written in (one-vs-rest).

The code is what this machine already has installed: the Python standard library, C headers,
npm's JavaScript, Perl modules, shell scripts found by their shebang, Markdown docs. Whole files
go to one side of a train/test split (groups are files), so a probe cannot memorise a file.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probing.features.dataset import FeatureDataset
from probing.features.registry import Collection, FeatureDataError, register
from probing.features.sequence_classes import sequence_class_dataset
from probing.features.sources import (
    document_reader,
    has_extension,
    npm_node_modules,
    python_stdlib_root,
    require_files,
    shebang_interpreter,
    walk_files,
)
from probing.features.tokens import require_count, sample_windows

RECIPE_VERSION = 1
SHELLS = {"sh", "bash", "dash"}


@dataclass(frozen=True)
class LanguageSource:
    roots: Callable[[], list[str]]
    accept: Callable[[Path], bool]
    exclude_dirs: tuple[str, ...]
    install: str
    licence: str
    files: str


def is_shell_script(path: Path) -> bool:
    if path.name.endswith(".sh"):
        return True
    return "." not in path.name and shebang_interpreter(path) in SHELLS


LANGUAGES: dict[str, LanguageSource] = {
    "python": LanguageSource(
        roots=lambda: [python_stdlib_root()],
        accept=has_extension(".py"),
        exclude_dirs=("site-packages", "dist-packages", "__pycache__"),
        install="the standard library ships with Python; reinstall Python",
        licence="PSF-2.0",
        files="a .py file of the Python standard library (site-packages excluded)",
    ),
    "c": LanguageSource(
        roots=lambda: ["/usr/include"],
        accept=has_extension(".h", ".c"),
        exclude_dirs=(),
        install="apt-get install libc6-dev linux-libc-dev",
        licence="LGPL-2.1+ (glibc), GPL-2.0 WITH Linux-syscall-note (kernel headers), others",
        files="a .h or .c file under /usr/include",
    ),
    "javascript": LanguageSource(
        roots=npm_node_modules,
        accept=has_extension(".js", ".mjs", ".cjs"),
        exclude_dirs=(),
        install="apt-get install npm (its node_modules are the JavaScript source)",
        licence="Artistic-2.0 (npm), MIT/ISC (its dependencies)",
        files="a .js/.mjs/.cjs file of npm's node_modules",
    ),
    "shell": LanguageSource(
        roots=lambda: ["/usr/bin", "/usr/sbin", "/usr/share", "/usr/lib", "/etc"],
        accept=is_shell_script,
        exclude_dirs=("node_modules", "site-packages", "dist-packages"),
        install="shell scripts ship with Debian's base system (apt-get install debianutils)",
        licence="per package: /usr/share/doc/<package>/copyright",
        files="a .sh file, or an extension-less script whose shebang names sh, bash or dash",
    ),
    "perl": LanguageSource(
        roots=lambda: sorted(glob.glob("/usr/share/perl*") + glob.glob("/usr/lib/*/perl*")),
        accept=has_extension(".pm", ".pl"),
        exclude_dirs=(),
        install="apt-get install perl-modules-5.36 (or the perl package of your release)",
        licence="Artistic-1.0 or GPL-1.0+ (Perl)",
        files="a .pm or .pl file under /usr/share/perl* or /usr/lib/*/perl*",
    ),
    "markdown": LanguageSource(
        roots=lambda: ["/usr/share/doc", *npm_node_modules()],
        accept=has_extension(".md"),
        exclude_dirs=(),
        install="apt-get install nodejs-doc npm (their docs are Markdown)",
        licence="per package: MIT (Node.js docs), Artistic-2.0 (npm docs), others",
        files="a .md file under /usr/share/doc or npm's node_modules",
    ),
}


def build(
    tokenizer,
    languages: list[str],
    seq_len: int,
    n_per_class: int,
    max_per_file: int,
    min_bytes: int,
    max_bytes: int,
    seed: int,
    roots: dict[str, list[str]],
) -> FeatureDataset:
    """n_per_class windows per language, labels one-hot over languages, groups = file."""
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown or len(languages) < 2:
        raise FeatureDataError(
            f"programming_language needs 2+ languages from {sorted(LANGUAGES)}; got {languages}"
        )
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    per_language, groups = [], []
    meta: dict = {"files": {}, "roots": {}, "documents": {}}
    group_offset = 0
    for lang in languages:
        source = LANGUAGES[lang]
        lang_roots = list(roots.get(lang) or source.roots())
        paths = walk_files(lang_roots, source.accept, min_bytes, max_bytes, source.exclude_dirs)
        require_files(
            paths, f"{lang} files of {min_bytes}-{max_bytes} bytes", lang_roots, source.install
        )
        windows = sample_windows(
            len(paths),
            document_reader(paths, seen),
            tokenizer,
            n_per_class,
            seq_len,
            max_per_file,
            rng,
        )
        require_count(
            len(windows.lengths),
            n_per_class,
            f"{lang} windows from {len(paths)} files",
            f"raise max_per_file or lower n_per_class, or {source.install}",
        )
        per_language.append(windows)
        groups.append(windows.docs + group_offset)
        meta["files"][lang] = {"found": len(paths), "used": len(set(windows.docs.tolist()))}
        meta["roots"][lang] = lang_roots
        for doc in sorted(set(windows.docs.tolist())):
            meta["documents"][str(doc + group_offset)] = str(paths[doc])
        group_offset += len(paths)
    return sequence_class_dataset(
        "programming_language", languages, per_language, groups, seq_len, tokenizer, rng, meta
    )


COLLECTION = register(
    Collection(
        name="programming_language",
        category="programming_language",
        source="on-disk code: Python stdlib (sysconfig stdlib, no site-packages), /usr/include C "
        "headers, npm's node_modules JavaScript, /usr/share/perl* and /usr/lib/*/perl* modules, "
        "sh/bash scripts (shebang or .sh) under /usr/{bin,sbin,share,lib} and /etc, Markdown "
        "under /usr/share/doc and npm",
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
            "n_per_class": 300,
            "max_per_file": 3,
            "min_bytes": 1024,
            "max_bytes": 256 * 1024,
            "seed": 0,
            "roots": {},
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
    )
)

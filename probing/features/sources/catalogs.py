"""gettext catalogues (.mo) as aligned English / translated messages.

A program's translations live under <locale>/<lang>/LC_MESSAGES/<domain>.mo, written by its
translation team. The English msgid is the original; the msgstr is a human translation of it.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from probing.features.core.errors import FeatureDataError

_PLACEHOLDER = re.compile(r"%|\{|\}|<[a-zA-Z/]|\\|\$\w|&\w")


def catalog_paths(locale_dir: str | Path, lang: str) -> dict[str, Path]:
    """domain -> .mo file for one locale, sorted by domain."""
    folder = Path(locale_dir) / lang / "LC_MESSAGES"
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.mo")) if p.is_file() and not p.is_symlink()}


def clean(message: str) -> str:
    return " ".join(message.split())


def read_catalog(path: Path, min_words: int) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs, singular and translated, whose English has min_words+ words and no
    format placeholders or markup (those would let a probe find '%s', not the language)."""
    try:
        with open(path, "rb") as fh:
            # CPython's parsed .mo table: a private attribute, which typeshed leaves out
            catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    pairs = []
    for key, value in catalog.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue  # plural forms are keyed by (msgid, n)
        msgid, msgstr = clean(key.split("\x04")[-1]), clean(value)
        if not msgid or not msgstr or msgstr == msgid or len(msgid.split()) < min_words:
            continue
        if _PLACEHOLDER.search(msgid) or _PLACEHOLDER.search(msgstr):
            continue
        pairs.append((msgid, msgstr))
    return sorted(set(pairs))


def require_locale(locale_dir: str | Path, lang: str) -> dict[str, Path]:
    paths = catalog_paths(locale_dir, lang)
    if not paths:
        raise FeatureDataError(
            f"no gettext catalogues for {lang!r} under {locale_dir}/{lang}/LC_MESSAGES; choose "
            "languages that the catalogues have (run `python -m probing.features fetch` for "
            "Weblate's)"
        )
    return paths

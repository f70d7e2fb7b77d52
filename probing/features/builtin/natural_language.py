"""natural_language: which human language a window of text is in (one-vs-rest).

The text is Weblate's interface messages and their human translations (its gettext catalogues,
from the version-pinned weblate wheel; probing.features.sources.pinned), so every machine builds the same
dataset; English is the catalogues' msgids. Messages are put into `n_groups` groups by a hash of
their English msgid, the same group in every language, and a window joins messages of one group:
a held-out split then tests on messages whose text (and whose translations) were never trained on.
Weblate holds about 20k tokens of such messages per language, so the defaults (300 windows of 64
tokens a language, about 60 test positives) stay near what the text gives without repeating it;
more windows would mostly overlap.
"""

from __future__ import annotations

import hashlib

import numpy as np

from probing.features.builtin.sequence_classes import sequence_class_dataset
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import require_count, sample_windows
from probing.features.sources import pinned
from probing.features.sources.catalogs import read_catalog, require_locale

RECIPE_VERSION = 2
ENGLISH = "en"
LANGUAGES = [
    "en", "de", "fr", "es", "it", "nl", "pt_BR", "ru", "ja", "zh_Hans",
    "pl", "sv", "cs", "uk", "ko", "tr", "pt", "hu", "fi", "da",
]  # fmt: skip


def weblate_locale() -> str:
    return pinned.root("weblate", "weblate", "locale")


def message_group(msgid: str, n_groups: int) -> int:
    """A message's group: a hash of its English text, so a message and all its translations
    fall on the same side of a split."""
    return int(hashlib.sha256(msgid.encode()).hexdigest()[:8], 16) % n_groups


def group_texts(
    languages: list[str], locale_dir: str, min_words: int, n_groups: int, rng: np.random.Generator
) -> dict[str, dict[int, str]]:
    """language -> group -> its messages, one per line, in a seeded order."""
    messages: dict[str, dict[int, set[str]]] = {lang: {} for lang in languages}
    for lang in (lang for lang in languages if lang != ENGLISH):
        for path in require_locale(locale_dir, lang).values():
            for msgid, msgstr in read_catalog(path, min_words):
                group = message_group(msgid, n_groups)
                messages[lang].setdefault(group, set()).add(msgstr)
                if ENGLISH in languages:
                    messages[ENGLISH].setdefault(group, set()).add(msgid)
    texts: dict[str, dict[int, str]] = {}
    for lang in languages:
        texts[lang] = {}
        for group in sorted(messages[lang]):
            lines = sorted(messages[lang][group])
            texts[lang][group] = "\n".join(lines[i] for i in rng.permutation(len(lines)))
    return texts


def build(
    tokenizer,
    languages: list[str],
    seq_len: int,
    n_per_class: int,
    max_per_group: int,
    min_words: int,
    n_groups: int,
    seed: int,
    locale_dir: str | None,
) -> FeatureDataset:
    check_params({"languages": languages})
    rng = np.random.default_rng(seed)
    texts = group_texts(languages, locale_dir or weblate_locale(), min_words, n_groups, rng)
    per_language, groups = [], []
    meta: dict = {
        "catalogues": pinned.describe("weblate") if locale_dir is None else locale_dir,
        "groups_used": {},
    }
    for lang in languages:
        names = sorted(texts[lang])

        def read_text(i: int, names: list[int] = names, lang: str = lang) -> str:
            return texts[lang][names[i]]

        windows = sample_windows(
            len(names),
            read_text,
            tokenizer,
            n_per_class,
            seq_len,
            max_per_group,
            rng,
        )
        require_count(
            len(windows.lengths),
            n_per_class,
            f"{lang} windows from {len(names)} message groups",
            "raise max_per_group, lower n_per_class, seq_len or min_words",
        )
        per_language.append(windows)
        groups.append([names[d] for d in windows.docs])
        meta["groups_used"][lang] = len(set(windows.docs.tolist()))
    return sequence_class_dataset(
        "natural_language", languages, per_language, groups, seq_len, tokenizer, rng, meta
    )


def check_params(params: dict) -> None:
    """The languages: 2+ distinct (locales of the catalogues, which only a build reads)."""
    languages = params["languages"]
    if len(languages) < 2 or len(set(languages)) != len(languages):
        raise FeatureDataError(f"natural_language needs 2+ distinct languages; got {languages}")


COLLECTION = register(
    Collection(
        name="natural_language",
        category="natural_language",
        source="Weblate's gettext catalogues (weblate/locale/<lang>/LC_MESSAGES/*.mo) from "
        + pinned.describe("weblate")
        + ": translated interface messages, and their English msgids for 'en'; messages of 6+ "
        "English words, no format placeholders",
        licence=pinned.ARTEFACTS["weblate"].licence,
        aggregation="mean",
        features={
            lang: f"the window's messages are in {lang} (one-vs-rest)"
            + (" (the catalogues' English msgids)" if lang == ENGLISH else "")
            for lang in LANGUAGES
        },
        defaults={
            "languages": list(LANGUAGES),
            "seq_len": 64,
            "n_per_class": 300,
            "max_per_group": 12,
            "min_words": 6,
            "n_groups": 50,
            "seed": 0,
            "locale_dir": None,  # a folder of <lang>/LC_MESSAGES/*.mo instead of Weblate's
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        artefacts=("weblate",),
        check=check_params,
    )
)

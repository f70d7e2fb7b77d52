"""natural_language: which human language a window of text is in (one-vs-rest).

The text is software messages and their translations from the gettext catalogues on this machine;
English is the catalogues' msgids. A window joins messages of one program (one domain), and the
group is the domain, so a held-out split tests on programs whose messages were never trained on.
"""

from __future__ import annotations

import numpy as np

from probing.features.catalogs import LOCALE_DIR, read_catalog, require_locale
from probing.features.dataset import FeatureDataset
from probing.features.registry import Collection, FeatureDataError, register
from probing.features.sequence_classes import sequence_class_dataset
from probing.features.tokens import require_count, sample_windows

RECIPE_VERSION = 1
ENGLISH = "en"
LANGUAGES = [
    "en", "de", "fr", "es", "it", "nl", "pt_BR", "ru", "ja", "zh_CN",
    "pl", "sv", "cs", "uk", "ko", "tr", "pt", "hu", "fi", "da",
]  # fmt: skip


def domain_texts(
    languages: list[str], locale_dir: str, min_words: int, rng: np.random.Generator
) -> dict[str, dict[str, str]]:
    """language -> domain -> its messages, one per line, in a seeded order."""
    foreign = [lang for lang in languages if lang != ENGLISH]
    messages: dict[str, dict[str, list[str]]] = {lang: {} for lang in languages}
    english: dict[str, set[str]] = {}
    for lang in foreign:
        for domain, path in require_locale(locale_dir, lang).items():
            pairs = read_catalog(path, min_words)
            if pairs:
                messages[lang][domain] = sorted({msgstr for _, msgstr in pairs})
                english.setdefault(domain, set()).update(msgid for msgid, _ in pairs)
    if ENGLISH in languages:
        messages[ENGLISH] = {domain: sorted(ids) for domain, ids in sorted(english.items())}
    texts: dict[str, dict[str, str]] = {}
    for lang in languages:
        texts[lang] = {}
        for domain in sorted(messages[lang]):
            lines = messages[lang][domain]
            texts[lang][domain] = "\n".join(lines[i] for i in rng.permutation(len(lines)))
    return texts


def build(
    tokenizer,
    languages: list[str],
    seq_len: int,
    n_per_class: int,
    max_per_domain: int,
    min_words: int,
    seed: int,
    locale_dir: str,
) -> FeatureDataset:
    if len(languages) < 2 or len(set(languages)) != len(languages):
        raise FeatureDataError(f"natural_language needs 2+ distinct languages; got {languages}")
    if all(lang == ENGLISH for lang in languages):
        raise FeatureDataError("natural_language needs a language besides English")
    rng = np.random.default_rng(seed)
    texts = domain_texts(languages, locale_dir, min_words, rng)
    domains = sorted({d for per_lang in texts.values() for d in per_lang})
    per_language, groups = [], []
    meta: dict = {"group_names": domains, "domains": {}, "locale_dir": locale_dir}
    for lang in languages:
        names = sorted(texts[lang])
        windows = sample_windows(
            len(names),
            lambda i, names=names, lang=lang: texts[lang][names[i]],
            tokenizer,
            n_per_class,
            seq_len,
            max_per_domain,
            rng,
        )
        require_count(
            len(windows.lengths),
            n_per_class,
            f"{lang} windows from {len(names)} catalogues",
            "raise max_per_domain, lower n_per_class or min_words, or install more translated "
            "programs",
        )
        per_language.append(windows)
        groups.append([domains.index(names[d]) for d in windows.docs])
        meta["domains"][lang] = sorted({names[d] for d in windows.docs})
    return sequence_class_dataset(
        "natural_language", languages, per_language, groups, seq_len, tokenizer, rng, meta
    )


COLLECTION = register(
    Collection(
        name="natural_language",
        category="natural_language",
        source="gettext catalogues /usr/share/locale/<lang>/LC_MESSAGES/*.mo (coreutils, git, "
        "binutils, dpkg, ...): translated messages, and their English msgids for 'en'; messages "
        "of 6+ English words, no format placeholders",
        licence="the translated programs' licences (mostly GPL/LGPL); see "
        "/usr/share/doc/<package>/copyright",
        aggregation="mean",
        features={
            lang: f"the window's messages are in {lang} (one-vs-rest)"
            + (" (the catalogues' English msgids)" if lang == ENGLISH else "")
            for lang in LANGUAGES
        },
        defaults={
            "languages": list(LANGUAGES),
            "seq_len": 128,
            "n_per_class": 100,
            "max_per_domain": 8,
            "min_words": 6,
            "seed": 0,
            "locale_dir": LOCALE_DIR,
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
    )
)

"""natural_language: windows of Weblate's translated messages (a pinned wheel), one-hot by language."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from probing.features import FeatureDataError, build_feature_dataset
from probing.features.builtin.natural_language import message_group, weblate_locale
from probing.features.sources.catalogs import catalog_paths, read_catalog

LANGS = ["en", "de", "fr", "ja"]
PARAMS = {"languages": LANGS, "n_per_class": 12, "seq_len": 64, "max_per_group": 2}


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo file (the format msgfmt writes), so tests need no gettext tools."""
    keys = sorted(messages)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(messages[k].encode() + b"\0" for k in keys)
    n = len(keys)
    start = 7 * 4 + 16 * n
    id_table, str_table, offset = [], [], 0
    for k in keys:
        id_table += [len(k.encode()), start + offset]
        offset += len(k.encode()) + 1
    offset = 0
    for k in keys:
        str_table += [len(messages[k].encode()), start + len(ids) + offset]
        offset += len(messages[k].encode()) + 1
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    tables = struct.pack(f"<{4 * n}I", *id_table, *str_table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + tables + ids + strs)


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build_feature_dataset("natural_language", bpe_tokenizer, **PARAMS)


def test_one_hot_balanced_sequence_level(ds):
    assert ds.feature_names == LANGS and ds.aggregation == "mean"
    assert (ds.labels.sum(axis=1) == 1).all() and (ds.labels.sum(axis=0) == 12).all()
    assert (ds.example_pos == -1).all()


def messages_by_group(lang: str, n_groups: int = 50) -> dict[int, set[str]]:
    """What a window of `lang` may contain, per message group: msgstrs, or for English msgids."""
    out: dict[int, set[str]] = {}
    for source in LANGS[1:] if lang == "en" else [lang]:
        for mo in catalog_paths(weblate_locale(), source).values():
            for msgid, msgstr in read_catalog(mo, 6):
                out.setdefault(message_group(msgid, n_groups), set()).add(
                    msgid if lang == "en" else msgstr
                )
    return out


def test_windows_start_with_a_message_of_their_language_and_group(ds, bpe_tokenizer):
    by_lang = {lang: messages_by_group(lang) for lang in LANGS}
    for i in range(ds.n_examples):
        lang = LANGS[int(ds.labels[i].argmax())]
        group = int(ds.groups[i])
        first_line = bpe_tokenizer.decode(ds.tokens[i, : ds.lengths[i]].tolist()).split("\n")[0]
        first_line = first_line.rstrip("\ufffd")  # a one-line window may end inside a character
        assert any(m.startswith(first_line) for m in by_lang[lang][group]), (lang, first_line)


def test_a_message_and_its_translations_share_a_group():
    """The split keeps a message's English and all its translations on one side."""
    english = messages_by_group("en")
    for lang in LANGS[1:]:
        for mo in catalog_paths(weblate_locale(), lang).values():
            for msgid, _ in read_catalog(mo, 6)[:50]:
                assert msgid in english[message_group(msgid, 50)]


def test_catalogue_filter(tmp_path):
    mo = tmp_path / "fr" / "LC_MESSAGES" / "demo.mo"
    write_mo(
        mo,
        {
            "": "Content-Type: text/plain; charset=UTF-8\n",
            "the file could not be opened for reading": "le fichier n'a pas pu être ouvert en lecture",
            "cannot open %s for reading at all": "impossible d'ouvrir %s en lecture",
            "too short": "trop court",
            "this message was left untranslated by the team": "this message was left untranslated by the team",
        },
    )
    assert read_catalog(mo, 6) == [
        ("the file could not be opened for reading", "le fichier n'a pas pu être ouvert en lecture")
    ]


def test_missing_locale_says_what_to_install(bpe_tokenizer, tmp_path):
    with pytest.raises(
        FeatureDataError, match=r"no gettext catalogues for 'de'.*probing.features fetch"
    ):
        build_feature_dataset(
            "natural_language", bpe_tokenizer, locale_dir=str(tmp_path), languages=["en", "de"]
        )


def test_groups_are_shared_across_languages(ds):
    by_group = {
        g: set(np.flatnonzero(ds.labels[ds.groups == g].sum(axis=0))) for g in np.unique(ds.groups)
    }
    assert any(len(langs) > 1 for langs in by_group.values())
    assert len(by_group) >= 10


def test_catalogues_are_the_pinned_wheels(ds):
    assert ds.meta["catalogues"] == "pypi weblate==5.14.3 (wheel)"

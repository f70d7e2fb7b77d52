"""surface_text: token-level labels that follow from the token's own string."""

from __future__ import annotations

import numpy as np
import pytest

from probing.features import build_feature_dataset
from probing.features.builtin.surface_text import (
    RULES,
    is_all_caps,
    is_punctuation,
    starts_with_space,
)

PARAMS = {"n_sequences": 60, "tokens_per_sequence": 8}


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build_feature_dataset("surface_text", bpe_tokenizer, **PARAMS)


@pytest.mark.parametrize(
    ("rule", "text", "raw", "expected"),
    [
        ("is_capitalized", " The", "ĠThe", True),
        ("is_capitalized", "the", "the", False),
        ("is_capitalized", "(Foo", "(Foo", True),
        ("is_all_caps", " GNU", "ĠGNU", True),
        ("is_all_caps", "A", "A", False),
        ("is_all_caps", "GNUs", "GNUs", False),
        ("has_digit", " 2007", "Ġ2007", True),
        ("has_digit", "two", "two", False),
        ("starts_with_space", "license", "▁license", True),
        ("starts_with_space", " x", "Ġx", True),
        ("starts_with_space", "x", "x", False),
        ("is_punctuation", ' "(', 'Ġ"(', True),
        ("is_punctuation", " ", "Ġ", False),
        ("is_punctuation", "a.", "a.", False),
    ],
)
def test_rules(rule, text, raw, expected):
    assert RULES[rule][0](text, raw) is expected


def test_labels_follow_the_rules_on_every_example(ds, bpe_tokenizer):
    ids = ds.tokens[ds.example_seq, ds.example_pos]
    for row, token_id in zip(ds.labels, ids, strict=True):
        text = bpe_tokenizer.decode([int(token_id)])
        letters = [c for c in text if c.isalpha()]
        expected = {
            "is_capitalized": bool(letters) and letters[0].isupper(),
            "is_all_caps": is_all_caps(text, ""),
            "has_digit": any(c in "0123456789" for c in text),
            "starts_with_space": text[:1] == " ",
            "is_punctuation": is_punctuation(text, ""),
        }
        assert dict(zip(ds.feature_names, row.astype(bool).tolist(), strict=True)) == expected


def test_examples_are_sorted_distinct_real_positions(ds):
    assert ds.aggregation == "token" and ds.feature_names == list(RULES)
    assert ds.n_examples == 60 * 8 and ds.n_sequences == 60
    assert (np.diff(ds.example_seq) >= 0).all()
    assert (ds.example_pos >= 1).all() and (ds.example_pos < ds.lengths[ds.example_seq]).all()
    pairs = set(zip(ds.example_seq.tolist(), ds.example_pos.tolist(), strict=True))
    assert len(pairs) == ds.n_examples


def test_groups_are_source_files(ds):
    docs = ds.meta["documents"]
    assert {str(g) for g in np.unique(ds.groups)} == set(docs)
    assert all(p.startswith("Django==5.2.8:django-5.2.8/docs/") for p in docs.values())
    assert all(0 < share < 1 for share in ds.meta["class_balance"].values())


def test_space_marks_cover_sentencepiece():
    assert starts_with_space("word", "▁word") and not starts_with_space("word", "word")

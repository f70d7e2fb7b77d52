"""Every default collection builds with the real SmolLM2 tokenizer (read offline from its GGUF)."""

from __future__ import annotations

import importlib.util

import pytest

from probing.features import COLLECTIONS, build_feature_dataset
from probing.features.builtin.linguistic import TAGGERS
from probing.features.paper.collections import PAPER_COLLECTIONS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name", sorted(n for n in COLLECTIONS if n != "custom" and n not in PAPER_COLLECTIONS)
)
def test_default_collection_builds_and_caches(name, smollm2_tokenizer, tmp_path):
    if name in TAGGERS and importlib.util.find_spec("spacy") is None:
        pytest.skip("spaCy is not installed")
    ds = build_feature_dataset(name, smollm2_tokenizer, tmp_path)
    assert ds.feature_names == list(COLLECTIONS[name].features)
    assert all(0.01 < share < 0.99 for share in ds.meta["class_balance"].values())
    if name != "people":  # windows of running text fill whole rows; a name is a short text
        full = ds.tokens[ds.lengths == ds.tokens.shape[1]]
        assert (full != smollm2_tokenizer.pad_token_id).any()
    again = build_feature_dataset(name, smollm2_tokenizer, tmp_path)
    assert again.content_hash() == ds.content_hash()

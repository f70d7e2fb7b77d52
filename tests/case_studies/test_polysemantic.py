"""Broad-corpus top activations: a planted dedicated neuron fires on one token of one source,
random ones across sources; the corpus draws on every pinned source."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probing.case_studies.polysemantic import Corpus, broad_corpus, describe, top_activations
from tests.planted import MARK, marked_dataset, plant_mark_neuron, tiny_pythia

# a quick run of residual-stream dimensions (the case studies on a hook other than mlp_post)
RESID_POST_RUN = ["model=tiny-pythia", "feature=programming_language",
                  "feature.params.n_per_class=24", "feature.params.seq_len=32",
                  "feature.only=[python]", "probe.ks=[1]", "logger=none", "hook=resid_post",
                  "layer=list", "layer.layers=[1]"]  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return tiny_pythia()


def corpus_of(dataset) -> Corpus:
    return Corpus(
        dataset.tokens,
        dataset.lengths,
        ["marked" if y else "plain" for y in dataset.label("marked")],
    )


def test_a_dedicated_neuron_fires_on_one_token_in_one_source_random_ones_in_both(model):
    dataset = marked_dataset(model)
    corpus = corpus_of(dataset)
    with plant_mark_neuron(model, dataset) as (layer, hot, _):
        others = [(layer, n) for n in range(20) if n != hot]
        hits = top_activations(model, corpus, [(layer, hot), *others], top=30, batch_size=8)
        dedicated = describe(model.tokenizer, corpus, hits[(layer, hot)])
        spread = [describe(model.tokenizer, corpus, hits[key]) for key in others]
    assert dedicated["by_token"][0][0] == MARK and dedicated["top_token_share"] == 1.0
    assert dedicated["distinct_tokens"] == 1 and dedicated["by_source"] == [("marked", 30)]
    # random neurons of a random layer 0 are token detectors too (one byte each), mostly of
    # bytes both kinds of text hold: their top activations come from both sources
    assert np.median([o["distinct_sources"] for o in spread]) == 2
    values = [h["activation"] for h in hits[(layer, hot)]]
    assert values == sorted(values, reverse=True)
    for hit in dedicated["top"]:  # the hit is where the corpus has MARK
        token = corpus.tokens[hit["sequence"], hit["position"]]
        assert model.tokenizer.decode([int(token)]) == MARK


def test_padding_never_counts(model):
    dataset = marked_dataset(model, n=6)
    corpus = corpus_of(dataset)
    hits = top_activations(model, corpus, [(1, 0)], top=10_000)[(1, 0)]
    assert len(hits) == int(dataset.lengths.sum())
    assert all(h["position"] < dataset.lengths[h["sequence"]] for h in hits)


def test_broad_corpus_mixes_every_pinned_source(model, tmp_path):
    corpus = broad_corpus(model.tokenizer, tmp_path)
    kinds = {s.split("/")[0] for s in corpus.sources}
    assert kinds == {"programming_language", "natural_language", "text_source"}
    assert len(corpus.sources) == len(corpus.lengths) == corpus.tokens.shape[0]
    assert np.all(corpus.lengths > 0)
    languages = {s.split("/")[1] for s in corpus.sources if s.startswith("natural_language")}
    assert len(languages) == 20


def test_contexts_of_another_hook_are_labelled_as_the_report_labels_its_rows(tmp_path):
    """A hook=resid_post run's "neurons" are residual dimensions: their contexts are filed under
    tiny-pythia#resid_post (its rows' label in the report), never on the pages of tiny-pythia's
    MLP neurons of the same index."""
    from probing.case_studies.polysemantic import neuron_contexts
    from tests.conftest import run_as_hydra_would

    run = run_as_hydra_would(tmp_path, RESID_POST_RUN, tmp_path / "run")
    path = neuron_contexts(run, top_neurons=1, top=3)
    assert json.loads(path.read_text())["model"] == "tiny-pythia#resid_post"


def test_tokens_that_decode_to_a_replacement_character_are_counted_apart():
    """Byte-level tokens of one UTF-8 character decode alone to '\\ufffd': grouped by that text,
    different tokens (here the last bytes of 'é' and 'ü') counted as one, a spread neuron read
    as a dedicated one (distinct_tokens 1, top_token_share 100%)."""
    from probing.byte_tokenizer import byte_level_tokenizer

    tokenizer = byte_level_tokenizer()
    ids = [tokenizer.encode(text) for text in ("xé", "xü")]
    assert all(len(seq) == 3 for seq in ids)  # x, then the character's two bytes
    corpus = Corpus(np.array(ids), np.array([3, 3]), ["a", "b"])
    hits = [{"sequence": s, "position": 2, "activation": 1.0} for s in (0, 1)]
    info = describe(tokenizer, corpus, hits)
    assert info["distinct_tokens"] == 2 and info["top_token_share"] == 0.5
    labels = [label for label, _ in info["by_token"]]
    assert len(set(labels)) == 2 and not any("\ufffd" in label for label in labels)

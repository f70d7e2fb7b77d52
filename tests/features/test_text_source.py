"""text_source: windows of four English genres of pinned packages, one-hot, grouped by document."""

from __future__ import annotations

import numpy as np
import pytest

from probing.features import build_feature_dataset
from probing.features.builtin.text_source import GENRES
from probing.features.sources.genres import read_comments, read_docstrings
from probing.features.sources.pinned import locate

PARAMS = {"n_per_class": 12, "seq_len": 48, "max_per_doc": 1}


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build_feature_dataset("text_source", bpe_tokenizer, **PARAMS)


def test_one_hot_by_genre_and_files_match_genre(ds):
    assert ds.feature_names == list(GENRES) and ds.aggregation == "mean"
    assert (ds.labels.sum(axis=1) == 1).all() and (ds.labels.sum(axis=0) == 12).all()
    assert len(np.unique(ds.groups)) == ds.n_examples  # max_per_doc=1: one window per document
    for i in range(ds.n_examples):
        genre = ds.feature_names[int(ds.labels[i].argmax())]
        assert GENRES[genre].accept(locate(ds.meta["documents"][str(ds.groups[i])])), genre


def test_windows_are_text_of_their_document(ds, bpe_tokenizer):
    for i in range(ds.n_examples):
        genre = GENRES[ds.feature_names[int(ds.labels[i].argmax())]]
        document = genre.read(locate(ds.meta["documents"][str(ds.groups[i])]))
        window = bpe_tokenizer.decode(ds.tokens[i, : ds.lengths[i]].tolist())
        window = window.rstrip("\ufffd")  # the last token may end inside a character
        assert window in document


def test_docstrings_only(tmp_path):
    (tmp_path / "m.py").write_text(
        '"""Module doc says why."""\n\ndef f():\n    """Function doc is here."""\n    return "not a doc"\n'
    )
    assert read_docstrings(tmp_path / "m.py") == "Module doc says why.\n\nFunction doc is here."


def test_comments_keep_block_comments_without_their_margin(tmp_path):
    (tmp_path / "a.js").write_text(
        "/**\n * Checks if `value` is an array.\n *\n * @param {*} value The value.\n */\n"
        "var x = 1; /* end */\n// a line comment is not a block\nfunction f() {}\n"
    )
    assert read_comments(tmp_path / "a.js") == (
        "Checks if `value` is an array.\n\n@param {*} value The value."
    )
    (tmp_path / "b.c").write_text("int main(void) { return 0; } /* short */\n")
    assert read_comments(tmp_path / "b.c") is None


def test_genres_read_only_pinned_sources(ds):
    """Provenance names the pinned package, never a path of this machine."""
    pins = ("Django==5.2.8:", "lodash@4.17.21:", "pybind11==3.0.1:", "psutil==7.1.3:")
    assert all(doc.startswith(pins) for doc in ds.meta["documents"].values())
    assert "release_notes" in GENRES and "/usr/" not in str(ds.meta)

"""programming_language: windows of pinned packages' code, one-hot by language, grouped by file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probing.features import build_feature_dataset
from probing.features.builtin.programming_language import LANGUAGES
from probing.features.sources.files import read_text
from probing.features.sources.pinned import locate

PARAMS = {"n_per_class": 20, "seq_len": 48, "windows_per_file": 3}


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build_feature_dataset("programming_language", bpe_tokenizer, **PARAMS)


def test_shape_and_one_hot_labels(ds):
    n_lang = len(LANGUAGES)
    assert ds.feature_names == list(LANGUAGES)
    assert ds.aggregation == "mean" and ds.n_examples == ds.n_sequences == 20 * n_lang
    assert (ds.labels.sum(axis=1) == 1).all()
    assert (ds.labels.sum(axis=0) == 20).all()
    assert (ds.example_pos == -1).all() and (ds.example_seq == np.arange(ds.n_examples)).all()
    assert (ds.lengths >= 24).all()  # at least half a window of real tokens


def test_each_window_is_text_of_a_file_of_its_language(ds, bpe_tokenizer):
    docs = ds.meta["documents"]
    for i in range(0, ds.n_examples, 7):
        path = locate(docs[str(ds.groups[i])])
        lang = ds.feature_names[int(ds.labels[i].argmax())]
        assert LANGUAGES[lang].accept(path), (lang, path)
        window = bpe_tokenizer.decode(ds.tokens[i, : ds.lengths[i]].tolist())
        window = window.rstrip("\ufffd")  # the last token may end inside a character
        assert window in read_text(path)


def test_every_file_gives_the_same_number_of_windows(ds):
    """...but the last of each language, which gives what is left (20 = 6 x 3 + 2): how many
    windows a file gives must not tell its language."""
    groups, counts = np.unique(ds.groups, return_counts=True)
    for g in groups:  # a file belongs to one language only
        assert len(np.unique(ds.labels[ds.groups == g].argmax(axis=1))) == 1
    assert sorted(np.bincount(counts)[1:].tolist()) == [0, len(LANGUAGES), 6 * len(LANGUAGES)]
    assert set(ds.meta["files"]) == set(LANGUAGES) and ds.meta["windows_per_file"] == 3


def test_windows_per_file_by_default_fills_the_language_with_fewest_files(bpe_tokenizer):
    ds = build_feature_dataset("programming_language", bpe_tokenizer, n_per_class=150, seq_len=32)
    fewest = min(files["found"] for files in ds.meta["files"].values())
    per_file = ds.meta["windows_per_file"]
    assert per_file == -(-150 // fewest) > 1  # pybind11 has fewer than 150 headers
    counts = np.bincount(ds.groups)
    assert set(counts[counts > 0]) <= set(range(1, per_file + 1))
    assert (counts == per_file).sum() >= 5 * (150 // per_file)


def test_documents_are_named_by_their_pinned_package(ds):
    """The same string on every machine: package, version and member, never a local path."""
    pins = {"python": "Django==5.2.8:django-5.2.8/django/", "c": "psutil==7.1.3:",
            "cpp": "pybind11==3.0.1:pybind11/include/", "javascript": "lodash@4.17.21:package/",
            "restructuredtext": "Django==5.2.8:django-5.2.8/docs/"}  # fmt: skip
    for i in range(ds.n_examples):
        lang = ds.feature_names[int(ds.labels[i].argmax())]
        assert ds.meta["documents"][str(ds.groups[i])].startswith(pins[lang])


def test_custom_roots_skip_binary_and_non_utf8(bpe_tokenizer, tmp_path):
    roots = {}
    for lang, ext in (("python", ".py"), ("c", ".c")):
        root = tmp_path / lang
        root.mkdir()
        for i in range(6):
            (root / f"m{i}{ext}").write_text(f"line {i} of {lang}\n" * 200)
        (root / f"bin{ext}").write_bytes(b"\0" * 4000)
        (root / f"latin{ext}").write_bytes("caf\xe9\n".encode("latin-1") * 1000)
        roots[lang] = [str(root)]
    ds = build_feature_dataset(
        "programming_language",
        bpe_tokenizer,
        languages=["python", "c"],
        roots=roots,
        n_per_class=12,
        seq_len=32,
        windows_per_file=2,
    )
    used = set(ds.meta["documents"].values())
    assert len(used) == 12 and not any(Path(p).stem in ("bin", "latin") for p in used)
    assert ds.meta["files"]["python"] == {"found": 8, "used": 6}

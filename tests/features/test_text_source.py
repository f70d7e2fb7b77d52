"""text_source: windows of five real English genres, one-hot, grouped by document."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from probing.features import build_feature_dataset
from probing.features.genres import read_docstrings, read_gzip_text, render_man_page
from probing.features.text_source import GENRES

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
        assert GENRES[genre].accept(Path(ds.meta["documents"][str(ds.groups[i])])), genre


def test_windows_are_text_of_their_document(ds, bpe_tokenizer):
    for i in range(ds.n_examples):
        genre = GENRES[ds.feature_names[int(ds.labels[i].argmax())]]
        document = genre.read(Path(ds.meta["documents"][str(ds.groups[i])]))
        window = bpe_tokenizer.decode(ds.tokens[i, : ds.lengths[i]].tolist())
        window = window.rstrip("\ufffd")  # the last token may end inside a character
        assert window in document


def test_docstrings_only(tmp_path):
    (tmp_path / "m.py").write_text(
        '"""Module doc says why."""\n\ndef f():\n    """Function doc is here."""\n    return "not a doc"\n'
    )
    assert read_docstrings(tmp_path / "m.py") == "Module doc says why.\n\nFunction doc is here."


def test_gzip_reader_rejects_non_utf8(tmp_path):
    (tmp_path / "ok.gz").write_bytes(gzip.compress(b"pkg (1.0) unstable\n"))
    (tmp_path / "bad.gz").write_bytes(gzip.compress("caf\xe9".encode("latin-1")))
    (tmp_path / "raw.gz").write_bytes(b"not gzip")
    assert read_gzip_text(tmp_path / "ok.gz") == "pkg (1.0) unstable\n"
    assert (
        read_gzip_text(tmp_path / "bad.gz") is None and read_gzip_text(tmp_path / "raw.gz") is None
    )


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_man_page_rendering_drops_markup_and_header(tmp_path):
    page = tmp_path / "demo.1"
    page.write_text(
        '.TH DEMO 1 "2024" "demo 1.0" "User Commands"\n.SH NAME\ndemo \\- show \\fBbold\\fR text\n'
        ".SH DESCRIPTION\nA first paragraph that is long enough\nto be filled onto one line.\n"
    )
    text = render_man_page(page)
    assert text.splitlines()[0] == "NAME"
    assert "demo - show bold text" in text
    assert "A first paragraph that is long enough to be filled onto one line." in text
    assert "DEMO(1)" not in text and "\\f" not in text


def test_manual_genre_is_untranslated_and_not_gcloud():
    accept = GENRES["manual"].accept
    assert accept(Path("/usr/share/man/man1/grep.1.gz"))
    assert not accept(Path("/usr/share/man/ru/man1/fuser.1.gz"))
    assert not accept(Path("/usr/share/man/man1/gcloud_alpha.1.gz"))
    assert not accept(Path("/usr/share/man/man3/printf.3.gz"))

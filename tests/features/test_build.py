"""build_feature_dataset: deterministic, cached by recipe, and clear about what users get wrong."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from probing.features import COLLECTIONS, FeatureDataError, build_feature_dataset
from probing.features.tokens import tokenizer_fingerprint

SMALL = {"n_sequences": 60, "tokens_per_sequence": 8}


def fail_if_built(monkeypatch, name="token_position"):
    def boom(*args, **kwargs):
        raise AssertionError("builder called although the cache should have answered")

    monkeypatch.setitem(COLLECTIONS, name, dataclasses.replace(COLLECTIONS[name], builder=boom))


def count_builds(monkeypatch, name="token_position") -> list[int]:
    calls = []
    real = COLLECTIONS[name].builder

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(COLLECTIONS, name, dataclasses.replace(COLLECTIONS[name], builder=counted))
    return calls


def test_two_builds_are_identical(bpe_tokenizer):
    a = build_feature_dataset("token_position", bpe_tokenizer, **SMALL)
    b = build_feature_dataset("token_position", bpe_tokenizer, **SMALL)
    assert a.content_hash() == b.content_hash()
    assert np.array_equal(a.groups, b.groups) and a.meta == b.meta


def test_seed_changes_the_sample(bpe_tokenizer):
    a = build_feature_dataset("token_position", bpe_tokenizer, **SMALL)
    b = build_feature_dataset("token_position", bpe_tokenizer, **SMALL, seed=1)
    assert a.content_hash() != b.content_hash()


def test_second_call_loads_from_cache(bpe_tokenizer, tmp_path, monkeypatch):
    first = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert len(list(tmp_path.glob("token_position-*.npz"))) == 1
    fail_if_built(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert again.content_hash() == first.content_hash()
    assert again.meta["recipe"] == first.meta["recipe"]


def test_param_tokenizer_and_recipe_changes_rebuild(
    bpe_tokenizer, byte_tokenizer, tmp_path, monkeypatch
):
    build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    calls = count_builds(monkeypatch)
    build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert calls == []
    build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **{**SMALL, "seed": 3})
    assert calls == [1]
    build_feature_dataset("token_position", byte_tokenizer, tmp_path, **SMALL)
    assert calls == [1, 1]
    bumped = dataclasses.replace(COLLECTIONS["token_position"], recipe_version=99)
    monkeypatch.setitem(COLLECTIONS, "token_position", bumped)
    build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert calls == [1, 1, 1]
    assert len(list(tmp_path.glob("*.npz"))) == 4


DAMAGE = {
    "empty": lambda data: b"",
    "not a zip": lambda data: b"not a zip",
    "zip magic only": lambda data: data[:4],
    "truncated in the first member": lambda data: data[:200],
    "truncated at half": lambda data: data[: len(data) // 2],
    "truncated before the directory": lambda data: data[: len(data) - 300],
    "last byte missing": lambda data: data[:-1],
    "random bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "random bytes after zip magic": lambda data: data[:4] + np.random.default_rng(1).bytes(500),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_cache_file_is_rebuilt(bpe_tokenizer, tmp_path, monkeypatch, caplog, damage):
    first = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    (path,) = tmp_path.glob("*.npz")
    good = path.read_bytes()
    path.write_bytes(DAMAGE[damage](good))
    calls = count_builds(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert calls == [1]
    assert again.content_hash() == first.content_hash()
    assert path.read_bytes() == good
    assert f"cached feature dataset {path} is unreadable" in caplog.text


def test_interrupted_cache_write_leaves_no_damaged_file(bpe_tokenizer, tmp_path, monkeypatch):
    """A build killed while writing never leaves a partial file under the cache's name."""
    reference = build_feature_dataset("token_position", bpe_tokenizer, tmp_path / "ref", **SMALL)
    (name,) = [p.name for p in (tmp_path / "ref").glob("*.npz")]
    cache = tmp_path / "cache"
    real_savez = np.savez

    def killed_halfway(file, **arrays):
        real_savez(file, **arrays)
        data = Path(file).read_bytes()
        Path(file).write_bytes(data[: len(data) // 2])
        raise KeyboardInterrupt  # stands in for SIGKILL: nothing after this point runs

    monkeypatch.setattr(np, "savez", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    assert not (cache / name).exists()
    monkeypatch.setattr(np, "savez", real_savez)
    calls = count_builds(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    assert calls == [1] and again.content_hash() == reference.content_hash()
    fail_if_built(monkeypatch)
    assert build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL).meta == again.meta


def test_tokenizer_fingerprint_tracks_vocab(bpe_tokenizer, byte_tokenizer):
    fp = tokenizer_fingerprint(bpe_tokenizer)
    assert fp == tokenizer_fingerprint(bpe_tokenizer) and len(fp) == 16
    assert fp != tokenizer_fingerprint(byte_tokenizer)


def test_class_balance_is_recorded(bpe_tokenizer):
    ds = build_feature_dataset("token_position", bpe_tokenizer, **SMALL)
    balance = ds.meta["class_balance"]
    assert set(balance) == set(ds.feature_names)
    for j, feature in enumerate(ds.feature_names):
        assert balance[feature] == pytest.approx(ds.labels[:, j].mean(), abs=1e-4)


def test_one_class_feature_is_skipped_by_name_and_the_collection_goes_on(byte_tokenizer, caplog):
    # single-byte tokens never hold two letters, so is_all_caps is 0 everywhere
    ds = build_feature_dataset("surface_text", byte_tokenizer, **SMALL)
    assert "is_all_caps" in ds.meta["unusable"] and "is_all_caps" not in ds.meta["class_balance"]
    assert re.search(r"surface_text/is_all_caps: all \d+ examples are labelled 0", caplog.text)
    assert "is_capitalized" in ds.meta["class_balance"]


def test_too_few_examples_is_an_error_when_no_feature_is_left(bpe_tokenizer):
    params = {**SMALL, "lt": [64], "ge": [64]}  # both classes, but about 240 examples of each
    with pytest.raises(FeatureDataError, match=r"pos_lt_64: too few examples \(\d+ positive"):
        build_feature_dataset("token_position", bpe_tokenizer, min_per_class=300, **params)
    assert build_feature_dataset("token_position", bpe_tokenizer, min_per_class=100, **params)


def test_too_few_documents_is_an_error(bpe_tokenizer, fake_prose):
    with pytest.raises(FeatureDataError, match=r"only \d+ of 50 prose windows"):
        build_feature_dataset(
            "token_position", bpe_tokenizer, roots=[str(fake_prose)], n_sequences=50, max_per_doc=2
        )


def test_missing_source_says_what_to_install(bpe_tokenizer, tmp_path):
    with pytest.raises(
        FeatureDataError,
        match=f"no documentation pages found under {tmp_path}; .*probing.features fetch",
    ):
        build_feature_dataset("surface_text", bpe_tokenizer, roots=[str(tmp_path)])
    with pytest.raises(FeatureDataError, match="no c files .*probing.features fetch"):
        build_feature_dataset(
            "programming_language",
            bpe_tokenizer,
            roots={"c": [str(tmp_path)]},
            languages=["python", "c"],
        )

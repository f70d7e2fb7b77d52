"""build_feature_dataset: deterministic, cached by recipe, and clear about what users get wrong."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from probing.features import COLLECTIONS, FeatureDataError, FeatureDataset, build_feature_dataset
from probing.features.core.export import EXPORT_FILE
from probing.features.core.tokens import tokenizer_fingerprint

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


def entries(cache: Path, pattern: str = "*") -> list[Path]:
    """The cache's entries: folders named <collection>-<key> (hidden temporary folders excluded)."""
    return sorted(p for p in cache.glob(pattern) if not p.name.startswith("."))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_second_call_loads_from_cache(bpe_tokenizer, tmp_path, monkeypatch):
    import datasets

    first = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    (entry,) = entries(tmp_path, "token_position-*")
    assert entry.is_dir() and not list(tmp_path.glob("*.npz"))
    assert datasets.load_from_disk(str(entry)).num_rows == first.n_sequences  # README says so
    fail_if_built(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert again.content_hash() == first.content_hash() and again.meta == first.meta
    assert (again.name, again.feature_names, again.aggregation) == (
        first.name,
        first.feature_names,
        first.aggregation,
    )
    for array in ("tokens", "lengths", "example_seq", "example_pos", "labels", "groups"):
        np.testing.assert_array_equal(getattr(again, array), getattr(first, array), array)
        assert getattr(again, array).flags.writeable, array  # owns its memory, like a fresh build


def test_meta_a_cached_load_gives_is_the_fresh_builds(bpe_tokenizer, tmp_path, monkeypatch):
    """The cache keeps meta as JSON; a fresh build returns it in that form too, so a tuple or a
    Path a builder recorded never makes a cached run differ from a fresh one."""
    real = COLLECTIONS["token_position"].builder

    def with_odd_meta(*args, **kwargs):
        ds = real(*args, **kwargs)
        ds.meta.update(roots=("a", "b"), where=Path("/x"), counts={1: np.int64(3)})
        return ds

    odd = dataclasses.replace(COLLECTIONS["token_position"], builder=with_odd_meta)
    monkeypatch.setitem(COLLECTIONS, "token_position", odd)
    fresh = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    cached = build_feature_dataset("token_position", bpe_tokenizer, tmp_path, **SMALL)
    assert cached.meta == fresh.meta
    assert fresh.meta["roots"] == ["a", "b"] and fresh.meta["where"] == "/x"
    assert fresh.meta["counts"] == {"1": 3}


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
    assert len(entries(tmp_path)) == 4


def arrow_file(entry: Path) -> Path:
    (path,) = entry.glob("*.arrow")
    return path


def rewrite(path: Path, change) -> None:
    path.write_bytes(change(path.read_bytes()))


def edit_first_row(entry: Path) -> None:
    """Flip the labels of the first row and save the rows again, keeping the old record."""
    import datasets

    record = (entry / EXPORT_FILE).read_text()
    rows = datasets.load_from_disk(str(entry))

    def flip(row: dict, i: int) -> dict:
        return {
            "labels": {k: [1 - v for v in vs] if i == 0 else vs for k, vs in row["labels"].items()}
        }

    edited = rows.map(flip, with_indices=True, keep_in_memory=True)
    shutil.rmtree(entry)
    edited.save_to_disk(str(entry))
    (entry / EXPORT_FILE).write_text(record)


def edit_record(entry: Path) -> None:
    record = json.loads((entry / EXPORT_FILE).read_text())
    record["meta"]["class_balance"] = {}
    (entry / EXPORT_FILE).write_text(json.dumps(record))


def random_bytes(seed: int):
    return lambda data: np.random.default_rng(seed).bytes(max(len(data), 64))


def as_a_file(entry: Path) -> None:
    shutil.rmtree(entry)
    entry.write_bytes(b"an old cache file under the entry's name")


DAMAGE = {
    "arrow file emptied": lambda e: rewrite(arrow_file(e), lambda d: b""),
    "arrow file: magic only": lambda e: rewrite(arrow_file(e), lambda d: d[:8]),
    "arrow file truncated early": lambda e: rewrite(arrow_file(e), lambda d: d[:200]),
    "arrow file truncated at half": lambda e: rewrite(arrow_file(e), lambda d: d[: len(d) // 2]),
    "arrow file: last byte missing": lambda e: rewrite(arrow_file(e), lambda d: d[:-1]),
    "arrow file: random bytes": lambda e: rewrite(arrow_file(e), random_bytes(0)),
    "arrow file: random bytes after the header": lambda e: rewrite(
        arrow_file(e), lambda d: d[:8] + np.random.default_rng(1).bytes(len(d) - 8)
    ),
    "arrow file missing": lambda e: arrow_file(e).unlink(),
    f"{EXPORT_FILE} missing": lambda e: (e / EXPORT_FILE).unlink(),
    f"{EXPORT_FILE} truncated": lambda e: rewrite(e / EXPORT_FILE, lambda d: d[: len(d) // 2]),
    f"{EXPORT_FILE} random bytes": lambda e: rewrite(e / EXPORT_FILE, random_bytes(2)),
    f"{EXPORT_FILE} edited meta": edit_record,
    "dataset_info.json missing": lambda e: (e / "dataset_info.json").unlink(),
    "dataset_info.json truncated": lambda e: rewrite(
        e / "dataset_info.json", lambda d: d[: len(d) // 2]
    ),
    "dataset_info.json random bytes": lambda e: rewrite(e / "dataset_info.json", random_bytes(3)),
    "state.json missing": lambda e: (e / "state.json").unlink(),
    "state.json truncated": lambda e: rewrite(e / "state.json", lambda d: d[: len(d) // 2]),
    "a row edited": edit_first_row,
    "folder emptied": lambda e: [p.unlink() for p in e.iterdir()],
    "a file where the folder was": as_a_file,
}


@pytest.fixture(scope="module")
def pristine(bpe_tokenizer, tmp_path_factory) -> tuple[Path, FeatureDataset]:
    """One cache with one entry, built once; each damage case works on a copy."""
    cache = tmp_path_factory.mktemp("pristine")
    return cache, build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_cache_entry_is_rebuilt(
    bpe_tokenizer, pristine, tmp_path, monkeypatch, caplog, damage
):
    cache = shutil.copytree(pristine[0], tmp_path / "cache")
    first = pristine[1]
    (entry,) = entries(cache)
    good = files_of(entry)
    DAMAGE[damage](entry)
    calls = count_builds(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    assert calls == [1]
    assert again.content_hash() == first.content_hash() and again.meta == first.meta
    assert f"cached feature dataset {entry} is unreadable" in caplog.text
    assert "copy it again" not in caplog.text  # an export's advice; the cache rebuilds instead
    assert entries(cache) == [entry] and files_of(entry) == good  # identical to the first
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # nothing left behind


def killed(step: str, monkeypatch):
    """Stand-ins for SIGKILL while the entry is written, at `step`: the step is cut off where it
    is (a half-written arrow file, a missing record) and no cleanup runs."""
    import datasets

    from probing.features.core import export

    real_save = datasets.Dataset.save_to_disk

    def save_then_die(self, folder, *args, **kwargs):
        real_save(self, folder, *args, **kwargs)
        if step == "writing the rows":
            rewrite(arrow_file(Path(folder)), lambda d: d[: len(d) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets.Dataset, "save_to_disk", save_then_die)
    monkeypatch.setattr(export.shutil, "rmtree", lambda *a, **k: None)  # SIGKILL cleans nothing


@pytest.mark.parametrize("step", ["writing the rows", "before the record"])
def test_interrupted_cache_write_leaves_no_damaged_entry(
    bpe_tokenizer, pristine, tmp_path, monkeypatch, step
):
    """A build killed while writing never leaves a partial entry under the cache's name."""
    reference = pristine[1]
    (name,) = [p.name for p in entries(pristine[0])]
    cache = tmp_path / "cache"
    with monkeypatch.context() as dying:
        killed(step, dying)
        with pytest.raises(KeyboardInterrupt):
            build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    assert not (cache / name).exists() and entries(cache) == []
    assert list(cache.iterdir()), "the stand-in for SIGKILL left its temporary folder"
    calls = count_builds(monkeypatch)
    again = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    assert calls == [1] and again.content_hash() == reference.content_hash()
    assert files_of(cache / name) == files_of(pristine[0] / name)
    fail_if_built(monkeypatch)
    assert build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL).meta == again.meta


def build_by_another_process(bpe_tokenizer, cache: Path) -> dict:
    """What a second job on the same cache does; returns its entry's files as it left them."""
    other = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    (entry,) = entries(cache)
    return {"meta": other.meta, "inode": entry.stat().st_ino, "files": files_of(entry)}


def test_a_process_that_finds_the_entry_written_while_it_built_uses_it(
    bpe_tokenizer, tmp_path, monkeypatch
):
    """Two jobs build the same entry at once; the other writes it first, before this one starts
    writing (the folder is there: an export would refuse it)."""
    cache, other = tmp_path / "cache", {}
    real = COLLECTIONS["token_position"].builder

    def built_while_the_other_finished(*args, **kwargs):
        ds = real(*args, **kwargs)
        if not other:  # the outer call: the other job finishes now
            other["job"] = True
            other.update(build_by_another_process(bpe_tokenizer, cache))
        return ds

    slow = dataclasses.replace(
        COLLECTIONS["token_position"], builder=built_while_the_other_finished
    )
    monkeypatch.setitem(COLLECTIONS, "token_position", slow)
    ours = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    (entry,) = entries(cache)
    assert ours.meta == other["meta"]
    assert entry.stat().st_ino == other["inode"] and files_of(entry) == other["files"]
    assert [p.name for p in cache.iterdir()] == [entry.name]


def test_a_process_whose_rename_loses_uses_the_winners_entry(bpe_tokenizer, tmp_path, monkeypatch):
    """Both jobs write at once; the other's rename lands while this one writes its rows."""
    import datasets

    cache, other = tmp_path / "cache", {}
    real_save = datasets.Dataset.save_to_disk

    def save_while_the_other_renames(self, folder, *args, **kwargs):
        real_save(self, folder, *args, **kwargs)
        if not other:
            other["job"] = True
            other.update(build_by_another_process(bpe_tokenizer, cache))

    monkeypatch.setattr(datasets.Dataset, "save_to_disk", save_while_the_other_renames)
    ours = build_feature_dataset("token_position", bpe_tokenizer, cache, **SMALL)
    (entry,) = entries(cache)
    assert ours.meta == other["meta"]
    assert entry.stat().st_ino == other["inode"] and files_of(entry) == other["files"]
    assert [p.name for p in cache.iterdir()] == [entry.name]  # this one's folder is gone


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

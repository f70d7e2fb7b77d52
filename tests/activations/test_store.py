import json
import re

import numpy as np
import pytest

from probing.activations.store import ActivationStore, StoreCorruptError, StoreMismatchError

META = {
    "model": "m",
    "revision": "r",
    "model_config_hash": "c",
    "model_dtype": "float32",
    "dataset": "d",
    "dataset_hash": "h",
    "hook": "blocks.{layer}.mlp.hook_post",
    "reader": "hf_hooks",
    "aggregation": "mean",
    "dtype": "float16",
    "d_mlp": 4,
    "n_examples": 10,
    "n_sequences": 10,
}


def test_metadata_mismatch_is_an_error_not_a_reuse(tmp_path):
    ActivationStore(tmp_path / "s.zarr", META)
    for key, value in [
        ("dataset_hash", "other"),
        ("revision", "r2"),
        ("dtype", "float32"),
        ("aggregation", "max"),
        ("model_dtype", "bfloat16"),
        ("model_config_hash", "c2"),
        ("reader", "transformer_lens_bridge"),
    ]:
        with pytest.raises(StoreMismatchError, match=key):
            ActivationStore(tmp_path / "s.zarr", {**META, key: value})
    ActivationStore(tmp_path / "s.zarr", META)  # the same metadata reopens


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(StoreMismatchError, match="refusing"):
        ActivationStore(tmp_path / "s.zarr", META)


def test_layers_are_complete_only_when_every_row_is_written(tmp_path):
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=3)
    store.write(2, 0, np.ones((6, 4), np.float16), n_seq_done=6)
    assert not store.is_complete(2)
    with pytest.raises(RuntimeError, match="not fully written"):
        store.mark_complete(2)
    with pytest.raises(RuntimeError, match="not complete"):
        store.read(2)
    store.write(2, 6, 2 * np.ones((4, 4), np.float16), n_seq_done=10)  # the last block
    assert store.is_complete(2)
    store.mark_complete(2)  # says so again
    reopened = ActivationStore(tmp_path / "s.zarr", META)
    assert reopened.is_complete(2) and not reopened.is_complete(0)
    assert reopened.missing_layers([0, 2]) == [0]
    assert reopened.read(2).sum() == 6 * 4 + 2 * 16
    assert reopened.group["layer_2"].chunks == (3, 4)
    assert reopened.group.metadata.zarr_format == 3


def test_integer_store_dtypes_are_refused(tmp_path):
    """An int8 store held every activation as 0 and every F1 came out 0.000 with exit 0."""
    with pytest.raises(StoreMismatchError, match="int8"):
        ActivationStore(tmp_path / "s.zarr", {**META, "dtype": "int8"})
    with pytest.raises(StoreMismatchError, match="bfloat16"):
        ActivationStore(tmp_path / "t.zarr", {**META, "dtype": "bfloat16"})


def test_unwritten_rows_are_nan_not_zero(tmp_path):
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=3)
    store.write(0, 0, np.ones((6, 4), np.float16), n_seq_done=6)
    rows = store.group["layer_0"][:]
    assert np.isnan(rows[6:]).all() and (rows[:6] == 1).all()


def complete_store(tmp_path, chunk_examples: int = 3) -> tuple[ActivationStore, np.ndarray]:
    """Layer 0 written in two blocks (sequences 0-5 and 6-9) over chunks of 3 rows."""
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=chunk_examples)
    values = np.arange(40, dtype=np.float16).reshape(10, 4)
    store.write(0, 0, values[:6], n_seq_done=6, seq_start=0)
    store.write(0, 6, values[6:], n_seq_done=10, seq_start=6)
    store.mark_complete(0)
    return store, values


def chunk(store: ActivationStore, i: int):
    return store.path / "layer_0" / "c" / str(i) / "0"


def test_an_intact_store_reads_back_exactly(tmp_path):
    store, values = complete_store(tmp_path)
    assert store.damage(0) is None
    np.testing.assert_array_equal(store.read(0), values)
    np.testing.assert_array_equal(store.read(0, neurons=slice(1, 2)), values[:, 1:2])


def test_a_failed_whole_read_falls_back_to_blocks_that_check_out(tmp_path, monkeypatch):
    """If reading the whole array fails but every block reads back intact, read() returns them
    (it returned None before)."""
    import zarr

    store, values = complete_store(tmp_path)
    real_open = zarr.open_array

    class WholeReadFails:
        def __init__(self, arr):
            self._arr = arr

        def __getattr__(self, name):
            return getattr(self._arr, name)

        def __getitem__(self, key):
            if key == slice(None):
                raise OSError("a flaky read")
            return self._arr[key]

    monkeypatch.setattr(zarr, "open_array", lambda *a, **k: WholeReadFails(real_open(*a, **k)))
    np.testing.assert_array_equal(store.read(0), values)


def _delete(store):
    chunk(store, 2).unlink()  # rows 6-8: the second block


def _swap(store):
    chunk(store, 3).write_bytes(chunk(store, 2).read_bytes())  # rows 9- get rows 6-8's bytes


def _truncate(store):
    data = chunk(store, 2).read_bytes()
    chunk(store, 2).write_bytes(data[: len(data) // 2])


def _garble(store):
    chunk(store, 2).write_bytes(b"\x00garbage" * 7)


@pytest.mark.parametrize(
    "damage,reason",
    [
        (_delete, "never written"),
        (_swap, "checksum"),
        (_truncate, "undecodable|checksum"),
        (_garble, "undecodable|checksum"),
    ],
)
def test_a_damaged_chunk_is_detected_named_and_rewound(tmp_path, damage, reason):
    """A deleted chunk file used to read back as zeros, a copied one was used as is."""
    store, _ = complete_store(tmp_path)
    damage(store)
    found = store.damage(0)
    assert found is not None and found.layer == 0 and not found.whole_layer
    assert re.search(reason, found.reason)
    assert found.file.parent.parent.name == "c" and found.file.parent.name in {"2", "3"}
    assert found.seq_start == 6  # the first block is intact: redo from the second
    with pytest.raises(StoreCorruptError, match=re.escape(str(found.file))):
        store.read(0)
    store.rewind(found)
    assert not store.is_complete(0) and store.progress(0) == 6


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.update(data_type="int16"),
        lambda meta: meta.update(shape=[12, 4]),
        lambda meta: meta.clear(),
    ],
    ids=["dtype", "shape", "emptied"],
)
def test_edited_layer_metadata_drops_the_layer(tmp_path, edit):
    """A layer whose dtype was edited float16 -> int16 was read as int16 bits."""
    store, values = complete_store(tmp_path)
    meta_file = store.path / "layer_0" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    edit(meta)
    meta_file.write_text(json.dumps(meta))
    found = store.damage(0)
    assert found is not None and found.whole_layer and found.file == meta_file
    if store.is_complete(0):  # an emptied zarr.json has lost its complete mark too
        with pytest.raises(StoreCorruptError, match="layer 0"):
            store.read(0)
    store.rewind(found)
    assert store.missing_layers([0]) == [0]
    rewritten = 2 * values
    store.write(0, 0, rewritten, n_seq_done=10, seq_start=0)  # extraction redoes the layer
    store.mark_complete(0)
    np.testing.assert_array_equal(store.read(0), rewritten)


def test_a_broken_incomplete_layer_is_recreated_on_write(tmp_path, caplog):
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=3)
    store.write(0, 0, np.ones((6, 4), np.float16), n_seq_done=6)
    (store.path / "layer_0" / "zarr.json").write_text("garbage")
    assert store.progress(0) == 0  # unreadable progress: start the layer over
    store.write(0, 0, np.ones((10, 4), np.float16), n_seq_done=10)
    store.mark_complete(0)
    assert store.read(0).sum() == 40
    assert "layer_0" in caplog.text and "recreat" in caplog.text


def test_unreadable_group_metadata_is_one_clear_error(tmp_path):
    store, _ = complete_store(tmp_path)
    (store.path / "zarr.json").write_text("{ not json")
    with pytest.raises(StoreCorruptError, match=r"zarr\.json is unreadable.*delete"):
        ActivationStore(store.path, META)


def test_a_resumed_write_replaces_later_blocks(tmp_path):
    store, values = complete_store(tmp_path)
    store.write(0, 6, values[6:], n_seq_done=10, seq_start=6)  # rewritten after a rewind
    store.mark_complete(0)
    assert [b[:4] for b in store.group["layer_0"].attrs["blocks"]] == [[0, 6, 0, 6], [6, 10, 6, 10]]
    assert store.damage(0) is None


def test_layers_written_together_each_record_their_block(tmp_path):
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=4)
    first = {layer: np.full((6, 4), layer, np.float16) for layer in (0, 3)}
    store.write_layers(first, 0, n_seq_done=6, seq_start=0)
    second = {layer: np.full((4, 4), 10 + layer, np.float16) for layer in (0, 3)}
    store.write_layers(second, 6, n_seq_done=10, seq_start=6)
    for layer in (0, 3):
        assert store.progress(layer) == 10 and store.boundaries(layer) == {0, 6, 10}
        store.mark_complete(layer)
        np.testing.assert_array_equal(
            store.read(layer), np.concatenate([first[layer], second[layer]])
        )


def test_a_gap_in_one_layer_refuses_the_whole_write(tmp_path):
    """Every layer's block is checked before any is written: no layer moves ahead alone."""
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=4)
    store.write(0, 0, np.ones((6, 4), np.float16), n_seq_done=6)
    with pytest.raises(ValueError, match="layer 1: a write at row 6 would leave a gap"):
        store.write_layers({0: np.ones((4, 4), np.float16), 1: np.ones((4, 4), np.float16)}, 6, 10)
    assert store.progress(0) == 6 and store.progress(1) == 0

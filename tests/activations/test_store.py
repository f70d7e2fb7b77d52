import numpy as np
import pytest

from probing.activations.store import ActivationStore, StoreMismatchError

META = {
    "model": "m",
    "revision": "r",
    "dataset": "d",
    "dataset_hash": "h",
    "hook": "blocks.{layer}.mlp.hook_post",
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
    ]:
        with pytest.raises(StoreMismatchError, match=key):
            ActivationStore(tmp_path / "s.zarr", {**META, key: value})
    ActivationStore(tmp_path / "s.zarr", META)  # the same metadata reopens


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(StoreMismatchError, match="refusing"):
        ActivationStore(tmp_path / "s.zarr", META)


def test_layers_are_complete_only_when_marked(tmp_path):
    store = ActivationStore(tmp_path / "s.zarr", META, chunk_examples=3)
    store.write(2, 0, np.ones((6, 4)), n_seq_done=6)
    with pytest.raises(RuntimeError, match="not fully written"):
        store.mark_complete(2)
    with pytest.raises(RuntimeError, match="not complete"):
        store.read(2)
    store.write(2, 6, 2 * np.ones((4, 4)), n_seq_done=10)
    store.mark_complete(2)
    reopened = ActivationStore(tmp_path / "s.zarr", META)
    assert reopened.is_complete(2) and not reopened.is_complete(0)
    assert reopened.missing_layers([0, 2]) == [0]
    assert reopened.read(2).sum() == 6 * 4 + 2 * 16
    assert reopened.group["layer_2"].chunks == (3, 4)
    assert reopened.group.metadata.zarr_format == 3

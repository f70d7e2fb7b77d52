"""take_columns is np.take(X, cols, axis=1) by another route: same values, same errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from probing.probes.columns import take_columns

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "X",
    [
        RNG.standard_normal((50, 40), dtype=np.float32),
        RNG.standard_normal((50, 40)).astype(np.float16),
        RNG.integers(-5, 5, (50, 40)),
        np.asfortranarray(RNG.standard_normal((50, 40))),
        RNG.standard_normal((100, 80), dtype=np.float32)[::2, ::2],  # strided view
        RNG.standard_normal((50, 40)).astype(">f8"),  # another byte order: numpy's gather
        RNG.standard_normal((50, 40), dtype=np.float32)[:, ::-1],  # negative strides
    ],
    ids=["float32", "float16", "int", "fortran", "strided", "big-endian", "reversed"],
)
def test_it_equals_numpys_gather_on_every_layout(X):
    cols = np.array([7, 0, 39, 7, 12])
    out = take_columns(X, cols)
    np.testing.assert_array_equal(out, np.take(X, cols, axis=1))
    assert out.dtype == X.dtype and out.flags.c_contiguous and out.shape == (50, 5)


def test_a_read_only_memory_map_is_read_without_a_warning(tmp_path):
    path = tmp_path / "layer.npy"
    np.save(path, RNG.standard_normal((30, 20), dtype=np.float32))
    X = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = take_columns(X, [3, 1])
    np.testing.assert_array_equal(out, np.asarray(X)[:, [3, 1]])
    assert out.flags.writeable and not np.shares_memory(out, X)  # a copy, not a view of the map


def test_negative_and_out_of_range_columns_behave_as_in_numpy():
    X = RNG.standard_normal((4, 6), dtype=np.float32)
    np.testing.assert_array_equal(take_columns(X, [-1, 0]), X[:, [5, 0]])
    with pytest.raises(IndexError):
        take_columns(X, [6])
    assert take_columns(X, np.array([], dtype=np.int64)).shape == (4, 0)

"""Standardisation by training statistics."""

import numpy as np
import pytest

from probing.probes.scaling import fit_scaling, fit_standardize, standardize


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_fit_standardize_is_fit_scaling_then_standardize_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((300, 40)) * rng.uniform(0.01, 100, 40) + 3).astype(dtype)
    X[:, 5] = 2.0  # a dead neuron: scale 1, stays 0
    Z, mean, scale = fit_standardize(X)
    mean_ref, scale_ref = fit_scaling(X)
    assert np.array_equal(mean, mean_ref) and np.array_equal(scale, scale_ref)
    assert Z.dtype == np.float32
    assert np.array_equal(Z, standardize(X, mean_ref, scale_ref))
    assert not Z[:, 5].any()

"""Synthetic activations with known answers: planted neurons hidden among noise neurons."""

from __future__ import annotations

import numpy as np
import pytest


def planted_neuron(
    n: int = 1000, d: int = 3000, neuron: int = 1234, noise: float = 0.2, seed: int = 0
):
    """One neuron equals the label plus noise; the others are noise of mixed scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scales = rng.uniform(0.3, 1.5, d)
    X = (rng.standard_normal((n, d)) * scales).astype(np.float32)
    X[:, neuron] = y + noise * rng.standard_normal(n)
    return X, y, neuron


def sparse_combination(n: int = 2000, d: int = 2000, seed: int = 0):
    """y is the sign of the sum of 3 neurons (with label noise); no single one is enough."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    planted = np.array([17, 901, 1999])
    y = (X[:, planted].sum(1) + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y, planted


def badly_scaled(n: int = 1500, d: int = 200, seed: int = 0):
    """Gelu-like, non-negative activations whose scales span four orders of magnitude; the label
    depends on a handful of them, some of small scale."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(-2, 2, d)
    H = rng.standard_normal((n, d))
    logits = H[:, :6] @ np.array([1.5, -1.0, 0.8, 0.6, -0.5, 0.4]) + 0.5 * rng.standard_normal(n)
    y = (logits > 0.3).astype(np.int64)  # imbalanced on purpose: class_weight matters
    X = (np.log1p(np.exp(H)) * scales).astype(np.float32)
    perm = rng.permutation(d)
    return X[:, perm], y


@pytest.fixture(scope="session")
def planted():
    return planted_neuron()


@pytest.fixture(scope="session")
def combination():
    return sparse_combination()


@pytest.fixture(scope="session")
def scaled():
    return badly_scaled()

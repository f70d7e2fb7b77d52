"""Controls that tell whether neurons are special: the dense probe and a random rotation.

A random orthogonal Q mixes every neuron into every coordinate of X @ Q. If sparse probes on the
neuron basis beat the same probes on the rotated basis, the feature really is localised in a few
neurons rather than in some arbitrary low-dimensional direction.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=2)
def random_rotation(d: int, seed: int = 0) -> np.ndarray:
    """A uniformly random (Haar) orthogonal matrix Q [d, d], from a seeded QR decomposition.

    Cached: the QR costs O(d^3) (about a minute at d = 8192 on two cores), and every layer of a
    model shares d. Read-only, so the cached array cannot be changed by a caller."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    Q = (q * np.sign(np.diag(r))).astype(np.float32)  # the sign fix makes Q Haar-distributed
    Q.flags.writeable = False
    return Q


def rotate_activations(X: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """X [n, d] expressed in the rotated basis, X @ Q, kept in X's float dtype."""
    return (X @ Q.astype(X.dtype, copy=False)).astype(X.dtype, copy=False)


def dense_ks(ks: list[int], d: int, dense: bool) -> list[int]:
    """ks with the dense probe (k = d, every neuron) appended when asked for and missing."""
    return [*ks, d] if dense and d not in ks else list(ks)

"""Input checks at the probe boundary: one clear line instead of a traceback from deep in a solver."""

from __future__ import annotations

import numpy as np


def check_X(X, n_features: int | None = None) -> np.ndarray:
    """Return X as a finite 2-D float array; `n_features` checks it against the fitted width."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [n_examples, n_neurons], got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one example and one neuron, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must be real-valued, got dtype {X.dtype}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; drop or impute those activations before probing")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} neurons but the probe was fitted on {n_features}")
    return X


def check_y(y, n_examples: int, both_classes: bool = True) -> np.ndarray:
    """Return y as an int array of 0/1 labels; training labels must hold both classes."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D [n_examples], got shape {y.shape}")
    if y.shape[0] != n_examples:
        raise ValueError(f"X has {n_examples} examples but y has {y.shape[0]} labels")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf")
    classes = np.unique(y)
    if both_classes and classes.size < 2:
        raise ValueError(f"y has a single class ({classes[0]!r}); a probe needs both 0 and 1")
    if not np.isin(classes, [0, 1]).all():
        raise ValueError(f"y must be binary with labels 0 and 1, got classes {classes.tolist()}")
    return y.astype(np.int64)


def check_X_y(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate a training pair."""
    X = check_X(X)
    return X, check_y(y, X.shape[0])


def check_k(k: int, n_features: int) -> int:
    """k must be a positive int no larger than the number of neurons."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n_features:
        raise ValueError(f"k={k} exceeds the number of neurons ({n_features})")
    return int(k)

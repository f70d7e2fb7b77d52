"""Input checks at the probe boundary: one clear line instead of a traceback from deep in a solver.

Both paths convert with scikit-learn (`validate_data` for SparseProbe, so it sets and checks
`n_features_in_` like any estimator; `check_array` for the functional API) and add the checks
scikit-learn words over several lines (a 1-D or complex X, NaN or inf) or leaves to the estimator
(exactly two classes). SparseProbe takes any two labels; rank_neurons and sweep_k take 0/1 labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

FLOAT_DTYPES = (np.float64, np.float32)  # float32 activations stay float32; anything else float64


def check_probe_X(probe: BaseEstimator, X, reset: bool = False) -> np.ndarray:
    """X [n_examples, n_neurons] as a finite float array; reset=True records n_features_in_ (fit),
    reset=False checks X against it (predict)."""
    _check_2d_real(X)
    X = validate_data(probe, X, reset=reset, dtype=FLOAT_DTYPES, ensure_all_finite=False)
    _check_finite(X)
    return X


def check_probe_X_y(probe: BaseEstimator, X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training pair: (X, y as int64 indices into classes, classes). Any two labels; classes is
    their sorted unique values, so classes[1] is the positive class."""
    _check_2d_real(X)
    X, y = validate_data(probe, X, y, dtype=FLOAT_DTYPES, ensure_all_finite=False)
    _check_finite(X)
    check_classification_targets(y)  # refuses continuous targets ("Unknown label type")
    classes, y = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"y has a single class ({classes.tolist()[0]!r}); a binary probe needs two classes, "
            "not one class"
        )
    if classes.size > 2:
        raise ValueError(
            f"Only binary classification is supported; y has {classes.size} classes "
            f"{classes.tolist()}: fit one probe per class (on y == label)"
        )
    return X, y.astype(np.int64), classes


def check_X(X, n_features: int | None = None, finite: bool = True) -> np.ndarray:
    """Return X as a finite 2-D float array; `n_features` checks it against the fitted width.
    finite=False leaves the NaN / inf check to a caller whose own pass over X proves it (the
    mean_diff ranking: see ranking.weighted_sums)."""
    _check_2d_real(X)
    X = check_array(X, dtype=FLOAT_DTYPES, ensure_all_finite=False)
    if finite:
        _check_finite(X)
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
        raise ValueError(
            f"y has a single class ({classes.tolist()[0]!r}); a probe needs both 0 and 1"
        )
    if not np.isin(classes, [0, 1]).all():
        raise ValueError(f"y must be binary with labels 0 and 1, got classes {classes.tolist()}")
    return y.astype(np.int64)


def check_X_y(X, y, finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate a training pair (finite as for check_X)."""
    X = check_X(X, finite=finite)
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


def _check_2d_real(X) -> None:
    # before scikit-learn, whose messages for these span lines and print the whole array
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    if X.ndim == 1:
        raise ValueError(
            f"X must be 2-D [n_examples, n_neurons], got shape {X.shape}. Reshape your data: "
            "X.reshape(1, -1) for one example, X.reshape(-1, 1) for one neuron"
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [n_examples, n_neurons], got shape {X.shape}")
    dtype = getattr(X, "dtype", None)  # a DataFrame has none: scikit-learn checks its columns
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"Complex data not supported: X must be real activations, got {dtype}")


def _check_finite(X: np.ndarray) -> None:
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; drop or impute those activations before probing")

"""A layer's activations at a few neurons: the column gather every sweep makes of the whole layer.

np.take(X, cols, axis=1) walks X row by row in a generic loop; torch's index_select copies the
same elements 1.2-1.5x faster (one thread or two alike: the gather is bound by reading X), with no
copy of X (torch.from_numpy shares its memory). Measured on 2 cores, 256 columns, float32:
N=4000 d=4096 2.0 vs 2.4 ms; N=8000 d=8192 12.3 vs 17.9 ms; N=20000 d=8192 30 vs 45 ms.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def take_columns(X: np.ndarray, cols) -> np.ndarray:
    """X[:, cols] as a new C-contiguous array (cols: non-negative column indices, in order)."""
    cols = np.asarray(cols, dtype=np.int64)
    try:
        with warnings.catch_warnings():  # a read-only X (a memory map) is only read here
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            source = torch.from_numpy(X)
    except (TypeError, ValueError):  # dtypes and layouts torch cannot share (object, negative
        return np.take(X, cols, axis=1)  # strides, other byte orders): numpy's own gather
    if X.ndim != 2 or (cols.size and (cols.min() < 0 or cols.max() >= X.shape[1])):
        return np.take(X, cols, axis=1)  # numpy's errors and negative indices, as before
    if cols.size < 2 or (np.diff(cols) >= 0).all():
        return torch.index_select(source, 1, torch.from_numpy(cols)).numpy()
    # A ranking's columns come in rank order, which jumps about each row: gathered in ascending
    # order (rows read front to back) they came 1.7x faster, then put back in the asked order
    # by a gather of the few columns (N=4000, d=4096, 256 columns: 2.6 vs 4.6 ms, one thread).
    order = np.argsort(cols, kind="stable")
    ascending = torch.index_select(source, 1, torch.from_numpy(cols[order]))
    return torch.index_select(ascending, 1, torch.from_numpy(np.argsort(order))).numpy()

"""Probe a whole layer in one call: every feature of a collection x every k.

The features of a collection share the layer's activations; only their labels and splits differ.
What can be shared is done once per layer (validation, the rotation control), what is the same on
every layer once per feature (the bootstrap weights of its test documents, cached), and the fits
of all features x ks are one batched solve on a batched backend (see tasks.py). Rows are those of
sweep_k on each feature's splits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache

import numpy as np

from .backends import resolve_backend
from .baselines import Baselines, add_p_values, baseline_fields
from .controls import dense_ks, random_rotation, rotate_activations
from .metrics import bootstrap_weights
from .ranking import CHECKS_FINITE
from .sweep import paper_k_list
from .tasks import FeatureTask, Rows, sweep_tasks
from .validation import check_k, check_X, check_y

Splits = tuple[np.ndarray, np.ndarray, np.ndarray]  # (train, val, test) example indices


def probe_layer(
    X,
    labels: Mapping[str, np.ndarray],
    splits: Mapping[str, Splits],
    ks: list[int] | None = None,
    method: str = "mean_diff",
    backend: str = "auto",
    seed: int = 0,
    C: float = 1.0,
    rotate: bool = False,
    dense: bool = False,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    baselines: Baselines | None = None,
) -> dict[str, list[dict]]:
    """{feature: rows} for every feature of `splits`: the rows sweep_k gives on
    X[train], labels[feature][train], X[test], ... with X_val / y_val from the val split (when not
    empty) and test_groups=groups[test].

    X: [n_examples, d] activations of one layer; labels[feature]: 0/1 [n_examples].
    baselines: the permutation null and random-support refits (see baselines.py); the rows at
    their ks gain `null_f1`, `p_value`, `chance_f1`, `random_f1` and `random_support`. The null
    permutes labels by document (`groups`; None: by example).
    """
    # the mean_diff ranking's one pass over the layer proves it finite (ranking.CHECKS_FINITE)
    X = check_X(X, finite=method not in CHECKS_FINITE)
    n, d = X.shape
    ks = dense_ks(paper_k_list(d) if ks is None else list(ks), d, dense)
    if not ks:
        raise ValueError("ks is empty; pass at least one k, or None for paper_k_list(d)")
    ks = [check_k(k, d) for k in ks]
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    name = resolve_backend(backend)
    if rotate:
        X = rotate_activations(X, random_rotation(d, seed))
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries, X {n} examples")

    def tasks() -> Iterator[FeatureTask]:  # rows of X, read as the solver asks (see Rows)
        for feature, (train, val, test) in splits.items():
            y = check_y(labels[feature], n, both_classes=False)
            check_y(y[train], len(train))  # training labels must hold both classes
            weights = None if groups is None else _bootstrap(np.asarray(groups)[test], n_boot, seed)
            has_val = len(val) > 0
            yield FeatureTask(
                Rows(X, train),
                y[train],
                Rows(X, test),
                y[test],
                Rows(X, val) if has_val else None,
                y[val] if has_val else None,
                weights,
            )

    rows = dict(
        zip(splits, sweep_tasks(tasks(), ks, method, name, float(C), seed, rotate), strict=True)
    )
    if baselines is not None:
        labels = {f: check_y(labels[f], n, both_classes=False) for f in splits}
        docs = None if groups is None else np.asarray(groups)
        extra = baseline_fields(
            X, labels, splits, ks, baselines, method, name, float(C), seed, groups=docs
        )
        for feature, feature_rows in rows.items():
            for row in feature_rows:
                row.update(extra[feature].get(row["k"], {}))
            add_p_values(feature_rows)
    return rows


def _bootstrap(groups: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """bootstrap_weights, drawn once per test split: a feature's split is the same on every layer."""
    if groups.dtype.kind == "O":  # no stable bytes to key on
        return bootstrap_weights(groups, n_boot, seed)
    return _cached_bootstrap(groups.dtype.str, groups.tobytes(), n_boot, seed)


@lru_cache(maxsize=32)
def _cached_bootstrap(dtype: str, data: bytes, n_boot: int, seed: int):
    W, index = bootstrap_weights(np.frombuffer(data, dtype=dtype), n_boot, seed)
    W.flags.writeable = index.flags.writeable = False  # shared by every layer's rows
    return W, index

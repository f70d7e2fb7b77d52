"""The k sweep: rank once on the training split, fit every k, score each on the test split."""

from __future__ import annotations

from .backends import resolve_backend
from .controls import dense_ks, random_rotation, rotate_activations
from .metrics import bootstrap_weights
from .ranking import CHECKS_FINITE
from .tasks import FeatureTask, Rows, sweep_tasks
from .validation import check_k, check_X, check_X_y, check_y

SMALL_KS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16)


def paper_k_list(d_mlp: int) -> list[int]:
    """The paper's ks: 1-8, 10, 12, 16, then powers of two below d_mlp, then d_mlp (dense)."""
    if d_mlp < 1:
        raise ValueError(f"d_mlp must be >= 1, got {d_mlp}")
    powers = [2**p for p in range(5, d_mlp.bit_length() + 1) if 2**p < d_mlp]
    return sorted({k for k in (*SMALL_KS, *powers) if k < d_mlp} | {d_mlp})


def sweep_k(
    X_train,
    y_train,
    X_test,
    y_test,
    ks: list[int] | None = None,
    method: str = "mean_diff",
    backend: str = "auto",
    seed: int = 0,
    C: float = 1.0,
    rotate: bool = False,
    dense: bool = False,
    X_val=None,
    y_val=None,
    test_groups=None,
    n_boot: int = 1000,
) -> list[dict]:
    """One row per k: the support, coefficients (raw units), test metrics, train F1 and timing.

    ks=None means paper_k_list(d). rotate=True runs the same sweep on X @ Q for a random
    orthogonal Q seeded by `seed` (the rotation control); its "support" then indexes rotated
    directions, not neurons. dense=True adds k = d (all neurons) if it is missing.

    X_val / y_val: a validation split (documents unseen in training and in test) scored as
    `val_f1`, on which a caller chooses layers and neurons, so the test F1 it reports is not the
    maximum of many noisy numbers. test_groups: the test examples' documents; each row then
    carries the 95% bootstrap interval of its test F1 (`f1_ci_low`, `f1_ci_high`), resampling
    documents `n_boot` times.
    """
    # the mean_diff ranking's own pass over X_train proves it finite (ranking.CHECKS_FINITE)
    X_train, y_train = check_X_y(X_train, y_train, finite=method not in CHECKS_FINITE)
    d = X_train.shape[1]
    X_test = check_X(X_test, d)
    y_test = check_y(y_test, X_test.shape[0], both_classes=False)
    ks = dense_ks(paper_k_list(d) if ks is None else list(ks), d, dense)
    if not ks:
        raise ValueError("ks is empty; pass at least one k, or None for paper_k_list(d)")
    ks = [check_k(k, d) for k in ks]
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    name = resolve_backend(backend)
    if X_val is not None:
        X_val = check_X(X_val, d)
        y_val = check_y(y_val, X_val.shape[0], both_classes=False)
    if rotate:
        Q = random_rotation(d, seed)
        X_train, X_test = rotate_activations(X_train, Q), rotate_activations(X_test, Q)
        if X_val is not None:
            X_val = rotate_activations(X_val, Q)
    weights = None
    if test_groups is not None:
        if len(test_groups) != len(y_test):
            raise ValueError(f"test_groups has {len(test_groups)} entries, y_test {len(y_test)}")
        weights = bootstrap_weights(test_groups, n_boot, seed)
    val = Rows(X_val) if X_val is not None else None
    task = FeatureTask(Rows(X_train), y_train, Rows(X_test), y_test, val, y_val, weights)
    (rows,) = sweep_tasks([task], ks, method, name, float(C), seed, rotate)
    return rows

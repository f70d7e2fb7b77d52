"""The engine under sweep_k and probe_layer: k sweeps of one or several features, fitted together.

A task is one feature's sweep on one layer (its train / test / val activations and labels). On a
batched backend the tasks' problems (features x ks) are solved in one batched L-BFGS, a stack of
at most STACK_BYTES of training activations at a time; otherwise, and for methods that choose a
support per k, each task is fitted on its own. Either way every row is scored the same way, so
sweep_k (one task) and probe_layer (a layer's features) give the same rows.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from .backends import BATCHED
from .fit import PER_K_METHODS, PrefixFits, fit_method, fit_stacked, standardize_top
from .metrics import classification_metrics, f1, f1_intervals
from .ranking import checked_mean_differences, order_by_score, rank_neurons
from .validation import check_X_y

# Training activations (float32, the top max(ks) neurons of each feature) stacked into one solve,
# a copy held while it runs: a whole token-level collection on a SmolLM2 layer is ~70 MB, a
# single feature at N=20000, d=8192 ~500 MB (then solved alone).
STACK_BYTES = 256 * 2**20


def single_threaded_blas():
    """numpy's BLAS on one thread, for everything of a sweep but a non-batched backend's fits:
    its products (ranking statistics, logits of a few hundred test examples, bootstrap counts)
    are far too small to split, and a split product waits for every thread, which on a busy
    machine is many times slower (measured: 26 ms instead of 0.3 ms for one sweep's bootstrap
    counts on two shared cores). The torch backend's threads are its own (see torch_backend).

    Finding the BLAS libraries costs ~1.5 ms (a scan of every loaded library), as much as the
    fits of a few small ks: the controller is kept until a module is imported (which may load
    another BLAS)."""
    global _blas
    loaded = len(sys.modules)
    if _blas is None or _blas[0] != loaded:
        _blas = (loaded, ThreadpoolController())
    return _blas[1].limit(limits=1, user_api="blas")


_blas: tuple[int, ThreadpoolController] | None = None


@dataclass
class FeatureTask:
    """One feature's k sweep: validated activations [n, d] and 0/1 labels of its splits."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    weights: tuple[np.ndarray, np.ndarray] | None = None  # bootstrap_weights of test documents


def sweep_tasks(
    tasks: Iterable[FeatureTask],
    ks: list[int],
    method: str,
    backend: str,
    C: float,
    seed: int,
    rotated: bool = False,
) -> Iterator[list[dict]]:
    """The rows of each task, in order (see sweep_k for their keys). `ks` must be validated and
    `backend` resolved. Tasks are read lazily, so a caller may slice them from a layer on demand."""
    if method in PER_K_METHODS or backend not in BATCHED:
        for task in tasks:
            groups = fit_method(task.X_train, task.y_train, method, ks, backend, C, seed)
            with single_threaded_blas():
                yield task_rows(task, groups, method, backend, rotated)
        return
    for chunk in _chunks(tasks, max(ks)):
        with single_threaded_blas():
            orders, rank_seconds = rank_tasks(chunk, method, seed)
            ranked = [
                standardize_top(task.X_train, order, max(ks))
                for task, order in zip(chunk, orders, strict=True)
            ]
            groups = fit_stacked(ranked, [t.y_train for t in chunk], ks, backend, C)
            del ranked
            rows: list[list[dict]] = []
            for task, group, seconds in zip(chunk, groups, rank_seconds, strict=True):
                for fit in group.fits:
                    fit.extra = {"rank_seconds": seconds}
                rows.append(task_rows(task, [group], method, backend, rotated))
        yield from rows


def rank_tasks(chunk: list[FeatureTask], method: str, seed: int) -> tuple[list, list[float]]:
    """rank_neurons of every task, and the seconds each took. Tasks that share one X_train (the
    permutation null's refits of a feature) are ranked by mean difference in one product of
    their label vectors with X_train, instead of one pass over X_train each."""
    orders: list = [None] * len(chunk)
    seconds = [0.0] * len(chunk)
    if method == "mean_diff":
        sharing: dict[int, list[int]] = {}
        for i, task in enumerate(chunk):
            sharing.setdefault(id(task.X_train), []).append(i)
        for members in (m for m in sharing.values() if len(m) > 1):
            start = time.perf_counter()
            Y = np.stack([chunk[i].y_train for i in members]).astype(np.float64)
            positives = Y.sum(axis=1, keepdims=True)
            if ((positives == 0) | (positives == Y.shape[1])).any():
                continue  # a one-class task: rank_neurons below says so
            X = check_X_y(chunk[members[0]].X_train, chunk[members[0]].y_train, finite=False)[0]
            scores = np.abs(checked_mean_differences(X, Y))
            each = (time.perf_counter() - start) / len(members)
            for row, i in enumerate(members):
                orders[i], seconds[i] = order_by_score(scores[row]), each
    for i, task in enumerate(chunk):
        if orders[i] is None:
            start = time.perf_counter()
            orders[i] = rank_neurons(task.X_train, task.y_train, method, seed)
            seconds[i] = time.perf_counter() - start
    return orders, seconds


def _chunks(tasks: Iterable[FeatureTask], width: int) -> Iterator[list[FeatureTask]]:
    """Consecutive tasks whose stacked training activations fit in STACK_BYTES (at least one)."""
    chunk: list[FeatureTask] = []
    size = 0
    for task in tasks:
        nbytes = 4 * len(task.y_train) * width
        if chunk and size + nbytes > STACK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(task)
        size += nbytes
    if chunk:
        yield chunk


def task_rows(
    task: FeatureTask, groups: list[PrefixFits], method: str, backend: str, rotated: bool
) -> list[dict]:
    """One row per fitted probe: support, raw-unit coefficients, test metrics, train and val F1,
    the bootstrap interval of test F1 (every k's at once), timing."""
    rows = []
    for group in groups:
        test_logits, train_logits = group.decisions(task.X_test), group.train_logits
        val_logits = group.decisions(task.X_val) if task.X_val is not None else None
        test_preds = (test_logits > 0).astype(np.int64)
        if task.weights is not None:
            lows, highs = f1_intervals(task.y_test, test_preds, task.weights)
        for j, fit in enumerate(group.fits):
            extra = {}
            if val_logits is not None:
                extra["val_f1"] = f1(task.y_val, val_logits[:, j] > 0)
            if task.weights is not None:
                extra["f1_ci_low"], extra["f1_ci_high"] = float(lows[j]), float(highs[j])
            rows.append(
                {
                    "k": fit.k,
                    "support": fit.support.tolist(),
                    "coef": fit.coef.tolist(),
                    "intercept": fit.intercept,
                    **classification_metrics(task.y_test, test_preds[:, j], test_logits[:, j]),
                    "train_f1": f1(task.y_train, train_logits[:, j] > 0),
                    **extra,
                    "fit_seconds": fit.seconds,
                    "backend": backend,
                    "method": method,
                    "rotated": rotated,
                    **fit.extra,
                }
            )
    return rows

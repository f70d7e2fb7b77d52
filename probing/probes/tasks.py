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
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from .backends import BATCHED
from .columns import take_columns
from .fit import PER_K_METHODS, PrefixFits, fit_method, fit_stacked, standardize_columns
from .metrics import classification_metrics_columns, f1, f1_intervals
from .ranking import checked_weighted_sums, class_weights, order_by_score, rank_neurons

# Training activations (float32, the top max(ks) neurons of each feature) stacked into one solve,
# a copy held while it runs: a whole token-level collection on a SmolLM2 layer is ~70 MB, a
# single feature at N=20000, d=8192 ~500 MB (then solved alone).
STACK_BYTES = 256 * 2**20
# Tasks ranked by one product (their weights are a float64 [tasks, n] matrix: 40 MB at
# n = 20000 examples).
RANK_BLOCK = 256
# Fewer tasks than this are ranked on one BLAS thread. Their product is a matrix-vector pass over
# the layer, bound by reading it: on 2 cores a second thread saved 0.7 ms when idle (N=4000,
# d=4096: 1.35 vs 2.1 ms) and cost 10x when the machine was busy (28 vs 2.4 ms, load ~5): a
# whole sweep then ran 2.5x slower (benchmarks.vs_transformer_lens's, best of 20: 51 vs 17-34
# ms). A product of many tasks computes enough for the threads to pay.
THREADED_RANK_TASKS = 8


def single_threaded_blas():
    """numpy's BLAS on one thread, for everything of a sweep but the ranking of many tasks (a
    pass over the whole layer, 2x faster on 2 threads: N=4000..20000, d=4096..8192, measured;
    see THREADED_RANK_TASKS) and a non-batched backend's fits: its products (standardisation,
    logits of a few hundred test examples, bootstrap counts) are far too small to split, and a
    split product waits for every thread, which on a busy machine is many times slower
    (measured: 26 ms instead of 0.3 ms for one sweep's bootstrap counts on two shared cores).
    The torch backend's threads are its own (see torch_backend).

    Finding the BLAS libraries costs ~1.5 ms (a scan of every loaded library), as much as the
    fits of a few small ks: the controller is kept until a module is imported (which may load
    another BLAS)."""
    global _blas
    loaded = len(sys.modules)
    if _blas is None or _blas[0] != loaded:
        _blas = (loaded, ThreadpoolController())
    return _blas[1].limit(limits=1, user_api="blas")


_blas: tuple[int, ThreadpoolController] | None = None


class Rows:
    """Rows `index` of a layer's activations (None: all of `source`), copied only as far as a
    sweep reads them. The mean_diff ranking reads the whole layer once for all the tasks on it
    (rows outside a task's training split weigh nothing), the fits and scores read max(ks)
    columns: copying each feature's training rows (a whole [n_train, d] matrix) cost more than
    the rest of its sweep (N=4000, d=4096: 11 ms of 51; measured)."""

    def __init__(self, source: np.ndarray, index: np.ndarray | None = None):
        self.source = source
        self.index = None if index is None else np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return self.source.shape[0] if self.index is None else len(self.index)

    def array(self) -> np.ndarray:
        """The rows as a matrix [len, d] (a copy when they are not the whole source)."""
        return self.source if self.index is None else np.take(self.source, self.index, axis=0)

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """The rows' values at neurons `cols`, in that order: [len, len(cols)]."""
        if self.index is None:
            return take_columns(self.source, cols)
        return self.source[np.ix_(self.index, np.asarray(cols))]


@dataclass
class FeatureTask:
    """One feature's k sweep: validated activations [n, d] (Rows of a layer, or Rows(matrix))
    and 0/1 labels of its splits."""

    X_train: Rows
    y_train: np.ndarray
    X_test: Rows
    y_test: np.ndarray
    X_val: Rows | None = None
    y_val: np.ndarray | None = None
    weights: tuple[np.ndarray, np.ndarray] | None = None  # bootstrap_weights of test documents

    def top_columns(self, top: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(train, test, val) at neurons `top`: where the splits are rows of one layer, one
        gather of those columns from it (a column gather reads each row once), then its rows."""
        splits = [self.X_train, self.X_test, self.X_val]
        used = [s for s in splits if s is not None]
        out: list[np.ndarray | None]
        if len({id(s.source) for s in used}) == 1 and all(s.index is not None for s in used):
            cols = take_columns(used[0].source, top)
            out = [None if s is None else Rows(cols, s.index).array() for s in splits]
        else:
            out = [None if s is None else s.columns(top) for s in splits]
        train, test, val = out
        assert train is not None and test is not None
        return train, test, val


def sweep_tasks(
    tasks: Iterable[FeatureTask],
    ks: list[int],
    method: str,
    backend: str,
    C: float,
    seed: int,
    rotated: bool = False,
    f1_only: bool = False,
) -> Iterator[list[dict]]:
    """The rows of each task, in order (see sweep_k for their keys). `ks` must be validated and
    `backend` resolved. Tasks are read lazily, so a caller may slice them from a layer on demand.
    f1_only: rows of k, test F1 and val F1 alone (the baselines' refits need no other number)."""
    if method in PER_K_METHODS or backend not in BATCHED:
        for task in tasks:
            groups = fit_method(task.X_train.array(), task.y_train, method, ks, backend, C, seed)
            with single_threaded_blas():
                yield task_rows(task, groups, method, backend, rotated, f1_only=f1_only)
        return
    for chunk in _chunks(tasks, max(ks)):
        # the ranking reads the whole layer: BLAS's threads pay for a product of many tasks
        threads = nullcontext() if len(chunk) >= THREADED_RANK_TASKS else single_threaded_blas()
        with threads:
            orders, rank_seconds = rank_tasks(chunk, method, seed, width=max(ks))
        with single_threaded_blas():
            ranked, held_out = [], []
            for task, order in zip(chunk, orders, strict=True):
                top = np.asarray(order[: max(ks)])
                train, test, val = task.top_columns(top)
                ranked.append(standardize_columns(top, train))
                held_out.append((test, val))
            groups = fit_stacked(ranked, [t.y_train for t in chunk], ks, backend, C)
            del ranked
            rows: list[list[dict]] = []
            for task, group, seconds, (test, val) in zip(
                chunk, groups, rank_seconds, held_out, strict=True
            ):
                for fit in group.fits:
                    fit.extra = {"rank_seconds": seconds}
                rows.append(
                    task_rows(task, [group], method, backend, rotated, (test, val), f1_only)
                )
        yield from rows


def rank_tasks(
    chunk: list[FeatureTask], method: str, seed: int, width: int | None = None
) -> tuple[list, list[float]]:
    """rank_neurons of every task (its first `width` neurons where given: mean_diff then sorts
    no further), and the seconds each took. The mean_diff rankings of tasks on one layer (a
    collection's features, the permutation null's refits) are one product of their class
    weights, zero outside each task's training rows, with the layer: one pass over it, no copy
    of any split."""
    orders: list = [None] * len(chunk)
    seconds = [0.0] * len(chunk)
    if method == "mean_diff":
        sharing: dict[int, list[int]] = {}
        for i, task in enumerate(chunk):
            sharing.setdefault(id(task.X_train.source), []).append(i)
        for members in sharing.values():
            for start_at in range(0, len(members), RANK_BLOCK):
                _rank_by_one_product(
                    chunk, members[start_at : start_at + RANK_BLOCK], orders, seconds, width
                )
    for i, task in enumerate(chunk):
        if orders[i] is None:
            start = time.perf_counter()
            orders[i] = rank_neurons(task.X_train.array(), task.y_train, method, seed)[:width]
            seconds[i] = time.perf_counter() - start
    return orders, seconds


def _rank_by_one_product(
    chunk: list[FeatureTask],
    members: list[int],
    orders: list,
    seconds: list[float],
    width: int | None,
) -> None:
    """The mean_diff orders of chunk[members] (tasks on one source) from one product; a
    one-class task is left to rank_neurons, which says so."""
    start = time.perf_counter()
    source = chunk[members[0]].X_train.source
    weights, ranked = [], []
    for i in members:
        rows, y = chunk[i].X_train, chunk[i].y_train
        if 0 < y.sum() < len(y):
            weights.append(_class_weights_at(rows, y))
            ranked.append(i)
    if not ranked:
        return
    scores = np.abs(checked_weighted_sums(source, np.stack(weights)))
    for row, i in enumerate(ranked):
        orders[i] = order_by_score(scores[row], width)
    each = (time.perf_counter() - start) / len(ranked)
    for i in ranked:
        seconds[i] = each


def _class_weights_at(rows: Rows, y: np.ndarray) -> np.ndarray:
    """class_weights of `y` placed at its rows of the source (zero elsewhere): their product
    with the source is the mean difference of those rows."""
    w = class_weights(y)
    if rows.index is None:
        return w
    out = np.zeros(rows.source.shape[0])
    np.add.at(out, rows.index, w)  # add: a row listed twice counts twice, as in X[index]
    return out


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
    task: FeatureTask,
    groups: list[PrefixFits],
    method: str,
    backend: str,
    rotated: bool,
    held_out: tuple[np.ndarray, np.ndarray | None] | None = None,
    f1_only: bool = False,
) -> list[dict]:
    """One row per fitted probe: support, raw-unit coefficients, test metrics, train and val F1,
    the bootstrap interval of test F1 (every k's at once), timing. `held_out`: the test and val
    activations at the one group's top neurons, when already gathered. f1_only: k, test F1 and
    (with a val split) val F1 alone."""
    rows: list[dict] = []
    for group in groups:
        if held_out is None:
            test = task.X_test.columns(group.top)
            val = task.X_val.columns(group.top) if task.X_val is not None else None
        else:
            test, val = held_out
        test_logits, train_logits = group.decisions_at_top(test), group.train_logits
        val_logits = group.decisions_at_top(val) if val is not None else None
        test_preds = (test_logits > 0).astype(np.int64)
        if f1_only:
            for j, fit in enumerate(group.fits):
                row = {"k": fit.k, "f1": f1(task.y_test, test_preds[:, j])}
                if val_logits is not None:
                    row["val_f1"] = f1(task.y_val, val_logits[:, j] > 0)
                rows.append(row)
            continue
        if task.weights is not None:
            lows, highs = f1_intervals(task.y_test, test_preds, task.weights)
        metrics = classification_metrics_columns(task.y_test, test_preds, test_logits)
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
                    **metrics[j],
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

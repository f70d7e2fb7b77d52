"""Held-out metrics of a binary probe: F1 first (the paper's headline), then the rest.

Computed from confusion counts and one sort with numpy, with scikit-learn's definitions (and
zero_division=0): a sweep scores tens of probes per layer, and scikit-learn's input validation
would cost more than the fits of small k.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES = (
    "f1",
    "precision",
    "recall",
    "accuracy",
    "balanced_accuracy",
    "mcc",
    "roc_auc",
    "pr_auc",
)


def _ratio(num: float | np.number, den: float | np.number) -> float:
    return float(num / den) if den > 0 else 0.0


def f1(y_true, y_pred) -> float:
    """F1 of class 1; 0 when there is no positive at all."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp = np.count_nonzero(y_true & y_pred)
    return _ratio(2 * tp, np.count_nonzero(y_true) + np.count_nonzero(y_pred))


def classification_metrics(y_true, y_pred, scores) -> dict[str, float]:
    """All metrics as floats; ROC/PR AUC are nan when y_true holds a single class (undefined)."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    tp, fp = np.count_nonzero(t & p), np.count_nonzero(~t & p)
    fn, tn = np.count_nonzero(t & ~p), np.count_nonzero(~t & ~p)
    pos, neg = tp + fn, tn + fp
    class_recalls = [
        r for r, n in ((tp / pos if pos else 0, pos), (tn / neg if neg else 0, neg)) if n
    ]
    mcc_den = float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    two_classes = pos > 0 and neg > 0
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, pos),
        "accuracy": _ratio(tp + tn, len(t)),
        "balanced_accuracy": float(np.mean(class_recalls)),
        "mcc": float((tp * tn - fp * fn) / np.sqrt(mcc_den)) if mcc_den > 0 else 0.0,
        "roc_auc": _roc_auc(t, scores) if two_classes else float("nan"),
        "pr_auc": _average_precision(t, scores) if two_classes else float("nan"),
    }


def _roc_auc(t: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count one half)."""
    ranks = _average_ranks(scores)
    n_pos, n_neg = np.count_nonzero(t), np.count_nonzero(~t)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average: scipy's rankdata for finite scores, without
    its per-call overhead (a sweep ranks the test logits of every probe; for the same reason
    np.concatenate, several times cheaper a call than np.r_ or np.append)."""
    order = np.argsort(scores, kind="mergesort")
    starts = np.concatenate(([0], np.flatnonzero(np.diff(scores[order])) + 1))
    ends = np.concatenate((starts[1:], [len(scores)]))
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _average_precision(t: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average precision: sum over thresholds of (R_n - R_{n-1}) P_n."""
    order = np.argsort(-scores, kind="mergesort")
    s, hit = scores[order], t[order]
    last_of_tie = np.concatenate((np.flatnonzero(np.diff(s)), [len(s) - 1]))
    tps = np.cumsum(hit)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def bootstrap_weights(
    groups: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(W [n_boot, n_groups], group index [n]) for a cluster bootstrap of a test split.

    Documents, not examples, are resampled with replacement: windows of one document are not
    independent, and an interval that ignored it would be too narrow. Drawn once per split and
    shared by every probe scored on it, so their intervals are comparable.
    """
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    rng = np.random.default_rng(seed)
    W = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)
    return W.astype(np.float64), index


def f1_interval(
    y_true, y_pred, weights: tuple[np.ndarray, np.ndarray], level: float = 0.95
) -> tuple[float, float]:
    """The percentile bootstrap interval of F1 (class 1) under `bootstrap_weights`."""
    (lo,), (hi,) = f1_intervals(y_true, np.asarray(y_pred)[:, None], weights, level)
    return float(lo), float(hi)


def f1_intervals(
    y_true, y_preds, weights: tuple[np.ndarray, np.ndarray], level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """f1_interval of every column of y_preds [n, P] at once (the probes of a k sweep): the
    resampled confusion counts of all probes are one matrix product with the weights."""
    W, index = weights
    t = np.asarray(y_true).astype(bool)[:, None]
    p = np.asarray(y_preds).astype(bool)

    order = np.argsort(index, kind="stable")  # every group holds an example (np.unique)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(index[order])) + 1))

    def per_group(mask: np.ndarray) -> np.ndarray:  # [n_groups, P] counts per document
        return np.add.reduceat(mask[order].astype(np.float64), starts, axis=0)

    tp, fp, fn = W @ per_group(t & p), W @ per_group(~t & p), W @ per_group(t & ~p)
    den = 2 * tp + fp + fn
    f1s = np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(f1s, [tail, 100 - tail], axis=0)
    return lo, hi

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
    y_pred, scores = np.asarray(y_pred)[:, None], np.asarray(scores)[:, None]
    (out,) = classification_metrics_columns(y_true, y_pred, scores)
    return out


def classification_metrics_columns(y_true, y_preds, scores) -> list[dict[str, float]]:
    """classification_metrics of each column of y_preds [n, P] and scores [n, P] (the probes of
    a k sweep): counts and sorts of all columns at once, not P calls of a dozen numpy ops each
    (15 ks, 800 test examples: measured ~0.2 ms a call)."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_preds).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = int(np.count_nonzero(t)), int(np.count_nonzero(~t))
    tps = np.count_nonzero(p[t], axis=0).tolist()
    fps = np.count_nonzero(p[~t], axis=0).tolist()
    two_classes = pos > 0 and neg > 0
    nan = [float("nan")] * p.shape[1]
    roc, pr = nan, nan
    if two_classes:
        hits, starts, ends = _sorted(t, scores)
        roc = _roc_auc(hits, starts, ends).tolist()
        pr = _average_precision(hits, starts).tolist()
    out = []
    for tp, fp, roc_auc, pr_auc in zip(tps, fps, roc, pr, strict=True):
        fn, tn = pos - tp, neg - fp
        class_recalls = [
            r for r, n in ((tp / pos if pos else 0, pos), (tn / neg if neg else 0, neg)) if n
        ]
        mcc_den = float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
        out.append(
            {
                "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, pos),
                "accuracy": _ratio(tp + tn, len(t)),
                "balanced_accuracy": float(np.mean(class_recalls)),
                "mcc": float((tp * tn - fp * fn) / np.sqrt(mcc_den)) if mcc_den > 0 else 0.0,
                "roc_auc": roc_auc,
                "pr_auc": pr_auc,
            }
        )
    return out


def _sorted(t: np.ndarray, scores: np.ndarray):
    """Each column of scores [n, P] sorted ascending, as rows [P, n]: the labels in that order,
    and for each position the first and last position of its run of equal scores. One sort
    serves both AUCs: neither depends on the order within a run of ties."""
    scores = np.ascontiguousarray(scores.T)  # rows sort faster than columns
    order = np.argsort(scores, axis=-1)
    s = np.take_along_axis(scores, order, -1)
    n = s.shape[-1]
    index = np.arange(n)
    first = np.ones(s.shape, dtype=bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    starts = np.maximum.accumulate(np.where(first, index, 0), axis=-1)
    ends = np.minimum.accumulate(np.where(last, index, n - 1)[:, ::-1], axis=-1)[:, ::-1]
    return t[order], starts, ends


def _roc_auc(hits: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Area under the ROC curve per row of _sorted's output, as the Mann-Whitney statistic:
    1-based ranks, ties sharing their average (scipy's rankdata), ties counting one half."""
    n_pos = np.count_nonzero(hits[0])
    n_neg = hits.shape[-1] - n_pos
    rank_sums = np.where(hits, (starts + ends + 2) / 2, 0.0).sum(-1)
    return (rank_sums - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _average_precision(hits: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision per row of _sorted's output: the sum over thresholds
    (by descending score, the last example of each run of equal scores) of (R_n - R_{n-1}) P_n."""
    index = np.arange(hits.shape[-1])
    threshold = (starts == index)[:, ::-1]  # a run's first ascending is its last descending
    tps = np.cumsum(hits[:, ::-1], axis=-1)
    recall = tps / tps[:, -1:]
    # the recall at the previous threshold: recall only grows, so its running max over thresholds
    before = np.zeros(recall.shape)
    before[:, 1:] = np.maximum.accumulate(np.where(threshold, recall, 0.0), axis=-1)[:, :-1]
    precision = tps / (index + 1.0)
    return np.where(threshold, (recall - before) * precision, 0.0).sum(-1)


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

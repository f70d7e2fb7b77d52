"""Held-out metrics of a binary probe: F1 first (the paper's headline), then the rest."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

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


def classification_metrics(y_true, y_pred, scores) -> dict[str, float]:
    """All metrics as floats; ROC/PR AUC are nan when y_true holds a single class (undefined)."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    two_classes = np.unique(y_true).size == 2
    with warnings.catch_warnings():  # one-class y_true makes sklearn warn; we report nan instead
        warnings.simplefilter("ignore")
        return _metrics(y_true, y_pred, scores, two_classes)


def _metrics(y_true, y_pred, scores, two_classes: bool) -> dict[str, float]:
    return {
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true, scores)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, scores)) if two_classes else float("nan"),
    }

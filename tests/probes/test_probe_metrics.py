import math

import numpy as np
import pytest

from probing.probes import classification_metrics


def test_metrics_on_a_known_confusion_matrix():
    # tp=2, fn=1, fp=1, tn=4
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.0, -1.0])
    m = classification_metrics(y_true, y_pred, scores)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["mcc"] == pytest.approx((2 * 4 - 1 * 1) / math.sqrt(3 * 3 * 5 * 5))
    assert m["roc_auc"] == pytest.approx(14 / 15)  # one (pos, neg) pair misordered: 0.3 < 0.7
    assert 0 < m["pr_auc"] <= 1
    assert all(isinstance(v, float) for v in m.values())


def test_auc_is_nan_with_one_class():
    m = classification_metrics([1, 1, 1], [1, 0, 1], [0.5, -0.5, 2.0])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert m["recall"] == pytest.approx(2 / 3)

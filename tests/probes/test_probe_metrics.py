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


@pytest.mark.parametrize("seed", range(4))
def test_metrics_match_scikit_learn(seed):
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)
    y_true = (rng.random(300) < [0.1, 0.3, 0.5, 0.02][seed]).astype(int)
    scores = np.round(y_true + rng.standard_normal(300), 1)  # rounding makes ties
    y_pred = (scores > 0.5).astype(int)
    m = classification_metrics(y_true, y_pred, scores)
    assert m["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, zero_division=0))
    assert m["precision"] == pytest.approx(skm.precision_score(y_true, y_pred, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(y_true, y_pred, zero_division=0))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y_true, y_pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, scores))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y_true, scores))


def test_no_predicted_positives_gives_zero_not_nan():
    m = classification_metrics([0, 1, 1], [0, 0, 0], [0.1, 0.2, 0.3])
    assert m["f1"] == 0.0 and m["precision"] == 0.0 and m["mcc"] == 0.0


def test_columns_at_once_equal_each_column_scored_alone():
    """A sweep's probes are scored together (one sort of every column); each column's metrics
    must be scikit-learn's for that column, ties and all."""
    from sklearn import metrics as skm

    from probing.probes.metrics import classification_metrics_columns

    rng = np.random.default_rng(7)
    y_true = (rng.random(400) < 0.2).astype(int)
    raw = y_true[:, None] + rng.standard_normal((400, 6))
    scores = np.stack([np.round(raw[:, j], d) for j, d in enumerate([0, 1, 1, 2, 3, 8])], 1)
    y_preds = (scores > 0.5).astype(int)
    for j, m in enumerate(classification_metrics_columns(y_true, y_preds, scores)):
        assert m["f1"] == skm.f1_score(y_true, y_preds[:, j], zero_division=0)
        assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y_true, y_preds[:, j]))
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, scores[:, j]), abs=1e-12)
        ap = skm.average_precision_score(y_true, scores[:, j])
        assert m["pr_auc"] == pytest.approx(ap, abs=1e-12)
        assert m == classification_metrics(y_true, y_preds[:, j], scores[:, j])

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from probing.probes import SparseProbe


@pytest.mark.parametrize("backend", ["sklearn", "torch"])
def test_k1_probe_on_planted_neuron(planted, backend):
    X, y, neuron = planted
    probe = SparseProbe(k=1, backend=backend).fit(X[:800], y[:800])
    assert probe.support_.tolist() == [neuron]
    assert f1_score(y[800:], probe.predict(X[800:])) > 0.95


def test_fitted_attributes_follow_sklearn(planted):
    X, y, _ = planted
    probe = SparseProbe(k=3).fit(X, y)
    assert probe.fit(X, y) is probe
    assert probe.support_.shape == (3,)
    assert probe.coef_.shape == (1, 3)
    assert probe.intercept_.shape == (1,)
    assert probe.classes_.tolist() == [0, 1]
    assert probe.n_features_in_ == X.shape[1]


@pytest.mark.parametrize("labels", [(-1, 1), ("no", "yes"), (3, 7), (False, True)])
def test_any_two_labels_map_through_classes(planted, labels):
    X, y, _ = planted
    reference = SparseProbe(k=1).fit(X, y)
    probe = SparseProbe(k=1).fit(X, np.asarray(labels)[y])
    assert probe.classes_.tolist() == list(labels)
    assert np.array_equal(probe.predict(X), np.asarray(labels)[reference.predict(X)])
    assert np.allclose(probe.decision_function(X), reference.decision_function(X))


def test_positive_class_is_the_second_sorted_label(planted):
    X, y, _ = planted
    named = np.where(y == 1, "a", "b")  # classes_ = ["a", "b"]: "b", i.e. y == 0, is positive
    probe = SparseProbe(k=1).fit(X, named)
    assert probe.classes_.tolist() == ["a", "b"]
    assert np.array_equal(probe.decision_function(X) > 0, probe.predict(X) == "b")
    assert probe.score(X, named) > 0.95
    assert np.array_equal(probe.predict_proba(X)[:, 1] > 0.5, probe.predict(X) == "b")


def test_coefficients_are_in_raw_units(scaled):
    X, y = scaled
    probe = SparseProbe(k=5).fit(X, y)
    expected = X[:, probe.support_].astype(np.float64) @ probe.coef_[0] + probe.intercept_[0]
    assert np.allclose(probe.decision_function(X), expected)
    proba = probe.predict_proba(X)
    assert np.allclose(proba.sum(1), 1.0)
    assert np.array_equal(probe.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert probe.score(X, y) == pytest.approx(np.mean(probe.predict(X) == y))


def test_standardising_makes_the_probe_scale_invariant(scaled):
    """Multiplying a neuron by 1000 must not change which examples the probe gets right."""
    X, y = scaled
    probe = SparseProbe(k=4, method="random", seed=1).fit(X, y)
    X2 = X.copy()
    X2[:, probe.support_[0]] *= 1000.0
    probe2 = SparseProbe(k=4, method="random", seed=1).fit(X2, y)
    assert np.array_equal(probe.predict(X), probe2.predict(X2))
    assert probe2.coef_[0, 0] == pytest.approx(probe.coef_[0, 0] / 1000.0, rel=1e-3)


def test_clone_keeps_parameters_and_drops_fit(planted):
    X, y, _ = planted
    probe = SparseProbe(k=2, method="random", backend="torch", C=0.5, seed=7).fit(X, y)
    copy = clone(probe)
    assert copy.get_params() == probe.get_params()
    assert not hasattr(copy, "support_")


def test_works_in_a_pipeline_after_a_scaler(planted):
    X, y, neuron = planted
    pipe = Pipeline([("scale", StandardScaler()), ("probe", SparseProbe(k=1))]).fit(
        X[:800], y[:800]
    )
    assert pipe.named_steps["probe"].support_.tolist() == [neuron]
    assert pipe.score(X[800:], y[800:]) > 0.95


def test_predict_before_fit_fails_clearly(planted):
    X, _, _ = planted
    with pytest.raises(Exception, match="not fitted"):
        SparseProbe().predict(X)

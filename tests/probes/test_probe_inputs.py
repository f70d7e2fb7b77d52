import numpy as np
import pytest

from probing.probes import SparseProbe, sweep_k

rng = np.random.default_rng(0)
X = rng.standard_normal((20, 5)).astype(np.float32)
y = np.array([0, 1] * 10)


@pytest.mark.parametrize(
    ("X_bad", "y_bad", "k", "message"),
    [
        (X[0], y, 1, "X must be 2-D"),
        (X, y[:-1], 1, "inconsistent numbers of samples: \\[20, 19\\]"),
        (np.where(np.eye(20, 5, dtype=bool), np.nan, X), y, 1, "NaN or inf"),
        (np.where(np.eye(20, 5, dtype=bool), np.inf, X), y, 1, "NaN or inf"),
        (X + 1j, y, 1, "Complex data not supported"),
        (X, np.zeros(20, int), 1, "single class"),
        (X, np.arange(20) % 3, 1, "binary"),
        (X, np.linspace(0, 1, 20), 1, "Unknown label type: continuous"),
        (X, y, 6, "k=6 exceeds the number of neurons \\(5\\)"),
        (X, y, 0, "k must be >= 1"),
    ],
)
def test_fit_rejects_bad_input_in_one_line(X_bad, y_bad, k, message):
    with pytest.raises(ValueError, match=message) as err:
        SparseProbe(k=k).fit(X_bad, y_bad)
    assert "\n" not in str(err.value)


def test_predict_checks_width_and_shape_in_one_line():
    probe = SparseProbe(k=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but SparseProbe is expecting 5"):
        probe.predict(X[:, :4])
    with pytest.raises(ValueError, match="got shape \\(5,\\). Reshape your data") as err:
        probe.predict(X[0])
    assert "\n" not in str(err.value)


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="unknown backend 'gpu'.*torch"):
        SparseProbe(backend="gpu").fit(X, y)


def test_sweep_checks_test_split_and_ks():
    with pytest.raises(ValueError, match="fitted on 5"):
        sweep_k(X, y, X[:, :3], y, ks=[1])
    with pytest.raises(ValueError, match="k=9 exceeds"):
        sweep_k(X, y, X, y, ks=[1, 9])
    with pytest.raises(ValueError, match="C must be > 0"):
        sweep_k(X, y, X, y, ks=[1], C=0)


@pytest.mark.parametrize("method", ["mean_diff", "random"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_sweep_refuses_non_finite_training_activations_in_one_line(method, bad):
    """mean_diff proves X_train finite in its ranking pass; other rankings check it first."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 6)), np.repeat([0, 1], 20)
    X[7, 4] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        sweep_k(X, y, X, y, ks=[1], method=method)

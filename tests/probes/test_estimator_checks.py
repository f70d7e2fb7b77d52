"""SparseProbe is a scikit-learn classifier: it passes every applicable check of check_estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from probing.probes import SparseProbe

# The cheap methods; the L1-path ones (l1, telescopic) take ~20 s each here and add no API surface.
# "random" is left out: a random neuron is a baseline, not meant to pass check_classifiers_train.
PROBES = [
    SparseProbe(k=1, method="mean_diff", backend="sklearn"),
    SparseProbe(k=1, method="mean_diff", backend="torch"),
    SparseProbe(k=1, method="f_stat", backend="sklearn"),
    SparseProbe(k=1, method="svm", backend="sklearn"),
    SparseProbe(k=1, method="optimal", backend="sklearn"),
]


@parametrize_with_checks(PROBES)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

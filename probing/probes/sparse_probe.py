"""SparseProbe: a scikit-learn classifier that may read at most k neurons."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .backends import resolve_backend
from .fit import fit_method
from .validation import check_k, check_probe_X, check_probe_X_y


class SparseProbe(ClassifierMixin, BaseEstimator):
    """Rank neurons by `method`, keep the top k, fit an L2 class-balanced logistic regression.

    Features are standardised by training mean and std inside the fit (every backend then solves
    the same well-conditioned problem); `coef_` and `intercept_` are mapped back to raw activation
    units, so `decision_function(X) == X[:, support_] @ coef_[0] + intercept_[0]`.

    Binary: y holds any two labels (ints, strings, -1/1, ...). classes_ is their sorted unique
    values; classes_[1] is the positive class, so decision_function > 0 predicts classes_[1].

    Fitted attributes: support_ (neuron indices [k], best first), coef_ [1, k], intercept_ [1],
    classes_ [2], n_features_in_.
    """

    def __init__(
        self,
        k: int = 1,
        method: str = "mean_diff",
        backend: str = "sklearn",
        C: float = 1.0,
        seed: int = 0,
    ):
        self.k = k
        self.method = method
        self.backend = backend
        self.C = C
        self.seed = seed

    def fit(self, X, y) -> SparseProbe:
        X, y, classes = check_probe_X_y(self, X, y)  # y: 0/1 indices into classes
        k = check_k(self.k, X.shape[1])
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        backend = resolve_backend(self.backend)
        (group,) = fit_method(X, y, self.method, [k], backend, float(self.C), self.seed)
        (fit,) = group.fits
        self.support_ = fit.support
        self.coef_ = fit.coef[None, :]
        self.intercept_ = np.array([fit.intercept])
        self.classes_ = classes  # n_features_in_ was set by check_probe_X_y
        self.backend_ = backend
        self.mip_gap_ = fit.extra.get("mip_gap")  # the optimality certificate, for method="optimal"
        return self

    def decision_function(self, X) -> np.ndarray:
        """Logits [n]: positive means classes_[1]."""
        check_is_fitted(self)
        X = check_probe_X(self, X)
        return X[:, self.support_].astype(np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict(self, X) -> np.ndarray:
        """Labels [n] from classes_."""
        positive = self.decision_function(X) > 0  # first: it checks the probe is fitted
        return self.classes_[positive.astype(np.int64)]

    def predict_proba(self, X) -> np.ndarray:
        """[n, 2]: probabilities of classes_[0] and classes_[1]."""
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p1, p1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: one probe per feature
        return tags

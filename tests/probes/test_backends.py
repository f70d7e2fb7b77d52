"""The batched torch backend must solve the same problem as scikit-learn, k by k."""

import warnings

import numpy as np
import pytest
import torch

from probing.probes import paper_k_list, sweep_k
from probing.probes.backends import cuml_backend, resolve_backend, torch_backend

COEF_TOL = 2e-3  # |coef_torch - coef_sklearn| on standardised neurons, relative to max |coef|


@pytest.fixture(scope="module")
def both_backends(scaled):
    X, y = scaled
    split = 1100
    args = (X[:split], y[:split], X[split:], y[split:], paper_k_list(X.shape[1]))
    return X, sweep_k(*args, backend="sklearn"), sweep_k(*args, backend="torch")


def test_f1_agrees_at_every_k(both_backends):
    _, sk_rows, torch_rows = both_backends
    assert [r["k"] for r in sk_rows] == [r["k"] for r in torch_rows]
    for sk, tr in zip(sk_rows, torch_rows, strict=True):
        assert abs(sk["f1"] - tr["f1"]) <= 0.01, sk["k"]
        assert abs(sk["train_f1"] - tr["train_f1"]) <= 0.01, sk["k"]
        assert tr["backend"] == "torch" and sk["backend"] == "sklearn"


def test_coefficients_agree(both_backends):
    X, sk_rows, torch_rows = both_backends
    scale = X[:1100].std(0)
    for sk, tr in zip(sk_rows, torch_rows, strict=True):
        assert sk["support"] == tr["support"]
        # compare on the standardised scale both backends actually solve
        a = np.array(sk["coef"]) * scale[sk["support"]]
        b = np.array(tr["coef"]) * scale[tr["support"]]
        assert np.abs(a - b).max() <= COEF_TOL * max(1.0, np.abs(a).max()), sk["k"]


def test_torch_matches_sklearn_objective_exactly_in_float64():
    """Tight check of the loss convention (balanced weights, C, unpenalised intercept)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    Z = rng.standard_normal((400, 12))
    y = (Z[:, 0] + Z[:, 1] + rng.standard_normal(400) > 1.0).astype(int)  # imbalanced
    fits = torch_backend.fit_prefixes(Z, y, [3, 12], C=0.05, dtype=torch.float64, tol=1e-9)
    for (coef, intercept), k in zip(fits, [3, 12], strict=True):
        ref = LogisticRegression(C=0.05, class_weight="balanced", tol=1e-10, max_iter=5000)
        ref.fit(Z[:, :k], y)
        assert np.allclose(coef, ref.coef_[0], atol=1e-5)
        assert intercept == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_auto_picks_torch_without_cuda_or_cuml(monkeypatch):
    monkeypatch.setattr(torch_backend, "default_device", lambda: "cpu")
    assert resolve_backend("auto") == "torch"
    assert not cuml_backend.available()  # cuml is not installed on the CI/CPU machines


def test_cuml_missing_gives_install_hint():
    if cuml_backend.available():
        pytest.skip("cuml is installed here")
    with pytest.raises(ImportError, match="pip install 'probing\\[gpu\\]'"):
        resolve_backend("cuml")
    with pytest.raises(ImportError, match="cuML"):
        cuml_backend.fit_prefixes(np.zeros((4, 1)), np.array([0, 1, 0, 1]), [1])


@pytest.mark.parametrize("group_width", [1, 4, 32])  # every block apart, some merged, all merged
def test_prefix_design_products_match_dense_masked_algebra(group_width):
    from probing.probes.backends.prefix_design import PrefixDesign

    rng = np.random.default_rng(0)
    Z = rng.standard_normal((30, 9))
    ks = [1, 2, 5, 9]
    design = PrefixDesign(Z, ks, torch.float64, "cpu", group_width=group_width)
    assert len(design.blocks) == {1: 4, 4: 3, 32: 1}[group_width]
    assert design.size == sum(k + 1 for k in ks)  # no padding in the flat weights
    theta = torch.as_tensor(rng.standard_normal(design.size))
    Z1 = np.hstack([np.ones((30, 1)), Z])
    fits = design.unpack(theta)
    logits = design.matvec(theta).numpy()
    R = rng.standard_normal((30, len(ks)))
    back = design.unpack(design.rmatvec(torch.as_tensor(R)))
    for j, (k, (coef, intercept)) in enumerate(zip(ks, fits, strict=True)):
        assert coef.shape == (k,)
        assert np.allclose(logits[:, j], Z1[:, : k + 1] @ np.r_[intercept, coef])
        assert np.allclose(np.r_[back[j][1], back[j][0]], Z1[:, : k + 1].T @ R[:, j])


def test_torch_warns_when_it_stops_early(scaled):
    from sklearn.exceptions import ConvergenceWarning

    X, y = scaled
    Z = (X - X.mean(0)) / X.std(0)
    with pytest.warns(ConvergenceWarning, match=r"k=\[.*200\] did not reach"):
        torch_backend.fit_prefixes(Z, y, [1, 200], max_iter=3)


class _StandInCumlLogisticRegression:
    """The slice of cuml.linear_model.LogisticRegression's interface the backend uses, computed by
    scikit-learn: CI has no GPU, so this checks our wiring (arguments, shapes, dispatch), not cuML."""

    def __init__(self, *, C, penalty, class_weight, tol, max_iter, output_type):
        from sklearn.linear_model import LogisticRegression

        assert penalty == "l2" and class_weight == "balanced" and output_type == "numpy"
        self._model = LogisticRegression(C=C, class_weight=class_weight, tol=tol, max_iter=max_iter)

    def fit(self, X, y):
        assert X.flags.c_contiguous  # cuML copies non-contiguous input to the device slowly
        self._model.fit(X, y.astype(int))
        self.coef_, self.intercept_ = self._model.coef_, self._model.intercept_
        return self


@pytest.fixture
def stand_in_cuml(monkeypatch):
    import importlib.machinery
    import sys
    import types

    cuml = types.ModuleType("cuml")
    cuml.__spec__ = importlib.machinery.ModuleSpec("cuml", None)
    linear_model = types.ModuleType("cuml.linear_model")
    linear_model.LogisticRegression = _StandInCumlLogisticRegression
    cuml.linear_model = linear_model
    monkeypatch.setitem(sys.modules, "cuml", cuml)
    monkeypatch.setitem(sys.modules, "cuml.linear_model", linear_model)


def test_cuml_backend_wiring_agrees_with_sklearn(stand_in_cuml, scaled):
    X, y = scaled
    assert cuml_backend.available()
    assert resolve_backend("cuml") == "cuml"
    args = (X[:1100], y[:1100], X[1100:], y[1100:], [1, 4, 32, X.shape[1]])
    cuml_rows, sk_rows = sweep_k(*args, backend="cuml"), sweep_k(*args, backend="sklearn")
    for cu, sk in zip(cuml_rows, sk_rows, strict=True):
        assert cu["backend"] == "cuml" and cu["support"] == sk["support"]
        assert len(cu["coef"]) == cu["k"]
        assert np.allclose(cu["coef"], sk["coef"], rtol=1e-3, atol=1e-6)
        assert cu["f1"] == pytest.approx(sk["f1"], abs=1e-9)


@pytest.mark.parametrize("compiled", [False, True])
def test_stops_when_the_objective_stalls_above_the_gradient_floor(scaled, compiled):
    """In float32 a converged problem's gradient can stay above tol from rounding alone (seen on
    SmolLM2 activations with 18 ks); the objective then stops falling and the fit must end there,
    at the optimum, instead of spinning to max_iter. tol < 0: the gradient test never passes."""
    from sklearn.linear_model import LogisticRegression

    if compiled:
        pytest.importorskip("numba")
    X, y = scaled
    Z = (X - X.mean(0)) / X.std(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning (max_iter reached) fails the test
        fits = torch_backend.fit_prefixes(
            Z, y, [1, 2, 8], max_iter=200, tol=-1.0, device="cpu", compiled=compiled
        )
    for (coef, intercept), k in zip(fits, [1, 2, 8], strict=True):
        ref = LogisticRegression(class_weight="balanced", tol=1e-8, max_iter=5000).fit(Z[:, :k], y)
        assert np.allclose(coef, ref.coef_[0], atol=2e-3), k
        assert intercept == pytest.approx(ref.intercept_[0], abs=2e-3)


def test_auto_rows_name_the_backend_that_ran(planted, monkeypatch):
    """Rows never say "auto": they name what benchmarks/backend_choice.py's rule picked."""
    from probing.probes import probe_layer

    monkeypatch.setattr(torch_backend, "default_device", lambda: "cpu")
    X, y, _ = planted
    rows = sweep_k(X[:800], y[:800], X[800:], y[800:], ks=[1, 2], backend="auto")
    idx = np.arange(1000)
    by_feature = probe_layer(X, {"f": y}, {"f": (idx[:600], idx[600:800], idx[800:])}, [1])
    assert {r["backend"] for r in rows + by_feature["f"]} == {"torch"}


def test_cpu_solves_are_single_threaded_and_features_run_in_parallel(monkeypatch):
    """The measured rule: each CPU solve on SOLVE_THREADS (1) torch threads, the features of a
    stack dealt to `workers` threads; the caller's thread count is restored."""
    import threading

    seen = []
    solve = torch_backend._solve_stack

    def spy(Zs, ys, **problem):
        seen.append((threading.get_ident(), torch.get_num_threads(), len(Zs)))
        return solve(Zs, ys, **problem)

    monkeypatch.setattr(torch_backend, "_solve_stack", spy)
    rng = np.random.default_rng(1)
    Zs = [rng.standard_normal((60, 5)) for _ in range(3)]
    ys = [(Z[:, 0] > 0).astype(int) for Z in Zs]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch_backend.fit_stack(Zs, ys, [1, 5], device="cpu", workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert sorted(n for _, _, n in seen) == [1, 2]  # 3 features dealt to 2 workers
    assert len({ident for ident, _, _ in seen}) == 2
    assert {threads for _, threads, _ in seen} == {torch_backend.SOLVE_THREADS} == {1}
    seen.clear()
    torch_backend.fit_prefixes(Zs[0], ys[0], [1, 5], device="cpu")  # one sweep: one solve
    assert [(threads, n) for _, threads, n in seen] == [(1, 1)]


@pytest.mark.parametrize(
    ("dtype", "tol", "atol", "compiled"),
    [
        (torch.float64, 1e-10, 2e-6, False),
        (torch.float32, torch_backend.TOL, 1e-3, False),
        (torch.float32, torch_backend.TOL, 1e-3, None),  # compiled where numba is installed
    ],
)
def test_batched_solver_pins_sklearn_lbfgs_at_every_k(dtype, tol, atol, compiled):
    """Every prefix problem of a sweep whose ks span several column groups of PrefixDesign (the
    merged leading blocks, then wide ones) is scikit-learn's balanced L2 logistic regression.
    The bounds are what a gradient g allows (|g| over the curvature, >= the penalty's 1 / (C n)
    = 1 / 300): in float64 both solvers stop where the objective stops falling, |g| ~1e-8; in
    float32 ours stops at |g| <= TOL = 1e-6."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n, C = 600, 0.5
    Z = rng.standard_normal((n, 80))
    Z[:, 1] += 0.6 * Z[:, 0]  # correlated neurons: the problems are not diagonal
    logits = Z[:, :4] @ np.array([1.2, -0.8, 0.5, 0.3]) + 0.8 * rng.standard_normal(n)
    y = (logits > 0.9).astype(int)  # imbalanced: the class weights matter
    ks = [1, 2, 3, 5, 8, 16, 33, 64, 80]
    fits = torch_backend.fit_prefixes(
        Z, y, ks, C=C, dtype=dtype, tol=tol, max_iter=5000, device="cpu", compiled=compiled
    )
    for (coef, intercept), k in zip(fits, ks, strict=True):
        ref = LogisticRegression(C=C, class_weight="balanced", tol=1e-12, max_iter=10000)
        ref.fit(Z[:, :k], y)
        scale = max(1.0, np.abs(ref.coef_).max())
        assert np.abs(coef - ref.coef_[0]).max() <= atol * scale, k
        assert abs(intercept - ref.intercept_[0]) <= atol * scale, k

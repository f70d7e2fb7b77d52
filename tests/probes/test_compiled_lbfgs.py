"""The compiled CPU solver (compiled_lbfgs) must solve torch_backend's problems to the same fits,
and torch_backend must fall back to its own code where numba is missing."""

import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from probing.probes import backends, paper_k_list, sweep_k
from probing.probes.backends import torch_backend

pytest.importorskip("numba")
from probing.probes.backends import compiled_lbfgs  # noqa: E402 (after the skip)


@pytest.fixture(scope="module")
def sweep_problem():
    """A layer-like sweep: standardised, correlated neurons, imbalanced labels, ks 1..256."""
    rng = np.random.default_rng(5)
    n, d = 1500, 256
    H = rng.standard_normal((n, d)).astype(np.float32)
    H[:, 1:40] += 0.5 * H[:, :1]  # correlated with the first: the problems are not diagonal
    logits = H[:, :8] @ rng.normal(0, 0.7, 8) + rng.standard_normal(n)
    y = (logits > 0.6).astype(np.int64)
    Z = (H - H.mean(0)) / H.std(0)
    return Z.astype(np.float32), y, [k for k in paper_k_list(1024) if k <= d]


@pytest.mark.parametrize("loss", ["logistic", "squared_hinge"])
def test_compiled_and_torch_reach_the_same_fits(sweep_problem, loss):
    Z, y, ks = sweep_problem
    opts = {"C": 0.5, "device": "cpu", "loss": loss}
    (compiled,) = torch_backend.fit_stack([Z], [y], ks, compiled=True, **opts)
    (torch_fits,) = torch_backend.fit_stack([Z], [y], ks, compiled=False, **opts)
    for k, (c1, b1), (c2, b2) in zip(ks, compiled, torch_fits, strict=True):
        scale = max(1.0, np.abs(c2).max())
        assert c1.shape == (k,)
        assert np.abs(c1 - c2).max() <= 1e-3 * scale, k
        assert abs(b1 - b2) <= 1e-3 * scale, k


def test_compiled_pins_sklearn_lbfgs_at_every_k(sweep_problem):
    """At a tight tolerance the compiled fits are scikit-learn's balanced L2 logistic regression
    (float32 products: |g| <= 1e-6 leaves coefficients within ~1e-4)."""
    from sklearn.linear_model import LogisticRegression

    Z, y, ks = sweep_problem
    C = 0.5
    (fits,) = torch_backend.fit_stack([Z], [y], ks, C, device="cpu", compiled=True)
    for k, (coef, intercept) in zip(ks, fits, strict=True):
        ref = LogisticRegression(C=C, class_weight="balanced", tol=1e-12, max_iter=10000)
        ref.fit(Z[:, :k].astype(np.float64), y)
        scale = max(1.0, np.abs(ref.coef_).max())
        assert np.abs(coef - ref.coef_[0]).max() <= 1e-3 * scale, k
        assert abs(intercept - ref.intercept_[0]) <= 1e-3 * scale, k


def test_sweep_rows_agree_between_solvers(scaled, monkeypatch):
    """The rows a user sees (support, F1) are the same whichever solver ran."""
    X, y = scaled
    args = (X[:1100], y[:1100], X[1100:], y[1100:], paper_k_list(X.shape[1]))
    compiled_rows = sweep_k(*args, backend="torch")
    monkeypatch.setattr(torch_backend, "_use_compiled", lambda *a: None)
    torch_rows = sweep_k(*args, backend="torch")
    for a, b in zip(compiled_rows, torch_rows, strict=True):
        assert a["support"] == b["support"]
        assert a["f1"] == pytest.approx(b["f1"], abs=1e-9), a["k"]
        assert np.allclose(a["coef"], b["coef"], rtol=1e-2, atol=1e-3), a["k"]


def test_default_cpu_solve_is_compiled_and_falls_back_without_numba(monkeypatch):
    assert torch_backend._use_compiled(None, "cpu", torch.float32) is compiled_lbfgs
    assert torch_backend._use_compiled(None, "cpu", torch.float64) is None  # float32 only
    assert torch_backend._use_compiled(None, "cuda", torch.float32) is None
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    monkeypatch.delitem(sys.modules, compiled_lbfgs.__name__)
    monkeypatch.delattr(backends, "compiled_lbfgs")  # the package's handle on the module
    assert torch_backend._use_compiled(None, "cpu", torch.float32) is None
    with pytest.raises(ImportError, match="numba"):
        torch_backend._use_compiled(True, "cpu", torch.float32)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 6)).astype(np.float32)
    y = (Z[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits = torch_backend.fit_prefixes(Z, y, [2, 6], device="cpu")  # torch's code
    assert [len(c) for c, _ in fits] == [2, 6]


def test_compiled_warns_when_it_stops_early(sweep_problem):
    Z, y, _ = sweep_problem
    with pytest.warns(ConvergenceWarning, match=r"k=\[.*256\] did not reach"):
        torch_backend.fit_stack([Z], [y], [1, 256], device="cpu", max_iter=3, compiled=True)


def test_log_loss_and_its_slope_are_exact_to_rounding():
    """The polynomial exp and log1p of the line search against numpy's, over every margin."""
    x = np.linspace(-60, 60, 12001)
    one, slope = np.ones(1), np.empty(1)
    values, slopes = [], []
    for margin in x:  # one example at a time: each loss on its own, not summed
        values.append(
            compiled_lbfgs.data_loss(np.array([margin]), one, 0.0, one, one, slope, False)
        )
        slopes.append(slope[0])
    ref = np.logaddexp(0, -x)
    kept = ref > 1e-20  # below, exp(-|x|) is cut at exp(-50): negligible next to any loss sum
    assert np.allclose(np.array(values)[kept], ref[kept], rtol=1e-13, atol=0)
    assert np.allclose(slopes, -1 / (1 + np.exp(x)), rtol=1e-13, atol=1e-21)


def test_warm_compiles_the_solver_a_container_image_caches():
    """`python -m probing.probes.backends.compiled_lbfgs` (the Dockerfiles' build step)."""
    import subprocess

    command = [sys.executable, "-m", "probing.probes.backends.compiled_lbfgs"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "compiled_lbfgs: compiled and cached"

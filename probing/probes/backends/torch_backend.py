"""Batched L-BFGS: every k of the sweep fitted together, each pass over the activations shared.

Problem j is the L2, class-balanced logistic regression on the first k_j ranked neurons. The
weights of all problems live in one flat vector laid out by PrefixDesign, so one L-BFGS iteration
costs two passes over the activations whatever the number of ks: one for the logits of the search
direction (every trial step of the line search is then free, logits being linear in the step) and
one for the gradient. Curvature pairs, steps and convergence are tracked per problem.

The objective is scikit-learn's divided by C * n (same minimiser):
    mean_i s_i * log(1 + exp(-(2y_i - 1)(z_i . w + b))) + ||w||^2 / (2 C n),
with s_i = n / (2 n_{class(y_i)}), i.e. class_weight="balanced"; the intercept is not penalised.
loss="squared_hinge" swaps the log loss for LinearSVC's max(0, 1 - margin)^2 (the "svm" ranking).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from .prefix_design import PrefixDesign

HISTORY = 10  # curvature pairs kept per problem
# Largest gradient entry at which a problem stops. scikit-learn's 1e-4 leaves test F1 up to 0.007
# from the converged optimum at k >= 1024 (benchmarks/probe_sweep.py --reference, N=8000,
# d=8192); 1e-5 is within 0.001 there for twice the time of 1e-4, still 1-2 s a layer.
TOL = 1e-5
# A problem also stops when an iteration lowers its objective by less than FTOL relative (the
# factr test of L-BFGS-B): in float32 the gradient of a converged problem can stay above TOL from
# rounding alone, and then every later step is accepted without any decrease.
FTOL = {torch.float32: 1e-9, torch.float64: 64 * float(np.finfo(np.float64).eps)}

# loss of the margin m = (2y - 1) * logit, and its derivative in m
LOSSES = {
    "logistic": (lambda m: F.softplus(-m), lambda m: -torch.sigmoid(-m)),
    "squared_hinge": (lambda m: F.relu(1 - m) ** 2, lambda m: -2 * F.relu(1 - m)),
}


def default_device() -> str:
    """CUDA when present, else CPU; decided at call time, never at import."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def fit_prefixes(
    Z: np.ndarray,
    y: np.ndarray,
    ks: list[int],
    C: float = 1.0,
    *,
    device: str | None = None,
    dtype: torch.dtype = torch.float32,
    tol: float = TOL,
    max_iter: int = 1000,
    loss: str = "logistic",
) -> list[tuple[np.ndarray, float]]:
    """Fit one probe per k on prefixes of the ranked, standardised Z [n, >= max(ks)].

    Returns (coef [k], intercept) per k, in the order of `ks`. `tol` bounds the largest absolute
    gradient entry of the normalised objective, scikit-learn's lbfgs stopping test.
    """
    device = device or default_device()
    unique = sorted(set(ks))
    design = PrefixDesign(Z, unique, dtype, device)
    yt = torch.as_tensor(np.asarray(y), device=device).to(dtype)
    n = len(yt)
    n_pos = float(yt.sum())
    s = torch.where(yt > 0, 0.5 / n_pos, 0.5 / (n - n_pos)).to(dtype)  # balanced weight / n
    lam = torch.where(design.is_intercept, 0.0, 1.0 / (C * n)).to(dtype)
    ftol = FTOL.get(dtype, FTOL[torch.float32])
    theta, done = _lbfgs(design, yt, s, lam, tol, ftol, max_iter, *LOSSES[loss])
    if not bool(done.all()):
        late = [k for k, ok in zip(unique, done.tolist(), strict=True) if not ok]
        warnings.warn(
            f"torch backend: k={late} did not reach tol={tol} in {max_iter} iterations",
            ConvergenceWarning,
            stacklevel=2,
        )
    fits = dict(zip(unique, design.unpack(theta), strict=True))
    return [fits[k] for k in ks]


def _lbfgs(
    design: PrefixDesign, y, s, lam, tol: float, ftol: float, max_iter: int, value, slope_of
):
    """Minimise every problem's objective; returns the flat weights and which problems converged."""
    sign = (2 * y - 1)[:, None]

    def data_loss(logits):  # weighted loss per problem [P], summed in float64
        return (s[:, None] * value(sign * logits)).double().sum(0)

    def gradient(logits, theta):
        return design.rmatvec(s[:, None] * sign * slope_of(sign * logits)) + lam * theta

    theta = torch.zeros(design.size, dtype=y.dtype, device=y.device)
    logits = torch.zeros((design.n, design.n_problems), dtype=y.dtype, device=y.device)
    loss = data_loss(logits)
    grad = gradient(logits, theta)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s_k, y_k, rho [P])
    gamma = torch.ones(design.n_problems, dtype=torch.float64, device=y.device)
    done = torch.zeros(design.n_problems, dtype=torch.bool, device=y.device)
    for _ in range(max_iter):
        done |= design.amax(grad) <= tol
        if bool(done.all()):
            break
        d = _two_loop(design, grad, pairs, gamma) * design.expand(~done)
        slope = design.dot(d, grad)
        uphill = (slope >= 0) & ~done  # numerical trouble: restart those problems from -grad
        if bool(uphill.any()):
            d = torch.where(design.expand(uphill), -grad, d)
            slope = design.dot(d, grad)
            pairs = [(sk, yk, rho.masked_fill(uphill, 0.0)) for sk, yk, rho in pairs]
        Zd = design.matvec(d)
        step, loss_new, drop = _backtrack(
            logits, Zd, data_loss, loss, slope, design, lam, theta, d, done
        )
        done |= step == 0  # no decrease possible in this precision: as converged as it gets
        done |= (step > 0) & (drop <= ftol)  # stalled: steps no longer lower the objective
        s_k = design.expand(step).to(theta.dtype) * d
        theta = theta + s_k
        logits = logits + step.to(logits.dtype)[None, :] * Zd
        grad_new = gradient(logits, theta)
        y_k = grad_new - grad
        sy = design.dot(s_k, y_k)
        ok = sy > 1e-12
        rho = torch.where(ok, 1.0 / sy.clamp_min(1e-12), 0.0)
        gamma = torch.where(ok, sy / design.dot(y_k, y_k).clamp_min(1e-30), gamma)
        pairs = [*pairs[-(HISTORY - 1) :], (s_k, y_k, rho)]
        grad, loss = grad_new, torch.where(step > 0, loss_new, loss)
    return theta, done | (design.amax(grad) <= tol)


def _two_loop(design: PrefixDesign, grad, pairs, gamma) -> torch.Tensor:
    """The L-BFGS direction -H grad, per problem; pairs with rho == 0 have no effect."""
    q = grad.clone()
    alphas = []
    for s_k, y_k, rho in reversed(pairs):
        a = rho * design.dot(s_k, q)
        q -= design.expand(a).to(q.dtype) * y_k
        alphas.append(a)
    r = design.expand(gamma).to(q.dtype) * q
    for (s_k, y_k, rho), a in zip(pairs, reversed(alphas), strict=True):
        b = rho * design.dot(y_k, r)
        r += design.expand(a - b).to(q.dtype) * s_k
    return -r


def _backtrack(logits, Zd, data_loss, loss, slope, design, lam, theta, d, done, c1=1e-4):
    """Armijo backtracking from step 1, per problem; step 0 where no step decreases the loss.

    Returns the steps, the data loss at them, and the objective's drop relative to its size.
    Logits are linear in the step, so each trial costs O(n * P), not a pass over the activations;
    the L2 term is a quadratic in the step with per-problem coefficients.
    """
    ww, wd, dd = design.dot(lam * theta, theta), design.dot(lam * theta, d), design.dot(lam * d, d)
    base = loss + 0.5 * ww
    step = torch.where(done, 0.0, 1.0).double()
    new_loss, new_f = loss.clone(), base.clone()
    todo = ~done
    for _ in range(40):
        if not bool(todo.any()):
            break
        t = step.to(logits.dtype)
        data = data_loss(logits + t[None, :] * Zd)
        f = data + 0.5 * (ww + 2 * step * wd + step**2 * dd)
        ok = todo & (f <= base + c1 * step * slope)
        new_loss, new_f = torch.where(ok, data, new_loss), torch.where(ok, f, new_f)
        todo &= ~ok
        step = torch.where(todo, step / 2, step)
    drop = (base - new_f) / base.abs().clamp_min(1.0)
    return torch.where(todo, 0.0, step), new_loss, drop

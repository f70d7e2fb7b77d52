"""Batched L-BFGS: every k of the sweep fitted in one pass over the activations.

Problem j is the L2, class-balanced logistic regression on the first k_j ranked neurons. All
problems share the design matrix Z1 = [1, Z] (intercept column first, so problem j reads the prefix
Z1[:, :k_j + 1]); their weights form one matrix W [n_problems, width], zero past each prefix. One
GEMM then evaluates every problem, and the passes over Z1 that dominate the cost are shared.
Problems that converge leave the batch, and the GEMM narrows to the widest problem still running.

The objective is scikit-learn's divided by C * n (same minimiser):
    mean_i s_i * log(1 + exp(-(2y_i - 1)(z_i . w + b))) + ||w||^2 / (2 C n),
with s_i = n / (2 n_{class(y_i)}), i.e. class_weight="balanced"; the intercept is not penalised.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

HISTORY = 10  # L-BFGS memory: curvature pairs kept per problem


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
    tol: float = 1e-5,
    max_iter: int = 1000,
) -> list[tuple[np.ndarray, float]]:
    """Fit one probe per k on prefixes of the ranked, standardised Z [n, >= max(ks)].

    Returns (coef [k], intercept) per k, in the order of `ks`. `tol` bounds the largest absolute
    gradient entry of the normalised objective (scikit-learn's lbfgs uses the same test).
    """
    device = device or default_device()
    n = Z.shape[0]
    width = max(ks) + 1
    Z1 = torch.empty((n, width), dtype=dtype, device=device)
    Z1[:, 0] = 1.0
    Z1[:, 1:] = torch.as_tensor(np.ascontiguousarray(Z[:, : width - 1]), device=device).to(dtype)
    yt = torch.as_tensor(y, dtype=dtype, device=device)
    counts = torch.stack([(yt == 0).sum(), (yt == 1).sum()]).to(dtype)
    s = (n / (2.0 * counts))[yt.long()] / n  # balanced weight / n: the loss is a weighted mean

    kt = torch.as_tensor(ks, device=device)
    cols = torch.arange(width, device=device)
    mask = (cols[None, :] <= kt[:, None]).to(dtype)  # column 0 is the intercept
    lam = mask * (cols[None, :] > 0) / (C * n)  # L2 strength, zero on the intercept
    W = _lbfgs(Z1, yt, s, mask, lam, kt + 1, tol, max_iter)
    W = W.double().cpu().numpy()
    return [(W[j, 1 : k + 1].copy(), float(W[j, 0])) for j, k in enumerate(ks)]


def _forward(Z1, y, s, W, lam, widths):
    """Logits [n, g] and objective [g] (float64) of the problems in W, reading Z1 once."""
    w = int(widths.max())
    logits = Z1[:, :w] @ W[:, :w].T
    data = (s[:, None] * F.softplus(-(2 * y - 1)[:, None] * logits)).double().sum(0)
    return logits, data + 0.5 * (lam * W * W).double().sum(1)


def _gradient(Z1, y, s, W, logits, mask, lam, widths):
    """Gradient [g, width] from the logits of _forward."""
    w = int(widths.max())
    r = s[:, None] * (torch.sigmoid(logits) - y[:, None])  # [n, g]
    grad = lam * W
    grad[:, :w] += (r.T @ Z1[:, :w]) * mask[:, :w]  # r.T @ Z, not Z.T @ r: far faster on CPU
    return grad


def _two_loop(g, S, Yv, rho, gamma):
    """L-BFGS direction -H g per problem; pairs with rho == 0 are empty and have no effect."""
    q = g.clone()
    alphas = []
    for i in range(S.shape[0] - 1, -1, -1):
        a = rho[i] * (S[i] * q).sum(1)
        q -= a[:, None] * Yv[i]
        alphas.append(a)
    r = gamma[:, None] * q
    for i, a in zip(range(S.shape[0]), reversed(alphas), strict=True):
        b = rho[i] * (Yv[i] * r).sum(1)
        r += S[i] * (a - b)[:, None]
    return -r


def _lbfgs(Z1, y, s, mask, lam, widths, tol, max_iter):
    """Batched L-BFGS with per-problem Armijo backtracking; returns W [g, width]."""
    n_prob, width = mask.shape
    W = torch.zeros_like(mask)
    S = torch.zeros((HISTORY, n_prob, width), dtype=W.dtype, device=W.device)
    Yv = torch.zeros_like(S)
    rho = torch.zeros((HISTORY, n_prob), dtype=W.dtype, device=W.device)
    gamma = torch.ones(n_prob, dtype=W.dtype, device=W.device)
    logits, loss = _forward(Z1, y, s, W, lam, widths)
    grad = _gradient(Z1, y, s, W, logits, mask, lam, widths)
    active = torch.arange(n_prob, device=W.device)
    for _ in range(max_iter):
        active = active[grad[active].abs().amax(1) > tol]
        if active.numel() == 0:
            break
        a = active
        d = _two_loop(grad[a], S[:, a], Yv[:, a], rho[:, a], gamma[a])
        slope = (d * grad[a]).double().sum(1)
        bad = slope >= 0  # not a descent direction (numerical trouble): restart from -grad
        if bad.any():
            d[bad] = -grad[a][bad]
            slope = (d * grad[a]).double().sum(1)
            rho[:, a[bad]] = 0
        step, new_loss, logits = _backtrack(Z1, y, s, W[a], d, loss[a], slope, lam[a], widths[a])
        moved = step > 0
        if not moved.any():
            break  # no problem can decrease further in this precision
        a, d, step = a[moved], d[moved], step[moved]
        W_new = W[a] + step[:, None].to(W.dtype) * d
        g_new = _gradient(Z1, y, s, W_new, logits[:, moved], mask[a], lam[a], widths[a])
        s_k, y_k = W_new - W[a], g_new - grad[a]
        sy = (s_k * y_k).sum(1)
        S, Yv, rho = S.roll(-1, 0), Yv.roll(-1, 0), rho.roll(-1, 0)
        S[-1, a], Yv[-1, a] = s_k, y_k
        rho[-1, a] = torch.where(sy > 0, 1.0 / sy, torch.zeros_like(sy))
        gamma[a] = torch.where(sy > 0, sy / (y_k * y_k).sum(1).clamp_min(1e-30), gamma[a])
        W[a], grad[a], loss[a] = W_new, g_new, new_loss[moved]
        stuck = active[~moved]
        if stuck.numel():
            grad[stuck] = 0  # cannot improve in this precision: treat as converged
    return W


def _backtrack(Z1, y, s, W, d, loss, slope, lam, widths, c1=1e-4, max_halvings=30):
    """Largest step in 1, 1/2, 1/4, ... meeting Armijo, per problem (0 where none does).

    Returns the steps, the new objectives and the logits at the accepted points, so the gradient
    there costs one more pass over Z1, not two.
    """
    step = torch.ones_like(loss)
    new_loss = loss.clone()
    logits = torch.zeros((Z1.shape[0], W.shape[0]), dtype=W.dtype, device=W.device)
    todo = torch.arange(W.shape[0], device=W.device)
    for _ in range(max_halvings):
        trial = W[todo] + step[todo, None].to(W.dtype) * d[todo]
        z, f = _forward(Z1, y, s, trial, lam[todo], widths[todo])
        ok = f <= loss[todo] + c1 * step[todo] * slope[todo]
        new_loss[todo[ok]] = f[ok]
        logits[:, todo[ok]] = z[:, ok]
        todo = todo[~ok]
        if todo.numel() == 0:
            break
        step[todo] /= 2
    step[todo] = 0
    return step, new_loss, logits

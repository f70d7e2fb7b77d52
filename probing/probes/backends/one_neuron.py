"""One-neuron problems (every k is 1) by Newton's method: the permutation null's refits.

A layer's baselines refit a k=1 probe hundreds of times (200 permutations and 20 random neurons
per feature). Such a problem has two parameters, a weight and an intercept, so its Hessian is
2x2: Newton's method stops in a handful of iterations where L-BFGS takes about twenty, each a
pass over every refit's activations. The objective and the stopping test are torch_backend's
(largest gradient entry <= tol), so both stop within one tolerance of the same minimiser.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.inference_mode()
def solve_one_neuron(Zs, ys, C: float, device, tol: float, ftol: float, max_iter: int):
    """(fits per feature: [(coef [1], intercept)], {1} if some problem did not converge).

    Zs[f] [n_f, >= 1] standardised activations (the first column is read), ys[f] 0/1 labels.
    In float64 throughout: the objective's decrease near the optimum is below float32's
    resolution of a sum, where a line search can no longer tell a step that helps."""
    dtype = torch.float64
    n = max(len(z) for z in Zs)
    values = np.zeros((len(Zs), n))
    labels = np.zeros((len(Zs), n))
    rows = np.zeros((len(Zs), n), dtype=bool)  # False on the rows padding a shorter split
    for f, (Z, y) in enumerate(zip(Zs, ys, strict=True)):
        values[f, : len(Z)], labels[f, : len(Z)], rows[f, : len(Z)] = np.asarray(Z)[:, 0], y, True
    n_f, n_pos = rows.sum(-1, keepdims=True), labels.sum(-1, keepdims=True)
    weights = np.where(labels > 0, 0.5 / n_pos, 0.5 / (n_f - n_pos))
    s = torch.as_tensor(np.where(rows, weights, 0.0), device=device)  # balanced / n_f
    powers = torch.as_tensor(np.stack([rows, values, values * values], -1), device=device)
    powers = powers.to(dtype)  # 1, z, z^2 on every row: the sums Newton needs
    sign = torch.as_tensor(2 * labels - 1, device=device)
    lam = torch.as_tensor(1.0 / (C * n_f[:, 0]), device=device)
    z, linear = powers[..., 1], powers[..., :2]
    theta = torch.zeros((len(Zs), 2), dtype=dtype, device=device)  # intercept, weight

    def margins(theta):
        return sign * torch.addcmul(theta[:, :1], z, theta[:, 1:])

    def objective(m, theta):
        return (s * F.softplus(-m)).sum(-1) + 0.5 * lam * theta[:, 1] ** 2

    m = margins(theta)
    value = objective(m, theta)
    done = torch.zeros(len(Zs), dtype=torch.bool, device=device)
    for _ in range(max_iter):
        slope = s * torch.sigmoid(-m)  # -(d loss / d margin), weighted
        grad = -(slope * sign)[:, None, :].bmm(linear)[:, 0]  # d / d(intercept, weight)
        grad[:, 1] += lam * theta[:, 1]
        done |= grad.abs().amax(-1) <= tol
        if bool(done.all()):
            break
        h = (slope * torch.sigmoid(m))[:, None, :].bmm(powers)[:, 0]  # sums of h, h z, h z^2
        hbb, hwb, hww = h[:, 0], h[:, 1], h[:, 2] + lam
        det = hww * hbb - hwb * hwb
        newton = torch.isfinite(det) & (det > 1e-300)
        safe = torch.where(newton, det, 1.0)
        gb, gw = grad.unbind(-1)
        direction = torch.stack([(hwb * gw - hww * gb) / safe, (hwb * gb - hbb * gw) / safe], -1)
        direction = torch.where(newton[:, None], direction, -grad).masked_fill(done[:, None], 0)
        before = value
        theta, m, value, step = _backtrack(
            theta, m, direction, (grad * direction).sum(-1), value, done, margins, objective
        )
        done |= step == 0  # no decrease in this precision: as converged as it gets
        drop = (before - value) / before.abs().clamp_min(1.0)
        done |= (step > 0) & (drop <= ftol)  # stalled: steps no longer lower the objective
    late = set() if bool(done.all()) else {1}
    fits = [[(np.array([w]), b)] for b, w in theta.tolist()]
    return fits, late


def _backtrack(theta, m, direction, slope, value, done, margins, objective, c1=1e-4):
    """Armijo backtracking from the full Newton step, per problem: the new (theta, margins,
    objective) and the step taken (0 where no halving lowers the objective, or done)."""
    step = torch.where(done, 0.0, 1.0).to(theta.dtype)
    todo = ~done
    for _ in range(40):
        trial_theta = theta + step[:, None] * direction
        trial_m = margins(trial_theta)
        trial = objective(trial_m, trial_theta)
        ok = todo & (trial <= value + c1 * step * slope)
        theta = torch.where(ok[:, None], trial_theta, theta)
        m = torch.where(ok[:, None], trial_m, m)
        value = torch.where(ok, trial, value)
        todo &= ~ok
        if not bool(todo.any()):
            break
        step = torch.where(todo, step / 2, step)
    return theta, m, value, torch.where(todo, 0.0, step)

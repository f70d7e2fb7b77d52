"""L1-regularised, class-balanced logistic regression by FISTA with strong-rule screening.

Used by the "l1", "adaptive_threshold" and "telescopic" rankings. scikit-learn's L1 solvers
(liblinear, saga) copy a dense [10k, 8k] matrix into a sparse format or take a pass per sample;
here every full pass is one matrix product, and the inner solves run on the few screened neurons.
Objective, for standardised Z [n, d]:  mean_i s_i log(1 + exp(-(2y_i - 1)(z_i . w + b))) + lam |w|_1
with s_i the balanced class weights; the intercept is not penalised.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class L1Logistic:
    """The data of one L1 problem on the device, with the solvers that share it."""

    def __init__(self, Z: np.ndarray, y: np.ndarray, device: str = "cpu"):
        self.Z = torch.as_tensor(np.ascontiguousarray(Z), device=device).float()
        self.y = torch.as_tensor(y, device=device).float()
        n, n_pos = len(self.y), float(self.y.sum())
        self.s = torch.where(self.y > 0, 0.5 / n_pos, 0.5 / (n - n_pos))
        self.sign = 2 * self.y - 1

    def gradient(self, w: torch.Tensor, b: float, cols: torch.Tensor | None = None) -> torch.Tensor:
        """Gradient of the data term in w over all neurons (or `cols`)."""
        Zc = self.Z if cols is None else self.Z[:, cols]
        r = self.s * (torch.sigmoid(Zc @ w + b) - self.y) if w.numel() else self.s * (0.5 - self.y)
        return r @ self.Z

    def lam_max(self) -> float:
        """The smallest lam at which every weight is zero."""
        return float(self.gradient(torch.zeros(0, device=self.Z.device), 0.0).abs().max())

    def solve(self, lam: float, cols, w0, b0: float, max_iter: int = 300, tol: float = 1e-5):
        """FISTA on the columns `cols`, warm-started at (w0, b0); returns (w, b)."""
        Zc = self.Z[:, cols]
        # Lipschitz bound of the data gradient: 0.25 * largest eigenvalue of Zc^T diag(s) Zc
        v = torch.ones(Zc.shape[1] + 1, device=Zc.device)
        for _ in range(15):
            u = Zc @ v[1:] + v[0]
            v = torch.cat([(self.s * u).sum()[None], (self.s * u) @ Zc])
            v /= v.norm()
        u = Zc @ v[1:] + v[0]
        step = 1.0 / (0.25 * float((self.s * u * u).sum()) * 1.1 + 1e-12)
        x = torch.cat([torch.tensor([b0], device=Zc.device), w0])
        z, t = x.clone(), 1.0
        for _ in range(max_iter):
            r = self.s * (torch.sigmoid(Zc @ z[1:] + z[0]) - self.y)
            g = torch.cat([r.sum()[None], r @ Zc])
            x_new = z - step * g
            x_new[1:] = torch.sign(x_new[1:]) * F.relu(x_new[1:].abs() - step * lam)
            t_new = (1 + (1 + 4 * t * t) ** 0.5) / 2
            z = x_new + ((t - 1) / t_new) * (x_new - x)
            if float((x_new - x).abs().max()) < tol:
                x = x_new
                break
            x, t = x_new, t_new
        return x[1:], float(x[0])

    def fit(self, lam: float, w: torch.Tensor, b: float, lam_prev: float):
        """Solve at lam over all neurons, warm-started at w [d]: screen by the strong rule, solve
        on the survivors, then add any neuron violating the optimality conditions and repeat."""
        grad = self.gradient(w, b)
        cols = torch.nonzero((grad.abs() >= 2 * lam - lam_prev) | (w != 0)).flatten()
        while True:
            wc, b = self.solve(lam, cols, w[cols], b)
            w = torch.zeros_like(w)
            w[cols] = wc
            violators = (self.gradient(w, b).abs() > lam * 1.0001) & (w == 0)
            violators[cols] = False
            if not bool(violators.any()):
                return w, b
            cols = torch.cat([cols, torch.nonzero(violators).flatten()])


def l1_entry_order(Z: np.ndarray, y: np.ndarray, target: int, ratio: float = 0.8, steps: int = 60):
    """Walk lam down from lam_max until `target` neurons are nonzero; returns the neurons that
    entered, in order of entry (ties: larger |w| first), and the final weights [d]."""
    problem = L1Logistic(Z, y)
    d = Z.shape[1]
    w, b = torch.zeros(d), 0.0
    lam_prev = lam = problem.lam_max()
    entry = np.full(d, np.inf)
    size = np.zeros(d)
    for step in range(steps):
        lam_prev, lam = lam, lam * ratio
        w, b = problem.fit(lam, w, b, lam_prev)
        w_np = w.cpu().numpy()
        new = (w_np != 0) & np.isinf(entry)
        entry[new], size[new] = step, np.abs(w_np[new])
        if np.isfinite(entry).sum() >= target:
            break
    entered = np.flatnonzero(np.isfinite(entry))
    return entered[np.lexsort((-size[entered], entry[entered]))], w.cpu().numpy()

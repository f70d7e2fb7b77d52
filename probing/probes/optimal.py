"""Optimal sparse probing: the exact best k neurons for a hinge-loss classifier, as a mixed-integer
program solved by HiGHS (scipy.optimize.milp), for small k.

    min  (1/n) sum_i s_i xi_i + lam sum_j u_j
    s.t. xi_i >= 1 - (2y_i - 1)(z_i . w + b),  xi >= 0          (class-balanced hinge loss)
         -u_j <= w_j <= u_j,  -M q_j <= w_j <= M q_j             (|w| and the big-M link)
         sum_j q_j <= k,  q binary                              (at most k neurons)

over standardised activations. The small L1 term makes the optimum unique and w bounded; M bounds
|w_j| (standardised units). A full layer is too big for an exact search, so the program runs on a
shortlist of `candidates` neurons from the F statistic and a stratified subsample of examples;
within those it is exact up to the reported MIP gap, which certifies how far from optimal the
returned support can be when the time limit stops the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array, hstack, identity, vstack

from .ranking import balanced_weights
from .scaling import fit_scaling, standardize

CANDIDATES = 40  # shortlist size (by F statistic)
MAX_EXAMPLES = 600  # examples in the program (stratified subsample)
TIME_LIMIT = 20.0  # seconds per k
BIG_M = 50.0  # bound on |w_j| of a standardised neuron
LAM = 1e-4  # L1 weight: tie-breaking and boundedness, not sparsity


@dataclass
class OptimalSupport:
    """The neurons the program chose (by |w|, largest first) and its certificate."""

    support: np.ndarray
    objective: float
    mip_gap: float  # (incumbent - bound) / incumbent; 0 = proven optimal
    status: str  # "optimal", or why the search stopped


def optimal_support(X: np.ndarray, y: np.ndarray, k: int, seed: int = 0) -> OptimalSupport:
    """Solve the k-sparse hinge-loss program on the F-statistic shortlist (see module docs)."""
    from .selection import f_stat

    cand = f_stat(X, y)[: max(k, min(CANDIDATES, X.shape[1]))]  # highest F first
    idx = _stratified(y, MAX_EXAMPLES, seed)
    Z = standardize(X[np.ix_(idx, cand)], *fit_scaling(X[np.ix_(idx, cand)])).astype(np.float64)
    sol = _solve(Z, y[idx], k)
    order = np.argsort(-np.abs(sol.w), kind="stable")
    chosen = order[np.abs(sol.w[order]) > 1e-9][:k]
    if chosen.size < k:  # fewer than k neurons were needed: pad by F statistic so |support| == k
        rest = np.setdiff1d(np.arange(len(cand)), chosen)  # ascending position = F order
        chosen = np.concatenate([chosen, rest[: k - chosen.size]])
    return OptimalSupport(cand[chosen], sol.objective, sol.mip_gap, sol.status)


@dataclass
class _Solution:
    w: np.ndarray
    objective: float
    mip_gap: float
    status: str


def _solve(Z: np.ndarray, y: np.ndarray, k: int) -> _Solution:
    """Build and solve the program; variables are [w (m), b, xi (n), u (m), q (m)]."""
    n, m = Z.shape
    sign = 2.0 * y - 1.0
    s = balanced_weights(y)  # mean 1/n
    c = np.concatenate([np.zeros(m + 1), s, np.full(m, LAM), np.zeros(m)])
    I_m, O_m = identity(m, format="csr"), csr_array((m, m))
    O_nm, O_m1, O_mn = csr_array((n, m)), csr_array((m, 1)), csr_array((m, n))
    hinge = hstack(
        [csr_array(sign[:, None] * Z), csr_array(sign[:, None]), identity(n), O_nm, O_nm]
    )
    abs_hi = hstack([I_m, O_m1, O_mn, -I_m, O_m])  # w - u <= 0
    abs_lo = hstack([-I_m, O_m1, O_mn, -I_m, O_m])  # -w - u <= 0
    big_hi = hstack([I_m, O_m1, O_mn, O_m, -BIG_M * I_m])  # w - M q <= 0
    big_lo = hstack([-I_m, O_m1, O_mn, O_m, -BIG_M * I_m])  # -w - M q <= 0
    card = hstack([csr_array((1, m + 1 + n + m)), csr_array(np.ones((1, m)))])
    A = vstack([hinge, abs_hi, abs_lo, big_hi, big_lo, card]).tocsr()
    lb = np.concatenate([np.ones(n), np.full(4 * m, -np.inf), [-np.inf]])
    ub = np.concatenate([np.full(n, np.inf), np.zeros(4 * m), [k]])
    lo = np.concatenate([np.full(m, -BIG_M), [-np.inf], np.zeros(n), np.zeros(m), np.zeros(m)])
    hi = np.concatenate(
        [np.full(m, BIG_M), [np.inf], np.full(n, np.inf), np.full(m, BIG_M), np.ones(m)]
    )
    integrality = np.concatenate([np.zeros(m + 1 + n + m), np.ones(m)])
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(lo, hi),
        constraints=LinearConstraint(A, lb, ub),
        options={"time_limit": TIME_LIMIT, "disp": False},
    )
    if res.x is None:
        raise RuntimeError(f"optimal sparse probing found no solution for k={k}: {res.message}")
    status = "optimal" if res.status == 0 else res.message
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else float("nan")
    return _Solution(res.x[:m], float(res.fun), gap, status)


def _stratified(y: np.ndarray, n_max: int, seed: int) -> np.ndarray:
    """At most n_max example indices, both classes in proportion, sorted."""
    if len(y) <= n_max:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    parts = [
        rng.choice(where, max(2, round(n_max * len(where) / len(y))), replace=False)
        for where in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
    ]
    return np.sort(np.concatenate(parts))

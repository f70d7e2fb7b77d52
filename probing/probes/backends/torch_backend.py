"""Batched L-BFGS: every k of the sweep fitted together, each pass over the activations shared.

Problem j is the L2, class-balanced logistic regression on the first k_j ranked neurons. The
weights of all problems live in one flat vector laid out by PrefixDesign, so one L-BFGS iteration
costs two passes over the activations whatever the number of ks: one for the logits of the search
direction (every trial step of the line search is then cheap, logits being linear in the step) and
one for the gradient. Curvature pairs, steps and convergence are tracked per problem. The sweeps
of several features (a layer's collection) stack along a leading dimension: one Python-level
iteration then serves them all (fit_stack).

The objective is scikit-learn's divided by C * n (same minimiser):
    mean_i s_i * log(1 + exp(-(2y_i - 1)(z_i . w + b))) + ||w||^2 / (2 C n),
with s_i = n / (2 n_{class(y_i)}), i.e. class_weight="balanced"; the intercept is not penalised.
loss="squared_hinge" swaps the log loss for LinearSVC's max(0, 1 - margin)^2 (the "svm" ranking).
Sweeps whose only k is 1 (the baselines' refits) go to one_neuron.py's Newton solver instead.
On CPU, float32 solves (the default) run the same algorithm compiled (compiled_lbfgs.py) when numba
is installed, and this module's torch code otherwise: a layer's 15-k sweep 4x faster (24 -> 5.5
ms, N=3200 training examples). The torch code is the one that runs on CUDA.
"""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from .one_neuron import solve_one_neuron
from .prefix_design import PrefixDesign

# Curvature pairs kept per problem: on SmolLM2 layers 20 needs ~35% fewer passes over the
# activations than 10, and a pass costs far more than the longer two-loop recursion.
HISTORY = 20
# Largest gradient entry at which a problem stops. scikit-learn's 1e-4 leaves test F1 up to 0.007
# from the converged optimum at k >= 1024 (benchmarks/probe_sweep.py --reference, N=8000,
# d=8192). 1e-5 was within 0.001 there, but not on SmolLM2's compound_words (few test positives,
# problems at k >= n_train nearly separable and weakly penalised): there the solver before layer
# batching left 6 of 900 rows off by more, up to 0.14; at 1e-6, 2 of 900 (test examples within
# 2e-3 of the decision boundary), for ~25% more passes (benchmarks/probing_stage.py --reference).
TOL = 1e-6
# A problem also stops when an iteration lowers its objective by less than FTOL relative (the
# factr test of L-BFGS-B): in float32 the gradient of a converged problem can stay above TOL from
# rounding alone, and then every later step is accepted without any decrease.
FTOL = {torch.float32: 1e-9, torch.float64: 64 * float(np.finfo(np.float64).eps)}

# torch threads of one solve on CPU. Its ops (a few MB each) are too small to split well, and on
# a busy machine a split op waits for its slowest thread: benchmarks/backend_choice.py measured
# one sweep 2-12x slower on 2 threads than on 1 on 2 shared cores, at every size it tried (up to
# N=20000, d=8192). Cores go to whole solves instead: fit_stack's workers, one per feature.
SOLVE_THREADS = 1

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
    **options,
) -> list[tuple[np.ndarray, float]]:
    """Fit one probe per k on prefixes of the ranked, standardised Z [n, >= max(ks)].

    Returns (coef [k], intercept) per k, in the order of `ks`. `tol` bounds the largest absolute
    gradient entry of the normalised objective, scikit-learn's lbfgs stopping test. Options as
    for fit_stack.
    """
    (fits,) = fit_stack([Z], [y], ks, C, **options)
    return fits


def fit_stack(
    Zs: list[np.ndarray],
    ys: list[np.ndarray],
    ks: list[int],
    C: float = 1.0,
    *,
    device: str | None = None,
    dtype: torch.dtype = torch.float32,
    tol: float = TOL,
    max_iter: int = 1000,
    loss: str = "logistic",
    workers: int | None = None,
    compiled: bool | None = None,
) -> list[list[tuple[np.ndarray, float]]]:
    """The k sweeps of several features at once: Zs[f] [n_f, >= max(ks)] and ys[f] [n_f] are
    feature f's ranked, standardised training activations and labels. Returns, per feature,
    (coef [k], intercept) per k in the order of `ks`.

    Each problem is the same as fitted alone (its own n_f, class weights and penalty; zero-weight
    rows pad the shorter splits), and stops by its own test; a feature leaves the batch once all
    of its problems have stopped, so a slow feature never makes the others pay for its iterations.

    workers: on CPU the features are dealt to this many threads (default: torch's thread count,
    at most one per feature), each solving its share on SOLVE_THREADS threads. See SOLVE_THREADS.
    compiled: solve with compiled_lbfgs (CPU and float32 only); None: whenever it can (numba
    installed), False: torch's code.
    """
    device = device or default_device()
    problem = {"ks": ks, "C": C, "device": device, "dtype": dtype, "tol": tol}
    problem |= {
        "max_iter": max_iter,
        "loss": loss,
        "compiled": _use_compiled(compiled, device, dtype),
    }
    if device != "cpu":
        solved, late = _solve_stack(Zs, ys, **problem)
    else:
        n_workers = max(1, min(workers or torch.get_num_threads(), len(Zs)))
        shares = [list(range(w, len(Zs), n_workers)) for w in range(n_workers)]

        def solve(share):
            return _solve_stack([Zs[f] for f in share], [ys[f] for f in share], **problem)

        with _torch_threads(SOLVE_THREADS):
            parts = _in_threads(solve, shares)
        solved = [None] * len(Zs)
        for share, (fits, _) in zip(shares, parts, strict=True):
            for f, fit in zip(share, fits, strict=True):
                solved[f] = fit
        late = {k for _, part_late in parts for k in part_late}
    late = sorted(late)
    if late:
        warnings.warn(
            f"torch backend: k={late} did not reach tol={tol} in {max_iter} iterations",
            ConvergenceWarning,
            stacklevel=3,
        )
    return solved


def _use_compiled(compiled: bool | None, device: str, dtype: torch.dtype):
    """compiled_lbfgs where it is asked for or allowed (None) and can run, else None."""
    if compiled is False or device != "cpu" or dtype != torch.float32:
        if compiled:
            raise ValueError("the compiled solver runs on CPU in float32 only")
        return None
    try:
        from . import compiled_lbfgs
    except ImportError:
        if compiled:
            raise ImportError("the compiled solver needs numba: pip install numba") from None
        return None
    return compiled_lbfgs


def _in_threads(fn, items: list) -> list:
    """[fn(item) for item in items], each item on a thread of its own (the first on the
    caller's): a pool may hand a second item to a worker that finished its first, and then
    two features' solves run one after the other on a busy machine. The first exception is
    raised once all have stopped."""
    out: list = [None] * len(items)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = fn(items[i])
        except BaseException as err:  # re-raised on the caller's thread below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(1, len(items))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return out


@contextmanager
def _torch_threads(n: int):
    """torch's intra-op thread count set to n inside the block (process-wide), then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.inference_mode()  # no autograd bookkeeping: it adds to every one of the solve's small ops
def _solve_stack(Zs, ys, ks, C, device, dtype, tol, max_iter, loss, compiled=None):
    """One batched solve of the stacked sweeps: (fits per feature, the ks that did not converge).
    compiled: the compiled_lbfgs module to solve with, feature by feature (None: torch)."""
    unique = sorted(set(ks))
    if unique == [1] and loss == "logistic":  # two parameters a problem: Newton's method
        fits, late = solve_one_neuron(Zs, ys, C, device, tol, FTOL[torch.float64], max_iter)
        return [[fit] * len(ks) for (fit,) in fits], late
    if compiled is not None:
        return _solve_compiled(compiled, Zs, ys, ks, unique, C, tol, max_iter, loss)
    design = PrefixDesign(list(Zs), unique, dtype, device)  # pads the shorter splits with zeros
    yt = torch.zeros((len(Zs), design.n), dtype=dtype)
    s = torch.zeros((len(Zs), design.n), dtype=dtype)  # balanced weight / n_f; 0 on padding rows
    inv_n = torch.empty(len(Zs), dtype=dtype)
    for f, y in enumerate(ys):
        y = torch.as_tensor(np.asarray(y)).to(dtype)
        n, n_pos = len(y), float(y.sum())
        yt[f, :n] = y
        s[f, :n] = torch.where(y > 0, 0.5 / n_pos, 0.5 / (n - n_pos))
        inv_n[f] = 1.0 / (C * n)
    yt, s = yt.to(device), s.to(device)
    lam = torch.where(design.is_intercept, 0.0, inv_n.to(device)[:, None]).to(dtype)
    ftol = FTOL.get(dtype, FTOL[torch.float32])
    theta, done = _lbfgs(design, yt, s, lam, tol, ftol, max_iter, *LOSSES[loss])
    late = {k for row in done.tolist() for k, ok in zip(unique, row, strict=True) if not ok}
    out = []
    for f in range(len(Zs)):
        fits = dict(zip(unique, design.unpack(theta[f]), strict=True))
        out.append([fits[k] for k in ks])
    return out, late


def _solve_compiled(compiled, Zs, ys, ks, unique, C, tol, max_iter, loss):
    """_solve_stack's answer from compiled_lbfgs, feature by feature (unique: the sorted ks)."""
    out, late = [], set()
    for Z, y in zip(Zs, ys, strict=True):
        # torch's transpose, a blocked copy: 3x faster than numpy's (0.44 vs 1.36 ms, 3200 x 256)
        Zt = torch.as_tensor(np.asarray(Z, dtype=np.float32)[:, : unique[-1]]).T.contiguous()
        fits, converged, _ = compiled.solve_prefixes(
            Zt.numpy(), y, unique, 1.0 / (C * len(y)), tol, FTOL[torch.float32], max_iter,
            HISTORY, loss == "squared_hinge",
        )  # fmt: skip
        late |= {k for k, ok in zip(unique, converged, strict=True) if not ok}
        by_k = dict(zip(unique, fits, strict=True))
        out.append([by_k[k] for k in ks])
    return out, late


def _lbfgs(
    design: PrefixDesign, y, s, lam, tol: float, ftol: float, max_iter: int, value, slope_of
):
    """Minimise every problem of every stacked sweep [F, P]; returns the flat weights [F, size]
    and which problems converged [F, P]. Sweeps whose problems have all stopped are written out
    and dropped from the batch.

    Written for few, fused tensor ops per iteration: at the paper's sizes the products are
    small and the loop's cost is mostly torch's per-op overhead."""
    n_sweeps = y.shape[0]
    theta_out = torch.zeros((n_sweeps, design.size), dtype=y.dtype, device=y.device)
    done_out = torch.zeros((n_sweeps, design.n_problems), dtype=torch.bool, device=y.device)
    active = torch.arange(n_sweeps, device=y.device)
    sign = (2 * y - 1)[..., None]
    weighted_sign = s[..., None] * sign

    def gradient(margins, theta):
        return torch.addcmul(design.rmatvec(weighted_sign * slope_of(margins)), lam, theta)

    theta = torch.zeros((n_sweeps, design.size), dtype=y.dtype, device=y.device)
    # margins (2y - 1) * logit [F, n, P], where every problem's loss and gradient start
    margins = torch.zeros((n_sweeps, design.n, design.n_problems), dtype=y.dtype, device=y.device)
    loss = (s[..., None] * value(margins)).sum(-2, dtype=torch.float64)
    grad = gradient(margins, theta)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s_k, y_k, rho [F, P])
    gamma = torch.ones((n_sweeps, design.n_problems), dtype=y.dtype, device=y.device)
    done = torch.zeros((n_sweeps, design.n_problems), dtype=torch.bool, device=y.device)
    for _ in range(max_iter):
        done |= design.amax(grad) <= tol
        finished = done.all(-1)
        # Dropping finished sweeps copies the others' activations (about one pass): worth it
        # once a quarter of the batch has finished, or all of it.
        if int(finished.sum()) >= max(1, len(finished) // 4):
            theta_out[active[finished]], done_out[active[finished]] = (
                theta[finished],
                done[finished],
            )
            if bool(finished.all()):
                return theta_out, done_out
            keep = torch.nonzero(~finished).squeeze(1)
            active, design = active[keep], design.select(keep)
            y, s, sign, lam = y[keep], s[keep], sign[keep], lam[keep]
            weighted_sign = weighted_sign[keep]
            theta, margins, loss, grad = theta[keep], margins[keep], loss[keep], grad[keep]
            gamma, done = gamma[keep], done[keep]
            pairs = [(sk[keep], yk[keep], rho[keep]) for sk, yk, rho in pairs]
        d = _two_loop(design, grad, pairs, gamma, ~done)
        slope = design.dot64(d, grad)
        uphill = (slope >= 0) & ~done  # numerical trouble: restart those problems from -grad
        if bool(uphill.any()):
            d = torch.where(design.expand(uphill), -grad, d)
            slope = design.dot64(d, grad)
            pairs = [(sk, yk, rho.masked_fill(uphill, 0.0)) for sk, yk, rho in pairs]
        Md = sign * design.matvec(d)
        step, loss_new, drop = _backtrack(
            margins, Md, value, s, loss, slope, design, lam, theta, d, done
        )
        done |= step == 0  # no decrease possible in this precision: as converged as it gets
        done |= (step > 0) & (drop <= ftol)  # stalled: steps no longer lower the objective
        step = step.to(theta.dtype)
        s_k = design.expand(step) * d
        theta = theta + s_k
        margins = torch.addcmul(margins, step[..., None, :], Md)
        grad_new = gradient(margins, theta)
        y_k = grad_new - grad
        sy, yy = design.dot(torch.stack([s_k, y_k]), y_k).unbind()
        ok = sy > 1e-12
        rho = torch.where(ok, 1.0 / sy.clamp_min(1e-12), 0.0)
        gamma = torch.where(ok, sy / yy.clamp_min(1e-30), gamma)
        pairs = [*pairs[-(HISTORY - 1) :], (s_k, y_k, rho)]
        grad, loss = grad_new, torch.where(step > 0, loss_new, loss)
    theta_out[active], done_out[active] = theta, done | (design.amax(grad) <= tol)
    return theta_out, done_out


def _two_loop(design: PrefixDesign, grad, pairs, gamma, searching) -> torch.Tensor:
    """The L-BFGS direction -H grad per problem, zero where `searching` is False; pairs with
    rho == 0 have no effect."""
    q = grad.clone()
    alphas = []
    for s_k, y_k, rho in reversed(pairs):
        a = rho * design.dot(s_k, q)
        q.addcmul_(design.expand(a), y_k, value=-1)
        alphas.append(a)
    r = design.expand(torch.where(searching, -gamma, 0.0)) * q  # -r from here on
    for (s_k, y_k, rho), a in zip(pairs, reversed(alphas), strict=True):
        b = rho * design.dot(y_k, r)
        r.addcmul_(design.expand(b + a), s_k, value=-1)
    return r


def _backtrack(margins, Md, value, s, loss, slope, design, lam, theta, d, done, c1=1e-4):
    """Armijo backtracking from step 1, per problem; step 0 where no step decreases the loss.

    Returns the steps, the data loss at them, and the objective's drop relative to its size.
    Margins (signed logits) are linear in the step, margins + t * Md, so a trial costs O(n) per
    problem, not a pass over the activations; the L2 term is a quadratic in the step with
    per-problem coefficients. Once some problems have their step, the trials go on with the
    columns of the others only (gathered then, not at every trial).
    """
    lam_theta = lam * theta
    ww, wd, dd = design.dot64(
        torch.stack([lam_theta, lam_theta, lam * d]), torch.stack([theta, d, d])
    )
    base = loss + 0.5 * ww
    # per problem: step, data loss and objective at it; the objective's terms and Armijo's bound
    state = torch.stack([torch.where(done, 0.0, 1.0).double(), loss, base])
    terms = torch.stack([0.5 * ww, wd, 0.5 * dd, base, c1 * slope])
    todo, weights = ~done, s[..., None]
    out, cols = state, None  # cols: the columns still searched, None for all of them
    for _ in range(40):
        step = state[0]
        half_ww, wd, half_dd, bound, c1_slope = terms.unbind()
        trial = torch.addcmul(margins, step.to(margins.dtype)[..., None, :], Md)
        data = (weights * value(trial)).sum(-2, dtype=torch.float64)
        obj = data + half_ww + step * (wd + step * half_dd)
        ok = todo & (obj <= bound + step * c1_slope)
        state = torch.where(ok, torch.stack([step, data, obj]), state)
        todo = todo & ~ok
        state[0] = torch.where(todo, step / 2, step)
        searching = todo.any(0)
        if not bool(searching.all()):  # some columns are done: keep their state, drop them
            if cols is None:
                out = state.clone()
                cols = torch.arange(design.n_problems, device=margins.device)
            else:
                out[..., cols] = state
            if not bool(searching.any()):
                break
            keep = torch.nonzero(searching).squeeze(1)
            cols, state, terms, todo = (
                cols[keep],
                state[..., keep],
                terms[..., keep],
                todo[..., keep],
            )
            margins, Md = margins[..., keep], Md[..., keep]
    else:  # still searching after 40 halvings: no step decreases the objective
        state[0] = torch.where(todo, 0.0, state[0])
        if cols is None:
            out = state
        else:
            out[..., cols] = state
    step, new_loss, new_f = out.unbind()
    drop = (base - new_f) / base.abs().clamp_min(1.0)
    return step, new_loss, drop

"""Which CPU backend a k sweep should use: torch (batched L-BFGS) against scikit-learn (one
lbfgs fit per k), at N in {2000, 8000, 20000} examples x d in {1024, 8192} neurons.

One feature per cell (20% positives, correlated neurons; see probing_stage.synthetic_layer),
split 80/20, ranked by mean difference, every backend through sweep_k. torch runs as it does now
(each solve on one thread) and as it did before (on torch's thread count); scikit-learn at its
default tolerance (1e-4, the backend's default) and at torch's (1e-6 on the largest gradient
entry: the same accuracy, which the F1 of SmolLM2 probes needs; see torch_backend.TOL). To bound
the time, d=8192 sweeps 4 ks (1, 16, 256, 8192) instead of the paper's 20; d=1024 sweeps the
paper's 17. Prints seconds per sweep and the largest |F1 difference| of torch to scikit-learn at
1e-6 (of torch, and of scikit-learn at 1e-4). These numbers set backends.resolve_backend's rule
and torch_backend.SOLVE_THREADS; measured here, never asserted in tests.

Each cell: a warm-up sweep, then the fastest of two (benchmarks.harness).

    python -m benchmarks.backend_choice              # the whole grid (~30 min on 2 cores)
    python -m benchmarks.backend_choice --n 2000 --d 1024
"""

from __future__ import annotations

import argparse
import warnings
from functools import partial

import torch

from benchmarks.harness import compare
from benchmarks.probing_stage import synthetic_layer
from probing.probes import paper_k_list, sweep_k
from probing.probes.backends import BACKENDS, sklearn_backend, torch_backend


def ks_for(d: int) -> list[int]:
    return paper_k_list(d) if d <= 1024 else [1, 16, 256, d]


def timed_sweep(
    data, ks, backend: str, solve_threads: int = 1, sklearn_tol: float = 1e-4, repeats: int = 2
):
    """(seconds, rows) of sweep_k: the first call warms up (and gives the rows), then the
    fastest of `repeats` (benchmarks.harness); solve_threads: torch threads per solve."""
    torch_backend.SOLVE_THREADS = solve_threads
    BACKENDS["sklearn"] = partial(sklearn_backend.fit_prefixes, tol=sklearn_tol)
    try:
        rows = sweep_k(*data, ks=ks, backend=backend)
        timing = compare({"sweep": lambda: sweep_k(*data, ks=ks, backend=backend)},
                         repeats=repeats, warmup=0)["sweep"]  # fmt: skip
        return timing.best, rows
    finally:
        torch_backend.SOLVE_THREADS = 1
        BACKENDS["sklearn"] = sklearn_backend.fit_prefixes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 8000, 20000])
    parser.add_argument("--d", type=int, nargs="+", default=[1024, 8192])
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # scikit-learn may stop at max_iter at large k
    threads = torch.get_num_threads()
    print(f"torch threads {threads}; seconds per sweep of one feature")
    columns = ("torch x1", f"torch x{threads}", "sklearn 1e-4", "sklearn 1e-6")
    print(f"\n{'N':>6} {'d':>5} {'ks':>3} " + " ".join(f"{c:>12}" for c in columns) + "  fastest")
    for d in args.d:
        for n in args.n:
            X, labels = synthetic_layer(n, d, 1, (0.2, 0.2), seed=n + d)
            y = labels["feature_0"]
            split = int(0.8 * n)
            data = (X[:split], y[:split], X[split:], y[split:])
            ks = ks_for(d)
            t1, torch_rows = timed_sweep(data, ks, "torch")
            tn, _ = timed_sweep(data, ks, "torch", solve_threads=threads)
            t_sk4, loose_rows = timed_sweep(data, ks, "sklearn")
            t_sk6, sk_rows = timed_sweep(data, ks, "sklearn", sklearn_tol=1e-6)
            times = dict(zip(columns, (t1, tn, t_sk4, t_sk6), strict=True))
            diff = max(abs(a["f1"] - b["f1"]) for a, b in zip(torch_rows, sk_rows, strict=True))
            loose = max(abs(a["f1"] - b["f1"]) for a, b in zip(loose_rows, sk_rows, strict=True))
            print(
                f"{n:>6} {d:>5} {len(ks):>3} "
                + " ".join(f"{t:12.2f}" for t in times.values())
                + f"  {min(times, key=times.get)}; |F1 - F1 of sklearn 1e-6|: torch "
                + f"{diff:.3f}, sklearn 1e-4 {loose:.3f}",
                flush=True,
            )
            del X, data


if __name__ == "__main__":
    main()

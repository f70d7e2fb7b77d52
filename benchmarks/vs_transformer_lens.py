"""Our k sweep against TransformerLens's own sparse probe, same data, split and objective.

TransformerLens 4.3 ships `transformer_lens.tools.analysis.sparse_probing.sweep_sparse_probe`
(the peer our users already have installed): per k, rank by |class-mean difference| on the
training split, standardise, then torch L-BFGS plus Newton refinement in float64. Ours ranks the
same way and solves every k of the sweep in one batched L-BFGS. The problems are made identical:
TransformerLens's split (its train / test indices) is handed to ours, both standardise by
training statistics, and its objective mean(w_i BCE_i) + l2/2 |w|^2 equals scikit-learn's
C sum(w_i BCE_i) + |w|^2 / 2 (ours) divided by C n when l2 = 1 / (C n_train).

Prints each side's wall time, the ratio and the largest |F1 difference| over k, measured in one
process. Timings on a shared machine are noisy: read the ratio.

    python -m benchmarks.vs_transformer_lens             # N=4000, d=4096, the paper's ks to 256
    python -m benchmarks.vs_transformer_lens --all-ks    # ... every paper k up to d (slow for TL)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.probe_sweep import synthetic_activations
from probing.probes import paper_k_list, sweep_k


def transformer_lens_sweep(X: np.ndarray, y: np.ndarray, ks: list[int], C: float, seed: int):
    from transformer_lens.tools.analysis.sparse_probing import sweep_sparse_probe

    n_train = len(y) - int(np.ceil(0.2 * (y == 1).sum())) - int(np.ceil(0.2 * (y == 0).sum()))
    return sweep_sparse_probe(
        torch.from_numpy(X),
        torch.from_numpy(y),
        ks=ks,
        test_fraction=0.2,
        preprocess="standardize",
        std_floor=0.0,  # ours floors nothing but constant neurons
        class_weight="balanced",
        l2_strength=1.0 / (C * n_train),
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--all-ks", action="store_true", help="the paper's ks up to d")
    parser.add_argument("--backend", default="auto", help="ours: auto, torch or sklearn")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, _ = synthetic_activations(args.n, args.d)
    ks = [k for k in paper_k_list(args.d) if args.all_ks or k <= 256]
    C = 1.0
    print(f"N={args.n}, d={args.d}, {len(ks)} ks ({ks[0]}..{ks[-1]}), torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip

    start = time.perf_counter()
    theirs = transformer_lens_sweep(X, y, ks, C, seed=0)
    tl_s = time.perf_counter() - start
    train = theirs.results[0].train_indices.numpy()
    test = theirs.results[0].test_indices.numpy()
    # the objectives match only if l2 used the very n_train of this split
    assert abs(theirs.results[0].l2_strength * C * len(train) - 1) < 1e-12

    start = time.perf_counter()
    ours = sweep_k(X[train], y[train], X[test], y[test], ks, method="mean_diff",
                   backend=args.backend, C=C)  # fmt: skip
    ours_s = time.perf_counter() - start

    print(f"\n{'k':>6} {'F1 ours':>8} {'F1 TL':>8} {'|diff|':>7} {'same support':>12}")
    diffs = []
    for row, result in zip(ours, theirs.results, strict=True):
        diffs.append(abs(row["f1"] - result.metrics.f1))
        same = sorted(row["support"]) == sorted(result.selected_features.tolist())
        print(f"{row['k']:>6} {row['f1']:8.4f} {result.metrics.f1:8.4f} {diffs[-1]:7.4f} "
              f"{same!s:>12}")  # fmt: skip
    print(f"\nours ({ours[0]['backend']}): {ours_s:.2f} s for the sweep")
    print(f"TransformerLens sweep_sparse_probe: {tl_s:.2f} s")
    print(f"speed-up: {tl_s / ours_s:.1f}x; max |F1 difference| over k: {max(diffs):.4f}")


if __name__ == "__main__":
    main()

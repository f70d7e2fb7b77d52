"""Our k sweep against TransformerLens's own sparse probe, same data, split and objective.

TransformerLens 4.3 ships `transformer_lens.tools.analysis.sparse_probing.sweep_sparse_probe`
(the peer our users already have installed): per k, rank by |class-mean difference| on the
training split, standardise, then torch L-BFGS plus Newton refinement in float64. Ours ranks the
same way and solves every k of the sweep in one batched L-BFGS; it is called as the pipeline calls
it (`probe_layer`: the layer's activations and the feature's split indices; each side splits
the layer itself). The problems are made identical:
TransformerLens's split (its train / test indices) is handed to ours, both standardise by
training statistics, and its objective mean(w_i BCE_i) + l2/2 |w|^2 equals scikit-learn's
C sum(w_i BCE_i) + |w|^2 / 2 (ours) divided by C n when l2 = 1 / (C n_train).

Both sides are timed by benchmarks.harness: warmed (TransformerLens's first call in a process
costs ~2 s of set-up), alternated, fastest of --repeats. Prints each side's time, the ratio and
the largest |F1 difference| over k, and writes a record.

    python -m benchmarks.vs_transformer_lens             # N=4000, d=4096, the paper's ks to 256
    python -m benchmarks.vs_transformer_lens --all-ks    # ... every paper k up to d (slow for TL)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from benchmarks.harness import Session, compare, device_type
from benchmarks.probe_sweep import sklearn_sweep, synthetic_activations
from probing.probes import paper_k_list, probe_layer


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-saga", action="store_true", help="skip scikit-learn saga per k")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    session = Session("vs_transformer_lens")
    X, y, _ = synthetic_activations(args.n, args.d)
    ks = [k for k in paper_k_list(args.d) if args.all_ks or k <= 256]
    C = 1.0
    print(f"N={args.n}, d={args.d}, {len(ks)} ks ({ks[0]}..{ks[-1]}), torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip

    theirs = transformer_lens_sweep(X, y, ks, C, seed=0)
    train = theirs.results[0].train_indices.numpy()
    test = theirs.results[0].test_indices.numpy()
    # the objectives match only if l2 used the very n_train of this split
    assert abs(theirs.results[0].l2_strength * C * len(train) - 1) < 1e-12

    no_val = np.array([], dtype=np.int64)

    def ours_sweep():  # the pipeline's call: the whole layer and the feature's split, as TL's
        rows = probe_layer(X, {"f": y}, {"f": (train, no_val, test)}, ks, method="mean_diff",
                           backend=args.backend, C=C)  # fmt: skip
        return rows["f"]

    def saga_sweep():  # the paper's way, one scikit-learn fit per k, on the same split
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return sklearn_sweep(X[train], y[train], X[test], y[test], ks, solver="saga",
                                 max_iter=100)  # fmt: skip

    sides = {"ours": ours_sweep, "transformer_lens": lambda: transformer_lens_sweep(X, y, ks, C, 0)}
    if not args.no_saga:
        sides["saga_per_k"] = saga_sweep
    timings = compare(sides, repeats=args.repeats)
    ours = timings["ours"].result  # the last timed run's rows: no extra sweep
    print(f"\n{'k':>6} {'F1 ours':>8} {'F1 TL':>8} {'|diff|':>7} {'same support':>12}")
    diffs, same_supports = [], 0
    for row, result in zip(ours, theirs.results, strict=True):
        diffs.append(abs(row["f1"] - result.metrics.f1))
        same = sorted(row["support"]) == sorted(result.selected_features.tolist())
        same_supports += same
        print(f"{row['k']:>6} {row['f1']:8.4f} {result.metrics.f1:8.4f} {diffs[-1]:7.4f} "
              f"{same!s:>12}")  # fmt: skip
    speedup = timings["transformer_lens"].best / timings["ours"].best
    ratios = {"transformer_lens/ours": speedup}
    saga_note = ""
    if "saga_per_k" in timings:
        ratios["saga_per_k/ours"] = timings["saga_per_k"].best / timings["ours"].best
        saga_note = (f"; scikit-learn saga per k {timings['saga_per_k'].best:.2f} s "
                     f"({ratios['saga_per_k/ours']:.0f}x)")  # fmt: skip
    session.record(
        key=f"vs_transformer_lens-n{args.n}-d{args.d}-k{len(ks)}-{device_type()}",
        title=(f"a layer's k sweep vs TransformerLens's sweep_sparse_probe, warm (N={args.n}, "
               f"d={args.d}, {len(ks)} ks to {ks[-1]}; same split, ranking and objective)"),
        command="python -m benchmarks.vs_transformer_lens " + shlex.join(sys.argv[1:]),
        headline=(f"{speedup:.1f}x: {timings['ours'].best:.3f} s vs "
                  f"{timings['transformer_lens'].best:.3f} s; same support at "
                  f"{same_supports}/{len(ks)} ks, max |F1 difference| {max(diffs):.4f}"
                  f"{saga_note}"),
        timings=timings,
        ratios=ratios,
        facts={"n": args.n, "d": args.d, "ks": ks, "backend": ours[0]["backend"],
               "max_f1_difference": max(diffs), "same_support": same_supports},
        save=not args.no_record,
    )  # fmt: skip


if __name__ == "__main__":
    main()

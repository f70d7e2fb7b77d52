"""Wall time of one layer's full k sweep: our batched backend against the paper's way.

The paper's way fits one scikit-learn LogisticRegression(solver="saga", L2, class-balanced) per k.
Both sides rank neurons once (mean difference) and standardise once on the same training split,
then fit every k of paper_k_list(d) and score F1 on the same test split. Prints both wall times,
their ratio and the largest |F1 difference| over k. Timings are measured here, never asserted.

saga stops at max_iter (100, scikit-learn's default) before converging once k reaches the
thousands, so its F1 there is that of an unfinished fit; the "saga conv" column says where.
--reference adds an lbfgs fit at tol 1e-8 per k, the optimum both sides approach, and the largest
|F1 difference| of ours to it.

Timed by benchmarks.harness (ours warmed; alternated; fastest of --repeats), with a record.

    python -m benchmarks.probe_sweep               # N=8000 examples, d=8192 neurons
    python -m benchmarks.probe_sweep --quick       # N=2000, d=1024
    python -m benchmarks.probe_sweep --reference   # also the converged optimum (+ ~10 s)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from benchmarks.harness import Session, compare, device_type
from probing.probes import paper_k_list, rank_neurons, sweep_k
from probing.probes.scaling import fit_scaling, standardize


def synthetic_activations(n: int, d: int, n_planted: int = 5, seed: int = 0):
    """GELU-like activations of mixed scales; the feature is a noisy threshold on a few neurons."""
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((n, d), dtype=np.float32)
    planted = rng.choice(d, n_planted, replace=False)
    weights = rng.uniform(0.6, 1.5, n_planted) * rng.choice([-1, 1], n_planted)
    logits = H[:, planted] @ weights + 0.7 * rng.standard_normal(n)
    y = (logits > 1.0).astype(np.int64)  # about one example in four is positive
    X = H * (0.5 * (1 + np.tanh(0.8 * H)))  # smooth GELU-like nonlinearity
    X *= np.exp(rng.normal(0.0, 0.5, d)).astype(np.float32)  # neurons differ in scale
    return X, y, planted


def ranked_standardised(X_train, y_train, X_test, ks: list[int]):
    """The top max(ks) neurons by mean difference, standardised by training statistics."""
    top = rank_neurons(X_train, y_train, "mean_diff")[: max(ks)]
    mean, scale = fit_scaling(X_train[:, top])
    return standardize(X_train[:, top], mean, scale), standardize(X_test[:, top], mean, scale)


def sklearn_sweep(X_train, y_train, X_test, y_test, ks, **solver) -> dict[int, tuple[float, bool]]:
    """(test F1, converged) per k, one scikit-learn LogisticRegression per k."""
    Z_train, Z_test = ranked_standardised(X_train, y_train, X_test, ks)
    out = {}
    for k in ks:
        model = LogisticRegression(C=1.0, class_weight="balanced", **solver)
        model.fit(Z_train[:, :k], y_train)
        converged = int(model.n_iter_.max()) < solver.get("max_iter", 100)
        out[k] = (float(f1_score(y_test, model.predict(Z_test[:, :k]))), converged)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=2000, d=1024 instead of 8000, 8192")
    parser.add_argument("--backend", default="torch", help="our side: torch (default) or sklearn")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "--saga-max-iter",
        type=int,
        default=100,
        help="saga's max_iter (scikit-learn's default, 100, is what the paper's code ran)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also fit a converged lbfgs (tol 1e-8) per k: the exact optimum both sides approach",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    session = Session("probe_sweep")
    n, d = (2000, 1024) if args.quick else (8000, 8192)
    X, y, planted = synthetic_activations(n, d)
    split = int(0.8 * n)
    data = (X[:split], y[:split], X[split:], y[split:])
    ks = paper_k_list(d)
    print(f"N={n} (train {split}), d={d}, {len(ks)} ks, planted neurons {sorted(planted.tolist())}")
    print(f"torch threads: {torch.get_num_threads()}")

    def ours():
        return sweep_k(*data, ks=ks, method="mean_diff", backend=args.backend)

    def saga():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # saga stops at max_iter
            return sklearn_sweep(*data, ks, solver="saga", max_iter=args.saga_max_iter)

    # saga has no first-call cost and takes a minute a run: it is not warmed
    timings = compare({"ours": ours, "saga_per_k": saga}, repeats=args.repeats,
                      warmup={"ours": 1, "saga_per_k": 0})  # fmt: skip
    rows, paper = timings["ours"].result, timings["saga_per_k"].result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exact = (
            sklearn_sweep(*data, ks, solver="lbfgs", tol=1e-8, max_iter=20_000)
            if args.reference
            else {}
        )

    header = f"\n{'k':>6} {'F1 ours':>8} {'F1 saga':>8} {'|diff|':>7} {'saga conv':>9}"
    print(header + (f" {'F1 exact':>8} {'|ours-exact|':>12}" if exact else ""))
    diffs, exact_diffs = [], []
    for row in rows:
        saga_f1, saga_converged = paper[row["k"]]
        diffs.append(abs(row["f1"] - saga_f1))
        line = (
            f"{row['k']:>6} {row['f1']:8.4f} {saga_f1:8.4f} {diffs[-1]:7.4f} {saga_converged!s:>9}"
        )
        if exact:
            exact_diffs.append(abs(row["f1"] - exact[row["k"]][0]))
            line += f" {exact[row['k']][0]:8.4f} {exact_diffs[-1]:12.4f}"
        print(line)
    speedup = timings["saga_per_k"].best / timings["ours"].best
    exact_note = f", max |F1 - converged optimum| {max(exact_diffs):.4f}" if exact else ""
    session.record(
        key=f"probe_sweep-n{n}-d{d}-{rows[0]['backend']}-{device_type()}",
        title=(f"a layer's full k sweep (N={n}, d={d}, {len(ks)} ks), batched L-BFGS vs one "
               f"scikit-learn saga fit per k (max_iter {args.saga_max_iter}, the paper's)"),
        command="python -m benchmarks.probe_sweep " + shlex.join(sys.argv[1:]),
        headline=(f"{speedup:.1f}x: {timings['ours'].best:.2f} s vs "
                  f"{timings['saga_per_k'].best:.1f} s; max |F1 difference| to saga "
                  f"{max(diffs):.4f}{exact_note}"),
        timings=timings,
        ratios={"saga_per_k/ours": speedup},
        facts={"n": n, "d": d, "ks": ks, "backend": rows[0]["backend"],
               "max_f1_difference_saga": max(diffs),
               "max_f1_difference_exact": max(exact_diffs) if exact else None},
        save=not args.no_record,
    )  # fmt: skip


if __name__ == "__main__":
    main()

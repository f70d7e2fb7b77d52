"""Measure the per-(example x neuron) costs launch.estimate assumes, on this machine.

    python -m launch.probe_costs                  # 1800 examples x 2048 neurons, 4 features
    python -m launch.probe_costs --n 5000 --d 4096

Probes one synthetic layer the way a job does (document splits, the paper's ks, mean_diff, the
auto backend, document bootstrap), with and without the default baselines (200 permutations and
20 random supports at k=1), warm, alternated, fastest of --repeats; prints the seconds per
(example x neuron x feature) of probing and per refit of the baselines, the figures behind
PROBE_S_PER_EXAMPLE_NEURON and BASELINE_S_PER_EXAMPLE_NEURON_REFIT.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.harness import compare
from probing.errors import below_least, one_line_exit
from probing.probes import paper_k_list, probe_layer
from probing.probes.baselines import Baselines
from probing.splits import split_by_document

# Fewer examples than this leave a document split with too few positives to probe.
LEAST = {"n": 100, "d": 1, "features": 1, "repeats": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1800)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    odd = size_problem(args)
    if odd:
        print(f"error: {odd}", file=sys.stderr)
        return 2
    try:
        measure(args)
    except Exception as err:  # a split the synthetic labels cannot make is one line
        return one_line_exit(err)
    return 0


def size_problem(args: argparse.Namespace) -> str | None:
    """Why the sizes cannot be measured, before minutes of timing: each feature labels by one
    neuron of its own, so there are at most --d of them."""
    odd = below_least(args, LEAST)
    if not odd and args.features > args.d:
        odd = f"--features {args.features} must be at most --d ({args.d})"
    return odd


def measure(args: argparse.Namespace) -> None:
    """Time probing with and without baselines on synthetic data; print the two rates."""
    n, d, n_features = args.n, args.d, args.features
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((n, d)) * rng.lognormal(size=d)).astype(np.float32)
    groups = np.arange(n) // 3
    labels = {
        f"f{i}": (X[:, i] + rng.standard_normal(n) > 1).astype(np.int64) for i in range(n_features)
    }
    splits = {f: split_by_document(y, groups, 0.2, 0.2, 0) for f, y in labels.items()}
    ks, baselines = paper_k_list(d), Baselines()
    timings = compare(
        {
            "probing": lambda: probe_layer(X, labels, splits, ks, groups=groups),
            "with baselines": lambda: probe_layer(
                X, labels, splits, ks, groups=groups, baselines=baselines
            ),
        },
        repeats=args.repeats,
    )
    plain, full = timings["probing"].best, timings["with baselines"].best
    refits = (baselines.permutations + baselines.random_supports) * len(baselines.ks)
    units = n * d * n_features
    print(f"N={n}, d={d}, {n_features} features, {len(ks)} ks: probing {plain:.2f} s, with "
          f"baselines {full:.2f} s ({refits} refits)")  # fmt: skip
    print(f"PROBE_S_PER_EXAMPLE_NEURON          {plain / units:.2g}")
    print(f"BASELINE_S_PER_EXAMPLE_NEURON_REFIT {(full - plain) / units / refits:.2g}")


if __name__ == "__main__":
    sys.exit(main())

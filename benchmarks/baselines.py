"""A layer's baselines (the permutation null and the random supports) against a git revision's.

Every probed layer refits each feature's k=1 probe on 200 label permutations and on 20 random
neurons (conf/config.yaml `baselines`): in the default run that costs more than the k sweep
itself. Both sides compute probing.probes.baselines.baseline_fields on the same layer, splits and
document groups; "old" is probing/probes as of --baseline, imported under another name. Timed by
benchmarks.harness (warm, alternated, fastest of --repeats); prints both times, the ratio and
how many of the null and random F1s differ, and writes a record.

The default shape is the default run's (programming_language, quick preset, on SmolLM2): 1500
windows of 900 source files, 5 one-vs-rest languages, d_mlp 1536.

    python -m benchmarks.baselines
    python -m benchmarks.baselines --baseline 7c46dfd --repeats 7
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

import numpy as np

from benchmarks.harness import Session, compare
from benchmarks.probing_stage import load_baseline
from probing.probes import paper_k_list
from probing.probes.baselines import Baselines, baseline_fields
from probing.splits import split_by_document

BASELINE = "7c46dfd"  # main before the k=1 Newton solver, F1-only refits and partial rankings


def language_layer(n: int, d: int, n_docs: int, n_features: int, seed: int = 0):
    """Activations [n, d] of mixed scales, documents of ~n / n_docs windows, and one-vs-rest
    labels of a document-level class that a few neurons carry."""
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.integers(0, n_docs, n))
    language = rng.integers(0, n_features, n_docs)[groups]
    X = rng.standard_normal((n, d)).astype(np.float32)
    for f in range(n_features):
        X[:, f] += 1.5 * (language == f)
    X *= np.exp(rng.normal(0.0, 0.5, d)).astype(np.float32)
    labels = {f"language_{f}": (language == f).astype(np.int64) for f in range(n_features)}
    return X, labels, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--d", type=int, default=1536)
    parser.add_argument("--documents", type=int, default=900)
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help=f"old side's git rev ({BASELINE})")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    session = Session("baselines")
    X, labels, groups = language_layer(args.n, args.d, args.documents, args.features)
    splits = {f: split_by_document(y, groups, 0.2, 0.2, 0) for f, y in labels.items()}
    ks = paper_k_list(args.d)
    config = Baselines()
    load_baseline(args.baseline)
    print(f"N={args.n}, d={args.d}, {args.features} features, {args.documents} documents; "
          f"{config.permutations} permutations and {config.random_supports} random supports "
          f"at k={list(config.ks)}; baseline {args.baseline}")  # fmt: skip

    old_baselines = importlib.import_module("baseline_probes.baselines")

    def side(fields, baselines):
        return lambda: fields(
            X, labels, splits, ks, baselines, "mean_diff", "torch", 1.0, 0, groups
        )

    old_config = old_baselines.Baselines(
        ks=config.ks, permutations=config.permutations, random_supports=config.random_supports
    )
    timings = compare(
        {"old": side(old_baselines.baseline_fields, old_config),
         "new": side(baseline_fields, config)},
        repeats=args.repeats,
    )  # fmt: skip
    before, after = timings["old"].result, timings["new"].result
    changed = {"null_f1": 0, "random_f1": 0}
    total = {"null_f1": 0, "random_f1": 0}
    for feature, by_k in after.items():
        for k, fields in by_k.items():
            for key in changed:
                pairs = list(zip(before[feature][k][key], fields[key], strict=True))
                changed[key] += sum(a != b for a, b in pairs)
                total[key] += len(pairs)
    ratio = timings["old"].best / timings["new"].best
    differ = (f"{changed['null_f1']} of {total['null_f1']} null F1s and {changed['random_f1']} "
              f"of {total['random_f1']} random F1s differ")  # fmt: skip
    session.record(
        key=f"baselines-n{args.n}-d{args.d}-f{args.features}",
        title=(f"a layer's baselines ({config.permutations} permutations + "
               f"{config.random_supports} random supports a feature at k=1; N={args.n}, "
               f"d={args.d}, {args.features} features) vs {args.baseline}"),
        command="python -m benchmarks.baselines " + shlex.join(sys.argv[1:]),
        headline=(f"{ratio:.2f}x: {timings['new'].best:.2f} s vs {timings['old'].best:.2f} s a "
                  f"layer; {differ}"),
        timings=timings,
        ratios={"old/new": ratio},
        facts={"n": args.n, "d": args.d, "features": args.features, "baseline": args.baseline,
               **{f"{key}_changed": changed[key] for key in changed}},
        save=not args.no_record,
    )  # fmt: skip


if __name__ == "__main__":
    main()

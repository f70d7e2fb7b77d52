"""The probing stage of a job without the model: old (one sweep_k per feature) against new
(probe_layer: every feature x k of a layer in one batched solve), in one process.

Each layer is probed the way experiment.py probes it: splits by document per feature
(test 0.2, val 0.2, seed 0), the paper's ks for d, mean-difference ranking, the auto backend,
X_val / y_val, and a 1000-resample document bootstrap of every row's test F1. "Old" is the
probing package of a git revision (default: the last commit before layer batching), imported
under another name, run as its experiment.py ran it; "new" is this checkout. Each side probes
all the layers; benchmarks.harness warms both, alternates them and keeps each one's fastest of
--repeats. Prints each side's time, their ratio, an estimate for all of the model's layers and
the largest |F1 difference| per row, and writes a record. --reference also fits every row to a tight tolerance in float64 (same ranking) and
prints each side's largest |F1 - converged F1| and how many rows are off by more than 0.001 (a
test example within ~1e-4 of the decision boundary can flip under any finite tolerance).

Activations are synthetic by default (shapes below, the feature a noisy threshold on a few
latent directions, rare positives as in token-level collections), or a real store:

    python -m benchmarks.probing_stage                         # compound_words shape, 2 layers
    python -m benchmarks.probing_stage --shape programming_language
    python -m benchmarks.probing_stage --store S.zarr --features F --layers 7 14 --reference
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import shlex
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness import Session, compare, slug
from probing.probes import paper_k_list, probe_layer
from probing.splits import split_by_document

BASELINE = "139c903"  # the last commit that probed a layer one feature at a time
REPO = Path(__file__).resolve().parents[1]
# (examples, d_mlp, features, positive fraction range, examples per document, model layers)
SHAPES = {
    "compound_words": (1937, 1536, 11, (0.01, 0.08), 4, 30),  # token level, SmolLM2-135M
    "programming_language": (5000, 1536, 5, (0.2, 0.2), 3, 30),  # sequence level (mean)
}


def synthetic_layer(n: int, d: int, n_features: int, pos: tuple[float, float], seed: int):
    """Activations [n, d] with correlated neurons (a 64-dim latent), and labels thresholding a
    noisy combination of a few latent directions at the given positive rates."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 64)).astype(np.float32)
    H = latent @ rng.standard_normal((64, d)).astype(np.float32) / 8
    H += rng.standard_normal((n, d)).astype(np.float32)
    X = H * (0.5 * (1 + np.tanh(0.8 * H)))  # GELU-like
    X *= np.exp(rng.normal(0.0, 0.5, d)).astype(np.float32)
    labels = {}
    for f in range(n_features):
        score = latent[:, rng.choice(64, 3, replace=False)] @ rng.normal(0, 1, 3)
        score += 0.5 * rng.standard_normal(n)
        labels[f"feature_{f}"] = (score > np.quantile(score, 1 - rng.uniform(*pos))).astype(
            np.int64
        )
    return X, labels


def synthetic(shape: str, layers: list[int]):
    n, d, n_features, pos, per_doc, _ = SHAPES[shape]
    groups = np.arange(n) // per_doc
    data = {layer: synthetic_layer(n, d, n_features, pos, seed=layer) for layer in layers}
    return data, groups


def from_store(store: str, features: str, layers: list[int]):
    import zarr

    from probing.features.core.dataset import FeatureDataset

    dataset = FeatureDataset.load_from_disk(features)
    unusable = dataset.meta.get("unusable") or {}
    labels = {f: dataset.label(f).astype(np.int64) for f in dataset.feature_names}
    labels = {f: y for f, y in labels.items() if f not in unusable}
    group = zarr.open_group(store, mode="r")
    data = {la: (np.asarray(group[f"layer_{la}"][:], dtype=np.float32), labels) for la in layers}
    return data, dataset.groups


def load_baseline(rev: str):
    """probing/probes as of `rev`, importable as `baseline_probes` (it uses relative imports)."""
    archive = subprocess.run(
        ["git", "archive", rev, "probing/probes"], cwd=REPO, capture_output=True, check=True
    ).stdout
    root = Path(tempfile.mkdtemp(prefix="baseline-probes-"))
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(root)
    package = root / "probing" / "probes"
    spec = importlib.util.spec_from_file_location(
        "baseline_probes", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_probes"] = module
    spec.loader.exec_module(module)
    return module


def old_layer(old, X, labels, splits, groups, ks):
    """What experiment.py did per layer before batching: one sweep_k per feature."""
    out = {}
    for f, (train, val, test) in splits.items():
        y = labels[f]
        out[f] = old.sweep_k(
            X[train], y[train], X[test], y[test], ks,
            X_val=X[val], y_val=y[val], test_groups=groups[test],
        )  # fmt: skip
    return out


def converged_f1(X, labels, splits, ks) -> dict[str, list[float]]:
    """Test F1 per row at the optimum: the same ranking and scaling, float64, tolerance 1e-9."""
    from probing.probes import rank_neurons
    from probing.probes.backends import torch_backend
    from probing.probes.fit import standardize_top
    from probing.probes.metrics import f1
    from probing.probes.scaling import standardize

    out = {}
    for f, (train, _, test) in splits.items():
        y = labels[f]
        ranked = standardize_top(X[train], rank_neurons(X[train], y[train]), max(ks))
        fits = torch_backend.fit_prefixes(
            ranked.Z.astype(np.float64), y[train], ks, dtype=torch.float64, tol=1e-9,
            max_iter=20_000,
        )  # fmt: skip
        Z = standardize(np.take(X[test], ranked.top, axis=1), ranked.mean, ranked.scale, np.float64)
        out[f] = [f1(y[test], Z[:, :k] @ c + b > 0) for k, (c, b) in zip(ks, fits, strict=True)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="compound_words")
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--store", help="a real activation store (.zarr) instead of synthetic")
    parser.add_argument("--features", help="with --store: its feature dataset (cache folder)")
    parser.add_argument("--model-layers", type=int, help="layers to scale to (default: shape's)")
    parser.add_argument("--baseline", default=BASELINE, help=f"old side's git rev ({BASELINE})")
    parser.add_argument("--old-threads", type=int, help="torch threads of the old side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also the converged F1 per row")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the old side warns where it stops at max_iter
    session = Session("probing_stage")
    if args.store:
        data, groups = from_store(args.store, args.features, args.layers)
    else:
        data, groups = synthetic(args.shape, args.layers)
    old = load_baseline(args.baseline)
    threads = torch.get_num_threads()
    model_layers = args.model_layers or SHAPES[args.shape][5]
    first_X, first_labels = next(iter(data.values()))
    n, d = first_X.shape
    ks = paper_k_list(d)
    source = f"store {Path(args.store).name}" if args.store else f"synthetic {args.shape}"
    print(
        f"{source}: N={n}, d={d}, {len(first_labels)} features, {len(ks)} ks, layers "
        f"{args.layers}; torch threads {threads} (old side {args.old_threads or threads}); "
        f"baseline {args.baseline}"
    )
    splits = {
        layer: {f: split_by_document(y, groups, 0.2, 0.2, 0) for f, y in labels.items()}
        for layer, (_, labels) in data.items()
    }

    def run_old():
        torch.set_num_threads(args.old_threads or threads)
        try:
            return {
                la: old_layer(old, X, lab, splits[la], groups, ks) for la, (X, lab) in data.items()
            }
        finally:
            torch.set_num_threads(threads)

    def run_new():
        return {
            la: probe_layer(X, lab, splits[la], ks, groups=groups) for la, (X, lab) in data.items()
        }

    timings = compare({"old": run_old, "new": run_new}, repeats=args.repeats)
    rows_old, rows_new = timings["old"].result, timings["new"].result
    diff = max(
        abs(a["f1"] - b["f1"])
        for la in data
        for f in splits[la]
        for a, b in zip(rows_old[la][f], rows_new[la][f], strict=True)
    )
    facts = {"n": n, "d": d, "features": len(first_labels), "ks": len(ks), "layers": args.layers,
             "baseline": args.baseline, "max_f1_difference": diff,
             "backend": rows_new[args.layers[0]][next(iter(splits[args.layers[0]]))][0]["backend"]}  # fmt: skip
    if args.reference:
        err_old = err_new = 0.0
        off_old = off_new = n_rows = 0
        for la, (X, labels) in data.items():
            ref = converged_f1(X, labels, splits[la], ks)
            for f in splits[la]:
                for r_old, r_new, c in zip(rows_old[la][f], rows_new[la][f], ref[f], strict=True):
                    err_old = max(err_old, abs(r_old["f1"] - c))
                    err_new = max(err_new, abs(r_new["f1"] - c))
                    off_old += abs(r_old["f1"] - c) > 1e-3
                    off_new += abs(r_new["f1"] - c) > 1e-3
                    n_rows += 1
        print(f"max |F1 - converged F1|: old {err_old:.4f}, new {err_new:.4f}; rows off by more "
              f"than 0.001: old {off_old}, new {off_new} of {n_rows}")  # fmt: skip
        facts |= {"converged_f1_error": {"old": err_old, "new": err_new}}
    ratio = timings["old"].best / timings["new"].best
    per_layer = timings["new"].best / len(data)
    session.record(
        key=f"probing_stage-{slug(source)}",
        title=(f"a job's probing stage, every feature x k of a layer, {source} (N={n}, d={d}, "
               f"{len(first_labels)} features, {len(ks)} ks, bootstrap CIs) vs one sweep_k per "
               f"feature as of {args.baseline}"),
        command="python -m benchmarks.probing_stage " + shlex.join(sys.argv[1:]),
        headline=(f"{ratio:.1f}x: {per_layer:.2f} s vs {timings['old'].best / len(data):.2f} s a "
                  f"layer ({model_layers} layers: {per_layer * model_layers:.0f} s); max |F1 "
                  f"difference| {diff:.4f}"),
        timings=timings,
        ratios={"old/new": ratio},
        facts=facts,
        save=not args.no_record,
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""`python -m probing.ablate RUN_DIR`: ablate the best single neurons a probing run found.

Every feature whose best k=1 probe (layer and neuron chosen on the validation split, as in the
run's summary) reaches a validation F1 of --min-val-f1 (0.9) is ablated, not a hand-picked one:
its neuron is set to its mean activation, and to zero, and the model's next-token loss is
measured on texts with and without the feature (of the run's test documents: the neuron was
chosen on train and val), beside the same for 50 random neurons of the same
layer (probing.case_studies.ablation), which give each neuron a p-value; the p-values are adjusted by
Benjamini-Hochberg over the run's ablated neurons (per ablation value). The run's own config says
which model and which feature dataset; the dataset is checked against the content hash its rows
were probed on. Rows go to RUN_DIR/ablation.jsonl (the report shows them) and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from probing.case_studies.ablation import VALUES, Ablator, ablate_neuron, balanced_sequences
from probing.case_study_outputs import ABLATION_FILE
from probing.config import Config, parse_config
from probing.errors import ConfigError, below_least, one_line_exit
from probing.experiment import duplicates_of, make_splits
from probing.features import FeatureDataError, build_feature_dataset
from probing.features.core.duplicates import merge_duplicates
from probing.models import load_model
from probing.provenance import provenance
from probing.results import read_results
from probing.summaries import ALPHA, benjamini_hochberg, best_rows, neuron_id, selection_column

MIN_VAL_F1 = 0.9  # the neurons worth an ablation: a single neuron that detects the feature


def best_k1(
    results: pd.DataFrame, features: list[str] | None, top: int, min_val_f1: float = 0.0
) -> pd.DataFrame:
    """The best k=1 row per feature whose validation F1 reaches `min_val_f1` (named features
    are taken whatever their F1), the `top` of them: chosen and ordered on validation F1."""
    k1 = results[(results["k"] == 1) & ~results["method"].str.endswith("+rotated")]
    if features:
        missing = sorted(set(features) - set(k1["feature"]))
        if missing:
            raise FeatureDataError(f"no k=1 rows for {missing} in this run")
        k1 = k1[k1["feature"].isin(features)]
    if k1.empty:
        raise FeatureDataError("the run has no k=1 rows to ablate (probe.ks must include 1)")
    best = best_rows(k1, ["feature"])
    select = selection_column(best)
    best = best.sort_values(select, ascending=False, kind="stable")
    if not features and min_val_f1 > 0:
        best = best[best[select] >= min_val_f1]
        if best.empty:
            raise FeatureDataError(
                f"no feature's best single neuron reaches {select} {min_val_f1} in this run; "
                "name features with --features or lower --min-val-f1"
            )
    return best.head(top) if top else best


def model_units(results: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, str]:
    """The rows whose supports are units of the model, and the hook they sit on: a hook=sae
    run's latents are not, so the neurons probed beside them (mlp_post, same layer) are."""
    if cfg.hook != "sae":
        return results, cfg.hook
    return results[results["hook"] == "mlp_post"], "mlp_post"


def unit_label(model_name: str, hook: str) -> str:
    """How the report labels rows of `hook`: the model's name, "model#hook" for a hook other
    than the neurons' (analysis.aggregate), so case-study rows meet their own run's."""
    return model_name if hook == "mlp_post" else f"{model_name}#{hook}"


def run_config(run_dir: Path) -> Config:
    """The typed Config a run saved (`.hydra/config.yaml`), its values checked against the
    schema; what the run's machine had (files, devices) is not checked again here."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FeatureDataError(f"{run_dir} is not a probing run directory (no .hydra/config.yaml)")
    # OmegaConf.load is typed for any YAML; a run's config.yaml is a mapping
    cfg = cast(DictConfig, OmegaConf.load(path))
    _from_where_it_ran(cfg, run_dir)
    try:
        return parse_config(cfg)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _from_where_it_ran(cfg: DictConfig, run_dir: Path) -> None:
    """A relative feature.path (or a local feature.hf folder) named a file of the directory the
    run was started in, which Hydra records (.hydra/hydra.yaml, hydra.runtime.cwd): made absolute
    there, so the run is read the same from any directory."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    feature = cfg.get("feature")
    if not hydra_yaml.is_file() or not isinstance(feature, DictConfig):
        return
    started = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.cwd")
    if not isinstance(started, str):
        return
    for node in (feature, feature.get("params")):
        if not isinstance(node, DictConfig):
            continue
        for key in ("path", "hf"):
            if key not in node or OmegaConf.is_interpolation(node, key):  # ${..path} follows
                continue
            given = node[key]
            if not isinstance(given, str) or given.startswith("~") or Path(given).is_absolute():
                continue
            there = Path(started) / given
            # a relative hf is a folder only if it was one there; else a hub id (ORG/NAME)
            if key == "path" or there.is_dir():
                node[key] = str(there)


def load_dataset(cfg: Config, tokenizer, rows: pd.DataFrame):
    """The run's feature dataset, refused if it is not the content its rows were probed on."""
    params = asdict(cfg.feature)["params"]
    dataset = build_feature_dataset(
        cfg.feature.name, tokenizer, cache_dir=Path(cfg.paths.features), **params
    )
    recorded = set(rows["dataset_hash"].dropna()) if "dataset_hash" in rows else set()
    if recorded and recorded != {dataset.content_hash()}:
        raise FeatureDataError(
            f"the run was probed on dataset {sorted(recorded)}, this machine builds "
            f"{dataset.content_hash()}: its sources differ (see python -m probing.features hashes)"
        )
    return dataset


def test_sequences(cfg: Config, dataset, tokenizer, features: list[str]) -> dict[str, np.ndarray]:
    """{feature: the sequences of its test documents}, split as the run split them (its
    duplicate merging, test and val fractions, probe seed): the neuron was chosen on train and
    val, so loss measured on those texts would favour it. With no test split, every sequence."""
    duplicates = duplicates_of(cfg)
    merge_duplicates(dataset, tokenizer, duplicates["near_jaccard"], duplicates["mode"])
    probe = cfg.probe
    splits = make_splits(dataset, features, probe.test_fraction, probe.val_fraction, probe.seed)
    everything = np.arange(dataset.n_sequences)
    return {
        f: np.unique(dataset.example_seq[splits[f][2]]) if f in splits else everything
        for f in features
    }


def ablate_run(
    run_dir: str | Path,
    features: list[str] | None = None,
    top: int = 0,
    values: tuple[str, ...] = VALUES,
    n_random: int = 50,
    max_sequences: int = 128,
    seed: int = 0,
    min_val_f1: float = MIN_VAL_F1,
) -> pd.DataFrame:
    """Ablate the best k=1 neuron of each feature of a run (those reaching `min_val_f1`, or the
    named `features`); writes and returns the rows."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    results = read_results(run_dir)
    if results.empty:
        raise FeatureDataError(f"{run_dir} has no results rows")
    units, hook = model_units(results, cfg)
    targets = best_k1(units, features, top, min_val_f1)
    model = load_model(**asdict(cfg.model), seed=cfg.seed, copies=cfg.paths.models)
    dataset = load_dataset(cfg, model.tokenizer, results)
    label = unit_label(model.name, hook)
    rows = []
    made_by = provenance(model.device, cfg.seed, cfg.probe.seed)  # which code made the rows
    held_out = test_sequences(cfg, dataset, model.tokenizer, sorted(set(targets["feature"])))
    for target in targets.to_dict("records"):
        feature, layer, neuron = target["feature"], int(target["layer"]), int(target["support"][0])
        seqs = balanced_sequences(dataset, feature, max_sequences, seed, held_out[feature])
        ablator = Ablator(model, dataset, layer, seqs, cfg.model.batch_size, hook)
        for value in values:
            row = ablate_neuron(ablator, feature, neuron, value, n_random, seed)
            val_f1 = float(target.get("val_f1", float("nan")))
            rows.append(
                {
                    "model": label,
                    "f1_k1": float(target["f1"]),
                    "val_f1": val_f1,
                    **row,
                    **made_by,
                }
            )
            print(format_row(rows[-1]), flush=True)
    out = with_adjusted_p(pd.DataFrame(rows))
    rows = out.to_dict("records")
    with open(run_dir / ABLATION_FILE, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=float) + "\n")
    return out


def with_adjusted_p(rows: pd.DataFrame) -> pd.DataFrame:
    """`p_adjusted` and `p_specific_adjusted` (BH over the run's ablated neurons, per ablation
    value) and `significant` (of p_adjusted)."""
    if rows.empty or "p_value" not in rows:
        return rows
    out = rows
    for column, name in (("p_value", "p_adjusted"), ("p_specific", "p_specific_adjusted")):
        if column in rows:
            adjusted = pd.Series(np.nan, index=rows.index)
            for index in rows.groupby("value").groups.values():
                adjusted[index] = benjamini_hochberg(rows.loc[index, column].to_numpy())
            out = out.assign(**{name: adjusted})
    return out.assign(significant=out["p_adjusted"] <= ALPHA)


def format_row(row: dict) -> str:
    name = neuron_id(row["layer"], row["neuron"])
    return (
        f"{row['model']} {row['feature']:<24} {name:<9} {row['value']:<4}"
        f"  loss {row['delta_pos']:+.4f} with the feature, {row['delta_neg']:+.4f} without; "
        f"median random neuron {row['random_delta_pos_median']:+.4f} "
        f"({row['random_at_least']:.0%} of {row['n_random']} hurt as much, "
        f"p {row['p_value']:.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m probing.ablate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dir")
    parser.add_argument("--features", nargs="*", help="only these features (default: all)")
    parser.add_argument("--top", type=int, default=0, help="only the N best features by k=1 F1")
    parser.add_argument(
        "--min-val-f1",
        type=float,
        default=MIN_VAL_F1,
        help="ablate every feature whose best neuron reaches this validation F1 (default 0.9)",
    )
    parser.add_argument("--values", nargs="*", choices=VALUES, default=list(VALUES))
    parser.add_argument("--random", type=int, default=50, help="random neurons per ablation")
    parser.add_argument("--max-sequences", type=int, default=128, help="texts measured per feature")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    odd = below_least(args, {"top": 0, "random": 0, "max_sequences": 2})  # 2: with and without
    if not odd and not 0 <= args.min_val_f1 <= 1:
        odd = f"--min-val-f1 {args.min_val_f1} must be in [0, 1]"
    if odd:
        print(f"error: {odd}", file=sys.stderr)
        return 2
    try:
        rows = ablate_run(
            args.run_dir, args.features, args.top, tuple(args.values), args.random,
            args.max_sequences, args.seed, args.min_val_f1,
        )  # fmt: skip
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)
    print(f"ablation: {Path(args.run_dir) / ABLATION_FILE} ({len(rows)} rows)")
    return 0 if np.isfinite(rows["delta_pos"]).all() else 1


if __name__ == "__main__":
    sys.exit(main())

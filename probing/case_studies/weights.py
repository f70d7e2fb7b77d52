"""Weight statistics by depth: the weight side of superposition (analysis.superposition).

Per layer, from the model's MLP weights (TransformerLens W_in [d_model, d_mlp] and W_out
[d_mlp, d_model]): `out_interference`, the mean |cosine| between the output weights of two
neurons (sampled pairs): how crowded the neurons' write directions are in the residual stream;
`in_out_cosine`, the mean cosine between a neuron's input and output weights; and
`out_effective_dims`, the participation ratio of W_out's rows, (sum s^2)^2 / sum s^4 over its
singular values s: (tr C)^2 / tr C^2 of C = W_out^T W_out, the eigenvalues of the second moments
of the neurons' write vectors (how many residual dimensions its neurons really span).

`python -m probing.case_studies.weights MODEL... -o weights_by_layer.csv` loads each named model
as conf/model/<name>.yaml has it and writes one row per model and layer. `--runs RUN_DIR...`
(what analysis.superposition --weights asks for) loads instead the models those runs probed, each
from its run's own config (.hydra/config.yaml): a run made with overrides (model.config.*, seed=,
model.dtype) probed another model than conf/model's, and its weights are that model's.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from probing.errors import UserError

log = logging.getLogger(__name__)

CONF_MODELS = Path(__file__).resolve().parents[2] / "conf" / "model"
# Keys of a model config its weights do not depend on: where and in what batches it ran, and the
# sizes launch/estimate reads. Two runs that differ only in these probed the same model.
NOT_WEIGHTS = ("device", "batch_size", "n_layers", "d_mlp", "n_params", "slurm")


class ModelConflictError(UserError, ValueError):
    """Runs that probed different models under one name: their rows cannot be told apart."""


def weight_stats(W_in: np.ndarray, W_out: np.ndarray, pairs: int = 20000, seed: int = 0) -> dict:
    """One layer's statistics from W_in [d_model, d_mlp] and W_out [d_mlp, d_model]."""
    W_in, W_out = np.asarray(W_in, np.float64), np.asarray(W_out, np.float64)
    out_unit = W_out / np.maximum(np.linalg.norm(W_out, axis=1, keepdims=True), 1e-12)
    in_unit = W_in / np.maximum(np.linalg.norm(W_in, axis=0, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    d_mlp = W_out.shape[0]
    i, j = rng.integers(0, d_mlp, pairs), rng.integers(0, d_mlp, pairs)
    keep = i != j
    interference = np.abs((out_unit[i[keep]] * out_unit[j[keep]]).sum(1)).mean()
    s = np.linalg.svd(W_out, compute_uv=False)
    return {
        "out_interference": float(interference),
        "in_out_cosine": float((in_unit.T * out_unit).sum(1).mean()),
        "out_effective_dims": float((s**2).sum() ** 2 / (s**4).sum()),
        "out_norm_mean": float(np.linalg.norm(W_out, axis=1).mean()),
        "in_norm_mean": float(np.linalg.norm(W_in, axis=0).mean()),
    }


def model_weight_stats(bridge, name: str, seed: int = 0) -> pd.DataFrame:
    """weight_stats for every layer of a TransformerLens bridge (or HookedTransformer)."""
    W_in = bridge.W_in.detach().float().cpu().numpy()
    W_out = bridge.W_out.detach().float().cpu().numpy()
    n_layers = W_in.shape[0]
    rows = [
        {"model": name, "layer": layer, "rel_depth": layer / max(n_layers - 1, 1),
         **weight_stats(W_in[layer], W_out[layer], seed=seed)}
        for layer in range(n_layers)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def model_weights_table(models: list[str], seed: int = 0) -> pd.DataFrame:
    """weight_stats of each named model (conf/model/<name>.yaml, "name@revision" for a
    checkpoint), loaded with `seed`."""
    specs = {}
    for name in models:
        base, _, revision = name.partition("@")  # "name@revision": a checkpoint, as labelled
        specs[name] = {
            **conf_model(base),
            **({"revision": revision} if revision else {}),
            "seed": seed,
        }
    return weights_table(specs, seed)


def runs_weights_table(run_dirs: list[str | Path], seed: int = 0) -> pd.DataFrame:
    """weight_stats of the models `run_dirs` probed (runs_models), labelled by checkpoint."""
    return weights_table(runs_models(run_dirs), seed)


def weights_table(specs: dict[str, dict], seed: int = 0) -> pd.DataFrame:
    """weight_stats of {label: load_model arguments}, one model in memory at a time; `seed`
    samples the neuron pairs. GGUF-packaged models load from their dense copies, where the
    runs keep them by default (probing.gguf_copies)."""
    from probing import models
    from probing.gguf_copies import default_folder

    frames = []
    for label, spec in specs.items():
        model = models.load_model(**{"copies": default_folder(), **spec})
        frames.append(model_weight_stats(model.bridge, label, seed))
        del model
    return pd.concat(frames, ignore_index=True)


def conf_model(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml, resolved."""
    from omegaconf import OmegaConf

    # to_container is typed for any node; a model's YAML is a mapping
    conf = OmegaConf.load(CONF_MODELS / f"{name}.yaml")
    return cast(dict[str, Any], OmegaConf.to_container(conf, resolve=True))


@dataclass(frozen=True)
class ProbedModel:
    """What one run probed: its checkpoint ("name@revision", as superposition labels it) and
    the load_model arguments that give its weights; `recorded`: from the run's own config."""

    checkpoint: str
    spec: dict
    run_dir: Path
    recorded: bool


def runs_models(run_dirs: list[str | Path]) -> dict[str, dict]:
    """{checkpoint: load_model arguments} of the models the runs probed, each from its run's
    .hydra/config.yaml (conf/model/<name>.yaml, with a warning, where a run has none).

    Runs whose checkpoints agree but whose recorded model configs do not (model.config
    overrides, a seed of a random model, model.dtype) probed different models under one name.
    They are refused, not kept apart: analysis labels and de-duplicates rows by name and
    revision, so their probing rows are already pooled (or one run's replaced the other's), and
    weights kept apart would describe two models against one model's rows."""
    by_checkpoint: dict[str, list[ProbedModel]] = {}
    for run_dir in map(Path, run_dirs):
        for probed in probed_models(run_dir):
            by_checkpoint.setdefault(probed.checkpoint, []).append(probed)
    return {checkpoint: _one_model(found) for checkpoint, found in by_checkpoint.items()}


def _one_model(found: list[ProbedModel]) -> dict:
    """The load_model arguments of one checkpoint's runs: the recorded ones, which must agree;
    conf/model's only where no run recorded its config."""
    from probing.cli_checks import changed_keys

    recorded = [p for p in found if p.recorded]
    if not recorded:
        for p in found:
            log.warning(
                "%s has no readable .hydra/config.yaml: its weights are conf/model/%s.yaml's, "
                "which are not the model it probed if it ran with model overrides",
                p.run_dir, p.spec["name"],
            )  # fmt: skip
        return found[0].spec
    first, *others = recorded
    for other in others:
        changed = [k if k == "seed" else f"model.{k}" for k in changed_keys(first.spec, other.spec)]
        if changed:
            raise ModelConflictError(
                f"{first.run_dir} and {other.run_dir} probed different models under one name, "
                f"{first.checkpoint} (their .hydra/config.yaml differ in {', '.join(changed)}): "
                "their rows are pooled as one model; analyse them apart, or rerun one with "
                "its own model.name"
            )
    return first.spec


def probed_models(run_dir: Path) -> list[ProbedModel]:
    """The model (one per name and revision in its rows) `run_dir` probed: its config's model
    node, at the revision its rows were probed at, with the seed that loading it used."""
    from probing.results import RESULTS_FILE, read_results

    if not (run_dir / RESULTS_FILE).is_file():
        raise UserError(f"{run_dir} has no {RESULTS_FILE}: name each run's (job's) directory")
    rows = read_results(run_dir / RESULTS_FILE)
    revisions = rows.get("revision", pd.Series("", index=rows.index)).fillna("").astype(str)
    pairs = pd.DataFrame({"model": rows["model"].astype(str), "revision": revisions})
    recorded = _recorded_model(run_dir)
    out = []
    for name, revision in pairs.drop_duplicates().itertuples(index=False):
        spec = recorded or _conf_model_of(run_dir, name, rows)
        spec = {
            **spec,
            "revision": revision or spec.get("revision"),
            "dtype": _probed_dtype(spec, rows),
        }
        checkpoint = f"{name}@{revision}" if revision else name
        out.append(ProbedModel(checkpoint, spec, run_dir, recorded is not None))
    return out


def _recorded_model(run_dir: Path) -> dict | None:
    """load_model arguments from the run's .hydra/config.yaml, or None where it is missing or
    unreadable. The seed counts only for a random model: a checkpoint's weights ignore it."""
    import yaml

    from probing.case_studies.ablate import run_config

    try:
        cfg = run_config(run_dir)
    except (UserError, OSError, yaml.YAMLError):
        return None
    spec = {k: v for k, v in asdict(cfg.model).items() if k not in NOT_WEIGHTS}
    return {**spec, "seed": cfg.seed} if cfg.model.source == "random_gpt_neox" else spec


def _conf_model_of(run_dir: Path, name: str, rows: pd.DataFrame) -> dict:
    """conf/model/<name>.yaml, with the seed the rows record (a random model's draw)."""
    if not (CONF_MODELS / f"{name}.yaml").is_file():
        raise UserError(
            f"{run_dir} has no readable .hydra/config.yaml and there is no conf/model/{name}.yaml: "
            "its model cannot be loaded"
        )
    spec = {k: v for k, v in conf_model(name).items() if k not in NOT_WEIGHTS}
    seeds = rows["seed"].dropna() if "seed" in rows else pd.Series([], dtype=int)
    return {**spec, "seed": int(seeds.iloc[0])} if len(seeds) else spec


def _probed_dtype(spec: dict, rows: pd.DataFrame) -> str | None:
    """The dtype the run's model had: "auto" is bfloat16 on CUDA (models.resolve_dtype), so a run
    on a GPU probed bfloat16 weights wherever its weights are loaded again."""
    dtype = spec.get("dtype")
    devices = rows["device"].dropna().astype(str) if "device" in rows else pd.Series([], dtype=str)
    if dtype in (None, "auto") and len(devices) and devices.str.startswith("cuda").all():
        return "bfloat16"
    return dtype


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from probing.case_study_outputs import WEIGHTS_FILE
    from probing.errors import one_line_exit

    parser = argparse.ArgumentParser(
        prog="python -m probing.case_studies.weights", description=__doc__.split("\n")[0]
    )
    parser.add_argument("models", nargs="*", help="model config names (conf/model/<name>.yaml)")
    parser.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR",
                        help="instead: the models these runs probed, from their own configs")  # fmt: skip
    parser.add_argument("-o", "--out", default=WEIGHTS_FILE, help=f"CSV (default {WEIGHTS_FILE})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if bool(args.models) == bool(args.runs):
        print(
            "error: name models (conf/model/<name>.yaml) or --runs RUN_DIR..., one of the two",
            file=sys.stderr,
        )
        return 2
    missing = [m for m in args.models if not (CONF_MODELS / f"{m.split('@', 1)[0]}.yaml").is_file()]
    if missing:
        print(f"error: no model config conf/model/<name>.yaml for {missing}", file=sys.stderr)
        return 2
    try:
        if args.runs:
            table = runs_weights_table(args.runs, args.seed)
        else:
            table = model_weights_table(args.models, args.seed)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)
    print(f"written: {args.out} ({len(table)} layers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

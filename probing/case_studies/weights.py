"""Weight statistics by depth: the weight side of superposition (analysis.superposition).

Per layer, from the model's MLP weights (TransformerLens W_in [d_model, d_mlp] and W_out
[d_mlp, d_model]): `out_interference`, the mean |cosine| between the output weights of two
neurons (sampled pairs): how crowded the neurons' write directions are in the residual stream;
`in_out_cosine`, the mean cosine between a neuron's input and output weights; and
`out_effective_dims`, the participation ratio of W_out's singular values (how many residual
dimensions its neurons really span).

`python -m probing.case_studies.weights MODEL... -o weights_by_layer.csv` loads each model as the
runs load it (conf/model/<name>.yaml) and writes one row per model and layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

CONF_MODELS = Path(__file__).resolve().parents[2] / "conf" / "model"


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
        "out_effective_dims": float(s.sum() ** 2 / (s**2).sum()),
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
    """weight_stats of each named model (conf/model/<name>.yaml), loaded as the runs load it."""
    from omegaconf import OmegaConf

    from probing.models import load_model

    frames = []
    for name in models:
        base, _, revision = name.partition("@")  # "name@revision": a checkpoint, as labelled
        conf = CONF_MODELS / f"{base}.yaml"
        # to_container is typed for any node; a model's YAML is a mapping
        cfg = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(conf), resolve=True))
        model = load_model(**{**cfg, **({"revision": revision} if revision else {})}, seed=seed)
        frames.append(model_weight_stats(model.bridge, name, seed))
        del model
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from probing.case_study_outputs import WEIGHTS_FILE
    from probing.errors import one_line_exit

    parser = argparse.ArgumentParser(
        prog="python -m probing.case_studies.weights", description=__doc__.split("\n")[0]
    )
    parser.add_argument("models", nargs="+", help="model config names (conf/model/<name>.yaml)")
    parser.add_argument("-o", "--out", default=WEIGHTS_FILE, help=f"CSV (default {WEIGHTS_FILE})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    missing = [m for m in args.models if not (CONF_MODELS / f"{m.split('@', 1)[0]}.yaml").is_file()]
    if missing:
        print(f"error: no model config conf/model/<name>.yaml for {missing}", file=sys.stderr)
        return 2
    try:
        table = model_weights_table(args.models, args.seed)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)
    print(f"written: {args.out} ({len(table)} layers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

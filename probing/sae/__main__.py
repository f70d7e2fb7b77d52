"""python -m probing.sae train: a small top-k SAE for a model, offline, in SAELens's format.

    python -m probing.sae train model=smollm2-135m --site blocks.4.hook_resid_post \\
        --d-sae 4608 --k 32 --out saes/smollm2-135m-L4-resid

Then probe its latents beside the neurons of that layer:

    python -m probing.run hook=sae sae.path=saes/smollm2-135m-L4-resid feature=programming_language
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

DEFAULT_COLLECTIONS = ["programming_language", "natural_language", "text_source"]
MIN_TOKENS = 100  # a tenth is held out to measure the fit: fewer leaves too few to measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m probing.sae", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a top-k SAE on a site of a model")
    train.add_argument("overrides", nargs="*", help="config overrides: model=NAME model.dtype=...")
    train.add_argument("--site", required=True, help="TransformerLens hook name of the site")
    train.add_argument("--d-sae", type=int, required=True, help="number of latents")
    train.add_argument("--k", type=int, default=32, help="active latents per token")
    train.add_argument("--tokens", type=int, default=400_000, help="token activations read")
    train.add_argument("--epochs", type=int, default=4)
    train.add_argument("--batch-size", type=int, default=2048)
    train.add_argument("--lr", type=float, default=4e-4)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--collections",
        nargs="+",
        default=DEFAULT_COLLECTIONS,
        help="built-in feature collections whose texts are read (labels are never used)",
    )
    train.add_argument("--out", required=True, help="the SAE folder to write")
    args = parser.parse_args(argv)

    from probing.errors import below_least, one_line_exit
    from probing.sae.saved import SAEError, site_of

    try:
        site_of(args.site)
        if not 1 <= args.k <= args.d_sae:
            raise SAEError(f"--k {args.k} must be in 1..--d-sae ({args.d_sae})")
        odd = below_least(args, {"tokens": MIN_TOKENS, "batch_size": 1, "epochs": 0})
        if odd:
            raise SAEError(odd)
        if not (math.isfinite(args.lr) and args.lr > 0):
            raise SAEError(f"--lr {args.lr} must be a positive number")
        _check_collections(args.collections)
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SAEError(f"{out} is a file or not empty: choose another --out")
        above = next(p for p in out.absolute().parents if p.exists())
        if not out.exists() and not above.is_dir():  # else found when saving, after training
            raise SAEError(f"--out {out}: a part of the path is a file ({above})")
        report = _train(args, out)
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)
    print(json.dumps(report, indent=2))
    # the overrides that chose the model (model=..., model.dtype=...) choose it for the probe
    # too: a run of another model refuses the SAE
    probe = ["hook=sae", f"sae.path={out}", *args.overrides]
    print(f"SAE written to {out}; probe it with: python -m probing.run {shlex.join(probe)}")
    return 0


def _check_collections(names: list[str]) -> None:
    """Refuse an unknown collection before the model loads (an override written after
    --collections lands there too)."""
    from probing.features import COLLECTIONS
    from probing.sae.saved import SAEError

    for name in names:
        if "=" in name:
            raise SAEError(f"--collections {name}: overrides go before the options (model=...)")
        if name not in COLLECTIONS:
            raise SAEError(
                f"--collections {name}: no such collection (built in: {', '.join(sorted(COLLECTIONS))})"
            )


def _train(args, out: Path) -> dict:
    from dataclasses import asdict

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from probing.cli_checks import hydra_error_line
    from probing.config import validate_config
    from probing.errors import ConfigError
    from probing.features import build_feature_dataset
    from probing.models import load_model
    from probing.sae.saved import SAEError, site_of
    from probing.sae.train import TrainSpec, train_sae

    conf = Path(__file__).resolve().parents[2] / "conf"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose("config", overrides=["logger=none", *args.overrides])
    except HydraException as err:  # a typo'd key, an unknown group member
        raise ConfigError(f"invalid config: {hydra_error_line(err)}") from None
    finally:
        GlobalHydra.instance().clear()
    config = validate_config(cfg)
    model = load_model(**asdict(config.model), seed=config.seed, copies=config.paths.models)
    if site_of(args.site).layer >= model.n_layers:
        raise SAEError(f"{args.site}: {model.name} has {model.n_layers} layers")
    datasets = [
        build_feature_dataset(name, model.tokenizer, cache_dir=Path(config.paths.features))
        for name in args.collections
    ]
    spec = TrainSpec(
        args.site, args.d_sae, args.k, args.tokens, args.epochs, args.batch_size, args.lr, args.seed
    )
    t0 = time.perf_counter()
    report = train_sae(model, datasets, spec, out, args.collections)
    return {**report, "total_seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    sys.exit(main())

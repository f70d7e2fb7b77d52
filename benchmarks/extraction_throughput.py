"""Tokens per second of activation extraction, by model dtype, through our extract path.

    python -m benchmarks.extraction_throughput [--model smollm2-135m] [--batches 3] [--threads N]

Runs the real `extract_activations` (all layers hooked, reduced in the hook, written to a zarr
store in a temporary folder) on random token windows, once per dtype, in one process so the
figures compare as ratios. Timings on a shared machine are noisy: read the ratio, not the rate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks.extraction_overhead import random_windows
from probing.activations import extract_activations, open_store
from probing.models import load_model

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        spec = OmegaConf.to_container(compose("config", [f"model={args.model}"]).model)
    rates = {}
    for dtype in args.dtypes.split(","):
        model = load_model(**{**spec, "dtype": dtype})
        ds = random_windows(args.batch_size * args.batches, args.seq_len, len(model.tokenizer))
        layers = list(range(model.n_layers))
        warm = random_windows(args.batch_size, args.seq_len, len(model.tokenizer), seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            extract_activations(
                model,
                warm,
                open_store(tmp, model, warm, "float32"),
                layers,
                batch_size=args.batch_size,
                progress=False,
            )
            store = open_store(tmp, model, ds, "float32")
            t0 = time.perf_counter()
            extract_activations(
                model, ds, store, layers, batch_size=args.batch_size, progress=False
            )
            elapsed = time.perf_counter() - t0
        rates[dtype] = ds.n_sequences * args.seq_len / elapsed
        print(
            f"{args.model} {dtype:>9}: {rates[dtype]:8.0f} tok/s  ({elapsed:.1f}s, "
            f"{model.n_layers} layers, threads={torch.get_num_threads()})"
        )
        del model
    base = args.dtypes.split(",")[0]
    for dtype, rate in rates.items():
        print(f"ratio {dtype}/{base}: {rate / rates[base]:.2f}")


if __name__ == "__main__":
    main()

"""Tokens per second of activation extraction, by model dtype, through our extract path.

    python -m benchmarks.extraction_throughput [--model smollm2-135m] [--batches 3] [--threads N]

Runs the real `extract_activations` (all layers hooked, reduced in the hook, written to a zarr
store in a temporary folder) on random token windows, one model per dtype in one process, timed
by benchmarks.harness (warmed, alternated, fastest of --repeats). Read the ratio, not the rate.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks.extraction_overhead import extract, random_windows
from benchmarks.harness import Session, compare
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        spec = OmegaConf.to_container(compose("config", [f"model={args.model}"]).model)
    session = Session("extraction_throughput")
    models, sides = {}, {}
    for dtype in args.dtypes.split(","):
        models[dtype] = model = load_model(**{**spec, "dtype": dtype})
        ds = random_windows(args.batch_size * args.batches, args.seq_len, len(model.tokenizer))
        layers = list(range(model.n_layers))

        def run(model=model, ds=ds, layers=layers):
            extract(model, ds, args.batch_size, layers, "float32")

        sides[dtype] = run
    timings = compare(sides, repeats=args.repeats)
    tokens = args.batch_size * args.batches * args.seq_len
    base, *others = list(sides)
    rate = {dtype: tokens / t.best for dtype, t in timings.items()}
    ratios = {f"{dtype}/{base}": rate[dtype] / rate[base] for dtype in others}
    n_layers = next(iter(models.values())).n_layers
    session.record(
        key=f"extraction_throughput-{args.model}",
        title=f"extraction by model dtype: {args.model}, all {n_layers} layers, store float32",
        command="python -m benchmarks.extraction_throughput " + shlex.join(sys.argv[1:]),
        headline=", ".join(f"{d} {rate[d]:.0f} tok/s" for d in sides)
        + "".join(f"; {name} {value:.2f}x" for name, value in ratios.items()),
        timings=timings,
        ratios=ratios,
        facts={
            "model": args.model,
            "batch_size": args.batch_size,
            "batches": args.batches,
            "seq_len": args.seq_len,
        },  # fmt: skip
        units={dtype: tokens for dtype in sides},
        save=not args.no_record,
    )


if __name__ == "__main__":
    main()

"""Extraction against its floor: the bare forward pass of the same model on the same batches.

    python -m benchmarks.extraction_overhead model=tiny-pythia --sequences 512
    python -m benchmarks.extraction_overhead model=smollm2-135m model.dtype=bfloat16
    python -m benchmarks.extraction_overhead model=pythia-410m model.source=random_gpt_neox \\
        model.dtype=bfloat16 --sequences 2048           # a Pythia-shaped model, no weights

Both sides run the same batches (batch_size from the model config, the same token windows) up
to the same last layer (`stop_at_layer`); extraction adds the hooks' reductions, the host
copies, the checks and the zarr writes of every layer. Each side runs --repeats times,
alternating, and the fastest run of each is compared (the first run also warms up). Prints
tokens/s of both and their ratio (extraction / bare; 1.0 is no overhead), in one process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from probing.activations import extract_activations, open_store
from probing.features.dataset import FeatureDataset
from probing.models import load_model

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def random_windows(n_seq: int, seq_len: int, vocab: int, seed: int = 0) -> FeatureDataset:
    rng = np.random.default_rng(seed)
    return FeatureDataset(
        name="bench",
        feature_names=["x"],
        tokens=rng.integers(100, vocab, (n_seq, seq_len)),
        lengths=np.full(n_seq, seq_len),
        example_seq=np.arange(n_seq),
        example_pos=-np.ones(n_seq),
        labels=np.arange(n_seq)[:, None] % 2,
        groups=np.arange(n_seq),
        aggregation="mean",
    )


def bare_forward(model, dataset: FeatureDataset, batch_size: int, stop_at_layer: int) -> None:
    """The floor: the same batches through the same layers, nothing read out."""
    with torch.inference_mode():
        for start in range(0, dataset.n_sequences, batch_size):
            tokens = torch.from_numpy(dataset.tokens[start : start + batch_size]).long()
            model.bridge.run_with_hooks(
                tokens.to(model.device), fwd_hooks=[], stop_at_layer=stop_at_layer
            )
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def extract(model, dataset: FeatureDataset, batch_size: int, layers: list[int], dtype: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(tmp, model, dataset, dtype)
        extract_activations(model, dataset, store, layers, batch_size=batch_size, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="hydra overrides, e.g. model=tiny-pythia")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store-dtype", default="float16")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", args.overrides)
    spec = OmegaConf.to_container(cfg.model, resolve=True)
    model = load_model(**spec)
    batch_size = int(cfg.model.batch_size)
    dataset = random_windows(args.sequences, args.seq_len, len(model.tokenizer))
    layers = list(range(model.n_layers))
    tokens = dataset.n_sequences * args.seq_len
    times = {"bare": [], "extraction": []}
    for _ in range(args.repeats):
        for side in times:
            start = time.perf_counter()
            if side == "bare":
                bare_forward(model, dataset, batch_size, model.n_layers)
            else:
                extract(model, dataset, batch_size, layers, args.store_dtype)
            times[side].append(time.perf_counter() - start)
    bare, extraction = min(times["bare"]), min(times["extraction"])
    print(
        f"{model.name} ({model.n_layers} layers, d_mlp {model.d_mlp}, {model.dtype}, "
        f"{model.device}, torch threads {torch.get_num_threads()}), {dataset.n_sequences} x "
        f"{args.seq_len} tokens, batch {batch_size}, store {args.store_dtype}"
    )
    print(f"bare forward: {tokens / bare:10.0f} tok/s  ({bare:.2f} s)")
    print(f"extraction:   {tokens / extraction:10.0f} tok/s  ({extraction:.2f} s)")
    print(f"ratio extraction/bare: {bare / extraction:.2f}  (overhead {extraction - bare:.2f} s, "
          f"{(extraction - bare) / bare:.0%} of the forward)")  # fmt: skip


if __name__ == "__main__":
    main()

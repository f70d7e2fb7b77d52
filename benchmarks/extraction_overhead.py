"""Extraction against its floor: the Hugging Face model's own forward through the last layer.

    python -m benchmarks.extraction_overhead model=smollm2-135m model.dtype=bfloat16
    python -m benchmarks.extraction_overhead model=tiny-pythia --sequences 2048
    python -m benchmarks.extraction_overhead model=pythia-410m model.source=random_gpt_neox \\
        model.dtype=bfloat16 --sequences 2048           # a Pythia-shaped model, no weights
    ... --bridge     # also the TransformerLens bridge's hook-free forward (a second model copy)

The floor is what a user cannot avoid paying: the plain HF decoder stack on the same batches
(batch_size from the model config, the same token windows), stopped after the last requested
layer (no later layers, final norm or LM head), no hook read. Extraction is the whole of
extract_activations: the hooks' reductions, the host copies, the checks and the float16 zarr
writes of every layer. Timed by benchmarks.harness (warm, alternated, fastest of --repeats);
prints tokens/s of each side and extraction / floor (1.0 is no overhead), and writes a record.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks.harness import Session, compare
from probing.activations import extract_activations, open_store
from probing.features.core.dataset import FeatureDataset
from probing.model_sites import forward_through
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


def batches(model, dataset: FeatureDataset, batch_size: int):
    for start in range(0, dataset.n_sequences, batch_size):
        yield torch.from_numpy(dataset.tokens[start : start + batch_size]).long().to(model.device)


def hf_forward(model, dataset: FeatureDataset, batch_size: int, last_layer: int) -> None:
    """The floor: the plain HF layers through `last_layer`, nothing read out."""
    with torch.inference_mode():
        for tokens in batches(model, dataset, batch_size):
            forward_through(model.sites, tokens, last_layer)


def bridge_forward(bridged, dataset: FeatureDataset, batch_size: int, stop_at: int) -> None:
    """TransformerLens's bridge without hooks: the old floor, which carries its own overhead."""
    with torch.inference_mode():
        for tokens in batches(bridged, dataset, batch_size):
            bridged.bridge.run_with_hooks(tokens, fwd_hooks=[], stop_at_layer=stop_at)


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
    parser.add_argument("--bridge", action="store_true", help="also time the TL bridge's forward")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", args.overrides)
    spec = OmegaConf.to_container(cfg.model, resolve=True)
    model = load_model(**spec)
    if model.sites is None:
        sys.exit(f"{model.name}: no known HF layout, extraction reads through the bridge")
    session = Session("extraction_overhead", model.device)
    batch_size = int(cfg.model.batch_size)
    dataset = random_windows(args.sequences, args.seq_len, len(model.tokenizer))
    layers = list(range(model.n_layers))
    sides = {
        "hf_forward": lambda: hf_forward(model, dataset, batch_size, max(layers)),
        "extraction": lambda: extract(model, dataset, batch_size, layers, args.store_dtype),
    }
    if args.bridge:
        bridged = load_model(**spec)
        sides["bridge_forward"] = lambda: bridge_forward(bridged, dataset, batch_size, len(layers))
    timings = compare(sides, repeats=args.repeats)
    tokens = dataset.n_sequences * args.seq_len
    ratio = timings["hf_forward"].best / timings["extraction"].best
    ratios = {"extraction/hf_forward": ratio}
    if args.bridge:
        ratios["bridge_forward/hf_forward"] = (
            timings["hf_forward"].best / timings["bridge_forward"].best
        )
    dtype = str(model.dtype).removeprefix("torch.")
    shape = f"{model.n_layers} layers, d_model {model.d_model}, d_mlp {model.d_mlp}"
    rate = {name: tokens / t.best for name, t in timings.items()}
    session.record(
        key=f"extraction_overhead-{model.name}-{model.d_model}-{dtype}-{model.device.type}",
        title=f"extraction vs the HF forward through the last layer: {model.name} ({shape})",
        command="python -m benchmarks.extraction_overhead " + shlex.join(sys.argv[1:]),
        headline=(
            f"{ratio:.2f}x: {rate['extraction']:.0f} vs {rate['hf_forward']:.0f} tok/s, all "
            f"{model.n_layers} layers, {dtype}, store {args.store_dtype}"
            + (
                f"; the TL bridge's own forward {ratios['bridge_forward/hf_forward']:.2f}x"
                if args.bridge
                else ""
            )  # fmt: skip
        ),
        timings=timings,
        ratios=ratios,
        facts={
            "model": model.name,
            "shape": shape,
            "dtype": dtype,
            "sequences": args.sequences,
            "seq_len": args.seq_len,
            "batch_size": batch_size,
            "store": args.store_dtype,
            "reader": model.reader,
        },  # fmt: skip
        units={name: tokens for name in timings},
        save=not args.no_record,
    )


if __name__ == "__main__":
    main()

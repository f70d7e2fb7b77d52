"""Run the model over a feature dataset and fill an ActivationStore, resumably.

Activations are reduced inside the hook (gather at the probed token, or mean / max over the
real tokens), so memory holds [batch, width] per layer, never [batch, pos, width] for all layers.
The forward pass stops after the last layer still missing (`stop_at_layer`).

What is read (`hook`): the MLP neurons after the nonlinearity (mlp_post, the paper's; width
d_mlp), or a d_model-wide vector: the MLP's output (mlp_out), the attention's output (attn_out)
or the residual stream after the block (resid_post). A "neuron" of the latter three is a basis
direction of the residual stream. With an SAE (hook "sae"), its site is read and encoded token by
token in the hook, before the reduction (the mean of latents, not the latents of a mean): the
store holds d_sae latents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from probing.activations.lock import DEFAULT_TIMEOUT_S, store_lock
from probing.activations.store import (
    CHUNK_EXAMPLES,
    FORMAT_VERSION,
    HOOKS,
    ActivationStore,
    store_identity,
)
from probing.errors import UserError
from probing.features.core.dataset import FeatureDataset
from probing.model_sites import run_with_site_hooks
from probing.models import LoadedModel
from probing.sae.saved import SparseAutoencoder

log = logging.getLogger(__name__)

HOOK = HOOKS["mlp_post"]


def hook_width(model: LoadedModel, hook: str, sae: SparseAutoencoder | None = None) -> int:
    """Columns of a layer's activations at `hook`: d_mlp for the neurons, d_sae for an SAE's
    latents, else d_model."""
    if hook == "sae" and sae is not None:
        return sae.cfg.d_sae
    if hook not in HOOKS:
        raise ValueError(f"hook {hook!r} is not one of {sorted(HOOKS)}")
    return model.d_mlp if hook == "mlp_post" else model.d_model


class ActivationRangeError(UserError, OverflowError):
    """Activations the store's dtype cannot hold (float16 overflow): never clipped."""


def store_metadata(
    model: LoadedModel,
    dataset: FeatureDataset,
    dtype: str,
    hook: str = "mlp_post",
    sae: SparseAutoencoder | None = None,
) -> dict:
    if hook == "sae":
        if sae is None:
            raise ValueError("hook='sae' needs the SAE")
        return {
            **store_metadata(model, dataset, dtype, sae.cfg.site.hook),
            "hook": f"sae:{sae.cfg.hook_name}",
            "sae": sae.digest,  # another SAE (other weights) never reuses this store
            "sae_architecture": sae.cfg.architecture,
            "d_mlp": sae.cfg.d_sae,
        }
    return {
        "model": model.name,
        "revision": model.revision,
        "model_config_hash": model.config_hash,
        "model_dtype": str(model.dtype).removeprefix("torch."),
        "dataset": dataset.name,
        "dataset_hash": dataset.content_hash(),
        "hook": HOOKS[hook],
        "reader": model.reader,
        "aggregation": dataset.aggregation,
        "dtype": dtype,
        "d_mlp": hook_width(model, hook),  # the store's width (d_model for a residual hook)
        "n_examples": dataset.n_examples,
        "n_sequences": dataset.n_sequences,
        "sae": None,
    }


def identity_digest(metadata: dict) -> str:
    """A short hash of everything that determines a store's values (IDENTITY_KEYS)."""
    identity = store_identity(metadata)
    identity.setdefault("format_version", FORMAT_VERSION)
    identity["format_version"] = identity["format_version"] or FORMAT_VERSION
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def store_path(root: str | Path, metadata: dict) -> Path:
    """One store per identity: another revision, model config, model or store dtype, hook or
    dataset gets its own folder, so a sweep over checkpoints or precisions never collides."""
    name = f"{metadata['dataset']}-{metadata['dataset_hash']}-{identity_digest(metadata)}.zarr"
    return Path(root) / metadata["model"] / name


def open_store(
    root: str | Path,
    model: LoadedModel,
    dataset: FeatureDataset,
    dtype: str = "float16",
    hook: str = "mlp_post",
    sae: SparseAutoencoder | None = None,
) -> ActivationStore:
    metadata = store_metadata(model, dataset, dtype, hook, sae)
    return ActivationStore(store_path(root, metadata), metadata)


def reduce_batch(
    acts: torch.Tensor,  # [batch, pos, width]
    lengths: torch.Tensor,  # [batch]
    aggregation: str,
    rows: torch.Tensor | None = None,  # [n_ex] batch row of each example (token aggregation)
    positions: torch.Tensor | None = None,  # [n_ex]
    short_rows: list[tuple[int, int]] | None = None,  # (row, length) of rows shorter than pos
    encode=None,  # an SAE's encoder, applied to each token before the reduction
) -> torch.Tensor:
    """[n_examples, width] in float32: the probed token, or mean / max over real tokens.

    Sums are float32 (_sum_float32), and only the rows shorter
    than the batch (`short_rows`, known on the host before the forward pass, so no device sync)
    are reduced apart: a mask over [batch, pos, width] cost ~10% of a small model's forward.
    """
    if aggregation == "token":
        picked = acts[rows, positions]
        return (encode(picked) if encode is not None else picked).float()
    if encode is not None:
        acts = encode(acts)
    if short_rows is None:
        short_rows = [(i, n) for i, n in enumerate(lengths.tolist()) if n < acts.shape[1]]
    if aggregation == "mean":
        out = _sum_float32(acts, 1)
        for row, n in short_rows:
            out[row] = _sum_float32(acts[row, :n], 0)
        return out / lengths[:, None].float()
    if aggregation == "max":
        out = acts.amax(1)
        for row, n in short_rows:
            out[row] = acts[row, :n].amax(0)
        return out.float()
    raise ValueError(f"unknown aggregation {aggregation!r}")


# Rows of a batch converted to float32 at a time on the CPU: the copy of a few rows stays in
# cache (4 rows of SmolLM2's [16, 128, 1536] bfloat16 batch: 0.47 ms a layer, all 16: 0.74 ms,
# sum(dtype=float32): 0.76 ms; fastest of 30, measured).
CPU_SUM_ROWS = 4


def _sum_float32(values: torch.Tensor, dim: int) -> torch.Tensor:
    """A float32 sum over `dim`: on an accelerator accumulated in float32 by the kernel; on the
    CPU a float32 copy of CPU_SUM_ROWS rows at a time, summed."""
    if values.device.type != "cpu":
        return values.sum(dim, dtype=torch.float32)
    if dim != 1 or values.dim() != 3 or values.dtype == torch.float32:
        return values.float().sum(dim)
    out = torch.empty((values.shape[0], values.shape[2]), dtype=torch.float32)
    for start in range(0, values.shape[0], CPU_SUM_ROWS):
        rows = slice(start, start + CPU_SUM_ROWS)
        torch.sum(values[rows].float(), 1, out=out[rows])
    return out


def extract_activations(
    model: LoadedModel,
    dataset: FeatureDataset,
    store: ActivationStore,
    layers: list[int],
    batch_size: int = 16,
    chunk_sequences: int | None = None,
    progress: bool = True,
    lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    sae: SparseAutoencoder | None = None,
) -> list[int]:
    """Fill `store` for `layers` (with `sae`: its latents, on the model's device); returns the
    layers that were computed (not already complete). A chunk of `chunk_sequences` (None:
    auto_chunk_sequences) is forward-passed, then written; a killed run redoes one chunk.

    Jobs sharing the store take turns through a lock next to it: one extracts, the others wait
    and then find the layers complete, so no forward pass is ever run twice.
    """
    bad = [layer for layer in layers if not 0 <= layer < model.n_layers]
    if bad:
        raise ValueError(f"layers {bad} out of range: {model.name} has {model.n_layers} layers")
    damaged = _damaged_layers(store, layers)
    if not damaged and not store.missing_layers(layers):
        return []  # all reused, without waiting on a job that extracts other layers
    with store_lock(store.path, timeout_s=lock_timeout_s):
        for damage in _damaged_layers(store, layers):  # re-checked: another job may have mended it
            log.warning(
                "activation store %s: layer %d damaged at %s (%s); re-extracting it from "
                "sequence %d",
                store.path,
                damage.layer,
                damage.file,
                damage.reason,
                damage.seq_start,
            )
            store.rewind(damage)
        pending = store.missing_layers(layers)  # another job may have finished them meanwhile
        if not pending:
            log.info(
                "%s: layers %s were extracted by another job; reusing them", store.path, layers
            )
            return []
        if chunk_sequences is None:
            chunk_sequences = auto_chunk_sequences(
                dataset, len(pending), store.d_mlp, store.chunk_examples
            )
        _extract(model, dataset, store, pending, batch_size, chunk_sequences, progress, sae)
    return pending


# The float32 activations of one chunk, all its layers together (two chunks are in memory: one
# being written, one being computed): with SmolLM2's 30 layers it is its 128 sequences, with
# tiny-pythia's 2 narrow layers 8192, where 128 cost 16 writes whose zarr round trips took a
# fifth of the forward pass (measured).
CHUNK_BYTES = 16 * 2**20


def auto_chunk_sequences(
    dataset: FeatureDataset, n_layers: int, width: int, rows: int = CHUNK_EXAMPLES
) -> int:
    """The sequences whose activations at `n_layers` layers of `width` make about CHUNK_BYTES:
    a multiple of the store's chunk `rows` (a sequence-level write then owns whole zarr
    chunks), at least `rows`. The same layers ask for the same size, so a resumed run
    repeats an uninterrupted one's chunks."""
    per_example = 4 * n_layers * width
    per_sequence = per_example * max(dataset.n_examples / max(dataset.n_sequences, 1), 1.0)
    fits = int(CHUNK_BYTES // per_sequence) // rows * rows
    return max(fits, rows)


def _damaged_layers(store: ActivationStore, layers: list[int]) -> list:
    """Complete layers whose files no longer hold what was written (see ActivationStore.damage)."""
    found = []
    for layer in layers:
        if store.is_complete(layer):
            damage = store.damage(layer)
            if damage is not None:
                found.append(damage)
    return found


def _extract(
    model: LoadedModel,
    dataset: FeatureDataset,
    store: ActivationStore,
    pending: list[int],
    batch_size: int,
    chunk_sequences: int,
    progress: bool,
    sae: SparseAutoencoder | None = None,
) -> None:
    if store.metadata.get("sae") != (sae.digest if sae is not None else None):
        raise ValueError(f"{store.path} is not the store of this SAE (sae {store.metadata['sae']})")
    if store.metadata.get("reader", model.reader) != model.reader:
        raise RuntimeError(
            f"{store.path} is read through {store.metadata['reader']} but the model now reads "
            f"through {model.reader} (its TransformerLens bridge was booted after the store was "
            "opened): open the store again"
        )
    # Chunks always start at multiples of chunk_sequences, so a resumed run repeats exactly the
    # batches of an uninterrupted one and writes identical values.
    start = resume_point(store, pending, chunk_sequences)
    n_seq = dataset.n_sequences
    if start:
        log.info("%s: resuming at sequence %d of %d", store.path, start, n_seq)
    bar = tqdm(
        total=n_seq,
        initial=start,
        desc=f"{model.name} {dataset.name} L{min(pending)}-{max(pending)}",
        unit="seq",
        disable=not progress,
    )
    with torch.inference_mode(), ChunkWriter(store) as writer:
        for chunk_start in range(start, n_seq, chunk_sequences):
            chunk_stop = min(chunk_start + chunk_sequences, n_seq)
            parts = _forward_chunk(
                model, dataset, pending, chunk_start, chunk_stop, batch_size, bar, store, sae
            )
            ex_start, _ = dataset.examples_of(chunk_start, chunk_stop)
            writer.submit(HostCopy(parts, store.dtype), ex_start, chunk_start, chunk_stop)
    bar.close()
    for layer in pending:
        if not store.is_complete(layer):  # the last write completes a layer
            store.mark_complete(layer)


class HostCopy:
    """A chunk's {layer: [n, width]} float32 device tensors on their way to the host, cast to
    the store's dtype with each layer's largest |value| (NaN if any is NaN) beside it, so that
    the writer can refuse what the dtype cannot hold. Every torch op is here, on the calling
    thread: a torch op on the writer thread starts a second OpenMP team that competes with the
    forward pass's (SmolLM2 on 2 cores: the chunk computed during a write took 4.7 s instead of
    3.5; measured). On CUDA the copy goes into pinned memory without blocking (the next chunk's
    forward pass is queued behind it, not behind a wait); on the CPU it is a view. `arrays()`
    waits for the copy, in the writer."""

    def __init__(self, parts: dict[int, torch.Tensor], dtype: np.dtype):
        # dtype: float16 or float32 (ActivationStore refuses any other)
        self._event = None
        self.layers = list(parts)
        cast = [t.to(getattr(torch, dtype.name)) for t in parts.values()]
        peaks = torch.stack(
            [t.abs().amax() if t.numel() else t.new_zeros(()) for t in parts.values()]
        )
        first = cast[0] if cast else None
        if first is not None and first.device.type == "cuda":
            pinned = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in [*cast, peaks]]
            for host, t in zip(pinned, [*cast, peaks], strict=True):
                host.copy_(t, non_blocking=True)
            *cast, peaks = pinned
            self._event = torch.cuda.Event()
            self._event.record()
        self.cast, self.peaks = [t.cpu() for t in cast], peaks.cpu()

    def arrays(self) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        """{layer: values in the store's dtype}, {layer: largest |value| before the cast}."""
        if self._event is not None:
            self._event.synchronize()
        peaks = self.peaks.numpy().tolist()
        return (
            {layer: t.numpy() for layer, t in zip(self.layers, self.cast, strict=True)},
            dict(zip(self.layers, peaks, strict=True)),
        )


class ChunkWriter:
    """Checks and writes a chunk's layers on one background thread while the model runs the
    next chunk. One chunk in flight at most: memory stays two chunks, the store's writes stay in
    order (one writer), and a refusal (NaN, float16 overflow) or a disk error surfaces at the
    next submit or at exit; a refused chunk is never written, so its layers never complete. The
    thread runs numpy and zarr only (see HostCopy), so on the CPU it takes the disk's waits out
    of the forward pass without competing for its cores.
    """

    def __init__(self, store: ActivationStore):
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._pending: Future | None = None

    def submit(self, copy: HostCopy, ex_start: int, seq_start: int, seq_stop: int) -> None:
        self._wait()
        self._pending = self._pool.submit(self._write, copy, ex_start, seq_start, seq_stop)

    def _write(self, copy: HostCopy, ex_start: int, seq_start: int, seq_stop: int) -> None:
        values, peaks = copy.arrays()
        for layer, peak in peaks.items():
            _check_range(peak, self.store, layer)
        self.store.write_layers(values, ex_start, n_seq_done=seq_stop, seq_start=seq_start)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self._wait()
            elif self._pending is not None:  # an error in the forward pass: let the write finish
                self._pending.exception()
        finally:
            self._pool.shutdown(wait=True)


def resume_point(store: ActivationStore, layers: list[int], chunk_sequences: int) -> int:
    """Where a (resumed) extraction starts: the last sequence, at or before every layer's
    progress, that is a block boundary of every layer and a multiple of chunk_sequences. So a
    rerun with another chunk size leaves no gap, and batches repeat an uninterrupted run's."""
    common = set.intersection(*(store.boundaries(layer) for layer in layers))
    limit = min(store.progress(layer) for layer in layers)
    return max(b for b in common if b <= limit and b % chunk_sequences == 0)


def _forward_chunk(
    model, dataset, layers, chunk_start, chunk_stop, batch_size, bar, store, sae=None
):
    """{layer: [n_examples of the chunk, width] float32 tensor on the model's device}.

    The hooks reduce on the device and write into outputs allocated once per chunk, so nothing
    waits for the host during the forward pass (a `.cpu()` per layer and batch stalled a GPU
    every layer). On the CPU, allocating once also keeps small per-batch arrays from pinning the
    allocator's heap between the forward pass's large temporaries (the process then held 4-6 GB
    for a 1 GB model). NaN marks a row no hook filled, which the writer refuses.
    """
    chunk_ex_start, chunk_ex_stop = dataset.examples_of(chunk_start, chunk_stop)
    width = int(store.metadata["d_mlp"])
    hook_name = sae.cfg.site.hook if sae is not None else _hook_key(store.metadata["hook"])
    encode = sae.encode if sae is not None else None
    parts = {
        layer: torch.full(
            (chunk_ex_stop - chunk_ex_start, width), float("nan"), device=model.device
        )
        for layer in layers
    }
    for b_start in range(chunk_start, chunk_stop, batch_size):
        b_stop = min(b_start + batch_size, chunk_stop)
        lengths = dataset.lengths[b_start:b_stop]
        tokens = torch.from_numpy(dataset.tokens[b_start:b_stop, : int(lengths.max())]).long()
        ex_start, ex_stop = dataset.examples_of(b_start, b_stop)
        rows = torch.from_numpy(dataset.example_seq[ex_start:ex_stop] - b_start).long()
        positions = torch.from_numpy(dataset.example_pos[ex_start:ex_stop]).long()
        lengths_t = torch.from_numpy(lengths).long().to(model.device)
        rows, positions = rows.to(model.device), positions.to(model.device)
        out = slice(ex_start - chunk_ex_start, ex_stop - chunk_ex_start)
        longest = int(lengths.max())
        short = [(i, int(n)) for i, n in enumerate(lengths) if n < longest]

        def read(layer, acts, _l=lengths_t, _r=rows, _p=positions, _out=out, _s=short):
            parts[layer][_out] = reduce_batch(acts, _l, dataset.aggregation, _r, _p, _s, encode)

        _run_layers(model, tokens.to(model.device), hook_name, layers, read)
        bar.update(b_stop - b_start)
    return parts


def _hook_key(template: str) -> str:
    """mlp_post for "blocks.{layer}.mlp.hook_post" (the store names its hook by template)."""
    return next(key for key, value in HOOKS.items() if value == template)


def _run_layers(model: LoadedModel, tokens: torch.Tensor, hook: str, layers: list[int], read):
    """One batch up to max(layers), `read(layer, acts [batch, pos, width])` at each layer: with
    torch hooks on the HF modules, or through the bridge where the model has no known sites."""
    if model.sites is not None:
        run_with_site_hooks(model.sites, tokens, hook, layers, read)
        return

    def bridge_hook(acts, hook):
        read(int(hook.name.split(".")[1]), acts)

    model.bridge.run_with_hooks(
        tokens,
        fwd_hooks=[(HOOKS[hook].format(layer=layer), bridge_hook) for layer in layers],
        stop_at_layer=max(layers) + 1,
    )


def _check_range(peak: float, store: ActivationStore, layer: int) -> None:
    """Refuse a layer whose largest |value| (`peak`, from before the cast) the store's dtype
    cannot hold, or that is not finite: nothing is silently lost or clipped."""
    if not math.isfinite(peak):
        raise FloatingPointError(f"non-finite activations at layer {layer} for {store.path}")
    if peak > float(np.finfo(store.dtype).max):
        raise ActivationRangeError(
            f"layer {layer} has activations up to {peak:.3g}, beyond {store.dtype} range: "
            "set store.dtype=float32"
        )

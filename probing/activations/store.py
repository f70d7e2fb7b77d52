"""ActivationStore: a zarr v3 group of MLP activations for one model and one feature dataset.

Layout: one array per layer, `layer_{l}` of shape [n_examples, d_mlp], chunked along examples.
The group's attributes hold the metadata that produced it (model, revision, model config and
dtype, dataset hash, hook, aggregation, store dtype...); opening a store with different identity
is an error, never a reuse (and `store_path` gives each identity its own folder).

Nothing is read back wrong:
- each write is a block of whole sequences; its CRC-32 is recorded in the layer's attributes
  after the data is on disk (fsync), together with the progress (`n_seq_done`);
- unwritten rows are NaN (the fill value), never zeros;
- `damage(layer)` re-reads a layer and names the first block whose bytes, shape or dtype differ
  from what was written (a deleted, truncated, garbled or swapped chunk file, edited metadata);
  `rewind(layer, ...)` then moves the layer's progress back so that extraction redoes it;
- `read` checks the same and raises StoreCorruptError instead of returning bad numbers.
A run that dies resumes from the last finished block; a later run that asks for more layers only
computes the missing ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import zarr
from zarr.api import asynchronous as zarr_async
from zarr.core.array import AsyncArray

# zarr's own bridge from its synchronous API to its event loop (zarr.Array uses it throughout)
from zarr.core.sync import sync

from probing.errors import UserError

if TYPE_CHECKING:
    from typing_extensions import Buffer

log = logging.getLogger(__name__)

# 2: NaN fill, per-block checksums, identity includes model config and dtype; 3: and the reader
# (HF torch hooks or the TransformerLens bridge: their bfloat16 numerics differ slightly)
FORMAT_VERSION = 3
STORE_DTYPES = ("float16", "float32")
# Rows of a zarr chunk: extraction's chunk of 128 sequences (sequence-level: 128 rows) then owns
# whole chunks, so a write never reads, decompresses and rewrites a chunk another write began
# (at 1024 rows each SmolLM2 layer's 128-row write cost 15 ms, mostly that; measured).
CHUNK_EXAMPLES = 128
# The sites a store can hold, by config name, as TransformerLens hook names (the store records
# the hook name; extraction reads these sites, neuron pages find stores by them).
HOOKS = {
    "mlp_post": "blocks.{layer}.mlp.hook_post",
    "mlp_out": "blocks.{layer}.hook_mlp_out",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "resid_post": "blocks.{layer}.hook_resid_post",
}
# Keys that must match for a store to be reused; everything else in the metadata is informative.
IDENTITY_KEYS = (
    "format_version",
    "model",
    "revision",
    "model_config_hash",
    "model_dtype",
    "dataset",
    "dataset_hash",
    "hook",
    "reader",
    "aggregation",
    "dtype",
    "d_mlp",
    "n_examples",
    "n_sequences",
    "sae",  # the SAE's digest (its latents are stored) or None (the site itself)
)


def store_identity(metadata: dict) -> dict:
    """The IDENTITY_KEYS of a store's metadata; `sae` only when set, so stores of neurons (and
    run keys over them) keep the digests they had before SAEs could be stored."""
    identity = {k: metadata.get(k) for k in IDENTITY_KEYS}
    if identity.get("sae") is None:
        identity.pop("sae")
    return identity


class StoreMismatchError(UserError, RuntimeError):
    """An existing store was produced by something else than what is asked for now."""


class StoreCorruptError(UserError, RuntimeError):
    """A store's files do not hold what was written to them (the message names the file)."""


@dataclass(frozen=True)
class Damage:
    """Where a layer first differs from what was written, and why."""

    layer: int
    file: Path
    reason: str
    seq_start: int  # extraction must redo the layer from this sequence
    whole_layer: bool = False  # the array itself is unusable (metadata): drop it
    row_start: int = 0  # the first row of the damaged block


def valid_blocks(blocks: object) -> list[list[int]] | None:
    """The block records [seq_start, seq_stop, row_start, row_stop, crc] if well formed and
    contiguous from row 0 and sequence 0, else None (edited or damaged metadata)."""
    if not isinstance(blocks, list):
        return None
    seq = row = 0
    for b in blocks:
        if not (isinstance(b, list) and len(b) == 5 and all(type(v) is int for v in b)):
            return None
        if b[0] != seq or b[2] != row or b[1] < b[0] or b[3] < b[2]:
            return None
        seq, row = b[1], b[3]
    return blocks


def block_checksum(values: np.ndarray) -> int:
    """CRC-32 of a block's bytes as stored (C order, the store's dtype)."""
    data = np.ascontiguousarray(values).view(np.uint8).reshape(-1)
    # numpy's stubs declare ndarray.__buffer__ only for Python >= 3.12; it is a buffer on 3.11 too
    return zlib.crc32(cast("Buffer", data))


class ActivationStore:
    """Open (or create) the store at `path` for `metadata`; see the module docstring."""

    def __init__(
        self, path: str | Path, metadata: dict, chunk_examples: int = CHUNK_EXAMPLES
    ) -> None:
        self.path = Path(path)
        self.metadata = {"format_version": FORMAT_VERSION, **metadata}
        self.metadata.setdefault("sae", None)
        missing = [k for k in IDENTITY_KEYS if k not in self.metadata]
        if missing:
            raise ValueError(f"activation store metadata lacks {missing}")
        if self.metadata["dtype"] not in STORE_DTYPES:
            raise StoreMismatchError(
                f"store dtype {self.metadata['dtype']!r} is not supported: use one of {STORE_DTYPES}"
            )
        self.chunk_examples = int(chunk_examples)
        self.group = self._open()

    @property
    def n_examples(self) -> int:
        return int(self.metadata["n_examples"])

    @property
    def d_mlp(self) -> int:
        return int(self.metadata["d_mlp"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.metadata["dtype"])

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> zarr.Group:
        if not (self.path / "zarr.json").exists():
            if self.path.exists() and any(self.path.iterdir()):
                raise StoreMismatchError(
                    f"{self.path} exists and is not an activation store: refusing to overwrite it"
                )
            self._create()
        try:
            group = zarr.open_group(self.path, mode="r+")
            stored = dict(group.attrs)
        except Exception as err:  # unreadable group metadata: nothing in it can be trusted
            raise StoreCorruptError(
                f"activation store {self.path}: {self.path / 'zarr.json'} is unreadable "
                f"({type(err).__name__}); delete {self.path} to rebuild it"
            ) from None
        diffs = {
            k: (stored.get(k), self.metadata[k])
            for k in IDENTITY_KEYS
            if stored.get(k) != self.metadata[k]
        }
        if diffs:
            detail = "; ".join(f"{k}: stored {a!r}, wanted {b!r}" for k, (a, b) in diffs.items())
            raise StoreMismatchError(
                f"activation store {self.path} was made by a different run ({detail}); "
                "delete it or point paths.activations elsewhere"
            )
        return group

    def _create(self) -> None:
        """Create the group with its metadata in a private folder, then rename it into place.

        The rename is atomic, so a concurrent job sees either no store or a whole one; if another
        job created it first, the rename fails and theirs is used (and checked) instead.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{socket.gethostname()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        zarr.create_group(tmp, zarr_format=3, attributes=self.metadata)
        try:
            tmp.rename(self.path)
        except OSError:  # another job won the race: the store exists now
            shutil.rmtree(tmp, ignore_errors=True)
            if not (self.path / "zarr.json").exists():
                raise

    # -- layers --------------------------------------------------------------------------------

    def _name(self, layer: int) -> str:
        return f"layer_{layer}"

    def _attrs(self, layer: int) -> dict:
        """The layer's attributes read straight from its zarr.json ({} if absent or unreadable)."""
        try:
            return json.loads((self.path / self._name(layer) / "zarr.json").read_text()).get(
                "attributes", {}
            )
        except (OSError, ValueError, AttributeError):
            return {}

    def _array(self, layer: int) -> zarr.Array:
        """The layer's array, created if absent; one whose metadata is unreadable or no longer
        fits the store (edited shape or dtype) is recreated empty, with a warning."""
        name = self._name(layer)
        folder = self.path / name
        if (folder / "zarr.json").exists():
            try:
                arr = zarr.open_array(folder, mode="r+")
                if self._fits(arr):
                    return arr
                problem = f"shape {tuple(arr.shape)} / dtype {arr.dtype}"
            except Exception as err:
                problem = f"unreadable metadata ({type(err).__name__})"
            log.warning("activation store %s: %s has %s; recreating it", self.path, name, problem)
            shutil.rmtree(folder)
        return self.group.create_array(
            name,
            shape=(self.n_examples, self.d_mlp),
            chunks=(min(self.chunk_examples, max(self.n_examples, 1)), self.d_mlp),
            dtype=self.metadata["dtype"],
            fill_value=np.nan,  # an unwritten or lost chunk reads as NaN, never as zeros
            attributes={"layer": layer, "n_seq_done": 0, "complete": False, "blocks": []},
            overwrite=True,
        )

    def _fits(self, arr: zarr.Array | AsyncArray) -> bool:
        """Whether a layer's array has the shape and dtype this store's metadata says."""
        return tuple(arr.shape) == (self.n_examples, self.d_mlp) and arr.dtype == self.dtype

    def is_complete(self, layer: int) -> bool:
        return self._attrs(layer).get("complete") is True

    def progress(self, layer: int) -> int:
        """Number of sequences whose activations are written for `layer`: the end of its last
        recorded block (0 when the records are missing or malformed: start the layer over)."""
        blocks = valid_blocks(self._attrs(layer).get("blocks"))
        return blocks[-1][1] if blocks else 0

    def boundaries(self, layer: int) -> set[int]:
        """Sequences at which a resumed extraction of `layer` can start without leaving a gap."""
        blocks = valid_blocks(self._attrs(layer).get("blocks")) or []
        return {0, *(b[1] for b in blocks)}

    def missing_layers(self, layers: list[int]) -> list[int]:
        return [layer for layer in layers if not self.is_complete(layer)]

    def write(
        self,
        layer: int,
        start: int,
        values: np.ndarray,
        n_seq_done: int,
        seq_start: int | None = None,
    ) -> None:
        """Write examples [start, start+len(values)) of `layer` (sequences [seq_start,
        n_seq_done)); see write_layers."""
        self.write_layers({layer: values}, start, n_seq_done, seq_start)

    def write_layers(
        self,
        values: Mapping[int, np.ndarray],
        start: int,
        n_seq_done: int,
        seq_start: int | None = None,
    ) -> None:
        """Write the same examples [start, start+n) (sequences [seq_start, n_seq_done)) of
        several layers, make them durable, then record each block's checksum and the progress.

        The progress is written after the data is on disk, so a kill (or a node crash) between
        the two only repeats work. Blocks recorded at or after `start` are replaced: a resumed
        extraction rewrites them. The layers' arrays are opened, written and their progress
        recorded concurrently, three round trips through zarr's event loop for all of them
        (one layer at a time cost 5.0 ms a SmolLM2 layer, 3.4 ms together; measured).
        """
        for layer, block in values.items():
            if block.shape[1:] != (self.d_mlp,):
                raise ValueError(
                    f"layer {layer}: got width {block.shape[1:]}, store has {self.d_mlp}"
                )
            if block.dtype != self.dtype:
                raise TypeError(f"layer {layer}: got {block.dtype}, the store holds {self.dtype}")
        arrays = self._open_arrays(list(values))
        records: dict[int, dict[str, Any]] = {}
        for layer, arr in arrays.items():
            blocks = [
                b
                for b in valid_blocks(arr.metadata.attributes.get("blocks")) or []
                if b[3] <= start
            ]
            if (blocks[-1][3] if blocks else 0) != start:
                raise ValueError(
                    f"layer {layer}: a write at row {start} would leave a gap after "
                    f"row {blocks[-1][3] if blocks else 0}; resume at a block boundary"
                )
            first_seq = seq_start if seq_start is not None else (blocks[-1][1] if blocks else 0)
            stop = start + len(values[layer])
            blocks.append(
                [
                    int(first_seq),
                    int(n_seq_done),
                    int(start),
                    int(stop),
                    block_checksum(values[layer]),
                ]
            )
            # the block that ends the layer completes it, in the same metadata write
            covered = sum(b[3] - b[2] for b in blocks)
            complete = covered == self.n_examples and n_seq_done == self.metadata["n_sequences"]
            records[layer] = {"n_seq_done": int(n_seq_done), "blocks": blocks, "complete": complete}

        async def write_data() -> None:
            await asyncio.gather(
                *(
                    arr.setitem(slice(start, start + len(values[layer])), values[layer])
                    for layer, arr in arrays.items()
                    if len(values[layer])
                )
            )

        async def write_progress() -> None:
            # update_attributes writes the array's zarr.json once (attrs.update: once per key)
            await asyncio.gather(
                *(arr.update_attributes(records[layer]) for layer, arr in arrays.items())
            )

        sync(write_data())
        for layer, arr in arrays.items():
            if len(values[layer]):
                self._sync_rows(layer, start, start + len(values[layer]), arr.chunks[0])
        sync(write_progress())

    def _open_arrays(self, layers: list[int]) -> dict[int, AsyncArray]:
        """{layer: its array}, the existing ones opened concurrently; a layer whose array is
        absent or unfit is (re)created by _array."""

        async def open_all() -> list[AsyncArray | None]:
            async def open_one(layer: int) -> AsyncArray | None:
                if not (self.path / self._name(layer) / "zarr.json").exists():
                    return None
                try:
                    arr = await zarr_async.open_array(
                        store=str(self.path / self._name(layer)), mode="r+"
                    )
                except Exception:
                    return None  # _array names the problem and recreates it
                return arr if self._fits(arr) else None

            return await asyncio.gather(*(open_one(layer) for layer in layers))

        opened = sync(open_all())
        return {
            layer: arr if arr is not None else self._array(layer).async_array
            for layer, arr in zip(layers, opened, strict=True)
        }

    def _sync_rows(self, layer: int, start: int, stop: int, rows: int) -> None:
        """fsync the chunk files (of `rows` rows: the array's own, which may predate
        CHUNK_EXAMPLES) holding rows [start, stop): data before progress, on disk."""
        for i in range(start // rows, (stop - 1) // rows + 1):
            chunk = self.path / self._name(layer) / "c" / str(i) / "0"
            try:
                fd = os.open(chunk, os.O_RDONLY)
            except FileNotFoundError:
                continue  # an all-NaN chunk is not stored
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def mark_complete(self, layer: int) -> None:
        arr = self._array(layer)
        attrs: Mapping[str, Any] = arr.attrs  # the JSON `write` recorded
        if int(attrs.get("n_seq_done", 0)) != int(self.metadata["n_sequences"]):
            raise RuntimeError(f"layer {layer} of {self.path} is not fully written")
        covered = sum(b[3] - b[2] for b in attrs.get("blocks", []))
        if covered != self.n_examples:
            raise RuntimeError(
                f"layer {layer} of {self.path}: blocks cover {covered} of {self.n_examples} rows"
            )
        arr.attrs["complete"] = True

    # -- checking ------------------------------------------------------------------------------

    def damage(self, layer: int) -> Damage | None:
        """The first place where a complete layer differs from what was written, or None."""
        return self._load_checked(layer)[1]

    def rewind(self, damage: Damage) -> None:
        """Make a damaged layer incomplete from its damaged chunk file on, so that extraction
        redoes it. The chunk files from there on are deleted (a partial write would have to
        decode an undecodable one), and with them every block that touches them."""
        folder = self.path / self._name(damage.layer)
        if damage.whole_layer:
            shutil.rmtree(folder, ignore_errors=True)
            return
        arr = self._array(damage.layer)
        rows = arr.chunks[0]
        first_chunk = damage.row_start // rows
        blocks = valid_blocks(arr.attrs.get("blocks")) or []
        kept = [b for b in blocks if b[3] <= first_chunk * rows]
        for chunk in (folder / "c").glob("*/0"):
            if chunk.parent.name.isdigit() and int(chunk.parent.name) >= first_chunk:
                chunk.unlink()
        arr.attrs.update(
            {"n_seq_done": kept[-1][1] if kept else 0, "blocks": kept, "complete": False}
        )

    def _load_checked(self, layer: int) -> tuple[np.ndarray | None, Damage | None]:
        folder = self.path / self._name(layer)
        meta_file = folder / "zarr.json"

        def whole(reason: str) -> tuple[None, Damage]:
            return None, Damage(layer, meta_file, reason, 0, whole_layer=True)

        try:
            arr = zarr.open_array(folder, mode="r")
            attrs = dict(arr.attrs)
        except Exception as err:
            return whole(f"array metadata unreadable ({type(err).__name__})")
        if tuple(arr.shape) != (self.n_examples, self.d_mlp):
            return whole(f"shape {tuple(arr.shape)}, expected {(self.n_examples, self.d_mlp)}")
        if arr.dtype != self.dtype:
            return whole(f"dtype {arr.dtype}, the store holds {self.dtype}")
        blocks = valid_blocks(attrs.get("blocks"))
        if not blocks:
            return whole("block checksums missing or malformed")
        if blocks[-1][3] != self.n_examples or blocks[-1][1] != self.metadata["n_sequences"]:
            return whole(f"blocks cover {blocks[-1][3]} of {self.n_examples} rows")
        rows = arr.chunks[0]
        values: np.ndarray | None
        block: np.ndarray
        try:
            # zarr types indexing as array-or-scalar; a slice of a 2-D array is an ndarray
            values = cast(np.ndarray, arr[:])
        except Exception as err:  # a truncated or garbled chunk: find which block by block
            values = None
            reason = f"undecodable ({type(err).__name__})"
        parts: list[np.ndarray] = []  # the blocks read one by one when the whole read failed
        for seq_start, _, start, stop, crc in blocks:
            if values is None:
                try:
                    block = cast(np.ndarray, arr[start:stop])  # an ndarray, as above
                    parts.append(block)
                except Exception:
                    bad = self._chunk_file(layer, start, rows)
                    return None, Damage(layer, bad, reason, seq_start, row_start=start)
            else:
                block = values[start:stop]
            if block_checksum(block) != crc:
                bad = self._first_bad_chunk(arr, layer, block, start, rows)
                why = "rows never written (NaN)" if np.isnan(block).any() else "checksum mismatch"
                return None, Damage(layer, bad, why, seq_start, row_start=start)
        if values is None:  # the whole read failed but every block read back intact
            values = np.concatenate(parts) if parts else np.empty((0, self.d_mlp), self.dtype)
        return values, None

    def _chunk_file(self, layer: int, row: int, rows: int) -> Path:
        return self.path / self._name(layer) / "c" / str(row // rows) / "0"

    def _first_bad_chunk(self, arr, layer: int, block: np.ndarray, start: int, rows: int) -> Path:
        """The chunk file of the first NaN row of a bad block (a missing file), else its first."""
        nan_rows = np.flatnonzero(np.isnan(block).any(axis=1))
        row = start + int(nan_rows[0]) if len(nan_rows) else start
        return self._chunk_file(layer, row, rows)

    def read(self, layer: int, neurons: slice | None = None) -> np.ndarray:
        """The [n_examples, d_mlp] matrix of a complete layer (or a block of its neurons).

        A whole layer is checked against its block checksums; a block of neurons cannot be, so
        it is checked for unwritten (NaN) rows.
        """
        if not self.is_complete(layer):
            raise RuntimeError(f"layer {layer} of {self.path} is not complete: extract it first")
        if neurons is None:
            values, damage = self._load_checked(layer)
        else:
            try:
                values, damage = (
                    # zarr types indexing as array-or-scalar; a 2-D slice is an ndarray
                    cast(
                        np.ndarray,
                        zarr.open_array(self.path / self._name(layer), mode="r")[:, neurons],
                    ),
                    None,
                )
            except Exception as err:
                values = None
                damage = Damage(layer, self.path / self._name(layer), str(err), 0, True)
            if values is not None and np.isnan(values).any():
                damage = Damage(layer, self.path / self._name(layer), "NaN rows", 0)
        if damage is not None:
            raise StoreCorruptError(
                f"activation store {self.path}: layer {layer} is damaged at {damage.file} "
                f"({damage.reason}); rerun the job to re-extract it"
            )
        assert values is not None  # _load_checked gives values or damage
        return values

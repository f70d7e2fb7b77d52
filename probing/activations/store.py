"""ActivationStore: a zarr v3 group of MLP activations for one model and one feature dataset.

Layout: one array per layer, `layer_{l}` of shape [n_examples, d_mlp], chunked along examples.
The group's attributes hold the metadata that produced it (model, revision, dataset hash, hook,
aggregation, dtype...); opening a store with different metadata is an error, never a reuse.
Each layer array carries its own progress (`n_seq_done`) and a `complete` mark, so a run that
dies resumes from the last finished chunk and a later run that asks for more layers only
computes the missing ones.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import zarr

FORMAT_VERSION = 1
# Keys that must match for a store to be reused; everything else in the metadata is informative.
IDENTITY_KEYS = (
    "format_version",
    "model",
    "revision",
    "dataset",
    "dataset_hash",
    "hook",
    "aggregation",
    "dtype",
    "d_mlp",
    "n_examples",
    "n_sequences",
)


class StoreMismatchError(RuntimeError):
    """An existing store was produced by something else than what is asked for now."""


class ActivationStore:
    """Open (or create) the store at `path` for `metadata`; see the module docstring."""

    def __init__(self, path: str | Path, metadata: dict, chunk_examples: int = 1024) -> None:
        self.path = Path(path)
        self.metadata = {"format_version": FORMAT_VERSION, **metadata}
        missing = [k for k in IDENTITY_KEYS if k not in self.metadata]
        if missing:
            raise ValueError(f"activation store metadata lacks {missing}")
        self.chunk_examples = int(chunk_examples)
        self.group = self._open()

    @property
    def n_examples(self) -> int:
        return int(self.metadata["n_examples"])

    @property
    def d_mlp(self) -> int:
        return int(self.metadata["d_mlp"])

    def _open(self) -> zarr.Group:
        if not (self.path / "zarr.json").exists():
            if self.path.exists() and any(self.path.iterdir()):
                raise StoreMismatchError(
                    f"{self.path} exists and is not an activation store: refusing to overwrite it"
                )
            self._create()
        group = zarr.open_group(self.path, mode="r+")
        stored = dict(group.attrs)
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

    def _array(self, layer: int) -> zarr.Array:
        name = f"layer_{layer}"
        if name in self.group.array_keys():
            return self.group[name]
        return self.group.create_array(
            name,
            shape=(self.n_examples, self.d_mlp),
            chunks=(min(self.chunk_examples, max(self.n_examples, 1)), self.d_mlp),
            dtype=self.metadata["dtype"],
            fill_value=0,
            attributes={"layer": layer, "n_seq_done": 0, "complete": False},
        )

    def is_complete(self, layer: int) -> bool:
        name = f"layer_{layer}"
        return name in self.group.array_keys() and bool(self.group[name].attrs.get("complete"))

    def progress(self, layer: int) -> int:
        """Number of sequences whose activations are written for `layer`."""
        name = f"layer_{layer}"
        if name not in self.group.array_keys():
            return 0
        return int(self.group[name].attrs.get("n_seq_done", 0))

    def missing_layers(self, layers: list[int]) -> list[int]:
        return [layer for layer in layers if not self.is_complete(layer)]

    def write(self, layer: int, start: int, values: np.ndarray, n_seq_done: int) -> None:
        """Write examples [start, start+len(values)) of `layer`, then record the progress.

        The progress is written after the data, so a kill between the two only repeats work.
        """
        arr = self._array(layer)
        if values.shape[1:] != (self.d_mlp,):
            raise ValueError(f"layer {layer}: got width {values.shape[1:]}, store has {self.d_mlp}")
        if len(values):
            arr[start : start + len(values)] = values
        arr.attrs["n_seq_done"] = int(n_seq_done)

    def mark_complete(self, layer: int) -> None:
        arr = self._array(layer)
        if int(arr.attrs.get("n_seq_done", 0)) != int(self.metadata["n_sequences"]):
            raise RuntimeError(f"layer {layer} of {self.path} is not fully written")
        arr.attrs["complete"] = True

    def read(self, layer: int, neurons: slice | None = None) -> np.ndarray:
        """The [n_examples, d_mlp] matrix of a complete layer (or a block of its neurons)."""
        if not self.is_complete(layer):
            raise RuntimeError(f"layer {layer} of {self.path} is not complete: extract it first")
        arr = self.group[f"layer_{layer}"]
        return arr[:, neurons] if neurons is not None else arr[:]

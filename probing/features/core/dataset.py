"""FeatureDataset: tokenised text plus binary labels and where to read them.

One dataset serves several binary features that share the same text (one activation
store per dataset, one label column per feature), so a collection such as
"programming_language" costs a single forward pass for all its languages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

AGGREGATIONS = ("token", "mean", "max")

# FeatureDataset.from_pandas and .load_from_disk run code whose modules import this one (a user's
# table: probing.features.custom; an exported folder: probing.features.core.export). Each hands
# its function over here when imported, as a collection registers itself in the registry, so this
# module imports nothing of probing.features; `import probing.features` imports both.
CONSTRUCTORS: dict[str, Callable[..., FeatureDataset]] = {}
F = TypeVar("F", bound=Callable[..., "FeatureDataset"])


def constructor(method: str) -> Callable[[F], F]:
    """Decorator: the decorated function is what `FeatureDataset.<method>` calls."""

    def provide(function: F) -> F:
        if method in CONSTRUCTORS:
            raise ValueError(f"FeatureDataset.{method} provided twice")
        CONSTRUCTORS[method] = function
        return function

    return provide


@dataclass
class FeatureDataset:
    """Sequences, examples and labels, ready for one model's tokenizer.

    tokens:   int32 [n_seq, seq_len], right-padded with pad_id.
    lengths:  int32 [n_seq], number of real tokens per sequence.
    example_seq: int32 [n_ex], sequence each example reads; non-decreasing, so a
              contiguous range of sequences maps to a contiguous range of examples.
    example_pos: int32 [n_ex], token position read (aggregation "token"), else -1.
    labels:   int8 [n_ex, n_features], 0/1, one column per feature in feature_names.
    groups:   int32 [n_ex], the source document of each example; train/test splits keep a
              group on one side, so held-out scores are on unseen text.
    aggregation: "token" (read example_pos) or "mean" / "max" over the sequence's real tokens.
    """

    name: str
    feature_names: list[str]
    tokens: np.ndarray
    lengths: np.ndarray
    example_seq: np.ndarray
    example_pos: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    aggregation: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens = np.ascontiguousarray(self.tokens, dtype=np.int32)
        self.lengths = np.ascontiguousarray(self.lengths, dtype=np.int32)
        self.example_seq = np.ascontiguousarray(self.example_seq, dtype=np.int32)
        self.example_pos = np.ascontiguousarray(self.example_pos, dtype=np.int32)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int8)
        self.groups = np.ascontiguousarray(self.groups, dtype=np.int32)
        self.validate()

    @property
    def n_sequences(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def n_examples(self) -> int:
        return int(self.example_seq.shape[0])

    def validate(self) -> None:
        """Fail early, with a message naming the dataset, on inconsistent arrays."""
        n_ex = self.n_examples
        problems = []
        if self.aggregation not in AGGREGATIONS:
            problems.append(f"aggregation {self.aggregation!r} not in {AGGREGATIONS}")
        if self.tokens.ndim != 2:
            problems.append("tokens must be [n_seq, seq_len]")
        if self.lengths.shape != (self.n_sequences,):
            problems.append("lengths must be [n_seq]")
        elif (self.lengths < 1).any() or (self.lengths > self.tokens.shape[1]).any():
            problems.append("every length must be in [1, seq_len]")
        if self.labels.shape != (n_ex, len(self.feature_names)):
            problems.append(f"labels must be [{n_ex}, {len(self.feature_names)}]")
        for name, arr in (("example_pos", self.example_pos), ("groups", self.groups)):
            if arr.shape != (n_ex,):
                problems.append(f"{name} must be [n_examples]")
        if n_ex and (np.diff(self.example_seq) < 0).any():
            problems.append("example_seq must be non-decreasing")
        if n_ex and (self.example_seq.min() < 0 or self.example_seq.max() >= self.n_sequences):
            problems.append("example_seq out of range")
        if self.aggregation == "token" and n_ex:
            if (self.example_pos < 0).any() or (
                self.example_pos >= self.lengths[self.example_seq]
            ).any():
                problems.append("example_pos must point at a real token of its sequence")
        if problems:
            raise ValueError(f"feature dataset {self.name!r}: " + "; ".join(problems))

    def examples_of(self, seq_start: int, seq_stop: int) -> tuple[int, int]:
        """The example range [start, stop) read from sequences [seq_start, seq_stop)."""
        start = int(np.searchsorted(self.example_seq, seq_start, side="left"))
        stop = int(np.searchsorted(self.example_seq, seq_stop, side="left"))
        return start, stop

    def label(self, feature: str) -> np.ndarray:
        return self.labels[:, self.feature_names.index(feature)]

    def content_hash(self) -> str:
        """Hash of everything that changes activations or labels; keys the activation store."""
        h = hashlib.sha256()
        h.update(json.dumps([self.name, self.feature_names, self.aggregation]).encode())
        for arr in (self.tokens, self.lengths, self.example_seq, self.example_pos, self.labels):
            h.update(str(arr.shape).encode())
            h.update(arr.tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def from_pandas(cls, table, tokenizer, **params) -> FeatureDataset:
        """A dataset from a DataFrame: a `text` column and 0/1 feature columns (or span lists
        for token-level features), an optional `group`; see probing.features.custom."""
        return CONSTRUCTORS["from_pandas"](table, tokenizer, **params)

    @classmethod
    def load_from_disk(cls, path: str | Path, tokenizer=None) -> FeatureDataset:
        """A folder written by `python -m probing.features export`, or a feature cache entry
        (the same format; see probing.features.core.export); with `tokenizer`, checked against the one
        it was exported with."""
        return CONSTRUCTORS["load_from_disk"](path, tokenizer)

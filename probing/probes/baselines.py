"""What chance gives beside every probe: a permutation null with a p-value, and random neurons.

- Permutation null (`null_f1`, `p_value`): the labels are permuted *by document*, consistently
  over the whole split (train, val and test alike), and the same pipeline (ranking, fit) is rerun
  and scored on the permuted test labels. It answers "is this probe unrelated to the feature?":
  under that hypothesis the real labels are one more draw of the permutation, so the p-value
  (1 + #{null F1 >= F1}) / (1 + n) is exact. Permuting only the training labels, as an earlier
  version did, is not a null: the test labels stay tied to the activations, so a heavy-tailed
  neuron that the ranking picks in noise, fitted with a coin-flip sign, is a perfect detector of
  the real test labels half of the time (a JavaScript neuron at F1 0.97 once had a "shuffled"
  median of 0.96).
- Chance (`chance_f1`): the F1 of calling every test example positive.
- Random support (`random_f1`, `random_support`): k neurons of the layer drawn uniformly, fitted
  on the true labels: what an arbitrary neuron gives; a "dedicated" neuron stands far above it.

How labels are permuted, within each part of the split (train / val / test):
- A document-level label (one label per document, as a source file's language): the documents'
  labels are permuted among the part's documents of like length (1, 2-3, 4-7, ... examples),
  each document's examples taking its new label: a permutation test of "the activations carry
  nothing about the label beyond the document's length class", whatever the lengths. Without the
  classes a label that goes with length (C++ files span six or seven windows, Python files one)
  would move onto documents of other lengths, changing the number of positive examples and so
  F1's chance level (noise features: p <= 0.05 for 14%; 6% with the classes: tested).
- A token-level label (it changes inside some document): the part's documents are put in a
  random order and their label sequences concatenated and laid back on the part's examples in
  document order; then each document's labels are rotated by a random offset. The part keeps its
  exact class counts and the runs of labels inside documents; the rotation breaks the labels'
  alignment with positions (without it, documents with the same pattern of labels could only be
  swapped for each other). With documents of unequal length this is a randomisation, not a
  permutation: calibrated in tests (p-values uniform without signal).
Either way whole documents move (examples of one document have alike activations; shuffling
single examples would make the null too narrow and the p-values too small: tested). The token
scheme applied to a document-level label with unequal lengths lays one document's label over
parts of two, which real labels never do: p <= 0.05 twice as often as it should (tested). Keeping
the splits fixed makes it a test conditional on them.

A row's p-value is its own layer's. A summary that reports the layer chosen on validation needs
the null of that choice, not of the chosen layer (a val split disjoint from test does not make the
chosen layer's own p-value valid: one fit is scored on both, so a probe that is lucky on val tends
to be lucky on test): each refit records its val F1 too (`null_val_f1`), every layer draws the
same permutations (seeded without the layer), and summaries.chosen_null reruns the choice on
each of them.

All refits share the layer's batched solve. Draws are seeded by (seed, feature, k, repeat), so
they are the same on every run and machine whatever other features a layer probes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from probing.permutation_test import p_value

from .tasks import FeatureTask, Rows, sweep_tasks

PERMUTED, RANDOM = 0, 1  # arms, in the seed of each draw


@dataclass(frozen=True)
class Baselines:
    """How many refits per feature at each of `ks` (ks outside the probe's are skipped)."""

    ks: tuple[int, ...] = (1,)
    permutations: int = 200
    random_supports: int = 20

    def __post_init__(self):
        if self.permutations < 0 or self.random_supports < 0:
            raise ValueError(
                f"permutations and random_supports must be >= 0, got "
                f"{self.permutations} and {self.random_supports}"
            )

    @property
    def empty(self) -> bool:
        return not self.ks or not (self.permutations or self.random_supports)


def draw(seed: int, feature: str, k: int, arm: int, repeat: int) -> np.random.Generator:
    """The generator of one control draw: independent of which other features a layer probes."""
    return np.random.default_rng([seed, zlib.crc32(feature.encode()), k, arm, repeat])


class DocumentPermuter:
    """Permutes labels by document (module docstring) within fixed index arrays `parts`; the
    document structure of each part is worked out once and reused by every draw."""

    def __init__(self, groups: np.ndarray | None, parts: tuple[np.ndarray, ...]):
        # per part: its examples, and (document order) run starts, run lengths, positions
        # (None for the last three: one document an example)
        self.parts: list[tuple[np.ndarray, Any, Any, Any]] = []
        self.length_classes: list[list[np.ndarray]] = []  # per part with documents
        for part in parts:
            part = np.asarray(part)
            if len(part) < 2:
                continue
            if groups is None:  # one document an example: a plain permutation
                self.parts.append((part, None, None, None))
                continue
            _, doc = np.unique(np.asarray(groups)[part], return_inverse=True)
            by_doc = np.argsort(doc.ravel(), kind="stable")  # document after document
            starts = np.flatnonzero(np.diff(doc.ravel()[by_doc], prepend=-1))
            lengths = np.diff(np.append(starts, len(part)))
            self.parts.append((part[by_doc], starts, lengths, np.arange(len(part))))
            self.length_classes.append(_length_classes(lengths))

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.array(y, copy=True)
        classes = iter(self.length_classes)
        for examples, starts, lengths, position in self.parts:
            if starts is None:
                out[examples] = y[examples][rng.permutation(len(examples))]
                continue
            part, members = y[examples], next(classes)
            per_document = part[starts]
            if np.array_equal(part, np.repeat(per_document, lengths)):
                # a document-level label: the labels permuted among documents of like length
                order = np.arange(len(starts))
                for docs in members:
                    order[docs] = docs[rng.permutation(len(docs))]
                out[examples] = np.repeat(per_document[order], lengths)
                continue
            # the documents' label runs in a random order, laid back over the part...
            order = rng.permutation(len(starts))
            laid_starts = np.cumsum(lengths[order]) - lengths[order]
            relaid = position + np.repeat(starts[order] - laid_starts, lengths[order])
            # ...then each document's labels rotated by a random offset
            offsets = rng.integers(0, lengths)
            segment = np.repeat(np.arange(len(starts)), lengths)
            within = position - starts[segment]
            rotated = starts[segment] + (within + offsets[segment]) % lengths[segment]
            out[examples] = y[examples][relaid[rotated]]
        return out


def _length_classes(lengths: np.ndarray) -> list[np.ndarray]:
    """The documents of each length class (1, 2-3, 4-7, ... examples: a power of two apart at
    most), among which a document-level label is permuted."""
    classes = np.floor(np.log2(lengths)).astype(np.int64)
    return [np.flatnonzero(classes == c) for c in np.unique(classes)]


def permute_by_document(
    y: np.ndarray,
    groups: np.ndarray | None,
    parts: tuple[np.ndarray, ...],
    rng: np.random.Generator,
) -> np.ndarray:
    """A copy of `y` whose labels on each index array of `parts` are permuted by document (see
    the module docstring); examples outside every part keep theirs. groups None: one document per
    example, i.e. a plain permutation within each part."""
    return DocumentPermuter(groups, parts)(y, rng)


def chance_f1(y_test: np.ndarray) -> float:
    """The F1 of calling every test example positive: 2p / (1 + p) for a positive fraction p."""
    positives = float(np.sum(y_test))
    return 2 * positives / (len(y_test) + positives) if len(y_test) else float("nan")


def baseline_fields(
    X: np.ndarray,
    labels: Mapping[str, np.ndarray],
    splits: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    ks: list[int],
    baselines: Baselines,
    method: str,
    backend: str,
    C: float,
    seed: int,
    groups: np.ndarray | None = None,
) -> dict[str, dict[int, dict]]:
    """{feature: {k: fields}} for each k of both `ks` and baselines.ks: `null_f1` (test F1 of each
    permuted refit on its permuted test labels) and `null_val_f1` (the same on val, when the split
    has one), `chance_f1`, `random_f1` and `random_support`
    (each random draw's F1 and its neurons). The caller adds `p_value` once the real F1 is known
    (see add_p_values). X is the layer (validated, rotated if the probe is); ks are validated."""
    out: dict[str, dict[int, dict]] = {feature: {} for feature in splits}
    if baselines.empty:
        return out
    d = X.shape[1]
    for k in [k for k in ks if k in set(baselines.ks)]:
        tasks: list[FeatureTask] = []
        owners: list[tuple[str, str, Any]] = []  # feature, arm, a random arm's support
        for feature, (train, val, test) in splits.items():
            y = labels[feature]
            y_train, y_test = y[train], y[test]
            X_train, X_test = Rows(X, train), Rows(X, test)  # shared by the null's refits
            X_val = Rows(X, val) if len(val) else None
            permute = DocumentPermuter(groups, (train, val, test))
            for r in range(baselines.permutations):
                permuted = permute(y, draw(seed, feature, k, PERMUTED, r))
                y_val = permuted[val] if X_val is not None else None
                tasks.append(
                    FeatureTask(X_train, permuted[train], X_test, permuted[test], X_val, y_val)
                )
                owners.append((feature, "null", None))
            for r in range(baselines.random_supports):
                support = np.sort(draw(seed, feature, k, RANDOM, r).choice(d, k, replace=False))
                tasks.append(
                    FeatureTask(
                        Rows(X_train.columns(support)),
                        y_train,
                        Rows(X_test.columns(support)),
                        y_test,
                    )
                )
                owners.append((feature, "random", support))
            out[feature][k] = {"chance_f1": chance_f1(y_test)}
            if baselines.permutations:
                out[feature][k]["null_f1"] = []
                if X_val is not None:
                    out[feature][k]["null_val_f1"] = []
            if baselines.random_supports:
                out[feature][k] |= {"random_f1": [], "random_support": []}
        for (feature, arm, support), rows in zip(
            owners, sweep_tasks(tasks, [k], method, backend, C, seed, f1_only=True), strict=True
        ):
            fields = out[feature][k]
            fields[f"{arm}_f1"].append(round(float(rows[0]["f1"]), 6))
            if arm == "null" and "val_f1" in rows[0]:
                fields["null_val_f1"].append(round(float(rows[0]["val_f1"]), 6))
            if support is not None:
                fields["random_support"].append(support.tolist())
    return out


def add_p_values(rows: list[dict]) -> None:
    """`p_value` of every row that has a `null_f1`, in place."""
    for row in rows:
        if "null_f1" in row:
            row["p_value"] = p_value(row["f1"], row["null_f1"])

"""What chance and an arbitrary neuron score: the yardsticks beside every probe's F1.

- Label shuffle: the training labels permuted, then ranked and fitted by the same method and
  scored on the true test labels. What the whole pipeline finds in noise: a probe's F1 means
  something only above it.
- Random support: k neurons of the layer drawn uniformly, fitted on the true labels. What an
  arbitrary neuron gives; a "dedicated" neuron must stand far above it.

Both refit on the feature's own splits, in one batched solve per k with the layer's other
controls. The draws are seeded by (seed, feature, k, repeat), so they are the same on every run
and every machine.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .tasks import FeatureTask, sweep_tasks

SHUFFLE, RANDOM = 0, 1  # arms, in the seed of each draw


@dataclass(frozen=True)
class Baselines:
    """How many refits per feature at each of `ks` (ks outside the probe's are skipped)."""

    ks: tuple[int, ...] = (1,)
    label_shuffles: int = 5
    random_supports: int = 20

    def __post_init__(self):
        if self.label_shuffles < 0 or self.random_supports < 0:
            raise ValueError(
                f"label_shuffles and random_supports must be >= 0, got "
                f"{self.label_shuffles} and {self.random_supports}"
            )

    @property
    def empty(self) -> bool:
        return not self.ks or not (self.label_shuffles or self.random_supports)


def draw(seed: int, feature: str, k: int, arm: int, repeat: int) -> np.random.Generator:
    """The generator of one control draw: independent of which other features a layer probes."""
    return np.random.default_rng([seed, zlib.crc32(feature.encode()), k, arm, repeat])


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
) -> dict[str, dict[int, dict]]:
    """{feature: {k: fields}} for each k of both `ks` and baselines.ks: `shuffle_f1` (test F1 of
    each label-shuffled refit), `random_f1` and `random_support` (each random draw's F1 and its
    neurons). X is the layer (validated, rotated if the probe is); ks are validated."""
    out: dict[str, dict[int, dict]] = {feature: {} for feature in splits}
    if baselines.empty:
        return out
    d = X.shape[1]
    for k in [k for k in ks if k in set(baselines.ks)]:
        tasks, owners = [], []
        for feature, (train, _, test) in splits.items():
            y = labels[feature]
            X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]
            for r in range(baselines.label_shuffles):
                shuffled = draw(seed, feature, k, SHUFFLE, r).permutation(y_train)
                tasks.append(FeatureTask(X_train, shuffled, X_test, y_test))
                owners.append((feature, "shuffle", None))
            for r in range(baselines.random_supports):
                support = np.sort(draw(seed, feature, k, RANDOM, r).choice(d, k, replace=False))
                tasks.append(FeatureTask(X_train[:, support], y_train, X_test[:, support], y_test))
                owners.append((feature, "random", support))
        for feature in splits:
            out[feature][k] = {"shuffle_f1": [], "random_f1": [], "random_support": []}
        for (feature, arm, support), rows in zip(
            owners, sweep_tasks(tasks, [k], method, backend, C, seed), strict=True
        ):
            fields = out[feature][k]
            fields[f"{arm}_f1"].append(float(rows[0]["f1"]))
            if support is not None:
                fields["random_support"].append(support.tolist())
    return out

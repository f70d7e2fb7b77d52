"""token_position: where in the context the token sits (early, first quarter, second half).

Positions are sampled uniformly over each window of prose, so every bucket is filled; without a
BOS token, position 0 is the first token of the text. The paper finds neurons that track position.
"""

from __future__ import annotations

import numpy as np

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import sample_positions
from probing.features.sources.prose import (
    PROSE_ARTEFACTS,
    PROSE_LICENCE,
    PROSE_SOURCE,
    prose_meta,
    prose_windows,
)

RECIPE_VERSION = 2


def feature_names(thresholds: list[int], ge: list[int]) -> list[str]:
    return [f"pos_lt_{t}" for t in thresholds] + [f"pos_ge_{t}" for t in ge]


def position_labels(positions: np.ndarray, thresholds: list[int], ge: list[int]) -> np.ndarray:
    columns = [positions < t for t in thresholds] + [positions >= t for t in ge]
    return np.stack(columns, axis=1).astype(np.int8)


def build(
    tokenizer,
    seq_len: int,
    n_sequences: int,
    tokens_per_sequence: int,
    lt: list[int],
    ge: list[int],
    max_per_doc: int,
    seed: int,
    roots: list[str],
) -> FeatureDataset:
    bad = [t for t in [*lt, *ge] if not 0 < t < seq_len]
    if bad or not (lt or ge):
        raise FeatureDataError(
            f"token_position thresholds must lie in (0, seq_len={seq_len}); got {bad}"
        )
    windows, paths, rng = prose_windows(tokenizer, n_sequences, seq_len, max_per_doc, seed, roots)
    example_seq, example_pos = sample_positions(windows.lengths, tokens_per_sequence, 0, rng)
    return FeatureDataset(
        name="token_position",
        feature_names=feature_names(lt, ge),
        tokens=windows.tokens,
        lengths=windows.lengths,
        example_seq=example_seq,
        example_pos=example_pos,
        labels=position_labels(example_pos, lt, ge),
        groups=windows.docs[example_seq],
        aggregation="token",
        meta=prose_meta(windows, paths),
    )


COLLECTION = register(
    Collection(
        name="token_position",
        category="token_position",
        source=PROSE_SOURCE,
        licence=PROSE_LICENCE,
        aggregation="token",
        features={
            **{
                f"pos_lt_{t}": f"the token's position (0 = first, no BOS) is < {t}" for t in (8, 32)
            },
            "pos_ge_64": "the token's position is >= 64",
        },
        defaults={
            "seq_len": 128,
            "n_sequences": 400,
            "tokens_per_sequence": 8,
            "lt": [8, 32],
            "ge": [64],
            "max_per_doc": 3,
            "seed": 0,
            "roots": [],
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        names=lambda params: feature_names(params["lt"], params["ge"]),
        artefacts=PROSE_ARTEFACTS,
    )
)

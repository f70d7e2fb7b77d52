"""surface_text: what a token looks like (capital, all caps, digit, leading space, punctuation).

Labels come from the token's own string, so they are exact for any tokenizer; the question the
probe answers is whether a neuron reads the spelling of the current token.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import numpy as np

from probing.features.core.dataset import FeatureDataset
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import sample_positions, token_strings
from probing.features.sources.prose import (
    PROSE_ARTEFACTS,
    PROSE_LICENCE,
    PROSE_SOURCE,
    prose_meta,
    prose_windows,
)

RECIPE_VERSION = 2
SPACE_MARKS = (" ", "Ġ", "▁")


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def is_capitalized(text: str, raw: str) -> bool:
    letters = _letters(text)
    return bool(letters) and letters[0].isupper()


def is_all_caps(text: str, raw: str) -> bool:
    letters = _letters(text)
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def has_digit(text: str, raw: str) -> bool:
    return any(c.isdigit() for c in text)


def starts_with_space(text: str, raw: str) -> bool:
    return text.startswith(" ") or raw.startswith(SPACE_MARKS)


def is_punctuation(text: str, raw: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and all(unicodedata.category(c).startswith("P") for c in stripped)


RULES: dict[str, tuple[Callable[[str, str], bool], str]] = {
    "is_capitalized": (is_capitalized, "the token's first letter is upper case"),
    "is_all_caps": (is_all_caps, "the token has 2+ letters and all are upper case"),
    "has_digit": (has_digit, "the token contains a digit"),
    "starts_with_space": (starts_with_space, "the token begins with a space (' ', Ġ or ▁)"),
    "is_punctuation": (
        is_punctuation,
        "the token, stripped of whitespace, is non-empty and all Unicode punctuation",
    ),
}


def label_tokens(tokenizer, ids: np.ndarray, features: list[str]) -> np.ndarray:
    """labels [len(ids), len(features)] from each token's decoded and raw strings."""
    decoded, raw = token_strings(tokenizer, ids)
    rules = [RULES[f][0] for f in features]
    return np.array(
        [[rule(d, r) for rule in rules] for d, r in zip(decoded, raw, strict=True)], dtype=np.int8
    ).reshape(len(decoded), len(features))


def build(
    tokenizer,
    seq_len: int,
    n_sequences: int,
    tokens_per_sequence: int,
    min_pos: int,
    max_per_doc: int,
    seed: int,
    roots: list[str],
) -> FeatureDataset:
    windows, paths, rng = prose_windows(tokenizer, n_sequences, seq_len, max_per_doc, seed, roots)
    example_seq, example_pos = sample_positions(windows.lengths, tokens_per_sequence, min_pos, rng)
    features = list(RULES)
    labels = label_tokens(tokenizer, windows.tokens[example_seq, example_pos], features)
    return FeatureDataset(
        name="surface_text",
        feature_names=features,
        tokens=windows.tokens,
        lengths=windows.lengths,
        example_seq=example_seq,
        example_pos=example_pos,
        labels=labels,
        groups=windows.docs[example_seq],
        aggregation="token",
        meta=prose_meta(windows, paths),
    )


COLLECTION = register(
    Collection(
        name="surface_text",
        category="surface_text",
        source=PROSE_SOURCE,
        licence=PROSE_LICENCE,
        aggregation="token",
        features={name: rule for name, (_, rule) in RULES.items()},
        defaults={
            "seq_len": 128,
            "n_sequences": 400,
            "tokens_per_sequence": 8,
            "min_pos": 1,
            "max_per_doc": 3,
            "seed": 0,
            "roots": [],
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        artefacts=PROSE_ARTEFACTS,
    )
)

"""Feature datasets from real text: a registry of collections, each built once and cached.

from probing.features import build_feature_dataset, COLLECTIONS
ds = build_feature_dataset("programming_language", tokenizer, cache_dir="cache/features")
"""

from probing.features import (  # noqa: F401  (importing a collection module registers it)
    compound_words,
    custom,
    linguistic,
    natural_language,
    paper,
    people,
    programming_language,
    surface_text,
    text_source,
    token_position,
)
from probing.features.build import build_feature_dataset
from probing.features.dataset import FeatureDataset
from probing.features.registry import CATEGORIES, COLLECTIONS, Collection, FeatureDataError
from probing.features.tokens import tokenizer_fingerprint

__all__ = [
    "CATEGORIES",
    "COLLECTIONS",
    "Collection",
    "FeatureDataError",
    "FeatureDataset",
    "build_feature_dataset",
    "tokenizer_fingerprint",
]

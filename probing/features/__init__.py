"""Feature datasets from real text: a registry of collections, each built once and cached.

from probing.features import build_feature_dataset, COLLECTIONS
ds = build_feature_dataset("programming_language", tokenizer, cache_dir="cache/features")

Layers, each importing only the ones below it (pyproject's import-linter contracts):
- builtin/ (the ten collections), paper/ (the paper's hub datasets), custom.py (users' files);
- sources/: the version-pinned packages, file and catalogue readers, the hub;
- core/: errors, FeatureDataset, the registry, tokenising, table checks, export, the cache.
"""

# Importing a collection's module registers it, and registration order is the registry's order
# (`python -m probing.features list` prints it): these imports keep it, so they are not sorted.
# isort: off
from probing.features.builtin import compound_words  # noqa: F401  (first text_source, linguistic)
from probing.features import custom  # noqa: F401
from probing.features.builtin import natural_language  # noqa: F401
from probing.features.paper import collections  # noqa: F401
from probing.features.builtin import people, programming_language  # noqa: F401
from probing.features.builtin import surface_text, token_position  # noqa: F401

# isort: on
from probing.features.core.build import build_feature_dataset
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import CATEGORIES, COLLECTIONS, Collection
from probing.features.core.tokens import tokenizer_fingerprint

__all__ = [
    "CATEGORIES",
    "COLLECTIONS",
    "Collection",
    "FeatureDataError",
    "FeatureDataset",
    "build_feature_dataset",
    "tokenizer_fingerprint",
]

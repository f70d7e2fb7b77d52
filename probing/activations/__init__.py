"""Activation extraction and the zarr store that keeps it."""

from probing.activations.extract import extract_activations, open_store, store_path
from probing.activations.store import ActivationStore, StoreMismatchError

__all__ = [
    "ActivationStore",
    "StoreMismatchError",
    "extract_activations",
    "open_store",
    "store_path",
]

"""Activation extraction and the zarr store that keeps it.

The store is read without torch (the report reads stores for its neuron pages), so extraction,
which needs torch and the models, is imported only when one of its names is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probing.activations.store import ActivationStore, StoreMismatchError

if TYPE_CHECKING:
    from probing.activations.extract import extract_activations, open_store, store_path

__all__ = [
    "ActivationStore",
    "StoreMismatchError",
    "extract_activations",
    "open_store",
    "store_path",
]
_EXTRACT = ("extract_activations", "open_store", "store_path")


def __getattr__(name: str):
    if name in _EXTRACT:
        from probing.activations import extract

        return getattr(extract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

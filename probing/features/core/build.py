"""build_feature_dataset: the one entry point, with checks and a content-keyed cache.

A dataset is built once per (collection, recipe version, parameters, tokenizer) and saved; a later
call with the same key loads it instead of re-reading and re-tokenising the sources. An entry is a
Hugging Face dataset folder `<cache_dir>/<collection>-<key>/` in the export format
(probing.features.core.export), so `datasets.load_from_disk` opens it; it appears whole or not at all
(written under a temporary name, then renamed), and a damaged one is removed and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.export import export_feature_dataset, read_export
from probing.features.core.pins import ARTEFACTS
from probing.features.core.registry import Collection, get_collection
from probing.features.core.tokens import tokenizer_fingerprint

log = logging.getLogger(__name__)


def plain(value: Any) -> Any:
    """Parameters as plain JSON types (OmegaConf containers and tuples included) for the cache key."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def resolve_params(collection: Collection, params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(collection.defaults))
    if unknown:
        raise FeatureDataError(
            f"collection {collection.name!r} has no parameter(s) {unknown}; "
            f"it takes {sorted(collection.defaults)}"
        )
    return plain({**collection.defaults, **params})


def recipe(collection: Collection, params: dict[str, Any], tokenizer) -> dict[str, Any]:
    spec = {
        "collection": collection.name,
        "recipe_version": collection.recipe_version,
        "params": params,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    if collection.fingerprint is not None:
        spec["source"] = collection.fingerprint(params)
    if collection.artefacts:
        spec["pinned"] = {k: ARTEFACTS[k].sha256 for k in collection.artefacts}
    if collection.packages:
        spec["packages"] = check_packages(collection)
    return spec


def check_packages(collection: Collection) -> list[str]:
    """The collection's pinned packages, after checking that exactly those versions are installed:
    another spaCy or WordNet release would label the same text differently under the same name."""
    for pin in collection.packages:
        name, _, wanted = pin.partition("==")
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != wanted:
            have = f"{name} {installed} is installed" if installed else f"{name} is not installed"
            raise FeatureDataError(
                f"collection {collection.name!r} is pinned to {pin} but {have}: pip install '{pin}'"
            )
    return list(collection.packages)


def cache_path(cache_dir: str | Path, spec: dict[str, Any]) -> Path:
    """The entry's folder, named by collection (for people and analysis.neurons to find) and by
    the recipe's hash (so another recipe never reads it)."""
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{spec['collection']}-{key}"


def check_labels(ds: FeatureDataset, min_per_class: int) -> tuple[dict[str, float], dict[str, str]]:
    """(class balance of the usable features, {unusable feature: why}).

    A probe needs both classes, each with at least min_per_class examples. A feature without
    them is set aside with a warning naming it and the collection goes on; a collection with no
    usable feature at all is an error.
    """
    balance, unusable = {}, {}
    for j, feature in enumerate(ds.feature_names):
        positives = int(ds.labels[:, j].sum())
        negatives = ds.n_examples - positives
        if positives == 0 or negatives == 0:
            only = "1" if negatives == 0 else "0"
            unusable[feature] = (
                f"{ds.name}/{feature}: all {ds.n_examples} examples are labelled {only}; "
                "a probe needs both classes (use more or other text, or a different tokenizer)"
            )
        elif min(positives, negatives) < min_per_class:
            unusable[feature] = (
                f"{ds.name}/{feature}: too few examples ({positives} positive, {negatives} "
                f"negative; need {min_per_class} of each): add examples (a built-in collection: raise "
                "its size parameters)"
            )
        else:
            balance[feature] = round(positives / ds.n_examples, 4)
    if not balance:
        raise FeatureDataError("; ".join(unusable.values()))
    for reason in unusable.values():
        log.warning("skipping %s", reason)
    return balance, unusable


def build_feature_dataset(
    name: str,
    tokenizer,
    cache_dir: str | Path | None = None,
    min_per_class: int = 10,
    **params: Any,
) -> FeatureDataset:
    """Build (or load from cache_dir) the collection `name` for `tokenizer`.

    params override the collection's defaults (see COLLECTIONS[name].defaults). With cache_dir None
    nothing is read or written. meta records the recipe, the class balance and the sources used.
    """
    collection = get_collection(name)
    spec = recipe(collection, resolve_params(collection, params), tokenizer)
    path = cache_path(cache_dir, spec) if cache_dir is not None else None
    cached = load_cached(path, spec) if path is not None else None
    if cached is not None:
        return cached
    ds = collection.builder(tokenizer, **spec["params"])
    ds.meta["recipe"] = spec
    ds.meta["class_balance"], ds.meta["unusable"] = check_labels(ds, min_per_class)
    ds.meta = as_json(ds.meta)
    return save_cached(ds, path, spec, tokenizer) if path is not None else ds


def as_json(meta: dict[str, Any]) -> dict[str, Any]:
    """meta in the form the cache keeps it (JSON: tuples as lists, keys and paths as strings),
    so that a fresh build and a cached load of the same recipe give equal meta."""
    return json.loads(json.dumps(plain(meta), ensure_ascii=False, default=str))


def load_cached(path: Path, spec: dict[str, Any]) -> FeatureDataset | None:
    """The dataset cached at `path` if it is readable and was built from `spec`, else None; an
    entry that is not (damaged, or another recipe's) is removed, so a new one can take its name."""
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        cached, _, _ = read_export(path)
    except FeatureDataError as err:
        # Only a cache, so any damage means rebuild; read_export turns every way an entry can
        # break (truncated or rewritten arrow data, lost or edited JSON files, edited rows) into
        # this one error.
        why = getattr(err, "why", err)  # what broke, without the advice to copy an export again
        log.warning("cached feature dataset %s is unreadable (%s); rebuilding it", path, why)
        discard(path)
        return None
    if cached.meta.get("recipe") != spec:
        log.warning("cached feature dataset %s has a different recipe; rebuilding", path)
        discard(path)
        return None
    return cached


def discard(path: Path) -> None:
    """Remove a bad entry: first renamed away (one atomic step, so no reader meets it half
    deleted), then deleted. Another process may have removed it already."""
    trash = path.with_name(f".{path.name}.{os.getpid()}.discarded")
    shutil.rmtree(trash, ignore_errors=True)  # left by a killed process that had this id
    try:
        path.rename(trash)
    except FileNotFoundError:
        return
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash)
    else:
        trash.unlink()


def save_cached(ds: FeatureDataset, path: Path, spec: dict[str, Any], tokenizer) -> FeatureDataset:
    """Write `ds` as the entry `path` and return it. Where another process built the same recipe
    at the same time and its entry landed first (the export then finds the folder taken, or loses
    the rename), return that entry instead: the first whole entry stays and both jobs go on."""
    try:
        export_feature_dataset(ds, path, tokenizer)
    except (FeatureDataError, OSError) as err:
        if not path.exists():
            raise  # not a race: the export itself failed
        theirs = load_cached(path, spec)
        if theirs is None:
            raise FeatureDataError(
                f"cannot write the feature cache entry {path}: another process wrote a damaged "
                f"one there ({type(err).__name__}: {err}); run again"
            ) from None
        log.info("feature dataset %s was cached by another process first; using it", path)
        return theirs
    return ds

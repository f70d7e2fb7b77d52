"""Dense copies of the GGUF-packaged models, kept in the cache: a GGUF load pays every time.

transformers reads a GGUF's metadata in pure Python (once each for config, tokenizer and weights)
and dequantises every tensor: 16 s for SmolLM2-135M and 51 s for Gemma-3-270m on 2 cores, more
than the default run's probing. Saved once as safetensors with its tokenizer, the same model loads
in 0.2 s and 2 s, with the same weights, tokenizer, config hash and logits (tests/test_gguf_copies.py).

A copy is keyed by all that decides its values: the package and its version (which pin the GGUF),
the file, the dtype, and the transformers and gguf versions that dequantised it. It is written to
a temporary folder and renamed into place, so concurrent jobs never read half a copy (one rename
wins); a copy that no longer loads is set aside and rebuilt. A cache that refuses the write costs
one warning, never the run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

META = "probing-copy.json"  # written last into the temporary folder: what the copy is
STALE_SECONDS = 3600  # a temporary folder this old was left by a killed writer


def default_folder() -> Path | None:
    """The folder conf/config.yaml's paths.models names when nothing overrides it:
    $PROBING_MODELS (set but empty: none), else $PROBING_CACHE/models, else
    .cache/probing/models. For commands that load models without a composed config."""
    if "PROBING_MODELS" in os.environ:
        return Path(os.environ["PROBING_MODELS"]) if os.environ["PROBING_MODELS"] else None
    return Path(os.environ.get("PROBING_CACHE", ".cache/probing")) / "models"


def copy_folder(root: str | Path, package: str, version: str, gguf_file: str, dtype) -> Path:
    """Where the dense copy of `package`'s `gguf_file` in `dtype` lives under `root`."""
    dtype_name = str(dtype).removeprefix("torch.")
    key = [package, version, gguf_file, dtype_name, *map(_version, ("transformers", "gguf"))]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
    return Path(root) / f"{package}-{version}-{dtype_name}-{digest}"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def load_or_keep(
    folder: Path | None, dtype: torch.dtype, load: Callable[[], tuple[Any, Any]], config_hash
) -> tuple[Any, Any]:
    """(model, tokenizer) from the copy in `folder`, else from `load()` (the GGUF), keeping a
    copy there for the next load. folder None: no copy, `load()` alone. config_hash(config) must
    give the same hash for the copy as for the original (checked on every read)."""
    if folder is None:
        return load()
    if folder.is_dir():
        try:
            return _read(folder, dtype, config_hash)
        except Exception as err:  # truncated, edited, half deleted: whatever fails, rebuild
            log.warning("%s: the dense copy does not load (%s); rebuilding it", folder, err)
            _set_aside(folder)
    model, tokenizer = load()
    try:
        _write(folder, model, tokenizer, config_hash)
    except Exception as err:  # a full or read-only disk, a config that will not save
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        log.warning(
            "could not keep a dense copy of the model in %s (%s): the next run loads the GGUF "
            "again; point paths.models at a writable folder, or null to stop trying",
            folder.parent,
            reason,
        )
    return model, tokenizer


def _read(folder: Path, dtype: torch.dtype, config_hash) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = json.loads((folder / META).read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    model.config.architectures = meta["architectures"]  # as the GGUF's config had them
    if config_hash(model.config) != meta["config_hash"]:
        raise ValueError("its config is not the one it was saved with")
    return model, tokenizer


def _write(folder: Path, model: Any, tokenizer: Any, config_hash) -> None:
    """Save into a fresh temporary sibling, then rename it to `folder` (atomic on one file
    system); a copy another process renamed there first is kept and ours dropped.

    save_pretrained fills in the config's `architectures` (a GGUF's config has none), which
    would change its hash and so the name of every store: the model's own config is left as it
    was, the copy records the original value for the read, and a copy whose config would still
    read back with another hash is not kept (it could never be read as this model)."""
    from transformers import AutoConfig

    folder.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale(folder)
    digest = config_hash(model.config)
    temp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    config = model.config
    try:
        model.config = copy.deepcopy(config)
        try:
            model.save_pretrained(temp)
        finally:
            model.config = config
        saved = AutoConfig.from_pretrained(temp, local_files_only=True)
        saved.architectures = config.architectures
        if config_hash(saved) != digest:
            log.warning("%s: saving changes its config, so no dense copy is kept", folder.name)
            return
        tokenizer.save_pretrained(temp)
        meta = {"config_hash": digest, "architectures": config.architectures}
        (temp / META).write_text(json.dumps(meta))
        try:
            temp.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise  # not a lost race: the disk said no
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _set_aside(folder: Path) -> None:
    """Move a broken copy out of the way (readers never see it again), then delete it."""
    aside = folder.with_name(f".{folder.name}.broken-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(aside)
    except OSError:
        return  # another process set it aside first, or it cannot be moved: rebuilt anyway
    shutil.rmtree(aside, ignore_errors=True)


def _drop_stale(folder: Path) -> None:
    """Delete temporary folders of this copy left by writers killed an hour or more ago."""
    now = time.time()
    for temp in folder.parent.glob(f".{folder.name}.tmp-*"):
        try:
            if now - temp.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(temp, ignore_errors=True)
        except OSError:
            continue

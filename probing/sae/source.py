"""Where an SAE comes from (a folder, or a folder of a Hugging Face repo) and whether it fits
the model it is asked to read: checked before extraction, each problem one line."""

from __future__ import annotations

import logging
from pathlib import Path

from probing.hub import hub_reachable
from probing.sae.saved import SAEConfig, SAEError

log = logging.getLogger(__name__)


def resolve_sae_folder(path: str | None, release: str | None, sae_id: str | None) -> Path:
    """The local folder of `sae.path`, or of `sae.id` inside the hub repo `sae.release`
    (the HF cache first; the hub only when it is reachable)."""
    if path:
        return Path(path).expanduser()
    if not release:
        raise SAEError("hook=sae needs sae.path=DIR (an SAELens folder) or sae.release + sae.id")
    if "/" not in release:
        raise SAEError(
            f"sae.release={release!r} is a SAELens registry name, which needs sae-lens (it cannot "
            "be installed beside transformer-lens 4): give the Hugging Face repo and the SAE's "
            "folder in it, sae.release=OWNER/REPO sae.id=FOLDER, or download it and use sae.path"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = [f"{sae_id.strip('/')}/*"] if sae_id else ["cfg.json", "sae_weights.safetensors"]
    try:
        root = snapshot_download(release, allow_patterns=patterns, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        if not hub_reachable():
            raise SAEError(
                f"SAE {release}/{sae_id or ''} is not in the local Hugging Face cache and the hub "
                "is unreachable: download it where the hub is reachable, or use sae.path=DIR"
            ) from None
        root = snapshot_download(release, allow_patterns=patterns)
    return Path(root) / (sae_id or "")


def _normal(name: str | None) -> str:
    return (name or "").rsplit("/", 1)[-1].strip().lower()


def check_against_model(
    cfg: SAEConfig, model_name: str, hf_id: str | None, site_width: int | None
) -> None:
    """Refuse an SAE of another model (its model_name) or of another width than its site."""
    if cfg.model_name and _normal(cfg.model_name) not in {_normal(model_name), _normal(hf_id)}:
        raise SAEError(
            f"the SAE was trained on {cfg.model_name!r}, not {model_name!r}"
            + (f" ({hf_id})" if hf_id else "")
            + ": choose that model or an SAE of this one"
        )
    if not cfg.model_name:
        log.warning("the SAE's cfg.json names no model: assuming it was trained on %s", model_name)
    if site_width is not None and cfg.d_in != site_width:
        raise SAEError(
            f"the SAE's d_in is {cfg.d_in} but {cfg.hook_name} of {model_name} is {site_width} "
            "wide: it belongs to another model or site"
        )

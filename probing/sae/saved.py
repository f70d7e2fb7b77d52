"""A sparse autoencoder in SAELens's saved format, loaded and encoded without SAELens.

A folder with `cfg.json` and `sae_weights.safetensors`, as `sae_lens.SAE.save_model` writes it
(format 6: `metadata.model_name` / `metadata.hook_name`; older folders keep them at the top level,
with `hook_point` for `hook_name` and a top-k's k in `activation_fn_kwargs`).

Why not SAELens itself: sae-lens 6.54.12, the newest on PyPI, pins transformer-lens < 4 and its
modules import `transformer_lens.HookedTransformer` and `transformer_lens.components`, which
transformer-lens 4.3 (this project's) no longer has, so `import sae_lens` fails beside it. The
encode below follows SAELens's: `tests/data/sae_reference/` holds SAEs that SAELens itself saved
with the latents it computed (`scripts/sae_reference.py`), and a test pins ours equal to them.

Architectures (SAELens's names): "standard" (ReLU), "topk" (ReLU of the k largest
pre-activations, optionally scaled by decoder norms first) and "jumprelu" (ReLU where the
pre-activation exceeds a per-latent threshold).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import torch

from probing.errors import UserError

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
ARCHITECTURES = ("standard", "topk", "jumprelu")
NORMALIZATIONS = ("none", "layer_norm", "constant_norm_rescale")
# TransformerLens hook names an SAE may sit on, and the extraction site that reads them:
# blocks.L.hook_resid_pre is the residual stream after block L-1 (resid_post of L-1).
_SITE = re.compile(
    r"^blocks\.(\d+)\.(mlp\.hook_post|hook_mlp_out|hook_attn_out|hook_resid_post|hook_resid_pre)$"
)
_SITE_KEYS = {
    "mlp.hook_post": "mlp_post",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
    "hook_resid_post": "resid_post",
}


class SAEError(UserError, ValueError):
    """An SAE folder that cannot be used as asked; the message says what to fix."""


@dataclass(frozen=True)
class SAESite:
    """Where an SAE reads: the extraction hook ("resid_post"...) at `layer`."""

    hook: str
    layer: int


def site_of(hook_name: str) -> SAESite:
    """The extraction site of an SAE's TransformerLens `hook_name`."""
    match = _SITE.match(hook_name or "")
    if match is None:
        raise SAEError(
            f"SAE hook_name {hook_name!r} is not a site probing reads: use blocks.L.mlp.hook_post, "
            "blocks.L.hook_mlp_out, blocks.L.hook_attn_out, blocks.L.hook_resid_post or "
            "blocks.L.hook_resid_pre"
        )
    layer, name = int(match[1]), match[2]
    if name == "hook_resid_pre":
        if layer == 0:
            raise SAEError("SAE hook_name blocks.0.hook_resid_pre is the embeddings: not a layer")
        return SAESite("resid_post", layer - 1)
    return SAESite(_SITE_KEYS[name], layer)


@dataclass(frozen=True)
class SAEConfig:
    """What cfg.json says, checked: everything encoding and the store identity need."""

    architecture: str
    d_in: int
    d_sae: int
    hook_name: str
    model_name: str | None
    apply_b_dec_to_input: bool
    normalize_activations: str
    k: int | None
    rescale_acts_by_decoder_norm: bool

    @property
    def site(self) -> SAESite:
        return site_of(self.hook_name)


def read_config(folder: str | Path) -> SAEConfig:
    """cfg.json of an SAE folder, checked (SAEError, one line, for anything unusable)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise SAEError(f"sae.path={str(folder)!r} is not a folder")
    missing = [name for name in (CFG_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise SAEError(
            f"{folder} is not an SAE in SAELens's saved format: it has no {' or '.join(missing)}"
        )
    try:
        raw = json.loads((folder / CFG_FILE).read_text())
    except (OSError, ValueError) as err:
        raise SAEError(f"{folder / CFG_FILE} is not readable JSON ({err})") from None
    if not isinstance(raw, dict):
        raise SAEError(f"{folder / CFG_FILE} is not a JSON object")
    meta: dict = raw["metadata"] if isinstance(raw.get("metadata"), dict) else {}
    hook_name = meta.get("hook_name") or raw.get("hook_name") or raw.get("hook_point")
    model_name = meta.get("model_name") or raw.get("model_name")
    if model_name is not None and not isinstance(model_name, str):
        raise SAEError(f"{folder / CFG_FILE}: model_name must be a string, got {model_name!r}")
    kwargs = raw.get("activation_fn_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise SAEError(f"{folder / CFG_FILE}: activation_fn_kwargs must be an object")
    architecture = raw.get("architecture") or "standard"
    if architecture == "standard" and raw.get("activation_fn") == "topk" and kwargs.get("k"):
        architecture = "topk"  # a pre-6 SAELens top-k
    if architecture not in ARCHITECTURES:
        raise SAEError(
            f"{folder}: SAE architecture {architecture!r} is not supported (use one of "
            f"{list(ARCHITECTURES)})"
        )
    normalize = raw.get("normalize_activations") or "none"
    if normalize not in NORMALIZATIONS:
        raise SAEError(
            f"{folder}: normalize_activations={normalize!r} is not supported (use one of "
            f"{list(NORMALIZATIONS)}; fold a scaling factor into the weights first)"
        )
    if raw.get("reshape_activations", "none") not in ("none", None):
        raise SAEError(f"{folder}: reshaped (hook_z) SAEs are not supported")
    for key in ("d_in", "d_sae"):
        if not _integer(raw.get(key)) or raw[key] < 1:
            raise SAEError(f"{folder / CFG_FILE}: {key} must be a positive integer")
    k = raw.get("k", kwargs.get("k")) if architecture == "topk" else None
    if architecture == "topk" and not (_integer(k) and 1 <= k <= raw["d_sae"]):
        raise SAEError(f"{folder / CFG_FILE}: a topk SAE needs k in 1..d_sae, got {k!r}")
    for key in ("apply_b_dec_to_input", "rescale_acts_by_decoder_norm"):
        if not isinstance(raw.get(key, False), bool | None):  # "false" would read as true
            raise SAEError(f"{folder / CFG_FILE}: {key} must be true or false, got {raw[key]!r}")
    cfg = SAEConfig(
        architecture=architecture,
        d_in=raw["d_in"],
        d_sae=raw["d_sae"],
        hook_name=str(hook_name or ""),
        model_name=model_name,
        apply_b_dec_to_input=bool(raw.get("apply_b_dec_to_input", True)),
        normalize_activations=normalize,
        k=k,
        rescale_acts_by_decoder_norm=bool(raw.get("rescale_acts_by_decoder_norm", False)),
    )
    cfg.site  # noqa: B018  (an unreadable hook_name fails here, with the folder's other checks)
    return cfg


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no width


class SparseAutoencoder:
    """An SAE's weights and its encoder: `encode(x [..., d_in]) -> latents [..., d_sae]`."""

    def __init__(self, cfg: SAEConfig, weights: dict[str, torch.Tensor], digest: str, source: str):
        self.cfg = cfg
        self.digest = digest  # sha256 (12 hex) of cfg.json and the weights file
        self.source = source  # the folder (or hub repo/id) it came from
        expect = {
            "W_enc": (cfg.d_in, cfg.d_sae),
            "b_enc": (cfg.d_sae,),
            "W_dec": (cfg.d_sae, cfg.d_in),
            "b_dec": (cfg.d_in,),
        }
        if cfg.architecture == "jumprelu":
            if "threshold" not in weights and "log_threshold" in weights:
                weights = {**weights, "threshold": weights["log_threshold"].exp()}
            expect["threshold"] = (cfg.d_sae,)
        for name, shape in expect.items():
            tensor = weights.get(name)
            if tensor is None:
                raise SAEError(f"{source}: {WEIGHTS_FILE} has no {name}")
            if tuple(tensor.shape) != shape:
                raise SAEError(
                    f"{source}: {name} has shape {tuple(tensor.shape)}, cfg.json says {shape}"
                )
            if not torch.isfinite(tensor).all():  # NaN latents would stop extraction midway
                raise SAEError(f"{source}: {name} has non-finite values (NaN or inf)")
        self.weights = {name: weights[name].float() for name in expect}

    @property
    def name(self) -> str:
        """A short readable id: architecture, width, site and digest."""
        return f"{self.cfg.architecture}-{self.cfg.d_sae}@{self.cfg.hook_name}-{self.digest[:6]}"

    def to(self, device: torch.device | str) -> SparseAutoencoder:
        self.weights = {name: t.to(device) for name, t in self.weights.items()}
        return self

    def decoder_directions(self) -> torch.Tensor:
        """W_dec [d_sae, d_in]: each latent's direction in the site's space."""
        return self.weights["W_dec"]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [..., d_sae] (float32) of site activations x [..., d_in], as SAELens's
        `encode`: normalise, subtract b_dec (apply_b_dec_to_input), affine, activation."""
        w = self.weights
        x = x.float()
        if self.cfg.normalize_activations == "constant_norm_rescale":
            x = x * (self.cfg.d_in**0.5) / x.norm(dim=-1, keepdim=True)
        elif self.cfg.normalize_activations == "layer_norm":
            x = x - x.mean(dim=-1, keepdim=True)
            x = x / (x.std(dim=-1, keepdim=True) + 1e-5)
        if self.cfg.apply_b_dec_to_input:
            x = x - w["b_dec"]
        pre = x @ w["W_enc"] + w["b_enc"]
        if self.cfg.architecture == "standard":
            return pre.relu()
        if self.cfg.architecture == "jumprelu":
            return pre.relu() * (pre > w["threshold"])
        if self.cfg.rescale_acts_by_decoder_norm:
            pre = pre * w["W_dec"].norm(dim=-1)
        values, indices = pre.topk(self.cfg.k or 1, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, indices, values.relu())


def load_sae(folder: str | Path, source: str | None = None) -> SparseAutoencoder:
    """The SAE saved in `folder` (SAEError if it is not one)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    cfg = read_config(folder)
    try:
        weights = load_file(folder / WEIGHTS_FILE)
    except (SafetensorError, OSError) as err:
        raise SAEError(
            f"{folder / WEIGHTS_FILE} is not a readable safetensors file ({err})"
        ) from None
    digest = hashlib.sha256()
    digest.update((folder / CFG_FILE).read_bytes())
    with open(folder / WEIGHTS_FILE, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return SparseAutoencoder(cfg, weights, digest.hexdigest()[:12], source or str(folder))


def save_sae(
    folder: str | Path,
    cfg: SAEConfig,
    weights: dict[str, torch.Tensor],
    metadata: dict | None = None,
) -> Path:
    """Write an SAE as SAELens 6 does (cfg.json + sae_weights.safetensors), so SAELens and
    SAE tools load it too; refuses to overwrite a folder that holds something else."""
    from safetensors.torch import save_file

    folder = Path(folder).expanduser()
    if folder.exists() and any(p.name not in (CFG_FILE, WEIGHTS_FILE) for p in folder.iterdir()):
        raise SAEError(f"{folder} holds other files: refusing to write an SAE into it")
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalize_activations": cfg.normalize_activations,
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": "6.0.0",  # the format written, so SAELens reads it as format 6
            "model_name": cfg.model_name,
            "hook_name": cfg.hook_name,
            "hook_head_index": None,
            "prepend_bos": True,
            **(metadata or {}),
        },
        "architecture": cfg.architecture,
    }
    if cfg.architecture == "topk":
        config.update(k=cfg.k, rescale_acts_by_decoder_norm=cfg.rescale_acts_by_decoder_norm)
    tensors = {name: t.detach().float().contiguous().cpu() for name, t in weights.items()}
    save_file(tensors, folder / WEIGHTS_FILE)
    (folder / CFG_FILE).write_text(json.dumps(config, indent=2))
    return folder

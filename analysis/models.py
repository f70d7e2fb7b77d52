"""Model scale facts the result rows lack: depth (for relative depth) and size (to order models).

Rows carry d_mlp but not the number of layers or parameters. They come from the model's config
(conf/model/<name>.yaml: n_layers, d_mlp, n_params, their only home); an unknown model falls back to the deepest layer seen + 1 and d_mlp * n_layers, which is exact for `layer=all`
and `layer=quartiles` (both include the last layer).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

CONF_MODELS = Path(__file__).resolve().parents[1] / "conf" / "model"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    n_layers: int
    d_mlp: int
    params: int | None  # total parameters; None where not known

    @property
    def neurons(self) -> int:
        return self.n_layers * self.d_mlp


def known_models() -> dict[str, ModelInfo]:
    """Every model conf/model/ describes, with its stated size: the one home of these facts."""
    out = {}
    for path in sorted(CONF_MODELS.glob("*.yaml")):
        facts = _configured(path.stem)
        if "n_layers" in facts and "d_mlp" in facts:
            out[path.stem] = ModelInfo(
                path.stem, facts["n_layers"], facts["d_mlp"], facts.get("n_params")
            )
    return out


def model_info(name: str, results: pd.DataFrame | None = None) -> ModelInfo:
    """Known facts for `name`, else what its rows in `results` show."""
    base = name.split("#", 1)[0].split("@", 1)[0]  # "model@revision#hook": the model's shape
    facts = _configured(base)
    if "n_layers" in facts and "d_mlp" in facts:
        return ModelInfo(name, facts["n_layers"], facts["d_mlp"], facts.get("n_params"))
    if results is None or "model" not in results or not (results["model"] == name).any():
        raise KeyError(f"model {name!r} is neither known nor in the results")
    rows = results[results["model"] == name]
    d_mlp = int(rows["d_mlp"].max()) if "d_mlp" in rows and rows["d_mlp"].notna().any() else 0
    return ModelInfo(name, int(rows["layer"].max()) + 1, d_mlp, None)


@functools.lru_cache(maxsize=64)
def _configured(name: str) -> dict[str, int]:
    """n_layers, d_mlp and n_params as conf/model/<name>.yaml states them (those it has)."""
    path = CONF_MODELS / f"{name}.yaml"
    try:
        config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception:  # no such config, or one that needs the full composition to resolve
        return {}
    if not isinstance(config, dict):  # a config file that is no mapping states nothing
        return {}
    return {k: v for k in ("n_layers", "d_mlp", "n_params") if isinstance(v := config.get(k), int)}


def order_models(models: list[str], results: pd.DataFrame | None = None) -> list[str]:
    """Smallest first: by parameter count when every model has one, else by neuron count."""
    infos = [model_info(m, results) for m in models]
    if all(i.params is not None for i in infos):
        return [i.name for i in sorted(infos, key=lambda i: (i.params, i.name))]
    return [i.name for i in sorted(infos, key=lambda i: (i.neurons, i.name))]


def relative_depth(layer: int, n_layers: int) -> float:
    """0 for the first layer, 1 for the last, so models of different depth line up."""
    return layer / (n_layers - 1) if n_layers > 1 else 0.0

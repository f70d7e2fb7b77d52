"""The config schema: every key a run reads, its type and its range, checked right after Hydra
composes the config and before any model or data loads.

A bad value costs seconds, never a GPU job: `python -m probing.run` validates its config, a
multirun validates every job before the first one starts (or is submitted to SLURM), and
`launch.estimate` validates what it prices. Problems are reported together, on one line, each
with its key path (`probe.ks[1]`), so one edit fixes them all.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import re
import secrets
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from typing import Annotated, Any, Literal, TypeVar

from omegaconf import DictConfig, OmegaConf

from probing.errors import ConfigError

# `${unique:}` in conf/config.yaml's run and sweep directories: random, and cached like Hydra's
# `${now:}`, so a sweep's jobs (SLURM ones included: Hydra copies resolver caches) agree on it.
OmegaConf.register_new_resolver(
    "unique", lambda: secrets.token_hex(3), use_cache=True, replace=True
)


@dataclass(frozen=True)
class Range:
    """Bounds for a number: lo <= x <= hi, or lo < x < hi where `open_` says so."""

    lo: float | None = None
    hi: float | None = None
    open_: bool = False

    def problem(self, x: float) -> str | None:
        if isinstance(x, float) and not math.isfinite(x):
            return "must be finite"
        if self.lo is not None and (x <= self.lo if self.open_ else x < self.lo):
            return f"must be {'>' if self.open_ else '>='} {_bound(self.lo)}"
        if self.hi is not None and (x >= self.hi if self.open_ else x > self.hi):
            return f"must be {'<' if self.open_ else '<='} {_bound(self.hi)}"
        return None


@dataclass(frozen=True)
class FolderName:
    """A name that is also one folder's name (the activation stores of model.name sit in it)."""

    def problem(self, x: str) -> str | None:
        bad = not x.strip() or x in (".", "..") or any(c in x for c in "/\\") or not x.isprintable()
        return "must name one folder: not empty, no / or \\, not . or .." if bad else None


def _bound(x: float) -> str:
    """A bound as written: 4294967295, not 4.29497e+09."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


T = TypeVar("T")

Positive = Annotated[int, Range(1)]
NonNegative = Annotated[int, Range(0)]
Seed = Annotated[int, Range(0, 2**32 - 1)]  # what numpy's RandomState takes


@dataclass(frozen=True)
class Paths:
    cache: str
    features: str
    activations: str
    models: str | None = None  # dense copies of GGUF-packaged models (None: none kept)


@dataclass(frozen=True)
class Store:
    dtype: Literal["float16", "float32"] = "float16"
    chunk_sequences: Literal["auto"] | Positive = "auto"
    lock_timeout_min: Annotated[float, Range(0, open_=True)] = 720.0


@dataclass(frozen=True)
class Slurm:
    """What a job of this model asks SLURM for; None: the launcher's own value (conf/hydra/
    launcher, as hydra_plugins/probing_launchers/sized_slurm.py reads it)."""

    mem_gb: Annotated[float, Range(0, open_=True)] | None = None
    timeout_min: Positive | None = None


@dataclass(frozen=True)
class Model:
    name: Annotated[str, FolderName()]
    source: Literal["hub", "gguf_package", "random_gpt_neox"]
    hf_id: str | None = None
    revision: str | None = None
    package: str | None = None
    gguf_file: str | None = None
    architectures: list[str] | None = None
    config: dict | None = None
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: Positive = 16
    n_layers: Positive | None = None
    d_mlp: Positive | None = None
    n_params: Positive | None = None
    slurm: Slurm | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    only: list[str] | None = None
    params: dict = field(default_factory=dict)
    # A smaller size preset (conf/feature/quick/*) says so here; the run prints it.
    preset: str | None = None
    # feature=custom/file and custom/hub: where the user's table is; feature=paper/...: which
    # copy of the paper's dataset (a hub id or a local folder) and split.
    path: str | None = None
    hf: str | None = None
    split: str | None = None
    hf_config: str | None = None


@dataclass(frozen=True)
class Probe:
    method: str
    backend: str = "auto"
    C: Annotated[float, Range(0, open_=True)] = 1.0
    seed: Seed = 0
    ks: list[Positive] | None = None
    test_fraction: Annotated[float, Range(0, 1, open_=True)] = 0.2
    val_fraction: Annotated[float, Range(0, 1)] = 0.2
    rotate: bool = False


@dataclass(frozen=True)
class Baselines:
    ks: list[Positive] = field(default_factory=lambda: [1])
    permutations: NonNegative = 200
    random_supports: NonNegative = 20


@dataclass(frozen=True)
class Duplicates:
    mode: Literal["merge", "warn"] = "merge"
    near_jaccard: Annotated[float, Range(0, 1)] = 0.8


@dataclass(frozen=True)
class Sae:
    """hook=sae: the SAE whose latents are probed (beside the neurons of its layer)."""

    path: str | None = None  # a folder in SAELens's saved format
    release: str | None = None  # a Hugging Face repo (OWNER/REPO) holding SAE folders ...
    id: str | None = None  # ... and the folder in it


@dataclass(frozen=True)
class Layer:
    layers: Literal["all", "middle", "quartiles"] | int | list[int]


@dataclass(frozen=True)
class Config:
    model: Model
    feature: Feature
    probe: Probe
    layer: Layer
    paths: Paths
    store: Store = field(default_factory=Store)
    baselines: Baselines = field(default_factory=Baselines)
    duplicates: Duplicates = field(default_factory=Duplicates)
    logger: dict | None = None
    seed: Seed = 0
    progress: bool = True
    # what is probed: mlp_post (the MLP's neurons), a residual-stream-wide vector, or an SAE's
    # latents (sae) beside the neurons of the SAE's layer
    hook: Literal["mlp_post", "mlp_out", "attn_out", "resid_post", "sae"] = "mlp_post"
    sae: Sae = field(default_factory=Sae)


def validate_config(cfg: DictConfig | Mapping[str, Any], table: Any = None) -> Config:
    """The composed config (the `hydra` node aside) as a frozen, typed Config; a ConfigError
    names every problem, on one line.

    `table`: a DataFrame given from Python for feature=custom, checked instead of feature.path.
    """
    plain = _plain(cfg)
    problems: list[str] = []
    _check(Config, plain, "", problems)
    # Cross-field and registry checks, on the sections whose types are right, read with the
    # schema's defaults filled in.
    bad = {m[1] for p in problems if (m := re.match(r"(?:unknown key )?([\w.\[\]+]+)", p))}

    def ok(path: str) -> bool:
        return not any(b == path or b.startswith((f"{path}.", f"{path}[")) for b in bad)

    filled = _with_defaults(Config, plain)
    _check_semantics(filled, ok, problems, table)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    return _build(Config, filled)


def parse_config(cfg: DictConfig | Mapping[str, Any]) -> Config:
    """The typed Config of a config whose values are checked against the schema only: for a
    past run's saved config (`.hydra/config.yaml`), whose files and devices were this machine's
    concern when it ran, not now."""
    plain = _plain(cfg)
    problems: list[str] = []
    _check(Config, plain, "", problems)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    return _build(Config, _with_defaults(Config, plain))


def _plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Plain, resolved containers, without the `hydra` node."""
    if isinstance(cfg, DictConfig):
        try:  # node by node: the hydra node holds values only a running job has
            return {
                str(k): OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
                for k, v in cfg.items_ex(resolve=True)
                if k != "hydra"
            }
        except Exception as err:  # an interpolation that does not resolve
            missing = re.search(r"Missing mandatory value: (\S+)", str(err))
            if missing:
                raise ConfigError(f"{missing[1]} is required: add {missing[1]}=...") from None
            raise ConfigError(f"config does not resolve: {_one_line(err)}") from None
    return {str(k): copy.deepcopy(v) for k, v in cfg.items() if k != "hydra"}


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass a schema type holds (Slurm of `Slurm | None`), or None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found = [t for t in typing.get_args(tp) if isinstance(t, type) and is_dataclass(t)]
        return found[0] if found else None
    return tp if isinstance(tp, type) and is_dataclass(tp) else None


def _with_defaults(schema: type, value: Any) -> Any:
    """`value` with every absent key of `schema` that has a default set to it, section by
    section: the schema's defaults are the only defaults."""
    if not isinstance(value, dict):
        return value
    hints = typing.get_type_hints(schema)
    out = dict(value)
    for f in fields(schema):
        nested = _dataclass_of(hints[f.name])
        if f.name in out:
            if nested is not None:
                out[f.name] = _with_defaults(nested, out[f.name])
        elif f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            made = f.default_factory()
            out[f.name] = (
                asdict(made) if is_dataclass(made) and not isinstance(made, type) else made
            )
    return out


def _build(schema: type[T], value: dict[str, Any]) -> T:
    """The dataclass instance of a checked, defaulted mapping; values stay as they were given
    (an int where a float is allowed stays an int), so what hashes them does not change."""
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for f in fields(schema):  # type: ignore[arg-type]
        item = value[f.name]
        nested = _dataclass_of(hints[f.name])
        kwargs[f.name] = _build(nested, item) if nested and isinstance(item, dict) else item
    return schema(**kwargs)


# -- types ---------------------------------------------------------------------------------------


def _check(schema: type, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path or 'config'} must be a mapping, got {value!r}")
        return
    known = {f.name: f for f in fields(schema)}
    for key in value:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {_join(path, near[0])}?)" if near else ""
            problems.append(f"unknown key {_join(path, key)}{hint}")
    hints = typing.get_type_hints(schema, include_extras=True)
    for name, f in known.items():
        where = _join(path, name)
        if name not in value:
            if f.default is MISSING and f.default_factory is MISSING:
                problems.append(f"{where} is missing")
            continue
        _check_value(hints[name], value[name], where, problems)


def _check_value(tp: Any, value: Any, path: str, problems: list[str]) -> None:
    error = _type_error(tp, value, path, problems)
    if error:
        problems.append(f"{path}={value!r} {error}")


def _type_error(tp: Any, value: Any, path: str, problems: list[str]) -> str | None:
    """None if `value` fits `tp` (nested problems go to `problems`), else what is wrong."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        error = _type_error(base, value, path, problems)
        if error is None:
            for m in meta:
                if isinstance(m, Range | FolderName) and (why := m.problem(value)):
                    return why
        return error
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            trial: list[str] = []
            error = _type_error(option, value, path, trial)
            if error is None and not trial:
                return None
            errors.append(error or trial[0])
        return " or ".join(dict.fromkeys(e for e in errors if e))
    if origin is Literal:
        allowed = typing.get_args(tp)
        return None if value in allowed else f"is not one of {list(allowed)}"
    if origin is list:
        if not isinstance(value, list):
            return "must be a list"
        if not value:
            return "must not be empty"
        (item,) = typing.get_args(tp)
        for i, v in enumerate(value):
            _check_value(item, v, f"{path}[{i}]", problems)
        return None
    if isinstance(tp, type) and is_dataclass(tp):
        _check(tp, value, path, problems)
        return None
    if tp is dict:
        return None if isinstance(value, dict) else "must be a mapping"
    if tp is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if tp is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an int"
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if tp is str:
        return None if isinstance(value, str) else "must be a string"
    raise TypeError(f"schema type {tp!r} at {path} is not handled")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _one_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


# -- meaning -------------------------------------------------------------------------------------

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _check_semantics(cfg: dict, ok: Callable[[str], bool], problems: list[str], table=None) -> None:
    """Checks that need well-typed values: each runs when the keys it reads type-checked."""
    # `cfg` has the schema's defaults filled in; a section that is missing or not a mapping
    # was reported by the type check, and only the checks that do not read it run.
    model = cfg["model"] if ok("model") else {}
    if model:
        _check_device(model["device"], problems)
        if model["source"] == "gguf_package" and not (model["package"] and model["gguf_file"]):
            problems.append("model.source=gguf_package needs model.package and model.gguf_file")
    probe = cfg["probe"] if isinstance(cfg.get("probe"), dict) else {}
    if ok("probe.method") and "method" in probe:
        _check_method(probe["method"], probe["backend"], problems)
    if ok("probe.test_fraction") and ok("probe.val_fraction") and probe:
        if probe["val_fraction"] + probe["test_fraction"] >= 1:
            problems.append("probe.val_fraction + probe.test_fraction must be < 1")
    width = model["d_mlp"] if model and cfg.get("hook") == "mlp_post" else None  # else d_model
    if ok("probe.ks") and probe and probe["ks"]:
        _check_ks(probe["ks"], width, problems)
    if ok("probe.ks") and ok("baselines") and probe:
        _check_baseline_ks(cfg["baselines"], probe["ks"], width, problems)
    if ok("feature"):
        _check_feature(cfg["feature"], problems, table)
    if ok("layer"):
        _check_layers(cfg["layer"]["layers"], model["n_layers"] if model else None, problems)
    if ok("logger") and cfg["logger"]:
        _check_logger(cfg["logger"], problems)
    if ok("hook") and ok("sae") and ok("model"):
        _check_sae(cfg["hook"], cfg["sae"], model, problems)


def _check_sae(hook: str, sae: dict, model: dict, problems: list[str]) -> None:
    """hook=sae names an SAE folder (or a hub repo and folder) fit for this model; its weights
    are read after the model loads, its cfg.json now."""
    given = [key for key in ("path", "release", "id") if sae[key]]
    if hook != "sae":
        if given:
            problems.append(f"sae.{given[0]} is read only with hook=sae (hook={hook})")
        return
    if bool(sae["path"]) == bool(sae["release"]):
        problems.append(
            "hook=sae needs one of sae.path=DIR (an SAE in SAELens's saved format) or "
            "sae.release=OWNER/REPO sae.id=FOLDER"
        )
        return
    if not sae["path"]:
        return  # a hub repo: resolved (from the HF cache or the hub) when the job starts
    from probing.sae import SAEError, check_against_model, read_config

    try:
        sae_cfg = read_config(sae["path"])
        if model:
            width = model["d_mlp"] if sae_cfg.site.hook == "mlp_post" else None
            check_against_model(sae_cfg, model["name"], model["hf_id"], width)
    except SAEError as err:
        problems.append(str(err))


def _check_device(device: str, problems: list[str]) -> None:
    if not _DEVICE.match(device):
        problems.append(f"model.device={device!r} is not one of auto, cpu, cuda, cuda:N, mps")
        return
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            problems.append(
                f"model.device={device} but torch {torch.__version__} sees no CUDA GPU here: "
                "use model.device=auto (CUDA where present, else CPU)"
            )
        elif ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
            problems.append(f"model.device={device}: only {torch.cuda.device_count()} GPU(s)")


def _check_method(method: str, backend: str | None, problems: list[str]) -> None:
    from probing.probes import RANKERS
    from probing.probes.backends import BACKENDS, cuml_backend
    from probing.probes.fit import PER_K_METHODS

    methods = sorted([*RANKERS, *PER_K_METHODS])
    if method not in methods:
        problems.append(f"probe.method={method!r} is not one of {methods}")
    backends = ["auto", *BACKENDS]
    if not isinstance(backend, str):
        return  # reported by the type check
    if backend not in backends:
        problems.append(f"probe.backend={backend!r} is not one of {backends}")
    elif backend == "cuml" and not cuml_backend.available():
        problems.append(f"probe.backend=cuml: {cuml_backend.INSTALL_HINT}")


def _check_ks(ks: list[int], d_mlp: int | None, problems: list[str]) -> None:
    if len(set(ks)) != len(ks):
        problems.append(f"probe.ks={ks} has duplicates")
    if d_mlp is not None:
        too_big = [k for k in ks if k > d_mlp]
        if too_big:
            problems.append(f"probe.ks has {too_big} > model.d_mlp={d_mlp} (k counts neurons)")


def _check_baseline_ks(
    baselines: dict, ks: list[int] | None, width: int | None, problems: list[str]
) -> None:
    """The null and random supports are refits of probed ks: at a k the run does not probe they
    would be skipped, and the summary's null, p and random columns left empty without a word."""
    if not (baselines["permutations"] or baselines["random_supports"]):
        return
    if ks is None:  # the paper's list of the layer's width
        if width is None:
            return
        from probing.probes import paper_k_list

        ks = paper_k_list(width)
    unprobed = [k for k in baselines["ks"] if k not in ks]
    if unprobed:
        problems.append(
            f"baselines.ks has {unprobed}, not in probe.ks={ks}: the permutation null and random "
            f"supports refit probed ks only; add them to probe.ks, or set baselines.ks to probed "
            f"ks (baselines.permutations=0 baselines.random_supports=0 for none)"
        )


def feature_problems(name: str, params: dict[str, Any]) -> list[str]:
    """What validate_config finds wrong with feature=name and these feature.params, for a command
    that builds a collection without a whole config (`python -m probing.features build --set`):
    else the builder meets a bad value deep inside (n_sequences=-1: numpy's concatenate error)."""
    problems: list[str] = []
    _check_feature(asdict(Feature(name=name, params=params)), problems)
    return problems


def _check_feature(feature: dict, problems: list[str], table=None) -> None:
    from probing.features import COLLECTIONS

    collection = COLLECTIONS.get(feature["name"])
    if collection is None:
        problems.append(f"feature={feature['name']!r} is not one of {sorted(COLLECTIONS)}")
        return
    unknown = sorted(set(feature["params"]) - set(collection.defaults))
    if unknown:
        problems.append(
            f"feature.params has no {unknown} for {collection.name} "
            f"(it takes {sorted(collection.defaults)})"
        )
    typed = len(problems)
    for key, value in feature["params"].items():
        default = collection.defaults.get(key)
        if default is not None and value is not None:
            why = _param_problem(key, default, value)
            if why:
                problems.append(f"feature.params.{key}={value!r} {why}")
    if collection.check is not None and len(problems) == typed and not unknown:
        from probing.features import FeatureDataError

        try:  # what the builder would refuse, before any job builds it
            collection.check({**collection.defaults, **feature["params"]})
        except FeatureDataError as err:
            problems.append(str(err))
    if collection.name == "custom":
        _check_custom(feature, collection.defaults, problems, table)
        return
    given = [
        k
        for k in ("path", "hf", "split", "hf_config")
        if feature[k] is not None and k not in collection.defaults
    ]
    if given:
        problems.append(
            f"feature.{given[0]} is for your own data (feature=custom/file or custom/hub), "
            f"not {collection.name}"
        )
    only = feature["only"] or []
    if collection.names is not None and len(problems) == typed and not unknown:
        named = set(collection.names({**collection.defaults, **feature["params"]}))
    else:  # features that follow a list parameter (languages, genres) are named by its items
        named = set(collection.features) | {
            str(item) for v in feature["params"].values() if isinstance(v, list) for item in v
        }
    missing = sorted(set(only) - named)
    if missing:
        problems.append(f"feature.only names {missing}, not in {collection.name} ({sorted(named)})")
    if "hf" in collection.defaults:  # the paper's datasets: a missing copy costs seconds, not a job
        from probing.features.sources.hub import source_problem

        problem = source_problem(feature["params"])
        if problem:
            problems.append(problem)
        elif _is_local(feature["params"].get("hf")):  # a local copy: its schema, now
            from probing.features import FeatureDataError
            from probing.features.paper.collections import check_schema

            try:
                check_schema(collection.name, {**collection.defaults, **feature["params"]})
            except FeatureDataError as err:
                problems.append(str(err))


def _is_local(hf: Any) -> bool:
    from pathlib import Path

    return isinstance(hf, str) and Path(hf).expanduser().is_dir()


def _check_custom(
    feature: dict, defaults: dict[str, Any], problems: list[str], table: Any = None
) -> None:
    """Read and check the user's table now: a bad file costs seconds, not a model load."""
    from probing.features import FeatureDataError
    from probing.features.core.export import is_export
    from probing.features.core.tables import check_table, feature_columns
    from probing.features.custom import read_source

    params = {**defaults, **feature["params"]}  # the builder's defaults: its only defaults
    if table is None and is_export(params["path"]):
        _check_export(feature, problems)
        return
    try:
        if table is None:
            table = read_source(
                params["path"],
                params["hf"],
                params["split"],
                params["hf_config"],
                params["tag_column"],
            )
        level = check_table(table, params["level"], params["text_column"], params["group_column"])
        if level == "sequence" and params["aggregation"] not in ("mean", "max"):
            problems.append(
                f"feature.params.aggregation={params['aggregation']!r}: use mean or max"
            )
    except FeatureDataError as err:
        problems.append(str(err))
        return
    columns = feature_columns(table, params["text_column"], params["group_column"])
    missing = sorted(set(feature["only"] or []) - set(columns))
    if missing:
        problems.append(f"feature.only names {missing}, not columns of the table ({columns})")


def _check_export(feature: dict, problems: list[str]) -> None:
    """An exported feature dataset is loaded and checked against its hashes now, before a model."""
    from probing.features import FeatureDataError
    from probing.features.core.export import load_export

    try:
        features = load_export(feature["params"]["path"]).feature_names
    except FeatureDataError as err:
        problems.append(str(err))
        return
    missing = sorted(set(feature["only"] or []) - set(features))
    if missing:
        problems.append(f"feature.only names {missing}, not features of the export ({features})")


# Integer parameters that may be 0; every other integer parameter with a positive default is a
# count or a length and must be at least 1.
_MAY_BE_ZERO = ("min_pos", "seed", "min_bytes", "max_rows", "max_sentences")


def _param_problem(key: str, default: Any, value: Any) -> str | None:
    """Why `value` cannot stand for a builder parameter whose default is `default`, or None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be an int (default {default})"
        floor = 0 if key in _MAY_BE_ZERO or default <= 0 else 1
        return None if value >= floor else f"must be >= {floor}"
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok and math.isfinite(value) else "must be a finite number"
    if isinstance(default, list):
        if not isinstance(value, list):
            return f"must be a list like {default!r}"
        kinds = {type(v) for v in default}
        if len(kinds) == 1:
            for item in value:
                why = _param_problem(key, default[0], item)
                if why:
                    return f"has {item!r}, which {why}"
        return None
    return None if isinstance(value, type(default)) else f"must be like its default {default!r}"


def _check_layers(layers: Any, n_layers: int | None, problems: list[str]) -> None:
    if isinstance(layers, str) or n_layers is None:
        return
    for i in [layers] if isinstance(layers, int) else layers:
        if not -n_layers <= i < n_layers:
            problems.append(
                f"layer.layers has {i}: the model has {n_layers} layers "
                f"(0..{n_layers - 1}, negative from the end)"
            )


def _check_logger(logger: dict, problems: list[str]) -> None:
    import importlib

    target = logger.get("_target_")
    if not isinstance(target, str) or "." not in target:
        problems.append(
            "logger._target_ must name a logger class, e.g. probing.loggers.WandbLogger"
        )
        return
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        problems.append(f"logger._target_={target!r} does not exist")
        return
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(k for k in logger if k != "_target_" and k not in params)
    if unknown:
        problems.append(f"logger has no {unknown} (it takes {sorted(params)})")
    mode = logger.get("mode")
    if "mode" in params and mode not in (None, "auto", "online", "offline", "disabled"):
        problems.append(f"logger.mode={mode!r} is not one of auto, online, offline, disabled")

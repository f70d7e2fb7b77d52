"""Every member of every config group composes, so a broken yaml fails here, not on a cluster."""

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ["model", "feature", "probe", "layer", "logger"]
MODEL_KEYS = {"name", "source", "device", "dtype", "batch_size", "revision"}


def members(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture
def compose_cfg():
    def _compose(overrides: list[str]):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)

    yield _compose
    GlobalHydra.instance().clear()


def test_every_group_has_members():
    for group in GROUPS:
        assert members(group), f"conf/{group}/ is empty"
    assert {"smollm2-135m", "tiny-pythia", "pythia-70m", "pythia-6.9b"} <= set(members("model"))
    assert len([m for m in members("model") if m.startswith("pythia-")]) == 7


@pytest.mark.parametrize("group,member", [(g, m) for g in GROUPS for m in members(g)])
def test_member_composes_and_resolves(compose_cfg, group, member):
    cfg = compose_cfg([f"{group}={member}"])
    container = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert container[group] is not None
    if group == "model":
        assert MODEL_KEYS <= set(cfg.model), f"model/{member} lacks {MODEL_KEYS - set(cfg.model)}"
        assert cfg.model.name == member
    if group == "feature":
        from probing.config import validate_config
        from probing.features import COLLECTIONS

        assert cfg.feature.name in COLLECTIONS
        validate_config(compose_cfg([f"{group}={member}", "model=tiny-pythia"]))
    if group == "probe":
        import numpy as np

        from probing.probes import SparseProbe

        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(40, 6)).astype(np.float32), np.arange(40) % 2
        probe = SparseProbe(k=2, method=cfg.probe.method, backend=cfg.probe.backend).fit(X, y)
        assert len(probe.support_) == 2  # the method and backend names are known


def test_defaults_are_the_offline_default(compose_cfg):
    cfg = compose_cfg([])
    assert cfg.model.name == "smollm2-135m" and cfg.model.source == "gguf_package"
    assert cfg.layer.layers == "all"


def test_glob_of_features_is_the_ten_builtin_collections():
    """feature='glob(*)' (the paper sweep) must not pick up feature=custom/..., which needs a
    file: the custom configs live one folder down."""
    from launch.estimate import expand
    from probing.features import CATEGORIES

    _, jobs = expand(["feature=glob(*)", "model=tiny-pythia"])
    assert sorted(j.feature.name for j in jobs) == sorted(CATEGORIES)


@pytest.mark.parametrize("member,source", [("custom/file", "path"), ("custom/hub", "hf")])
def test_custom_members_compose_and_need_their_source(compose_cfg, member, source):
    from probing.config import validate_config
    from probing.errors import ConfigError

    cfg = compose_cfg(["model=tiny-pythia", f"feature={member}"])
    assert cfg.feature.name == "custom"
    with pytest.raises(ConfigError, match=f"feature.{source} is required"):
        validate_config(cfg)


def test_validate_config_returns_a_frozen_typed_config_with_the_schemas_defaults(compose_cfg):
    import dataclasses

    from probing.config import Config, Store, validate_config

    composed = OmegaConf.to_container(compose_cfg(["model=tiny-pythia"]), resolve=True)
    config = validate_config(composed)
    assert isinstance(config, Config) and config.model.d_mlp == 256
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.probe.method = "l1"  # type: ignore[misc]
    bare = {k: v for k, v in composed.items() if k not in ("store", "hook", "sae")}
    bare["probe"] = {k: v for k, v in composed["probe"].items() if k != "val_fraction"}
    config = validate_config(bare)  # what a plain dict leaves out, the dataclasses fill in
    assert config.store == Store() and config.hook == "mlp_post" and config.sae.path is None
    assert config.probe.val_fraction == 0.2


JOBS = [[f"probe={m}"] for m in members("probe")] + [
    [f"feature={m}"] for m in members("feature")
] + [["hook=resid_post", "probe.rotate=true", "probe.C=2", "layer=list", "seed=3"],
     ["model=pythia-70m", "model.revision=step1000", "probe.ks=[1,2]", "duplicates.mode=warn"],
     ["hook=sae", "sae.path=/saes/a"], ["hook=sae", "sae.release=o/r", "sae.id=x"]]  # fmt: skip


@pytest.mark.parametrize("overrides", JOBS, ids=" ".join)
def test_a_typed_config_keys_results_and_wandb_runs_as_the_composed_one_did(compose_cfg, overrides):
    """run_key hashes asdict(config.probe), baselines and duplicates; W&B's run id and tags come
    from asdict(config). For a composed config each must be what the DictConfig gave before the
    Config was typed, or a requeued job would not find its rows and its W&B run."""
    import json
    from dataclasses import asdict

    from probing.config import parse_config
    from probing.experiment import baselines_of, duplicates_of
    from probing.loggers import config_tags, run_id

    cfg = compose_cfg(["model=tiny-pythia", *overrides])
    config = parse_config(cfg)  # the types only: /saes/a need not exist here
    before = OmegaConf.to_container(cfg, resolve=True)
    after = asdict(config)
    assert json.dumps(after["probe"], sort_keys=True) == json.dumps(before["probe"], sort_keys=True)
    assert run_id(after, "g") == run_id(before, "g")
    assert config_tags(after) == config_tags(before)
    assert duplicates_of(config) == before["duplicates"]
    spec = before["baselines"]
    assert asdict(baselines_of(config)) == {
        "ks": tuple(spec["ks"]),
        "permutations": spec["permutations"],
        "random_supports": spec["random_supports"],
    }


@pytest.mark.parametrize(
    "collection, value, message",
    [
        ("programming_language", "languages=[]", "needs 2+ languages"),
        ("programming_language", "languages=[python,klingon]", "needs 2+ languages"),
        ("text_source", "genres=[docstring]", "needs 2+ genres"),
        ("natural_language", "languages=[de,de]", "needs 2+ distinct languages"),
        ("natural_language", "languages=[en]", "needs 2+ distinct languages"),
    ],
)
def test_a_class_list_the_builder_would_refuse_is_refused_by_the_config(
    compose_cfg, collection, value, message
):
    """Refused at validation, so a sweep refuses it before launching anything; before, each job
    launched and failed once it built the dataset (a single run: after the model loaded)."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    cfg = compose_cfg(["model=tiny-pythia", f"feature={collection}", f"feature.params.{value}"])
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(cfg)
    validate_config(compose_cfg(["model=tiny-pythia", f"feature={collection}"]))  # defaults: fine


@pytest.mark.parametrize("name", ["''", "'  '", "..", "../../../elsewhere", "org/model"])
def test_a_model_name_that_is_not_one_folder_name_is_refused(compose_cfg, name):
    """model.name names the activation store's folder: empty, it put the store beside every
    model's folders and the job ended in a traceback at its first row; with `..` it wrote the
    store outside the cache."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    with pytest.raises(ConfigError, match="model.name="):
        validate_config(compose_cfg(["model=tiny-pythia", f"model.name={name}"]))


@pytest.mark.parametrize("key", ["seed", "probe.seed"])
def test_a_seed_numpy_cannot_take_is_refused(compose_cfg, key):
    """A seed of 2**32 or more passed validation and ended the run in numpy's traceback."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(f"{key}=4294967296 must be <= 4294967295")):
        validate_config(compose_cfg(["model=tiny-pythia", f"{key}=4294967296"]))
    validate_config(compose_cfg(["model=tiny-pythia", f"{key}=4294967295"]))


@pytest.mark.parametrize(
    "overrides",
    [
        ["probe.ks=[2,4]"],  # the default baselines.ks=[1]
        ["probe.ks=[1,2]", "baselines.ks=[1,8]"],
        ["baselines.ks=[9]"],  # probe.ks null: the paper's list has no 9
    ],
)
def test_baselines_at_ks_the_run_does_not_probe_are_refused(compose_cfg, overrides):
    """They were skipped without a word: the summary's null, p and random columns came out
    empty, as if the run had turned its baselines off."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    with pytest.raises(ConfigError, match=r"baselines\.ks has \[(1|8|9)\], not in probe\.ks"):
        validate_config(compose_cfg(["model=tiny-pythia", *overrides]))


@pytest.mark.parametrize(
    "overrides",
    [
        ["probe.ks=[2,4]", "baselines.ks=[2]"],
        ["probe.ks=[2,4]", "baselines.permutations=0", "baselines.random_supports=0"],
        ["baselines.ks=[1,8,32]"],
    ],
)
def test_baselines_at_probed_ks_or_turned_off_pass(compose_cfg, overrides):
    from probing.config import validate_config

    validate_config(compose_cfg(["model=tiny-pythia", *overrides]))


def test_feature_only_knows_the_names_a_parameter_gives(compose_cfg):
    """token_position names its features after lt / ge: feature.only=[pos_lt_4] with lt=[4] was
    refused (and the message listed '4', '8', '32' as if they were features' names)."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    base = ["model=tiny-pythia", "feature=token_position"]
    validate_config(compose_cfg([*base, "feature.params.lt=[4]", "feature.only=[pos_lt_4]"]))
    with pytest.raises(ConfigError, match=r"feature.only names \['8'\]") as refused:
        validate_config(compose_cfg([*base, "feature.only=['8']"]))
    assert "'pos_lt_8'" in str(refused.value) and "'32'" not in str(refused.value)
    with pytest.raises(ConfigError, match="feature.only names"):
        validate_config(compose_cfg([*base, "feature.params.lt=[4]", "feature.only=[pos_lt_8]"]))

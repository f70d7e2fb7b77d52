"""Every member of every config group composes, so a broken yaml fails here, not on a cluster."""

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

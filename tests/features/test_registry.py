"""The registry, the configs in conf/feature and the `list` command agree with each other."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from probing.features import CATEGORIES, COLLECTIONS, FeatureDataError, build_feature_dataset
from probing.features.__main__ import main
from probing.features.paper.collections import PAPER_COLLECTIONS

CONF = Path(__file__).resolve().parents[2] / "conf" / "feature"


# The built-ins read this machine's files; custom and the paper's datasets (conf/feature/paper,
# tested in test_paper_sources) read a source the user names.
BUILT_IN = {n: c for n, c in COLLECTIONS.items() if n != "custom" and n not in PAPER_COLLECTIONS}


def test_collections_are_complete():
    assert {"programming_language", "surface_text", "token_position"} <= set(BUILT_IN)
    assert sorted(c.category for c in BUILT_IN.values()) == sorted(CATEGORIES)
    for name, c in BUILT_IN.items():
        assert c.name == name and c.category in CATEGORIES
        assert c.features and all(rule for rule in c.features.values())
        assert c.source and c.licence and isinstance(c.recipe_version, int)
        assert "seed" in c.defaults


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_feature_config_matches_registry_defaults(path):
    conf = yaml.safe_load(path.read_text())
    assert conf["name"] == path.stem
    assert conf["params"] == COLLECTIONS[path.stem].defaults


def test_every_collection_has_a_config():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(BUILT_IN)


@pytest.mark.parametrize("path", sorted((CONF / "custom").glob("*.yaml")), ids=lambda p: p.stem)
def test_custom_configs_pass_every_builder_parameter(path):
    conf = yaml.safe_load(path.read_text())
    assert conf["name"] == "custom"
    assert set(conf["params"]) == set(COLLECTIONS["custom"].defaults)
    for key in ("path", "hf", "split", "hf_config"):  # the top-level keys reach the builder
        assert conf["params"][key] == "${.." + key + "}"


def test_unknown_collection_lists_known_ones(byte_tokenizer):
    with pytest.raises(FeatureDataError, match=r"unknown feature collection 'nope'.*surface_text"):
        build_feature_dataset("nope", byte_tokenizer)


def test_unknown_parameter_is_an_error(byte_tokenizer):
    with pytest.raises(FeatureDataError, match=r"no parameter\(s\) \['n_seqs'\]"):
        build_feature_dataset("token_position", byte_tokenizer, n_seqs=3)


def test_list_prints_one_row_per_feature(capsys):
    assert main(["list", "--format", "tsv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t")[:2] == ["collection", "feature"]
    rows = {tuple(line.split("\t")[:2]) for line in lines[1:]}
    assert rows == {(c.name, f) for c in COLLECTIONS.values() for f in c.features}


def test_cli_reports_user_errors_in_one_line(capsys, tmp_path):
    assert main(["build", "nope", "--tokenizer", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err

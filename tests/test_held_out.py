"""Held out means held out: duplicated text across documents never straddles a split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probing.experiment import probe_table
from probing.results import read_results

WORDS = "alpha beta gamma delta river stone cloud light paper window garden music table".split()


def repeated_table(variants: bool) -> pd.DataFrame:
    """60 distinct texts with random labels, each four times under four document ids (exact
    copies, or copies in other case and spacing): a probe that memorises texts looks perfect on
    a split that puts copies on both sides."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 12)) + "." for _ in range(60)]
    labels = rng.integers(0, 2, 60)
    rows = []
    for i, text in enumerate(texts):
        for copy in range(4):
            if variants and copy % 2:
                text = text.replace(" ", "  ").upper()
            rows.append({"text": text, "noise": int(labels[i]), "group": f"g{i}-{copy}"})
    return pd.DataFrame(rows)


def run(tmp_path, table, mode, name):
    overrides = ["model=tiny-pythia", "logger=none", "probe.ks=[256]", "probe.C=100",
                 "progress=false", "layer=middle", f"duplicates.mode={mode}",
                 "baselines.permutations=0", "baselines.random_supports=0"]  # fmt: skip
    probe_table(table, overrides, run_dir=tmp_path / name)
    return read_results(tmp_path / name).iloc[0]


def test_copies_under_other_document_ids_no_longer_inflate_held_out_f1(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "cache"))
    table = repeated_table(variants=False)
    trusted = run(tmp_path, table, "warn", "warn")  # the old behaviour: the user's groups
    merged = run(tmp_path, table, "merge", "merge")
    assert trusted["f1"] > 0.9  # random labels, memorised across the split
    assert merged["f1"] < 0.75 and merged["duplicate_examples"] == 240
    assert trusted["duplicate_examples"] == 0


def test_case_and_spacing_variants_are_merged_too(tmp_path, monkeypatch, caplog):
    from probing.features import FeatureDataset
    from probing.features.core.duplicates import merge_duplicates
    from tests.planted import tiny_pythia

    tokenizer = tiny_pythia().tokenizer
    dataset = FeatureDataset.from_pandas(repeated_table(variants=True), tokenizer)
    report, moved = merge_duplicates(dataset, tokenizer)
    assert report.exact == 240 and moved == 240
    assert len(np.unique(dataset.groups)) == 60
    assert (dataset.groups.reshape(60, 4) == dataset.groups.reshape(60, 4)[:, :1]).all()


@pytest.mark.parametrize("mode", ["bogus"])
def test_a_bad_duplicates_mode_is_refused_before_the_model(tmp_path, mode):
    from probing.config import validate_config
    from probing.errors import ConfigError
    from tests.conftest import compose_cfg

    cfg = compose_cfg(tmp_path, ["model=tiny-pythia", f"duplicates.mode={mode}"])
    with pytest.raises(ConfigError, match="duplicates.mode"):
        validate_config(cfg)


def test_what_the_file_says_is_checked_before_the_model_loads(tmp_path):
    from probing.config import validate_config
    from probing.errors import ConfigError
    from tests.conftest import compose_cfg

    path = tmp_path / "t.jsonl"
    repeated_table(variants=False).to_json(path, orient="records", lines=True)
    base = ["model=tiny-pythia", "feature=custom/file", f"feature.path={path}"]
    validate_config(compose_cfg(tmp_path, base))
    with pytest.raises(ConfigError, match="aggregation='median'"):
        validate_config(compose_cfg(tmp_path, [*base, "feature.params.aggregation=median"]))
    one_class = repeated_table(variants=False).assign(noise=1)
    one_class.to_json(path, orient="records", lines=True)
    with pytest.raises(ConfigError, match="one class only"):
        validate_config(compose_cfg(tmp_path, base))

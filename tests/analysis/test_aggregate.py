"""load_results: one table across run directories, reruns de-duplicated, known in, known out."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from analysis.aggregate import load_results
from tests.analysis.conftest import row, write_results


def test_rows_from_every_run_dir_in_one_sorted_table(tmp_path):
    write_results(tmp_path / "multi" / "0_a", [row("pythia-70m", "python", 0, 1, 0.5, [3])])
    write_results(tmp_path / "multi" / "1_b", [row("pythia-160m", "c", 2, 4, 0.75)])
    write_results(tmp_path / "single", [row("pythia-70m", "python", 1, 1, 0.25, [9])])

    table = load_results(tmp_path / "multi", tmp_path / "single")

    got = table[["model", "feature", "layer", "k", "f1"]].values.tolist()
    assert got == [
        ["pythia-160m", "c", 2, 4, 0.75],
        ["pythia-70m", "python", 0, 1, 0.5],
        ["pythia-70m", "python", 1, 1, 0.25],
    ]
    assert table["support"].tolist() == [[0, 1, 2, 3], [3], [9]]
    assert table.attrs["duplicates"] == 0
    assert table["source"].str.endswith("results.jsonl").all()


def test_a_rerun_replaces_the_earlier_run(tmp_path):
    old = write_results(tmp_path / "old", [row(layer=0, f1=0.1), row(layer=1, f1=0.2)])
    new = write_results(tmp_path / "new", [row(layer=0, f1=0.9, backend="torch")])
    os.utime(old, (1_000, 1_000))
    os.utime(new, (2_000, 2_000))

    table = load_results(tmp_path)

    assert table.set_index("layer")["f1"].to_dict() == {0: 0.9, 1: 0.2}
    assert table.set_index("layer")["backend"].to_dict() == {0: "torch", 1: "sklearn"}
    assert table.attrs["duplicates"] == 1


def test_the_newest_file_wins_whatever_its_name(tmp_path):
    late = write_results(tmp_path / "a_rerun", [row(f1=0.7)])
    early = write_results(tmp_path / "z_first", [row(f1=0.3)])
    os.utime(early, (1_000, 1_000))
    os.utime(late, (2_000, 2_000))
    assert load_results(tmp_path)["f1"].tolist() == [0.7]


def test_within_one_file_the_last_row_wins(tmp_path):
    write_results(tmp_path, [row(f1=0.1), row(f1=0.6), row(k=2, f1=0.8)])
    table = load_results(tmp_path)
    assert table[["k", "f1"]].values.tolist() == [[1, 0.6], [2, 0.8]]


def test_methods_and_revisions_are_not_duplicates(tmp_path):
    write_results(
        tmp_path,
        [
            row(f1=0.1, revision="step1000"),
            row(f1=0.2, revision="step143000"),
            row(f1=0.3, method="mean_diff+rotated"),
        ],
    )
    table = load_results(tmp_path)
    assert sorted(table["model"]) == [
        "pythia-70m@main",
        "pythia-70m@step1000",
        "pythia-70m@step143000",
    ]
    assert set(table["model_name"]) == {"pythia-70m"}
    assert table.attrs["duplicates"] == 0


def test_wandb_copies_of_results_are_ignored(tmp_path):
    write_results(tmp_path / "run", [row(f1=0.4)])
    write_results(tmp_path / "run" / "wandb" / "offline-run-1" / "files", [row(f1=0.4)])
    table = load_results(tmp_path)
    assert len(table) == 1
    assert table.attrs["duplicates"] == 0


def test_a_missing_run_dir_is_an_error_and_an_empty_one_an_empty_table(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_results(tmp_path / "nope")
    empty = load_results(tmp_path)
    assert isinstance(empty, pd.DataFrame) and empty.empty
    assert {"model", "feature", "layer", "k", "f1", "support"} <= set(empty.columns)


def test_several_saes_of_a_model_are_labelled_apart():
    import pandas as pd

    from analysis.aggregate import finalize

    base = {"model": "m", "feature": "f", "collection": "c", "layer": 1, "method": "mean_diff",
            "k": 1, "support": [0], "f1": 0.5}  # fmt: skip
    one = finalize(pd.DataFrame([base, {**base, "hook": "sae", "sae": "a"}]))
    assert sorted(one["model"]) == ["m", "m#sae"]
    two = finalize(pd.DataFrame([base, {**base, "hook": "sae", "sae": "a"},
                                 {**base, "hook": "sae", "sae": "b"}]))  # fmt: skip
    assert sorted(two["model"]) == ["m", "m#sae:a", "m#sae:b"]

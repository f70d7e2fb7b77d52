import json
import math
import os

import pandas as pd
import pytest

from probing.results import REQUIRED_COLUMNS, ResultWriter, RunDirBusy, read_results
from probing.summaries import format_summary, summarize


def row(feature, layer, k, f1, support):
    base = {c: 0.5 for c in REQUIRED_COLUMNS}
    base.update(
        model="m",
        feature=feature,
        collection="c",
        category="cat",
        layer=layer,
        method="mean_diff",
        backend="sklearn",
        k=k,
        f1=f1,
        support=support,
    )
    return base


def test_rows_round_trip_and_summary_picks_best_layer_at_k1(tmp_path):
    writer = ResultWriter(tmp_path / "run")
    writer.write([row("a", 0, 1, 0.6, [3]), row("a", 0, 2, 0.95, [3, 4])])
    writer.write([row("a", 1, 1, 0.8, [7]), row("a", 1, 2, 0.9, [7, 1])])
    writer.write([{**row("b", 0, 1, 0.7, [2]), "roc_auc": math.nan}])
    results = read_results(tmp_path)
    assert len(results) == 5 and list(results.loc[0, "support"]) == [3]
    assert pd.isna(results.loc[4, "roc_auc"])  # NaN survives as a missing value
    summary = summarize(results).set_index("feature")
    assert summary.loc["a", "layer"] == 1 and summary.loc["a", "neuron"] == 7
    assert summary.loc["a", "f1_k1"] == 0.8 and summary.loc["a", "best_f1"] == 0.95
    assert summary.loc["b", "neuron"] == 2


def test_row_without_required_columns_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        ResultWriter(tmp_path).write([{"model": "m"}])


def test_a_rerun_job_keeps_finished_blocks_and_skips_them(tmp_path):
    with ResultWriter(tmp_path, run_key="job1") as first:
        first.write([row("a", 0, 1, 0.6, [3]), row("a", 0, 2, 0.7, [3, 1])])
        assert first.done(0, "a") and not first.done(1, "a")
    with ResultWriter(tmp_path, run_key="job1") as requeued:
        assert requeued.done(0, "a") and not requeued.done(0, "b")
        requeued.write([row("a", 1, 1, 0.8, [4])])
    results = read_results(tmp_path)
    assert len(results) == 3 and sorted(results.layer) == [0, 0, 1]


def test_a_run_directory_has_one_writer_at_a_time(tmp_path):
    """Two runs started in the same second shared a run directory: one deleted the other's
    results, or their rows were mixed."""
    first = ResultWriter(tmp_path, run_key="x")
    with pytest.raises(RunDirBusy, match=f"pid {os.getpid()}"):
        ResultWriter(tmp_path, run_key="x")
    first.close()
    ResultWriter(tmp_path, run_key="x").close()  # free again once the first is done


def test_rows_of_another_configuration_are_not_mixed_in(tmp_path):
    with ResultWriter(tmp_path, run_key="x") as writer:
        writer.write([row("a", 0, 1, 0.6, [3])])
    with pytest.raises(RunDirBusy, match="another configuration") as refused:
        ResultWriter(tmp_path, run_key="y")
    # the way out for both doors: the CLI's hydra.run.dir and probe_table's run_dir
    assert "hydra.run.dir=" in str(refused.value) and "run_dir=" in str(refused.value)


def test_a_half_written_last_line_is_cut_and_bad_lines_are_skipped_by_name(tmp_path, caplog):
    """A full disk left half a row; the report then refused the whole file naming none."""
    with ResultWriter(tmp_path, run_key="x") as writer:
        writer.write([row("a", 0, 1, 0.6, [3])])
        writer.write([row("a", 1, 1, 0.7, [5])])
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "{garbage\n" + lines[1] + lines[1][:40])
    results = read_results(tmp_path)
    assert len(results) == 2 and sorted(results.layer) == [0, 1]
    assert f"{path}:2" in caplog.text
    with ResultWriter(tmp_path, run_key="x") as resumed:  # the cut tail is dropped on reopen
        assert resumed.done(1, "a")
        resumed.write([row("b", 0, 1, 0.5, [1])])
    assert len(read_results(tmp_path)) == 3 and path.read_text().endswith("\n")


def test_the_best_layer_is_chosen_on_validation_and_reported_on_test(tmp_path):
    """The test F1 of the layer with the best test F1 is the maximum of noisy numbers; choosing
    on a validation split keeps the reported test F1 honest."""
    rows = [
        {**row("a", 0, 1, 0.95, [3]), "val_f1": 0.70, "f1_ci_low": 0.9, "f1_ci_high": 0.99},
        {**row("a", 1, 1, 0.80, [7]), "val_f1": 0.85, "f1_ci_low": 0.7, "f1_ci_high": 0.88},
        {**row("a", 1, 4, 0.90, [7, 1, 2, 3]), "val_f1": 0.90},
    ]
    with ResultWriter(tmp_path) as writer:
        writer.write(rows)
    summary = summarize(read_results(tmp_path)).set_index("feature")
    assert summary.loc["a", "layer"] == 1 and summary.loc["a", "f1_k1"] == 0.80
    assert (summary.loc["a", "f1_low"], summary.loc["a", "f1_high"]) == (0.7, 0.88)
    assert summary.loc["a", "best_f1"] == 0.90
    assert "0.70-0.88" in format_summary(summarize(read_results(tmp_path)))


def test_a_block_that_lost_a_row_is_probed_again(tmp_path, caplog):
    """A damaged line in a finished block used to count the block as done: exit 0, a row gone."""
    with ResultWriter(tmp_path, run_key="x", rows_per_block=2) as writer:
        writer.write([row("a", 0, 1, 0.6, [3]), row("a", 0, 2, 0.7, [3, 1])])
        writer.write([row("a", 1, 1, 0.8, [4]), row("a", 1, 2, 0.9, [4, 2])])
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + "{garbage\n" + lines[3])
    with ResultWriter(tmp_path, run_key="x", rows_per_block=2) as resumed:
        assert resumed.done(0, "a") and not resumed.done(1, "a")
        resumed.write([row("a", 1, 1, 0.8, [4]), row("a", 1, 2, 0.9, [4, 2])])
    results = read_results(tmp_path)
    assert len(results) == 4 and not results.duplicated(["layer", "k"]).any()
    assert "probed again" in caplog.text


def test_a_json_row_without_the_required_columns_is_skipped_by_name(tmp_path, caplog):
    with ResultWriter(tmp_path, run_key="x") as writer:
        writer.write([row("a", 0, 1, 0.6, [3])])
    path = tmp_path / "results.jsonl"
    path.write_text(path.read_text() + '{"model": "x"}\n')
    assert len(read_results(tmp_path)) == 1
    assert f"{path}:2" in caplog.text and "lacks" in caplog.text


@pytest.mark.parametrize(
    "edit",
    [
        {"f1": 2.0},
        {"f1": "high"},
        {"f1": None},
        {"k": -1},
        {"k": 1.5},
        {"layer": -3},
        {"layer": True},
        {"support": [3, 4]},
        {"support": ["3"]},
        {"mcc": -1.5},
        {"val_f1": 1.2},
        {"p_value": 0.0},
        {"null_f1": [0.2, 7.0]},
        {"n_test": -4},
        {"model": ""},
    ],
)
def test_an_edited_row_is_skipped_on_read_with_a_count(tmp_path, edit, caplog):
    """A hand-edited results.jsonl is not believed: the bad row never reaches a table."""
    writer = ResultWriter(tmp_path / "run")
    writer.write([row("a", 0, 1, 0.6, [3]), row("b", 0, 1, 0.7, [5])])
    writer.close()
    path = tmp_path / "run" / "results.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), **edit})
    path.write_text("\n".join(lines) + "\n")
    results = read_results(tmp_path / "run")
    assert results["feature"].tolist() == ["a"] and results.attrs["skipped_rows"] == 1
    assert "results.jsonl:2: skipping a bad results line" in caplog.text
    with pytest.raises(ValueError, match="result row"):  # and the writer never writes one
        ResultWriter(tmp_path / "other").write([{**row("b", 0, 1, 0.7, [5]), **edit}])

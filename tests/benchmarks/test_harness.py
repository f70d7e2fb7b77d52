"""The benchmark harness: warm-up, alternation, fastest run, records, and the README table."""

from __future__ import annotations

import json

import pytest

from benchmarks import harness, table


def test_compare_warms_each_side_then_alternates_reversing_each_round():
    calls = []
    sides = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    timings = harness.compare(sides, repeats=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then a b, b a, a b
    assert set(timings) == {"a", "b"} and all(len(t.runs) == 3 for t in timings.values())


def test_timing_reports_the_fastest_run_and_the_spread():
    t = harness.Timing([2.0, 1.0, 1.5])
    assert t.best == 1.0 and t.spread == pytest.approx(1.0)


def test_a_record_says_where_it_ran_and_round_trips_through_json(tmp_path):
    session = harness.Session("demo")
    record = session.record(
        key="demo-1", title="t", command="python -m benchmarks.demo", headline="2.00x",
        timings={"x": harness.Timing([1.0, 1.2]), "y": harness.Timing([2.0, 2.5])},
        ratios={"y/x": 2.0}, units={"x": 100}, save=False,
    )  # fmt: skip
    for key in ("cpu", "cores", "avx512_bf16", "amx_bf16", "torch_threads", "device",
                "code_version", "load_before", "load_after"):  # fmt: skip
        assert key in record.machine, key
    assert record.sides["x"]["best_s"] == 1.0 and record.sides["x"]["per_s"] == 100.0
    path = harness.write_record(record, tmp_path)
    assert json.loads(path.read_text())["ratios"] == {"y/x": 2.0}
    (back,) = harness.read_records(tmp_path)
    assert back == record


def test_the_table_is_written_between_the_markers_and_check_fails_when_stale(tmp_path):
    record = harness.Record(benchmark="b", key="k", title="speed", command="python -m b",
                            headline="3.0x: 1 s vs 3 s", machine={"cores": 2}, when="now")  # fmt: skip
    harness.write_record(record, tmp_path / "records")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{table.BEGIN}\nold | row\n{table.END}\noutro\n")
    argv = ["--records", str(tmp_path / "records"), "--readme", str(readme)]
    with pytest.raises(SystemExit, match="stale"):
        table_main(["--check", *argv])
    table_main(argv)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old | row" not in text
    assert "| speed | 3.0x: 1 s vs 3 s |" in text
    table_main(["--check", *argv])  # now current


def test_the_readme_table_is_what_the_committed_records_say():
    """No figure in the README's performance table is typed by hand."""
    text = table.README.read_text()
    assert table.replace_table(text, table.render(harness.read_records())) == text


def table_main(argv):
    import sys

    old = sys.argv
    sys.argv = ["table", *argv]
    try:
        table.main()
    finally:
        sys.argv = old

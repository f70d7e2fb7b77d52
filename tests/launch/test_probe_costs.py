"""`python -m launch.probe_costs`: its arguments are checked before anything is timed."""

from __future__ import annotations

import pytest

from launch.probe_costs import main


@pytest.mark.parametrize(
    "argv,line",
    [
        (["--n", "0"], "error: --n 0 must be at least 100"),
        (["--n", "-3"], "error: --n -3 must be at least 100"),
        (["--d", "0"], "error: --d 0 must be at least 1"),
        (["--features", "0"], "error: --features 0 must be at least 1"),
        (["--repeats", "0"], "error: --repeats 0 must be at least 1"),
        (["--d", "16", "--features", "20"], "error: --features 20 must be at most --d (16)"),
    ],
)
def test_an_odd_size_is_one_line(argv, line, capsys):
    """Each was a traceback (an empty split, an index past d, a division by zero, min() of no
    runs), some after minutes of timing."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [line]
    assert captured.out == ""


def test_a_small_measurement_prints_both_rates(capsys):
    assert main(["--n", "100", "--d", "4", "--features", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "PROBE_S_PER_EXAMPLE_NEURON" in out and "BASELINE_S_PER_EXAMPLE_NEURON_REFIT" in out

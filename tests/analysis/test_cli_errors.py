"""The case-study and analysis commands end a user's mistake in one line and exit 2."""

from __future__ import annotations

import json

import pytest

from analysis import report, superposition
from probing import ablate
from probing.case_studies import polysemantic
from tests.analysis.conftest import row, write_results

COMMANDS = [polysemantic.main, ablate.main, superposition.main, report.main]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_directory_is_one_line(command, tmp_path, capsys):
    assert command([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_whose_only_row_is_edited_is_one_line(command, tmp_path, capsys):
    run = tmp_path / "run"
    write_results(run, [row(f1=0.5)])
    path = run / "results.jsonl"
    path.write_text(json.dumps({**json.loads(path.read_text()), "f1": "high"}) + "\n")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("model: {name: tiny-pythia}\n")
    assert command([str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "odd, message",
    [
        (["--fraction", "0"], "--fraction 0.0 must be in (0, 1]"),
        (["--fraction", "1.5"], "--fraction 1.5 must be in (0, 1]"),  # no k reaches it
        (["--fraction", "nan"], "--fraction nan must be in (0, 1]"),
        (["--neuron-pages", "-1"], "--neuron-pages -1 must be at least 0"),  # head(-1): all but one
        (["-o", "{tmp}"], "is a folder: name the report's file"),
        (["-o", "{tmp}/a_file/report.html"], "a_file"),
        (["-o", "{tmp}/run/results.jsonl"], "must name an .html file"),  # was overwritten
    ],
)
def test_report_refuses_odd_arguments_in_one_line(odd, message, tmp_path, capsys):
    write_results(tmp_path / "run", [row(layer=la, f1=0.5, support=[la]) for la in (0, 1)])
    (tmp_path / "a_file").write_text("")
    odd = [a.format(tmp=tmp_path) for a in odd]
    assert report.main([str(tmp_path / "run"), "-o", str(tmp_path / "r.html"), *odd]) == 2
    assert message in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "run"]  # nothing written


def test_superposition_refuses_a_missing_folder_or_an_out_that_is_a_file(tmp_path, capsys):
    write_results(tmp_path / "run", [row(layer=la, f1=0.5, support=[la]) for la in (0, 1)])
    (tmp_path / "a_file").write_text("")
    assert superposition.main([str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
    assert "missing: no such run directory" in one_line_error(capsys)
    assert superposition.main([str(tmp_path / "run"), "-o", str(tmp_path / "a_file")]) == 2
    assert "a_file" in one_line_error(capsys)


@pytest.mark.parametrize(
    "command, odd, message",
    [
        (ablate.main, ["--top", "-1"], "--top -1 must be at least 0"),  # head(-1): all but one
        (ablate.main, ["--random", "-1"], "--random -1 must be at least 0"),
        (ablate.main, ["--max-sequences", "1"], "--max-sequences 1 must be at least 2"),  # NaN rows
        (ablate.main, ["--min-val-f1", "nan"], "--min-val-f1 nan must be in [0, 1]"),
        (polysemantic.main, ["--neurons", "-2"], "--neurons -2 must be at least 0"),
        (polysemantic.main, ["--top", "0"], "--top 0 must be at least 1"),
    ],
)
def test_case_studies_refuse_odd_numbers_before_reading_the_run(
    command, odd, message, tmp_path, capsys
):
    (tmp_path / "ablation.jsonl").write_text('{"kept": true}\n')
    assert command([str(tmp_path), *odd]) == 2
    assert message in one_line_error(capsys)
    assert (tmp_path / "ablation.jsonl").read_text() == '{"kept": true}\n'  # nothing overwritten


@pytest.mark.parametrize(
    "module, work, argv",
    [
        ("probing.case_studies.ablate", "ablate_run", ["RUN"]),
        ("probing.case_studies.polysemantic", "neuron_contexts", ["RUN"]),
        ("probing.case_studies.weights", "model_weights_table", ["tiny-pythia", "-o", "RUN/w.csv"]),
        (
            "probing.case_studies.weights",
            "runs_weights_table",
            ["--runs", "RUN", "-o", "RUN/w.csv"],
        ),
    ],
)
def test_a_full_disk_is_one_line(module, work, argv, tmp_path, monkeypatch, capsys):
    """A write the disk refuses (full, read-only) ends the case study in one line, as it ends
    probing.run; a bug keeps its traceback."""
    import errno
    import importlib

    command = importlib.import_module(module)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out"))

    monkeypatch.setattr(command, work, full)
    argv = [a.replace("RUN", str(tmp_path)) for a in argv]
    assert command.main(argv) == 2
    assert "the disk is full" in one_line_error(capsys)

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(command, work, bug)
    with pytest.raises(KeyError):
        command.main(argv)

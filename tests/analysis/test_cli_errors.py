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

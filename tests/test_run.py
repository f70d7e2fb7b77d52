"""The entry point's own behaviour (probing.run): what a user at the terminal sees."""

from __future__ import annotations

import pytest

import probing.run


def test_ctrl_c_is_one_line_that_says_how_to_resume(monkeypatch, capsys):
    """Ctrl-C used to print a traceback from deep inside torch or zarr."""

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(probing.run, "main", interrupted)
    monkeypatch.setattr("sys.argv", ["probing.run", "model=tiny-pythia"])
    with pytest.raises(SystemExit) as info:
        probing.run.cli()
    assert info.value.code == 130  # the shell's code for a process ended by SIGINT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: interrupted") and "resume" in err

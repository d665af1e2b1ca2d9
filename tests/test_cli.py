"""The command line's own promises: --version, --help, and `python -m catsdogs`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from catsdogs import __version__
from catsdogs.cli import app, main


def test_version_and_help():
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.output.strip() == f"catsdogs {__version__}"
    shown = runner.invoke(app, ["--help"])
    assert shown.exit_code == 0
    assert "Usage: catsdogs" in shown.output


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run(
        [sys.executable, "-m", "catsdogs", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"catsdogs {__version__}"


def test_help_shows_square_brackets_literally():
    # Rich markup used to swallow "[clip, 1 - clip]" and "[default: newest run]".
    shown = CliRunner().invoke(app, ["predict", "--help"])
    assert "[clip, 1 - clip]" in shown.output and "[default: newest run]" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prepare", "--seed", "abc"], "Invalid value for '--seed'"),
        (["train", "--bogus"], "No such option: --bogus (see catsdogs train --help)"),
        (["train"], "Missing option '--config'. (see catsdogs train --help)"),
        (["nosuch"], "No such command 'nosuch'."),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_1(capsys, args, message):
    # Click's default is a usage block and exit 2; the README promises one line and exit 1.
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 1
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert captured.out == ""


def test_no_command_shows_the_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 0
    assert "Usage: catsdogs" in capsys.readouterr().out

"""The command line's own promises: --version, --help, and `python -m catsdogs`."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from catsdogs import __version__
from catsdogs.cli import app


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

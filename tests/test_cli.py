"""The command line's own promises: --version, --help, and `python -m catsdogs`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import typer
from helpers import SMOKE, cli, module_command

from catsdogs import __version__, quiet, signals
from catsdogs import cli as cli_module
from catsdogs.cli import app, main


def test_version_and_help():
    version = cli("--version")
    assert version.exit_code == 0
    assert version.output.strip() == f"catsdogs {__version__}"
    shown = cli("--help")
    assert shown.exit_code == 0
    assert "Usage: catsdogs" in shown.output


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run(module_command("--version"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"catsdogs {__version__}"


def test_help_shows_square_brackets_literally():
    # Rich markup would read "[clip, 1 - clip]" and "[default: newest run]" as styles and
    # drop them; the help prints them as written.
    shown = cli("predict", "--help")
    assert "[clip, 1 - clip]" in shown.output and "[default: newest run]" in shown.output


def test_a_file_named_like_an_option_is_pointed_at(capsys, tmp_path, monkeypatch):
    # A probe: `catsdogs predict -dash.jpg` said "No such option: -d" and nothing more.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-dash.jpg").write_bytes(b"x")
    with pytest.raises(SystemExit):
        main(["predict", "-dash.jpg"])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("; -dash.jpg is a file: write ./-dash.jpg, or put -- before it")


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


def test_command_summaries_are_whole_sentences():
    # Click cuts a docstring's summary at its first period ("Get the Dogs vs.") and to the
    # terminal's width: each command's short help fits an 80-column list.
    shown = cli("--help", env={"COLUMNS": "80"}, terminal_width=80)
    listed = shown.output.split("Commands:\n")[1].splitlines()
    commands = typer.main.get_command(app).commands  # every command the app has, listed
    assert sorted(line.split()[0] for line in listed) == sorted(commands)
    for line in listed:
        name, summary = line.split(maxsplit=1)
        assert summary.endswith(".") and not summary.endswith("..."), line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--config", "{tmp}/typo.yaml"], "modle"),
        (["predict", "--format", "probability"], "--format must be auto, proba or class"),
        (["predict", "--model", "{tmp}/none.keras", "{tmp}/pet.jpg"], "does not exist"),
        (["evaluate", "--model", "{tmp}/none.keras", "--data", "{tmp}/val.csv"], "exist"),
        (["sweep", "{tmp}/typo.yaml"], "error: "),
        (["lr-find", "--config", "{tmp}/typo.yaml"], "modle"),
        (["lr-find", "--config", str(SMOKE), "--steps", "1"], "--steps must be at least 3"),
        (["lr-find", "--config", str(SMOKE), "--out", "{tmp}/lr.svg"], "must end in .png"),
        (["show-batch", "--config", str(SMOKE), "--count", "0"], "--count must be between"),
    ],
)
def test_bad_arguments_are_reported_before_tensorflow_is_imported(tmp_path, args, message):
    # TensorFlow takes ~4 s to import: a typo is reported in well under a second.
    (tmp_path / "typo.yaml").write_text("name: x\nmodle: {backbone: vgg19}\n")
    (tmp_path / "pet.jpg").write_bytes(b"a photo")
    args = [arg.format(tmp=tmp_path) for arg in args]
    probe = (
        "import sys\n"
        "from catsdogs.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exited:\n"
        "    print(exited.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["1", "False", "False"], done.stdout + done.stderr
    assert message in done.stderr


def test_tensorflow_start_up_lines_stay_off_the_terminal_unless_asked(tmp_path):
    # `predict` loads Keras (so TensorFlow) before it finds that the model is not one.
    (tmp_path / "none.keras").write_bytes(b"not a model")
    (tmp_path / "pet.jpg").write_bytes(b"a photo")
    command = ["predict", "--model", str(tmp_path / "none.keras"), str(tmp_path / "pet.jpg")]
    quiet_run, verbose_run = (
        subprocess.run(
            module_command(*verbose, *command),
            capture_output=True,
            text=True,
            timeout=180,
            env={k: v for k, v in os.environ.items() if k != quiet.VERBOSE_VARIABLE},
        )
        for verbose in ([], ["--verbose"])
    )
    assert quiet_run.returncode == verbose_run.returncode == 1
    [line] = quiet_run.stderr.splitlines()
    assert line.startswith("error: ") and "none.keras is not a .keras file" in line
    noise = [x for x in verbose_run.stderr.splitlines() if quiet.NOISE.match(x.encode())]
    assert noise, verbose_run.stderr  # the lines the quiet run dropped are really printed
    assert verbose_run.stderr.splitlines()[-1] == line


def test_the_filter_drops_cpp_log_lines_and_passes_the_rest_at_once():
    pipe, writer = os.pipe()
    terminal, seen = os.pipe()
    forwarder = threading.Thread(target=quiet._forward, args=(pipe, seen))
    forwarder.start()
    pieces = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"I0000 00:00:1795686092.242835    6128 cudart_",  # a log line in two writes
        b"stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n",
        b"\r 10%|#  | 1/10",
        b"2026-11-26 09:00:00.000000: I tensorflow/core/util/port.cc:153] oneDNN ...\n",
        b"\r 20%|## | 2/10\n",
        b"F0000 00:00:1.1  1 a.cc:3] Check failed: fatal lines always pass\n",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild\n",
        b"Traceback (most recent call last):\n",
        b"a last line without a newline",
    ]
    for piece in pieces:
        os.write(writer, piece)
    os.close(writer)
    forwarder.join(timeout=10)
    os.close(seen)
    with os.fdopen(terminal, "rb") as passed:
        assert passed.read() == (
            b"\r 10%|#  | 1/10\r 20%|## | 2/10\n"
            b"F0000 00:00:1.1  1 a.cc:3] Check failed: fatal lines always pass\n"
            b"Traceback (most recent call last):\na last line without a newline"
        )


@pytest.mark.parametrize(
    ("resumes", "stop", "line", "status"),
    [
        (True, KeyboardInterrupt, "interrupted; run the same command again to go on", 130),
        (True, signals.Terminated, "stopped (SIGTERM); run the same command again to go on", 143),
        # A probe: lr-find's Ctrl-C line promised a resume it does not do.
        (False, KeyboardInterrupt, "interrupted; nothing was written", 130),
    ],
)
def test_a_stop_is_one_line_that_promises_a_resume_only_where_the_command_resumes(
    capsys, resumes, stop, line, status
):
    def stopped():
        raise stop

    with pytest.raises(typer.Exit) as exited:
        cli_module._run(stopped, resumes=resumes)
    assert exited.value.exit_code == status
    assert capsys.readouterr().err.strip() == line

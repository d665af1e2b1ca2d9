"""Progress bars: tqdm's bar on a terminal, plain lines in a log; one rate unit in both."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import pytest
from tqdm import tqdm

from catsdogs import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_plain_lines_without_carriage_returns(monkeypatch):
    monkeypatch.setenv(progress.SECONDS_VARIABLE, "0.000001")
    log = io.StringIO()
    with progress.bar(total=5, desc="epoch 1/2", unit="step", file=log) as bar:
        for _ in range(5):
            bar.set_postfix(loss="0.6931")
            bar.update(1)
            with progress.aside():
                print("a line of the trainer's own")
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[-1].startswith("epoch 1/2: 5/5 (100%) [") and "loss=0.6931" in lines[-1]
    assert all(line.startswith("epoch 1/2: ") for line in lines)


def test_work_shorter_than_the_interval_leaves_no_line_in_a_log():
    log = io.StringIO()
    with progress.bar(total=3, desc="checking images", unit="img", file=log) as bar:
        bar.update(3)
    assert log.getvalue() == ""


def test_a_terminal_gets_tqdm_s_bar():
    screen = Terminal()
    with progress.bar(total=2, desc="predicting", unit="img", file=screen) as bar:
        bar.update(2)
    assert type(bar) is tqdm and "\r" in screen.getvalue()


def test_the_rate_is_always_things_per_second():
    for terminal in (True, False):
        shown = tqdm.format_meter(
            n=2,
            total=10,
            elapsed=8.0,  # 0.25 steps a second: tqdm alone would show 4.00s/step
            unit="step",
            bar_format=progress._TERMINAL if terminal else progress._PLAIN,
            ncols=100,
        )
        assert "0.25step/s" in shown and "s/step" not in shown


def test_the_interval_of_plain_lines_can_be_set(monkeypatch):
    assert progress.plain_seconds() == progress.PLAIN_SECONDS
    monkeypatch.setenv(progress.SECONDS_VARIABLE, "5")
    assert progress.plain_seconds() == 5.0
    for unusable in ("0", "-1", "soon"):
        monkeypatch.setenv(progress.SECONDS_VARIABLE, unusable)
        assert progress.plain_seconds() == progress.PLAIN_SECONDS


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux's script is not installed")
def test_a_bar_shows_in_a_pseudo_terminal_that_has_no_size(tmp_path):
    # A probe under `script -qc` saw neither a bar nor periodic lines: the pseudo-terminal
    # reported 0 x 0 and tqdm drew nothing.
    code = (
        "import time\n"
        "from catsdogs import progress\n"
        "with progress.bar(total=4, desc='predicting', unit='img', delay=0.1) as bar:\n"
        "    for _ in range(4):\n"
        "        time.sleep(0.1); bar.update(1)\n"
    )
    (tmp_path / "bar.py").write_text(code)
    typescript = tmp_path / "typescript"
    subprocess.run(
        ["script", "-qc", f"{sys.executable} {tmp_path / 'bar.py'}", str(typescript)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert "predicting:" in typescript.read_text(errors="replace")

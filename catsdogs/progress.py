"""Every progress bar of catsdogs: tqdm's bar on a terminal; elsewhere (a pipe, ``tee``, a
sweep's trial log) plain lines, one every ``PLAIN_SECONDS``, with no carriage returns that
would pile a bar's frames onto one line of the file. Both show one rate unit (things per
second), never tqdm's switch to seconds per thing when the rate drops below one."""

from __future__ import annotations

import os
import sys
from typing import IO

from tqdm import tqdm

PLAIN_SECONDS = 30.0
FALLBACK = (80, 24)  # columns, rows: a terminal of no size
SECONDS_VARIABLE = "CATSDOGS_PROGRESS_SECONDS"  # another interval for the plain lines
_TERMINAL = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
_PLAIN = (
    "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, "
    "{rate_noinv_fmt}{postfix}]"
)


class _Lines(tqdm):
    """tqdm that prints each update as a line of its own (a log file's view of a bar)."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing its line: nothing to clear in a file
            return False
        started = getattr(self, "start_t", None)  # None: the first display, from __init__
        if started is not None and self._time() - started < self.delay:
            return False  # work this short leaves no line
        self.fp.write((msg or str(self)) + "\n")
        self.fp.flush()
        return True

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **values) -> None:
        """New values show on the next line, not on a line of their own."""
        super().set_postfix(ordered_dict, refresh=False, **values)

    def clear(self, nolock: bool = False) -> None:
        """Nothing to clear in a file (tqdm would write a carriage return)."""


def is_terminal(stream: IO | None = None) -> bool:
    """Whether ``stream`` (the bars' stream, stderr, by default) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a tty
        return False


def bar(**options) -> tqdm:
    """A progress bar with tqdm's options (``total``, ``desc``, ``unit``, ``leave`` ...)."""
    if is_terminal(options.get("file")):
        # A pseudo-terminal that was never given a size (`script` run from a pipe, some CI
        # runners) reports 0 x 0, and tqdm then draws nothing (its row count goes to -1):
        # 80 x 24 instead.
        size = {} if _columns(options.get("file")) else dict(zip(("ncols", "nrows"), FALLBACK))
        return tqdm(bar_format=_TERMINAL, **{**size, **options})
    every = plain_seconds()
    plain = {"mininterval": every, "miniters": 1, "leave": False}
    # The first line after that interval too: work that ends sooner leaves no line at all.
    return _Lines(bar_format=_PLAIN, **{"delay": every, **options, **plain})


def _columns(stream: IO | None) -> int:
    """The terminal's width in columns (0 where it reports none)."""
    stream = sys.stderr if stream is None else stream
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def plain_seconds() -> float:
    """Seconds between plain lines: ``CATSDOGS_PROGRESS_SECONDS`` where set to a positive
    number, else ``PLAIN_SECONDS``."""
    try:
        seconds = float(os.environ.get(SECONDS_VARIABLE, ""))
    except ValueError:
        return PLAIN_SECONDS
    return seconds if seconds > 0 else PLAIN_SECONDS


def aside():
    """A block in which lines printed by others do not tear a terminal's bar (tqdm's
    ``external_write_mode``; a file's plain lines need nothing)."""
    return tqdm.external_write_mode()

"""A stop asked by a signal (SIGTERM, Ctrl-C) that reaches the command however busy it is.

Python raises a signal handler's exception in whatever code runs when the signal lands; where
that is a garbage-collector callback or a ``__del__`` (XLA registers one), Python prints
"Exception ignored in ..." and goes on: the stop is lost, and a training run keeps training.
So the handler also records the signal, and the loops that run long (``check`` between a
run's steps) raise it again where it went missing."""

from __future__ import annotations

import signal
from typing import NoReturn


class Terminated(KeyboardInterrupt):
    """SIGTERM ended the command (``kill PID``, ``docker stop``, a batch scheduler's stop): it
    unwinds as Ctrl-C does (files already whole, the run's lock released, a sweep's trial
    marked interrupted) instead of vanishing without a word."""


_asked: int | None = None  # the signal that asked this process to stop, once one has


def _handle(signum: int, frame: object) -> NoReturn:
    global _asked
    _asked = signum
    _raise(signum)


def _raise(signum: int) -> NoReturn:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def install() -> None:
    """Stop on SIGTERM and SIGINT through ``_handle`` (the command's own process only)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _handle)


def check() -> None:
    """Raise the stop a signal asked for, where its first raise was lost (see the module)."""
    if _asked is not None:
        _raise(_asked)

"""TensorFlow's C++ start-up lines (absl, oneDNN, CUDA stubs) kept off the user's terminal.

C++ code writes them straight to file descriptor 2, and some ignore ``TF_CPP_MIN_LOG_LEVEL``
(``WARNING: All log messages before absl::InitializeLog() ...``, ``cudart_stub.cc ... Could not
find cuda drivers``). So the filter sits on the descriptor: fd 2 becomes a pipe that a thread
reads, dropping those lines and passing every other one on, while Python's ``sys.stderr`` is
pointed at the real terminal, so progress bars, warnings, tracebacks and ``error:`` lines go
there directly, as before. ``catsdogs --verbose`` or ``CATSDOGS_VERBOSE=1`` leaves fd 2 alone.
"""

from __future__ import annotations

import os
import re
import sys
import threading

VERBOSE_VARIABLE = "CATSDOGS_VERBOSE"

# One line of C++ logging: absl/glog ("I0000 00:00:17.1   123 file.cc:31] ..."), TensorFlow's
# own format ("2026-11-26 09:00:00.000000: I tensorflow/..."), and the few unprefixed lines
# that TensorFlow and absl print at start-up. Fatal ("F") lines are never dropped.
NOISE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: "
    rb"|oneDNN custom operations are on"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU"
    rb"|fully_quantize: \d+, inference_type: "
    rb"|This TensorFlow binary is optimized)"
)


def wanted(argv: list[str]) -> bool:
    """Whether to filter: not with ``--verbose`` or ``CATSDOGS_VERBOSE`` set to a true value."""
    if os.environ.get(VERBOSE_VARIABLE, "").lower() in ("1", "true", "yes", "on"):
        return False
    return "--verbose" not in argv


# Such a line written while a progress bar's last update (no newline) is still on its line.
_NOISE_AFTER_TEXT = re.compile(NOISE.pattern.removeprefix(b"^"))
# A piece that may still become one of those lines once the rest of it arrives.
_MAYBE_NOISE = re.compile(rb"^[IWE0-9Ton]")
_PIECES = re.compile(rb"[^\r\n]*(?:\r\n|[\r\n])")


def _forward(pipe: int, terminal: int) -> None:
    """Pass on everything but C++ logging lines. Pieces end at a newline or a carriage return
    (a progress bar's update), and an unfinished piece that cannot be such a line is passed on
    at once, so bars drawn by child processes stay live."""
    pending = b""
    while chunk := os.read(pipe, 65536):
        pending += chunk
        out, end = [], 0
        for piece in _PIECES.finditer(pending):
            end = piece.end()
            found = _NOISE_AFTER_TEXT.search(piece.group())
            out.append(piece.group()[: found.start()] if found else piece.group())
        pending = pending[end:]
        if pending and not _MAYBE_NOISE.match(pending):
            out.append(pending)
            pending = b""
        if out:
            os.write(terminal, b"".join(out))
    if pending and not NOISE.match(pending):
        os.write(terminal, pending)


def filter_stderr() -> None:
    """Install the filter on fd 2 for the rest of this process (the console script only:
    never under pytest, whose capture owns fd 2)."""
    try:
        terminal = os.dup(2)
        pipe, into_pipe = os.pipe()
    except OSError:
        return  # no fd 2 to filter (closed): nothing to keep quiet
    sys.stderr.flush()
    os.dup2(into_pipe, 2)
    os.close(into_pipe)
    # Python's own writes go to the terminal unfiltered, line-buffered like a console.
    sys.stderr = open(  # noqa: SIM115 - lives as long as the process
        terminal,
        "w",
        buffering=1,
        encoding=sys.stderr.encoding or "utf-8",
        errors="backslashreplace",
    )
    forwarder = threading.Thread(target=_forward, args=(pipe, terminal), daemon=True)
    forwarder.start()
    _FILTER.update(terminal=terminal, thread=forwarder)


_FILTER: dict = {}  # the terminal's descriptor and the forwarding thread, once installed


def drain(timeout: float = 5.0) -> None:
    """Pass on what is still in the filter's pipe and take fd 2 back to the terminal (before
    a process leaves with ``os._exit``, which would cut the forwarding thread short)."""
    sys.stderr.flush()
    if not _FILTER:
        return
    os.dup2(_FILTER["terminal"], 2)  # the pipe's last writer closes: the thread reads its end
    _FILTER["thread"].join(timeout)

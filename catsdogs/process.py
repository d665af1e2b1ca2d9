"""Whether a process is alive. A pid alone names a process only while it lives (the kernel
reuses it after), so what must be recognised later (a sweep's trial, on this or another
machine) is named by its pid and its start time: ``pid:start``."""

from __future__ import annotations

import os
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None where it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19]


def this_process() -> str:
    """This process as ``pid:start``."""
    return f"{os.getpid()}:{start_time(os.getpid())}"


def alive(process: int | str) -> bool:
    """Whether ``process`` (a pid, or ``pid:start`` from ``this_process``) still runs; a pid
    now held by a process that started later is not the one named."""
    pid, _, started = str(process).partition(":")
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return started in ("", "None") or start_time(int(pid)) == started


def age() -> float:
    """Seconds since this process started (Linux; elsewhere 0: the caller's own clock)."""
    ticks = start_time(os.getpid())
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - int(ticks) / os.sysconf("SC_CLK_TCK")) if ticks else 0.0

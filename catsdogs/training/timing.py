"""The warning for a run that would take far too long on a machine without a GPU."""

from __future__ import annotations

import time

from catsdogs import durations

# Past this, a run on a machine without a GPU is probably not what the user meant to start.
LONG_RUN_SECONDS = 2 * 3600


def long_run_warning(seconds_per_step: float, steps_left: int, gpu: bool) -> str | None:
    """One warning line when training what is left would take over two hours without a GPU
    (the VGG19 reference on 2 CPU cores: about 18 hours), else None."""
    estimate = seconds_per_step * steps_left
    if gpu or estimate <= LONG_RUN_SECONDS:
        return None
    return (
        f"warning: at {seconds_per_step:.2f} s per step this run needs about "
        f"{durations.text(estimate)} more on this machine (no GPU); configs/cpu.yaml is the "
        "recipe for a CPU. Ctrl-C stops it; the same command continues it."
    )


class RunLength:
    """Judges once, from a process's first two host syncs (the first includes tracing and
    compilation), whether the rest of the run is too long for a machine without a GPU."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self._first: tuple[float, int] | None = None  # clock and steps at the first sync
        self._judged = False

    def warning(self, steps_done: int, steps_left: int) -> str | None:
        """Call at each sync of the first epoch; the second call may return the warning."""
        if self._judged:
            return None
        now = time.monotonic()
        if self._first is None:
            self._first = (now, steps_done)
            return None
        self._judged = True
        per_step = (now - self._first[0]) / (steps_done - self._first[1])
        return long_run_warning(per_step, steps_left, self.gpu)

"""The warning for a run that would take far too long on a machine without a GPU."""

from __future__ import annotations

from catsdogs import durations

# Past this, a run on a machine without a GPU is probably not what the user meant to start.
LONG_RUN_SECONDS = 2 * 3600


def warning(seconds_per_step: float, steps_left: int, gpu: bool) -> str | None:
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

"""What every benchmark here repeats: where the real images are, a quiet TensorFlow, and the
alternating timer that measures contenders side by side in one process.

Imports neither TensorFlow nor Keras: bench_lookahead.py runs on a machine without TensorFlow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The real images, in ../shared next to this checkout (train/cat.N.jpg, train/dog.N.jpg,
# test1/N.jpg); every benchmark's --data default.
DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats-mini"


def quiet_tensorflow() -> None:
    """TensorFlow's C++ log level, set before TensorFlow is imported (a caller's own wins)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def images(data: Path, pattern: str = "train/*.jpg") -> list[Path]:
    """The images under ``data`` that match ``pattern``, sorted; exits with a message saying
    where they were looked for when there are none."""
    found = sorted(Path(data).glob(pattern))
    if not found:
        raise SystemExit(
            f"no images matching {pattern} under {data}: the benchmarks read the real images "
            f"of ../shared (see ../shared/README.md), or pass --data"
        )
    return found


def alternate(
    contenders: Mapping[str, Callable[[], object]], rounds: int
) -> dict[str, list[float]]:
    """Seconds each contender took in each round. Every round runs each once, in the given
    order in even rounds and the reverse in odd ones, so drift in the machine's speed hits them
    alike. A contender waits for its own work to finish (a device included) before returning."""
    names = list(contenders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            contenders[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def ratios(seconds: Mapping[str, list[float]], numerator: str, denominator: str) -> list[float]:
    """Round by round, ``numerator``'s value over ``denominator``'s (pairs measured together)."""
    return [a / b for a, b in zip(seconds[numerator], seconds[denominator])]

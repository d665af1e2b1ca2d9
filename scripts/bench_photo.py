"""How long `catsdogs predict PHOTO` takes for one photo: the whole command (process start to
exit) and, inside one process after start-up (Python, TensorFlow, Keras and catsdogs imported),
the part that is the photo's own: find and load the model, check the photo, predict with TTA;
the first time in the process (what the command pays) and again (warm).

The model is a finished run's best.keras (``--model``; default: a smoke run trained here on
the mini data). Repeats alternate, so the machine's drift hits both alike.

    python scripts/bench_photo.py [--model RUN_OR_KERAS] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

from catsdogs.predict.photos import classify  # noqa: E402


def smoke_model(folder: Path) -> Path:
    """A smoke run trained on the mini data into ``folder`` (about a minute)."""
    data, run = folder / "data", folder / "run"
    command = [sys.executable, "-m", "catsdogs"]
    subprocess.run(
        [*command, "prepare", "--source", str(benchlib.DATA), "--out", str(data)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*command, "train", "--config", "configs/smoke.yaml", "--data", str(data)]
        + ["--run-dir", str(run)],
        check=True,
        capture_output=True,
    )
    return run


def command_seconds(model: Path, photo: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "catsdogs", "predict", str(photo), "--model", str(model)],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return time.perf_counter() - started


def in_process_seconds(model: Path, photo: Path) -> float:
    started = time.perf_counter()
    classify(model, [photo], None, echo=lambda _: None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    photo = benchlib.images(benchlib.DATA, "test1/*.jpg")[0]
    import keras  # noqa: F401  start-up: what every command pays before its own work
    import tensorflow  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="bench-photo-") as scratch:
        model = args.model or smoke_model(Path(scratch))
        first = in_process_seconds(model, photo)
        whole, inside = [], []
        for _ in range(args.repeats):
            whole.append(command_seconds(model, photo))
            inside.append(in_process_seconds(model, photo))
    print(f"one photo ({photo.name}), model {model}, {args.repeats} repeats (alternating)")
    print(
        f"whole command, process start to exit: median {statistics.median(whole):5.2f} s "
        f"(min {min(whole):.2f}, max {max(whole):.2f})"
    )
    print(f"after start-up, first in a process  : {first:5.2f} s (load, check, predict; < 3 s?)")
    print(
        f"after start-up, again (warm)         : median {statistics.median(inside):5.2f} s "
        f"(min {min(inside):.2f}, max {max(inside):.2f})"
    )
    print(f"start-up share of the command: {1 - first / statistics.median(whole):.0%}")


if __name__ == "__main__":
    main()

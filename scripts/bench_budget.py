"""A time budget as a ceiling: `catsdogs train --time-budget B`, process start to exit, with
``--busy`` busy processes beside it (each spins one core), against the budget.

Each repeat trains configs/cpu.yaml into a fresh run directory on ``--data`` (a folder that
prepare wrote; default: the mini data prepared here) and prints the wall time, what the run
says it used, its steps and its start-up, and the ratio of the wall time to the budget.

    python scripts/bench_budget.py --budget 2m --busy 2 --repeats 3 [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

from catsdogs import durations


def spin() -> None:
    while True:
        pass


def prepared(folder: Path) -> Path:
    """The mini data prepared into ``folder``."""
    subprocess.run(
        [sys.executable, "-m", "catsdogs", "prepare", "--source", str(benchlib.DATA)]
        + ["--out", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a prepared folder (default: the mini data)")
    args = parser.parse_args()
    budget = durations.parse(args.budget)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or prepared(Path(scratch) / "data")
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
        for process in spinners:
            process.start()
        try:
            print(f"budget {args.budget} ({budget} s), {args.busy} busy processes beside it")
            print("repeat  wall s  wall/budget  used     steps  start-up")
            for repeat in range(args.repeats):
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "catsdogs", "train", "--config", "configs/cpu.yaml"]
                    + ["--data", str(data), "--time-budget", args.budget]
                    + ["--run-dir", f"{scratch}/run{repeat}"],
                    capture_output=True,
                    text=True,
                    cwd=benchlib.ROOT,
                )
                wall = time.perf_counter() - started
                out = done.stdout + done.stderr
                used = re.search(r"used (\S+) of the", out)
                start = re.search(r"start-up took (\S+?)[;,\n]", out)
                metrics = Path(scratch) / f"run{repeat}" / "metrics.json"
                steps = json.loads(metrics.read_text())["steps"] if metrics.exists() else 0
                print(
                    f"{repeat + 1:>6}  {wall:6.1f}  {wall / budget:11.3f}  "
                    f"{used[1] if used else '-':7}  {steps:5d}  {start[1] if start else '-'}"
                    + ("" if done.returncode == 0 else f"  exit {done.returncode}: {out[-200:]}")
                )
        finally:
            for process in spinners:
                process.kill()


if __name__ == "__main__":
    main()

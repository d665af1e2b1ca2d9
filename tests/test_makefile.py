"""`make run` picks the config the machine can train: the CPU recipe without a GPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT

MAKE = shutil.which("make")


def planned(path: str, *args: str) -> str:
    """What `make -n run` would do with this PATH (the Makefile looks for nvidia-smi on it)."""
    done = subprocess.run(
        [MAKE, "-n", "run", *args],
        cwd=ROOT,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_trains_the_cpu_recipe_without_a_gpu_and_vgg19_with_one(tmp_path):
    without_gpu = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "nvidia-smi").exists()
    )
    plan = planned(without_gpu)
    assert "catsdogs train --config configs/cpu.yaml --run-dir runs/cpu --reuse-finished\n" in plan
    plan = planned(without_gpu, "BUDGET=2h")
    assert (
        "catsdogs train --config configs/cpu.yaml --run-dir runs/cpu-2h --reuse-finished "
        "--time-budget 2h\n" in plan
    )
    assert "predict --model runs/cpu-2h --out submission.csv" in plan

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: fake'\n")
    fake.chmod(0o755)
    plan = planned(f"{tmp_path}{os.pathsep}{without_gpu}")
    assert "catsdogs train --config configs/vgg19_lookahead.yaml" in plan

    plan = planned(without_gpu, "CONFIG=configs/smoke.yaml")
    assert "catsdogs train --config configs/smoke.yaml" in plan and "CPU recipe" not in plan


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_trains_into_one_run_per_config_and_predicts_with_it():
    plan = planned(os.environ["PATH"], "CONFIG=configs/smoke.yaml")
    assert "train --config configs/smoke.yaml --run-dir runs/smoke --reuse-finished" in plan
    assert "predict --model runs/smoke --out submission.csv" in plan


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_prepares_from_the_source_given_and_else_from_whatever_is_prepared():
    plan = planned(os.environ["PATH"], "SOURCE=../shared/data/dogs-vs-cats-mini")
    assert "catsdogs prepare --source ../shared/data/dogs-vs-cats-mini\n" in plan
    assert "catsdogs prepare\n" in planned(os.environ["PATH"])

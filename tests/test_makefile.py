"""`make run` picks the config the machine can train: the CPU recipe without a GPU."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
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


def commands(plan: str) -> dict[str, list[str]]:
    """Each catsdogs command `make -n run` would run, as the shell would split it: by name."""
    split = [shlex.split(line) for line in plan.splitlines() if "bin/catsdogs " in line]
    return {words[1]: words[1:] for words in split}


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_trains_the_cpu_recipe_without_a_gpu_and_vgg19_with_one(tmp_path):
    without_gpu = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "nvidia-smi").exists()
    )
    plan = commands(planned(without_gpu))
    train = ["train", "--config", "configs/cpu.yaml", "--run-dir", "runs/cpu", "--reuse-finished"]
    assert plan["train"] == train
    plan = commands(planned(without_gpu, "BUDGET=2h"))
    assert plan["train"] == [*train[:4], "runs/cpu-2h", "--reuse-finished", "--time-budget", "2h"]
    assert plan["predict"] == ["predict", "--model", "runs/cpu-2h", "--out", "submission.csv"]

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: fake'\n")
    fake.chmod(0o755)
    plan = commands(planned(f"{tmp_path}{os.pathsep}{without_gpu}"))
    assert plan["train"][:3] == ["train", "--config", "configs/vgg19_lookahead.yaml"]

    plan = planned(without_gpu, "CONFIG=configs/smoke.yaml")
    assert commands(plan)["train"][:3] == ["train", "--config", "configs/smoke.yaml"]
    assert "CPU recipe" not in plan


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_trains_into_one_run_per_config_and_predicts_with_it():
    plan = commands(planned(os.environ["PATH"], "CONFIG=configs/smoke.yaml"))
    assert plan["train"][:5] == [
        "train",
        "--config",
        "configs/smoke.yaml",
        "--run-dir",
        "runs/smoke",
    ]
    assert plan["predict"] == ["predict", "--model", "runs/smoke", "--out", "submission.csv"]


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_prepares_from_the_source_given_and_else_from_whatever_is_prepared():
    plan = commands(planned(os.environ["PATH"], "SOURCE=../shared/data/dogs-vs-cats-mini"))
    assert plan["prepare"] == ["prepare", "--source", "../shared/data/dogs-vs-cats-mini"]
    assert commands(planned(os.environ["PATH"]))["prepare"] == ["prepare"]


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_passes_each_value_as_one_word_never_as_shell_text():
    # A probe: `make run BUDGET='5m; touch X'` ran `touch X`. Each value is one argument now
    # (the budget then refused by train, in one line).
    hostile = ["BUDGET=5m; touch X", "SOURCE=a'b `id`", "SUBMISSION=`id`.csv"]
    plan = planned(os.environ["PATH"], *hostile)
    assert commands(plan)["train"][-2:] == ["--time-budget", "5m; touch X"]
    assert commands(plan)["prepare"] == ["prepare", "--source", "a'b `id`"]
    assert commands(plan)["predict"][-2:] == ["--out", "`id`.csv"]
    [message, _] = [line for line in plan.splitlines() if line.startswith("echo ")]
    assert shlex.split(message)[1].startswith("make run: training configs/")
    # What BUDGET covers, said plainly: the training, not the preparing and predicting.
    assert (
        "(the time budget is the training's, start to exit: preparing comes before it"
        in (shlex.split(message)[1])
    )


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_takes_prepare_s_two_ways_out_and_ends_with_how_to_type_the_next_commands():
    # prepare's errors name --force (prepare again) and --out (another folder): FORCE=1 and
    # DATA=DIR give them to it, and the run trains on that folder.
    plan = planned(os.environ["PATH"], "FORCE=1", "DATA=data/other set")
    steps = commands(plan)
    assert steps["prepare"] == ["prepare", "--out", "data/other set", "--force"]
    assert steps["train"][-2:] == ["--data", "data/other set"]
    assert commands(planned(os.environ["PATH"]))["prepare"] == ["prepare"]
    # catsdogs lives in .venv/bin: the last line says how to type the "next:" lines as printed.
    [hint] = [line for line in plan.splitlines() if "source .venv/bin/activate" in line]
    assert shlex.split(hint)[0] == "echo"


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_run_checks_the_budget_before_prepare_downloads_anything():
    # A probe: `make run BUDGET=junk` ran prepare (maybe a 786 MB download) before the check.
    lines = planned(os.environ["PATH"], "BUDGET=junk").splitlines()
    [check] = [i for i, line in enumerate(lines) if "-m catsdogs.durations" in line]
    [prepare] = [i for i, line in enumerate(lines) if "bin/catsdogs prepare" in line]
    assert check < prepare and shlex.split(lines[check])[-1] == "junk"
    # ...and before "make run: training ... for junk" (a probe: that line came first).
    [said] = [i for i, line in enumerate(lines) if "make run: training" in line]
    assert check < said
    done = subprocess.run(
        [sys.executable, "-m", "catsdogs.durations", "junk"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: BUDGET 'junk' is not a duration: write it as 30m, 1h30m or 90s (units h, m, s)"
    )

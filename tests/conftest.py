"""Shared fixtures: quiet TensorFlow, deterministic seeds, the real data in ../shared, and an
environment without Kaggle credentials. Shared functions and constants are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402
from helpers import ROOT, real_data, require_shared, smoke_train  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats-mini"
# The variables kagglehub reads credentials, or the folder that holds them, from.
KAGGLE_VARIABLES = ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR")


@pytest.fixture(autouse=True)
def _seed_and_policy():
    """Every test starts from the same seed and the float32 policy, whatever the last one did."""
    keras.utils.set_random_seed(1234)
    keras.mixed_precision.set_dtype_policy("float32")
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture
def shared_data() -> Path:
    """The real Dogs vs. Cats slice beside the repo (see ``helpers.require_shared``)."""
    return require_shared(SHARED_DATA)


@pytest.fixture
def no_kaggle_credentials(monkeypatch, tmp_path) -> Path:
    """No Kaggle credentials anywhere: no KAGGLE_* variables, and an empty home folder (which
    the test may fill); returns that folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in KAGGLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, Path]:
    """A run trained once per session by configs/smoke.yaml on a few real images (16 train,
    8 val, 4 labelled test), and its data folder: for tests that only read a trained run
    (and its report, which they may write)."""
    folder = tmp_path_factory.mktemp("smoke")
    data = real_data(require_shared(SHARED_DATA), folder / "data", train=16, val=8, labelled_test=4)
    run = folder / "run"
    keras.utils.set_random_seed(1234)
    done = smoke_train("--data", data, "--run-dir", run)
    assert done.exit_code == 0, done.output
    return run, data

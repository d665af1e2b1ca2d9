"""Lookahead on every Keras 3 backend: the same tests again in a process of each other backend
(the backend is fixed per process), and an import that needs neither TensorFlow nor pydantic."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LOOKAHEAD_TESTS = ["test_lookahead_trajectory.py", "test_lookahead_keras.py"]


def _other_backends() -> list:
    here = os.environ.get("KERAS_BACKEND", "tensorflow")
    return [b for b in ("jax", "torch") if b != here]


@pytest.mark.parametrize("backend", _other_backends())
def test_the_lookahead_tests_pass_under_another_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (PyPI's default torch pulls GBs of CUDA)")
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LOOKAHEAD_TESTS]
    done = subprocess.run(command, cwd=TESTS, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]


HIDDEN = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("tensorflow", "pydantic"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden)")
        return None

sys.meta_path.insert(0, Hide())
import keras
import numpy as np
from catsdogs.optim import Lookahead, SlowWeightsEvaluation

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
optimizer = Lookahead(keras.optimizers.SGD(0.05, momentum=0.9), sync_period=3)
model.compile(optimizer=optimizer, loss="mse", jit_compile=True)
history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, validation_data=(x, y),
                    callbacks=[SlowWeightsEvaluation()])
assert history.history["loss"][-1] < history.history["loss"][0]
assert not [m for m in sys.modules if m.partition(".")[0] in ("tensorflow", "pydantic")]
print("ok", keras.backend.backend(), int(keras.ops.convert_to_numpy(optimizer.iterations)))
"""


def test_catsdogs_optim_needs_neither_tensorflow_nor_pydantic():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: no backend to run Keras without TensorFlow")
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run(
        [sys.executable, "-c", HIDDEN], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["ok", "jax", "12"]

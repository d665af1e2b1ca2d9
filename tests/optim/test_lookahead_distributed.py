"""MirroredStrategy on two logical CPUs follows the single-device trajectory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("mirrored_lookahead_run.py")


def test_mirrored_two_replicas_equal_one_device():
    # Not under XLA: with logical CPU devices, XLA cannot reach the second replica's variables
    # even for plain SGD ("tfvariable_on_a_different_device"), an upstream limit.
    args = [sys.executable, str(SCRIPT)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    single, mirrored = result["single"], result["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert single["iterations"] == mirrored["iterations"] == 8
    for key in ("weights", "slow"):
        for a, b in zip(single[key], mirrored[key], strict=True):
            np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5, rtol=0)
    # Mid-cycle: the fast and slow weights differ, so both were compared for real.
    assert not np.allclose(np.array(mirrored["weights"][0]), np.array(mirrored["slow"][0]))

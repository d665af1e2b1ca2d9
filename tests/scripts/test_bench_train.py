"""scripts/bench_train.py's variants: every one measured keeps its own row."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from helpers import ROOT

SCRIPT = ROOT / "scripts" / "bench_train.py"
sys.path.insert(0, str(SCRIPT.parent))  # the script imports its neighbour benchlib
spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_variants_keep_their_order_and_overrides():
    given = [bench.variant("b:training.jit_compile=on data.image_size=128"), bench.variant("a:")]
    assert bench.variants(given) == {
        "b": ["training.jit_compile=on", "data.image_size=128"],
        "a": [],
    }
    assert bench.variants(None) == dict(bench.DEFAULT_VARIANTS)


@pytest.mark.parametrize(
    ("names", "message"),
    [(["x", "y", "x"], "'x' is used twice"), (["pipeline"], "'pipeline' is the input pipeline")],
)
def test_a_name_that_would_hide_a_row_is_refused(names, message):
    with pytest.raises(ValueError, match=message):
        bench.variants([bench.variant(f"{name}:") for name in names])


def test_the_command_line_says_so_in_one_line():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--variant", "a:", "--variant", "a:training.epochs=2"],
        capture_output=True,
        text=True,
        timeout=300,  # were it not refused, the whole benchmark would run: cut it off
    )
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.endswith("error: --variant name 'a' is used twice; give each a unique name")


def test_each_variant_reports_its_operations_and_its_share_of_the_matrix_product(shared_data):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(ROOT / "configs" / "smoke.yaml")]
        + ["--data", str(shared_data), "--image-size", "32", "--batch-size", "4"]
        + ["--rounds", "2", "--steps-per-round", "2", "--variant", "plain:"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("plain: ")]
    # smoke.yaml's small_cnn at 32 px, counted from its graph: a real count, a real share.
    gflop = float(line.split()[1])
    assert 0.001 < gflop < 1 and "GFLOP an image (forward " in line
    assert "of this machine's float32 matrix product (" in line
    assert int(line.split("GFLOP/s, ")[1].split("%")[0]) > 0

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

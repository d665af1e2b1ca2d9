"""What each `catsdogs export` format costs and gives, beside the .keras model it came from:
file size, one photo's latency, batch-32 throughput, and the export's own check (P(dog)
against the .keras model on 200 validation images).

Every artifact runs in its own runtime (TFLite in LiteRT's interpreter, ONNX in ONNX Runtime,
the SavedModel in TensorFlow), on uint8 photos of one size (375 x 500, Kaggle's commonest);
the .keras model runs as `catsdogs predict` runs it, the resize in TensorFlow then the model,
one pass. Rounds alternate (benchlib.alternate), so the machine's drift hits all alike.

    python scripts/bench_export.py --model RUN [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import benchlib
import numpy as np
from PIL import Image

benchlib.quiet_tensorflow()

import tensorflow as tf  # noqa: E402

from catsdogs.data.pipeline import resize  # noqa: E402
from catsdogs.predict import export, predictor  # noqa: E402

VARIANTS = [("savedmodel", "none"), ("onnx", "none"), ("tflite", "none")]
VARIANTS += [("tflite", "float16"), ("tflite", "int8")]


def photos(data: Path, count: int) -> np.ndarray:
    """``count`` real photos as uint8 375 x 500 x 3 (stretched there where they differ)."""
    paths = benchlib.images(data)[:count]
    return np.stack(
        [np.asarray(Image.open(p).convert("RGB").resize((500, 375), Image.BILINEAR)) for p in paths]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run (or a .keras file)")
    parser.add_argument("--data", type=Path, default=benchlib.DATA, help="photos to time on")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    batch = photos(args.data, 32)
    one = batch[:1]
    loaded = predictor.load(predictor.find(args.model))
    keras_call = tf.function(lambda x: loaded.model(resize(x, loaded.size, loaded.policy)))
    runners = {".keras": lambda x: keras_call(x).numpy()}
    sizes = {".keras": predictor.find(args.model).stat().st_size}
    checks = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        for format, quantize in VARIANTS:
            name = format + ("" if quantize == "none" else f" {quantize}")
            out = Path(scratch) / f"m-{format}-{quantize}{export.SUFFIX[format]}"
            checks[name] = export.export(args.model, format, quantize, out, echo=lambda _: None)
            runners[name] = export.runner(out, format)
            files = [out] if out.is_file() else [f for f in out.rglob("*") if f.is_file()]
            sizes[name] = sum(f.stat().st_size for f in files)
        for run in runners.values():  # warm: first calls build and allocate
            run(one), run(batch)
        latency = benchlib.alternate(
            {
                name: (lambda run=run: [run(one) for _ in range(10)])
                for name, run in runners.items()
            },
            args.rounds,
        )
        throughput = benchlib.alternate(
            {name: (lambda run=run: run(batch)) for name, run in runners.items()}, args.rounds
        )
    print(f"model: {loaded}; {args.rounds} rounds, alternating")
    print(
        "| format | size | one photo | batch of 32 | vs .keras (batch) | check (200 val images) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in runners:
        one_ms = statistics.median(latency[name]) / 10 * 1000
        per_second = 32 / statistics.median(throughput[name])
        ratio = statistics.median(benchlib.ratios(throughput, ".keras", name))
        check = checks.get(name)
        said = (
            f"max diff {check.most_difference:.1e}, same label {check.agreement:.1%}"
            if check
            else "the reference"
        )
        print(
            f"| {name} | {sizes[name] / 2**20:.2f} MiB | {one_ms:.1f} ms | "
            f"{per_second:.0f} images/s | {ratio:.2f}x | {said} |"
        )


if __name__ == "__main__":
    main()

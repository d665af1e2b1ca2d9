"""Train-step time of Lookahead(SGD) against bare SGD on VGG19 with our head, on any backend.

Both models train in this one process on the same batch, which is made on the device (no host
input pipeline in the timing), in alternating rounds, so machine noise hits both alike; the
ratio is the median over rounds. Also prints images/s, the extra optimizer memory (one copy of
the trainable weights, the slow weights, and nothing more) and, given the device's dense
matrix-multiply peak, the share of it that the step reaches (VGG19's forward pass is ~39.3
GFLOP per 224 px image; a training step about three times that).

Needs only Keras and the backend: it runs on a machine without TensorFlow under JAX.

    python scripts/bench_lookahead.py [--backend jax|tensorflow|torch] [--image-size 224]
        [--batch-size 64] [--dtype float32|mixed_bfloat16|mixed_float16]
        [--peak-tflops N|measure]
        [--steps 10] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import benchlib

VGG19_FORWARD_GFLOP_224 = 39.3  # per image at 224 x 224; scales with the pixel count


def peak_value(text: str) -> float | str:
    return text if text == "measure" else float(text)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--dtype", choices=["float32", "mixed_bfloat16", "mixed_float16"], default="float32"
    )
    parser.add_argument(
        "--peak-tflops",
        type=peak_value,
        default=None,
        help="the device's dense matrix-multiply rate in TFLOP/s, or 'measure': time a bf16 "
        "product (8192^3 on a GPU, 1024^3 elsewhere) here first",
    )
    parser.add_argument("--steps", type=int, default=10, help="steps per round (a multiple of k)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sync-period", type=int, default=5)
    return parser.parse_args()


ARGS = parse()
if ARGS.backend:  # before Keras is imported: the backend is fixed per process
    os.environ["KERAS_BACKEND"] = ARGS.backend
benchlib.quiet_tensorflow()
sys.path.insert(0, str(benchlib.ROOT))  # run from a bare copy too

import keras  # noqa: E402
import numpy as np  # noqa: E402

from catsdogs.optim import Lookahead  # noqa: E402


# Not catsdogs.model.build: it imports catsdogs.config (pydantic, yaml), absent on the GPU machine.
def vgg19_classifier(image_size: int) -> keras.Model:
    """VGG19 (random weights: no download) and the head catsdogs puts on it: flatten, dense
    256, dropout, one sigmoid unit kept in float32. Built here, with Keras alone, so that the
    script needs neither TensorFlow nor the package's config schema."""
    keras.utils.set_random_seed(0)
    backbone = keras.applications.VGG19(
        weights=None, include_top=False, input_shape=(image_size, image_size, 3)
    )
    x = keras.layers.Flatten()(backbone.output)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(backbone.input, out)


def on_gpu() -> bool:
    if keras.backend.backend() == "torch":  # Keras' distribution API is JAX/TensorFlow only
        import torch

        return torch.cuda.is_available()
    return any(d.startswith("gpu") for d in keras.distribution.list_devices())


def wait_for(x) -> None:
    """Block until the device has computed ``x`` (reading one element of it back)."""
    keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.ravel(x)[0], "float32"))


def measured_peak_tflops(repeats: int = 20) -> float:
    """The dense bf16 matrix-multiply rate this device reaches, in TFLOP/s: the ceiling the
    training step is compared with (a card's data-sheet figure is not reached in practice)."""
    n = 8192 if on_gpu() else 1024
    a = keras.random.normal((n, n), seed=3, dtype="bfloat16")
    b = keras.random.normal((n, n), seed=4, dtype="bfloat16")
    wait_for(keras.ops.matmul(a, b))  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        c = keras.ops.matmul(a, b)
    wait_for(c)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def nbytes(variables) -> int:
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


def run_steps(model: keras.Model, x, y, steps: int) -> None:
    """``steps`` training steps, waiting for the device at the end (reading the last loss)."""
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))


def main() -> None:
    peak = ARGS.peak_tflops
    if peak == "measure":
        peak = measured_peak_tflops()
        print(f"measured dense bf16 matrix multiply: {peak:.1f} TFLOP/s")
    keras.mixed_precision.set_dtype_policy(ARGS.dtype)
    size, batch = ARGS.image_size, ARGS.batch_size
    # The batch lives on the device: made there once, reused by every step.
    x = keras.random.uniform((batch, size, size, 3), 0.0, 255.0, seed=1)
    y = keras.ops.cast(keras.random.uniform((batch, 1), seed=2) > 0.5, "float32")

    models = {}
    for name in ("sgd", "lookahead"):
        model = vgg19_classifier(size)
        sgd = keras.optimizers.SGD(1e-4, momentum=0.9)
        optimizer = sgd if name == "sgd" else Lookahead(sgd, sync_period=ARGS.sync_period)
        # JAX always compiles (XLA); TensorFlow runs as catsdogs' CPU configs do (graph mode,
        # no XLA, whose CPU convolutions are ~10x slower) unless it sees a GPU; PyTorch eager.
        backend = keras.backend.backend()
        jit = backend == "jax" or (backend == "tensorflow" and on_gpu())
        model.compile(optimizer=optimizer, loss="binary_crossentropy", jit_compile=jit)
        run_steps(model, x, y, ARGS.sync_period)  # compile, build and warm up
        models[name] = model

    seconds = benchlib.alternate(
        {name: lambda m=model: run_steps(m, x, y, ARGS.steps) for name, model in models.items()},
        ARGS.rounds,
    )
    ratios = benchlib.ratios(seconds, "lookahead", "sgd")

    trainable = nbytes(models["sgd"].trainable_variables)
    extra = nbytes(models["lookahead"].optimizer.variables) - nbytes(
        models["sgd"].optimizer.variables
    )
    step = {name: statistics.median(values) / ARGS.steps for name, values in seconds.items()}
    print(
        f"VGG19 + head, {size}x{size}, batch {batch}, {ARGS.dtype}, backend "
        f"{keras.backend.backend()} (jit_compile {models['sgd'].jit_compile}), "
        f"k={ARGS.sync_period}, {ARGS.steps} steps x "
        f"{ARGS.rounds} rounds (alternating)"
    )
    gflop = 3 * VGG19_FORWARD_GFLOP_224 * (size / 224) ** 2  # per image, one training step
    for name, label in (("sgd", "SGD"), ("lookahead", "Lookahead(SGD)")):
        rate = batch / step[name]
        line = f"{label:15s} median step {step[name] * 1e3:8.1f} ms  {rate:8.1f} images/s"
        if peak:
            share = rate * gflop / 1e3 / peak
            line += f"  {share:6.1%} of {peak:.0f} TFLOP/s"
        print(line)
    print(
        f"ratio Lookahead/SGD: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target <= 1.03)"
    )
    print(
        f"extra optimizer memory: {extra / 2**20:.1f} MiB = {extra / trainable:.4f} x the "
        f"{trainable / 2**20:.1f} MiB of trainable weights (target: 1 copy)"
    )


if __name__ == "__main__":
    main()

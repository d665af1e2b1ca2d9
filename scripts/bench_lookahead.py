"""Train-step time of Lookahead(SGD) against bare SGD on the same VGG19-shaped model.

Both run in this one process, alternating, so machine noise hits both alike; the ratio is the
median over repeats. Also prints the extra optimizer memory, which should be one copy of the
trainable weights (the slow weights) and nothing more.

    python scripts/bench_lookahead.py [--image-size 32] [--batch-size 16] [--steps 10] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from catsdogs.optim import Lookahead  # noqa: E402


def vgg19_classifier(image_size: int) -> keras.Model:
    """VGG19 backbone (random weights: no download) with the project's kind of head."""
    keras.utils.set_random_seed(0)
    backbone = keras.applications.VGG19(
        weights=None, include_top=False, input_shape=(image_size, image_size, 3)
    )
    x = keras.layers.GlobalAveragePooling2D()(backbone.output)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(backbone.input, out)


def nbytes(variables) -> int:
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


def time_steps(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="steps per timing (a multiple of k)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sync-period", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(args.batch_size, args.image_size, args.image_size, 3))
    x = x.astype("float32")
    y = rng.integers(0, 2, size=(args.batch_size, 1)).astype("float32")

    models = {}
    for name in ("sgd", "lookahead"):
        model = vgg19_classifier(args.image_size)
        sgd = keras.optimizers.SGD(1e-4, momentum=0.9)
        optimizer = sgd if name == "sgd" else Lookahead(sgd, sync_period=args.sync_period)
        model.compile(optimizer=optimizer, loss="binary_crossentropy")
        time_steps(model, x, y, args.sync_period)  # trace, build and warm up
        models[name] = model

    ratios, seconds = [], {"sgd": [], "lookahead": []}
    for repeat in range(args.repeats):
        order = ("sgd", "lookahead") if repeat % 2 == 0 else ("lookahead", "sgd")
        took = {name: time_steps(models[name], x, y, args.steps) for name in order}
        for name in took:
            seconds[name].append(took[name])
        ratios.append(took["lookahead"] / took["sgd"])

    trainable = nbytes(models["sgd"].trainable_variables)
    extra = nbytes(models["lookahead"].optimizer.variables) - nbytes(
        models["sgd"].optimizer.variables
    )
    print(
        f"VGG19 {args.image_size}x{args.image_size}, batch {args.batch_size}, "
        f"k={args.sync_period}, {args.steps} steps x {args.repeats} repeats (alternating)"
    )
    print(f"SGD            median step {statistics.median(seconds['sgd']) * 1e3:8.1f} ms")
    print(f"Lookahead(SGD) median step {statistics.median(seconds['lookahead']) * 1e3:8.1f} ms")
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

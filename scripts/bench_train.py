"""Training images/second of `catsdogs train`'s step, float32 against mixed precision + XLA
(or any variants of a config: --variant).

Meant for a GPU (where `mixed_precision: auto` and `jit_compile: auto` turn both on); on a CPU
it runs too, at a small size. Both trainers are built in this one process from the same config
(VGG19 with random weights, Lookahead(SGD), the real tf.data pipeline over the images of
../shared) and take turns with the input pipeline alone (built from the same config) in short
rounds, the order alternating; each rate is total images over total seconds. The pipeline's
rate shows whether the step waits for data.

    python scripts/bench_train.py [--config configs/vgg19_lookahead.yaml] [--image-size 224]
                                  [--batch-size 32] [--rounds 6] [--steps-per-round 20]
                                  [--variant "NAME:key=value key=value" ...]

Each variant's row also says what its step asks of the arithmetic: the floating-point
operations of a training step per image (forward and backward, counted from the step's graph:
catsdogs.training.flops), the rate the step reaches, and its share of a 2048 x 2048 matrix
product in the variant's precision on the same threads, timed in the same alternating rounds
(what these cores do through TensorFlow: the limit).

Each --variant is a name and config overrides (applied after --image-size/--batch-size); the
first is the one the others are compared with, e.g. the CPU recipe's knobs:

    python scripts/bench_train.py --config configs/cpu.yaml --image-size 96 --rounds 2 \
        --steps-per-round 8 --variant "cpu.yaml:" --variant "xla:training.jit_compile=on" \
        --variant "xla 128px:training.jit_compile=on data.image_size=128"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

import pandas as pd  # noqa: E402

from catsdogs.config import load  # noqa: E402
from catsdogs.data import manifests, pipeline  # noqa: E402
from catsdogs.training import flops  # noqa: E402
from catsdogs.training.trainer import Trainer  # noqa: E402


def write_manifests(images: Path, folder: Path) -> Path:
    """train.csv and val.csv over the labelled images, as prepare would write them."""
    files = benchlib.images(images, "train/*.jpg")
    frame = pd.DataFrame(
        {"path": [str(f) for f in files], "label": [int(f.name.startswith("dog")) for f in files]}
    )
    frame.to_csv(folder / "train.csv", index=False)
    frame.iloc[:64].to_csv(folder / "val.csv", index=False)
    return folder


PIPELINE = "pipeline"  # the input pipeline's own row in the results
MATMUL_N = 2048  # the limit: an N x N matrix product
DEFAULT_VARIANTS = [
    ("float32", ["training.mixed_precision=off", "training.jit_compile=off"]),
    ("mixed+XLA", ["training.mixed_precision=on", "training.jit_compile=on"]),
]


def variant(text: str) -> tuple[str, list[str]]:
    """``"NAME:key=value key=value"`` -> (NAME, [overrides])."""
    name, sep, overrides = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:key=value ..., got {text!r}")
    return name, overrides.split()


def variants(given: list[tuple[str, list[str]]] | None) -> dict[str, list[str]]:
    """The variants by name, in the order given. Results are keyed by name, so a repeated
    name (or "pipeline", the input pipeline's row) would silently drop a variant: refused."""
    chosen = given or DEFAULT_VARIANTS
    names = [name for name, _ in chosen]
    for name in names:
        if name == PIPELINE:
            raise ValueError(f"--variant name {PIPELINE!r} is the input pipeline's row; rename it")
        if names.count(name) > 1:
            raise ValueError(f"--variant name {name!r} is used twice; give each a unique name")
    return dict(chosen)


def train(trainer: Trainer, steps: int) -> None:
    """``steps`` training steps; ``train_steps`` reads their results, so the device is done."""
    for _ in trainer.train_steps(steps):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=benchlib.ROOT / "configs" / "vgg19_lookahead.yaml"
    )
    parser.add_argument("--data", type=Path, default=benchlib.DATA)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps-per-round", type=int, default=20)
    parser.add_argument("--variant", action="append", type=variant, help="NAME:key=value ...")
    args = parser.parse_args()
    base = [
        "model.weights=none",
        f"data.image_size={args.image_size}",
        f"data.batch_size={args.batch_size}",
    ]
    try:
        settings = variants(args.variant)
    except ValueError as err:
        parser.error(str(err))
    steps = args.steps_per_round
    with tempfile.TemporaryDirectory() as tmp:
        data = manifests.read_training_data(write_manifests(args.data, Path(tmp)))
        contenders, counted, precision = {}, {}, {}
        for name, extra in settings.items():
            config = load(args.config, base + extra)
            trainer = Trainer(config, data)
            train(trainer, 3)  # tracing and compilation
            contenders[name] = lambda trainer=trainer: train(trainer, steps)
            counted[name] = flops.step_flops(trainer.model, config.data.image_size)
            precision[name] = trainer.compute_dtype
        # The limit in each precision a variant trains in, with as many products a round as
        # take about as long as a step round.
        limits = {}
        for dtype in sorted(set(precision.values())):
            limits[dtype] = f"matmul {dtype}"
            product = flops.matrix_product(MATMUL_N, dtype)
            contenders[limits[dtype]] = lambda p=product: [p() for _ in range(steps)]
        # The same input pipeline the trainers draw from, alone.
        cache = trainer.caching.train
        data_only = pipeline.dataset(data.train, config.data, True, config.seed, True, cache)
        batches = iter(data_only)
        for _ in range(3):
            next(batches)
        contenders[PIPELINE] = lambda: [next(batches) for _ in range(steps)]
        seconds = benchlib.alternate(contenders, args.rounds)

    images = args.rounds * steps * args.batch_size
    rate = {name: images / sum(values) for name, values in seconds.items()}
    limit = {
        dtype: args.rounds * steps * 2 * MATMUL_N**3 / sum(seconds[name])
        for dtype, name in limits.items()
    }
    for name in limits.values():
        del rate[name]
    print(
        f"{args.config.name} ({config.model.backbone}, random weights) at "
        f"{args.image_size}x{args.image_size}, batch {args.batch_size}, {args.rounds} rounds of "
        f"{steps} steps (alternating)"
    )
    width = max(len(name) for name in rate)
    for name, value in rate.items():
        print(
            f"{name:{width}s} {value:8.1f} images/s "
            f"({sum(seconds[name]) / (args.rounds * steps):.3f} s/step)"
        )
    first, *others = settings
    for name in settings:
        dtype = precision[name]
        print(f"{name}: {flops.share_line(counted[name], rate[name], limit[dtype], dtype)}")
    for name in others:
        print(f"{name} / {first} : {rate[name] / rate[first]:.2f}")
    print(
        f"step / pipeline : {rate[others[-1] if others else first] / rate[PIPELINE]:.2f} "
        "(near 1: input-bound)"
    )


if __name__ == "__main__":
    main()

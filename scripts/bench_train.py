"""Training images/second of `catsdogs train`'s step, float32 against mixed precision + XLA.

Meant for a GPU (where `mixed_precision: auto` and `jit_compile: auto` turn both on); on a CPU
it runs too, at a small size. Both trainers are built in this one process from the same config
(VGG19 with random weights, Lookahead(SGD), the real tf.data pipeline over the images of
../shared) and take turns in short rounds, the order alternating; each rate is total images
over total seconds. The input pipeline alone is timed the same way, to show whether the step
waits for data.

    python scripts/bench_train.py [--config configs/vgg19_lookahead.yaml] [--image-size 224]
                                  [--batch-size 32] [--rounds 6] [--steps-per-round 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from catsdogs import manifests  # noqa: E402
from catsdogs.config import load  # noqa: E402
from catsdogs.training import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats-mini"


def write_manifests(images: Path, folder: Path) -> Path:
    """train.csv and val.csv over the labelled images, as prepare would write them."""
    files = sorted((images / "train").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no images under {images}/train (see ../shared/README.md)")
    frame = pd.DataFrame(
        {"path": [str(f) for f in files], "label": [int(f.name.startswith("dog")) for f in files]}
    )
    frame.to_csv(folder / "train.csv", index=False)
    frame.iloc[:64].to_csv(folder / "val.csv", index=False)
    return folder


def timed_round(trainer: Trainer, steps: int) -> float:
    """Seconds for ``steps`` training steps, waiting for the device at the end."""
    start = time.perf_counter()
    for _ in range(steps):
        sums = trainer.train_all(next(trainer.train_batches))
    float(sums[0])
    return time.perf_counter() - start


def pipeline_round(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        next(trainer.train_batches)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "vgg19_lookahead.yaml")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps-per-round", type=int, default=20)
    args = parser.parse_args()
    base = [
        "model.weights=none",
        f"data.image_size={args.image_size}",
        f"data.batch_size={args.batch_size}",
    ]
    settings = {
        "float32": ["training.mixed_precision=off", "training.jit_compile=off"],
        "mixed+XLA": ["training.mixed_precision=on", "training.jit_compile=on"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = manifests.read_training_data(write_manifests(args.data, Path(tmp)))
        trainers = {}
        for name, extra in settings.items():
            config = load(args.config, base + extra)
            trainers[name] = Trainer(config, data, echo=print)
            timed_round(trainers[name], 3)  # tracing and compilation
        seconds = dict.fromkeys([*trainers, "pipeline"], 0.0)
        for round_ in range(args.rounds):
            order = list(trainers) if round_ % 2 == 0 else list(trainers)[::-1]
            for name in order:
                seconds[name] += timed_round(trainers[name], args.steps_per_round)
            seconds["pipeline"] += pipeline_round(trainers["float32"], args.steps_per_round)

    images = args.rounds * args.steps_per_round * args.batch_size
    rate = {name: images / s for name, s in seconds.items()}
    print(
        f"{args.config.name} ({trainers['float32'].config.model.backbone}, random weights) at "
        f"{args.image_size}x{args.image_size}, batch {args.batch_size}, {args.rounds} rounds of "
        f"{args.steps_per_round} steps (alternating)"
    )
    for name, value in rate.items():
        print(f"{name:10s} {value:8.1f} images/s")
    print(f"mixed+XLA / float32 : {rate['mixed+XLA'] / rate['float32']:.2f}")
    print(f"step / pipeline     : {rate['mixed+XLA'] / rate['pipeline']:.2f} (near 1: input-bound)")


if __name__ == "__main__":
    main()

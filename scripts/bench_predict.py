"""Images/second of `catsdogs predict`'s inference, without and with TTA, on real test images.

The model is VGG19 with the project's head (random weights: speed does not depend on them).
Both modes run in this one process on the same images, alternating over repeats (medians).

    python scripts/bench_predict.py [--image-size 128] [--images 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

from catsdogs.config import ModelConfig  # noqa: E402
from catsdogs.model.classifier import build  # noqa: E402
from catsdogs.predict.predictor import Loaded, p_dog  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=benchlib.DATA)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paths = [str(p) for p in benchlib.images(args.data, "test1/*.jpg")[: args.images]]
    config = ModelConfig(backbone="vgg19", weights="none", pooling="flatten")
    model = build(config, args.image_size, "stretch")
    loaded = Loaded(Path("vgg19"), model, args.image_size, "stretch")
    upright = [1] * len(paths)  # Kaggle's images carry no EXIF orientation
    p_dog(loaded, paths[:64], tta=True, orientations=upright[:64])  # trace and warm up
    seconds = benchlib.alternate(
        {
            "plain": lambda: p_dog(loaded, paths, tta=False, orientations=upright),
            "tta": lambda: p_dog(loaded, paths, tta=True, orientations=upright),
        },
        args.repeats,
    )
    rates = {name: [len(paths) / s for s in values] for name, values in seconds.items()}
    plain, tta = statistics.median(rates["plain"]), statistics.median(rates["tta"])
    print(
        f"VGG19 at {args.image_size}x{args.image_size}, {len(paths)} real test images, "
        f"{args.repeats} repeats"
    )
    print(f"without TTA: {plain:7.1f} images/s")
    print(f"with TTA   : {tta:7.1f} images/s  (TTA costs x{plain / tta:.2f})")


if __name__ == "__main__":
    main()

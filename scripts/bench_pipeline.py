"""Images/second of our training pipeline against Keras' loader and the decode-only limit.

All three read the same real images from ../shared, at the same size and batch size, in one
process. This machine's speed drifts by up to 2x within a minute, so instead of whole passes the
contenders take turns in short rounds (a fresh iterator of a few batches each, the order
alternating), and each rate is total images over total seconds across all rounds. The Keras
loader is `keras.utils.image_dataset_from_directory` over a folder of links to the same files;
the decode-only limit is read + decode + resize in a parallel map, nothing else.

    python scripts/bench_pipeline.py [--image-size 224] [--batch-size 32] [--rounds 20]
                                     [--batches-per-round 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

import keras  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from catsdogs.config import DataConfig  # noqa: E402
from catsdogs.data import manifests  # noqa: E402
from catsdogs.data.images import decode_rgb  # noqa: E402
from catsdogs.data.pipeline import dataset  # noqa: E402


def count_images(data: tf.data.Dataset, batches: int) -> int:
    """Images in ``batches`` batches from a fresh iterator (start-up included)."""
    return sum(int(images.shape[0]) for images, _ in data.take(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=benchlib.DATA)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batches-per-round", type=int, default=16)
    args = parser.parse_args()
    files = benchlib.images(args.data, "train/*.jpg")
    labels = [0.0 if f.name.startswith("cat") else 1.0 for f in files]
    size, batch = args.image_size, args.batch_size

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = tmp / "train.csv"
        pd.DataFrame({"path": [str(f) for f in files], "label": labels}).to_csv(manifest)
        for f in files:  # class folders of links: the layout Keras' loader wants
            (tmp / "tree" / f.name.split(".")[0]).mkdir(parents=True, exist_ok=True)
            (tmp / "tree" / f.name.split(".")[0] / f.name).symlink_to(f)

        options = DataConfig(image_size=size, batch_size=batch)
        ours = dataset(manifests.read(manifest, "labelled"), options, True, repeat=True)
        keras_loader = keras.utils.image_dataset_from_directory(
            tmp / "tree",
            image_size=(size, size),
            batch_size=batch,
            label_mode="binary",
            shuffle=True,
            seed=0,
            verbose=False,
        )
        keras_loader = keras_loader.repeat().prefetch(tf.data.AUTOTUNE)
        decode_only = (
            tf.data.Dataset.from_tensor_slices(([str(f) for f in files], labels))
            .map(
                lambda p, y: (tf.image.resize(decode_rgb(tf.io.read_file(p), 1), [size, size]), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .repeat()
            .batch(batch)
            .prefetch(tf.data.AUTOTUNE)
        )
        contenders = {"ours": ours, "keras": keras_loader, "decode-only": decode_only}
        for data in contenders.values():  # tracing and the page cache
            count_images(data, 4)
        images = dict.fromkeys(contenders, 0)

        def counted(name: str, data: tf.data.Dataset):
            def run() -> None:
                images[name] += count_images(data, args.batches_per_round)

            return run

        seconds = benchlib.alternate(
            {name: counted(name, data) for name, data in contenders.items()}, args.rounds
        )

    rate = {name: images[name] / sum(seconds[name]) for name in contenders}
    print(
        f"{len(files)} real images at {size}x{size}, batch {batch}, {args.rounds} rounds of "
        f"{args.batches_per_round} batches each (alternating)"
    )
    for name, label in (
        ("ours", "catsdogs training pipeline (augmenting)"),
        ("keras", "keras image_dataset_from_directory"),
        ("decode-only", "decode + resize only (the limit)"),
    ):
        print(f"{label:42s} {rate[name]:7.0f} images/s")
    print(f"ours / keras loader : {rate['ours'] / rate['keras']:.2f} (target >= 1.5)")
    print(f"ours / decode-only  : {rate['ours'] / rate['decode-only']:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()

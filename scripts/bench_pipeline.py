"""Images/second of our training pipeline against Keras' loader and the decode-only limit.

All three read the same real images from ../shared, at the same size and batch size, in one
process, alternating over repeats (medians). The Keras loader is
`keras.utils.image_dataset_from_directory` over a folder of links to the same files; the
decode-only limit is read + decode + resize in a parallel map, nothing else.

    python scripts/bench_pipeline.py [--image-size 224] [--batch-size 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from catsdogs.images import decode_rgb  # noqa: E402
from catsdogs.pipeline import PipelineOptions, dataset  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats-mini"


def images_per_second(data: tf.data.Dataset) -> float:
    start, count = time.perf_counter(), 0
    for images, _ in data:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = sorted((args.data / "train").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no images under {args.data}/train (see ../shared/README.md)")
    labels = [0.0 if f.name.startswith("cat") else 1.0 for f in files]
    size, batch = args.image_size, args.batch_size

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = tmp / "train.csv"
        pd.DataFrame({"path": [str(f) for f in files], "label": labels}).to_csv(manifest)
        for f in files:  # class folders of links: the layout Keras' loader wants
            (tmp / "tree" / f.name.split(".")[0]).mkdir(parents=True, exist_ok=True)
            (tmp / "tree" / f.name.split(".")[0] / f.name).symlink_to(f)

        ours = dataset(manifest, PipelineOptions(image_size=size, batch_size=batch), True)
        keras_loader = keras.utils.image_dataset_from_directory(
            tmp / "tree",
            image_size=(size, size),
            batch_size=batch,
            label_mode="binary",
            shuffle=True,
            seed=0,
            verbose=False,
        ).prefetch(tf.data.AUTOTUNE)
        decode_only = (
            tf.data.Dataset.from_tensor_slices(([str(f) for f in files], labels))
            .map(
                lambda p, y: (tf.image.resize(decode_rgb(tf.io.read_file(p)), [size, size]), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(batch)
            .prefetch(tf.data.AUTOTUNE)
        )
        contenders = {"ours": ours, "keras": keras_loader, "decode-only": decode_only}
        for data in contenders.values():  # first pass: tracing and the page cache
            images_per_second(data.take(4))
        rates = {name: [] for name in contenders}
        for repeat in range(args.repeats):
            order = list(contenders) if repeat % 2 == 0 else list(contenders)[::-1]
            for name in order:
                rates[name].append(images_per_second(contenders[name]))

    median = {name: statistics.median(r) for name, r in rates.items()}
    print(f"{len(files)} real images at {size}x{size}, batch {batch}, {args.repeats} repeats")
    for name, label in (
        ("ours", "catsdogs training pipeline (augmenting)"),
        ("keras", "keras image_dataset_from_directory"),
        ("decode-only", "decode + resize only (the limit)"),
    ):
        print(f"{label:42s} {median[name]:7.0f} images/s")
    print(f"ours / keras loader : {median['ours'] / median['keras']:.2f} (target >= 1.5)")
    print(f"ours / decode-only  : {median['ours'] / median['decode-only']:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()

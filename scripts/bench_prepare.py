"""Images/second of prepare's validation against plain single-process loops.

Two baselines: a plain Pillow loop (open + full decode, nothing else), and a plain loop doing
the same checks as ours one image at a time (read, sha256, Pillow, then TensorFlow's decoder):
ours against the first says what the whole validation costs next to a bare decode, against the
second how well it uses the cores. All check the same real images from ../shared (read once
first, so all find them in the page cache), alternating over repeats; ratios are medians of
the ratios within each repeat.

    python scripts/bench_prepare.py [--data ../shared/data/dogs-vs-cats-mini] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

import tensorflow as tf  # noqa: E402  (imported before timing: start-up is not validation)
from PIL import Image  # noqa: E402

from catsdogs.data.images import check_decodes  # noqa: E402
from catsdogs.data.validate import pillow_check, validate  # noqa: E402


def plain_pillow_loop(paths: list[Path]) -> int:
    good = 0
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
            good += 1
        except Exception:
            pass
    return good


tensorflow_decodes = tf.function(check_decodes)  # traced once, in the warm-up, not per run


def same_checks_loop(paths: list[Path]) -> int:
    """Our checks, sequentially: Pillow's (read, hash, decode), then TensorFlow's decode."""
    good = 0
    for path in paths:
        if pillow_check(path).ok:
            try:
                tensorflow_decodes(tf.io.read_file(str(path)))
                good += 1
            except tf.errors.OpError:
                pass
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=benchlib.DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    paths = benchlib.images(args.data, "*/*.jpg")
    for path in paths:
        path.read_bytes()
    validate(paths[:64], args.workers)  # TensorFlow's first-use set-up happens once, not per run

    same_checks_loop(paths[:64])
    contenders = {
        "pillow": lambda: plain_pillow_loop(paths),
        "same": lambda: same_checks_loop(paths),
        "ours": lambda: validate(paths, args.workers),
    }
    seconds = benchlib.alternate(contenders, args.repeats)
    rates = {name: [len(paths) / s for s in values] for name, values in seconds.items()}
    print(f"{len(paths)} real images, {args.workers} workers, {args.repeats} repeats (alternating)")
    print(
        f"plain Pillow loop, 1 process        : {statistics.median(rates['pillow']):7.0f} images/s"
    )
    print(f"same checks as ours, 1 process, loop: {statistics.median(rates['same']):7.0f} images/s")
    print(f"catsdogs validation                 : {statistics.median(rates['ours']):7.0f} images/s")
    for name, label in (("pillow", "plain Pillow"), ("same", "same checks")):
        ratios = benchlib.ratios(rates, "ours", name)
        print(
            f"ratio ours/{label}: median {statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target >= 1.8)"
        )


if __name__ == "__main__":
    main()

"""Images/second of prepare's validation against a plain single-process Pillow loop.

Both check the same real images from ../shared (read once first, so both find them in the page
cache), alternating over repeats; the ratio is the median. Ours does more per image than the
baseline: it hashes each file and decodes it with Pillow AND with TensorFlow.

    python scripts/bench_prepare.py [--data ../shared/data/dogs-vs-cats-mini] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402,F401  (imported before timing: start-up is not validation)
from PIL import Image  # noqa: E402

from catsdogs.prepare.validate import validate  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats-mini"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    paths = sorted(args.data.glob("*/*.jpg"))
    if not paths:
        raise SystemExit(f"no images under {args.data} (see ../shared/README.md)")
    for path in paths:
        path.read_bytes()
    validate(paths[:64], args.workers)  # TensorFlow's first-use set-up happens once, not per run

    rates = {"pillow": [], "ours": []}
    for repeat in range(args.repeats):
        runs = [("pillow", plain_pillow_loop), ("ours", lambda p: validate(p, args.workers))]
        for name, run in runs if repeat % 2 == 0 else runs[::-1]:
            start = time.perf_counter()
            run(paths)
            rates[name].append(len(paths) / (time.perf_counter() - start))
    ratios = [ours / base for ours, base in zip(rates["ours"], rates["pillow"])]
    print(f"{len(paths)} real images, {args.workers} workers, {args.repeats} repeats (alternating)")
    print(f"plain Pillow loop, 1 process : {statistics.median(rates['pillow']):7.0f} images/s")
    print(f"catsdogs validation          : {statistics.median(rates['ours']):7.0f} images/s")
    print(
        f"ratio ours/plain: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target >= 1.8)"
    )


if __name__ == "__main__":
    main()

"""What checking a manifest costs every command: ours against reading the same bytes.

``manifests.read`` checks every row and hashes every image against the sha256 prepare
recorded. Its limit is reading the files at all, so the baseline reads the same files in the
same thread pool and discards the bytes. Both run over prepare's manifests of the real images
of ../shared (in the page cache after the first pass, as on a re-run), alternating; the ratio
is the median of the ratios within each repeat.

    python scripts/bench_manifests.py [--data ../shared/data/dogs-vs-cats-mini] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

from catsdogs.data import manifests  # noqa: E402
from catsdogs.data.options import Options  # noqa: E402
from catsdogs.data.prepare import prepare  # noqa: E402


def read_bytes_only(paths: list[str]) -> None:
    def read(path: str) -> None:
        with open(path, "rb") as handle:
            while handle.read(manifests.READ_BYTES):
                pass

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(read, paths, chunksize=64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=benchlib.DATA)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    benchlib.images(args.data, "train/*.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "processed"
        prepare(Options(source=str(args.data), out=out, raw_dir=Path(tmp) / "raw"), echo=print)
        quiet = lambda _: None  # noqa: E731
        paths = [
            p
            for name in ("train.csv", "val.csv")
            for p in manifests.read(out / name, "labelled", quiet).paths
        ]
        runs = {
            "ours": lambda: manifests.read_training_data(out, quiet),
            "read only": lambda: read_bytes_only(paths),
        }
        times = benchlib.alternate(runs, args.repeats)
    count = len(paths)
    print(f"{count} images (train.csv + val.csv), {os.cpu_count()} threads, {args.repeats} repeats")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:10s} median {median:6.3f} s  ({count / median:7.0f} img/s)")
    ratios = benchlib.ratios(times, "ours", "read only")
    print(f"ours / read only: median {statistics.median(ratios):.2f}")
    per_25k = statistics.median(times["ours"]) * 25_000 / count
    print(f"ours, scaled to the full 25,000 training images: {per_25k:.1f} s")


if __name__ == "__main__":
    main()

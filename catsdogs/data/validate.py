"""Validate every image with both decoders that matter: Pillow, and TensorFlow's (training's).

An image is kept only if Pillow decodes all of it AND TensorFlow's decoder does; they disagree
on some real files. Pillow runs in a thread pool (its decoders release the GIL) while
TensorFlow decodes the previous chunk's survivors in tf.data's own C++ threads, so both cores
stay busy without the start-up cost of worker processes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from catsdogs import progress
from catsdogs.errors import UserError, first_line
from catsdogs.printing import and_more, printable

# Pillow's own limit (about 89 million pixels): a header that claims more is a bomb for us,
# since training would try to allocate it.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
FILES_PER_CHUNK = 1024
ORIENTATION = 0x0112  # the EXIF tag that says how a camera held the image


@dataclass(frozen=True)
class ImageCheck:
    path: Path
    reason: str | None = None  # None: the image is good
    detail: str = ""
    format: str = ""
    mode: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""
    orientation: int = 1  # EXIF orientation, 1-8 (see ``orientation``)

    @property
    def ok(self) -> bool:
        return self.reason is None


def orientation(image: Image.Image) -> int:
    """How ``image`` is to be turned to be seen as its camera meant (its EXIF orientation,
    or XMP's where EXIF has none: what Pillow's ``ImageOps.exif_transpose`` applies): 1 as
    stored, 2 mirrored, 3 rotated 180 degrees, 4 flipped, 5 transposed, 6 rotated 90 degrees
    clockwise, 7 transversed, 8 rotated 90 degrees counter-clockwise. Any other value, or
    EXIF Pillow cannot parse, is 1, as exif_transpose leaves such images. A JPEG's or WebP's
    EXIF is in its header; a PNG's may follow the pixels, which Pillow then reads."""
    try:
        value = image.getexif().get(ORIENTATION, 1)
    except Exception:  # malformed EXIF: Pillow's parsers raise many types
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def read_orientation(path: str) -> int:
    """The EXIF orientation of the image file at ``path`` (see ``orientation``); 1 for a file
    Pillow cannot open (its reader checks it apart from this)."""
    try:
        with Image.open(path) as image:
            return orientation(image)
    except Exception:  # not an image Pillow reads: shown as stored
        return 1


def pillow_check(path: Path) -> ImageCheck:
    """Read, hash and fully decode one file with Pillow (JPEG at 1/8 scale, see images.py)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # manifests are UTF-8 and TensorFlow takes UTF-8 paths
        return ImageCheck(path, "name-not-utf8", "its name is not valid UTF-8: rename it")
    try:
        data = path.read_bytes()
    except OSError as err:
        return ImageCheck(path, "unreadable", err.strerror or str(err))
    if not data:
        return ImageCheck(path, "empty", "0 bytes")
    meta = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            meta.update(format=image.format or "", mode=image.mode, width=width, height=height)
            if width * height > MAX_PIXELS:
                return ImageCheck(path, "decompression-bomb", f"{width}x{height} pixels", **meta)
            if image.format == "WEBP" and getattr(image, "is_animated", False):
                # TensorFlow's WebP decoder corrupts memory on animations: it never sees one.
                detail = "an animation; TensorFlow decodes still WebP images only"
                return ImageCheck(path, "animated-webp", detail, **meta)
            if image.format == "JPEG":
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
            meta["orientation"] = orientation(image)
    except Image.DecompressionBombError as err:
        return ImageCheck(path, "decompression-bomb", str(err), **meta)
    except UnidentifiedImageError:
        return ImageCheck(path, "not-an-image", "Pillow cannot identify it", **meta)
    except OSError as err:
        text = str(err)
        lowered = text.lower()
        truncated = "truncated" in lowered or "broken data stream" in lowered
        reason = "truncated" if truncated else "corrupt"
        return ImageCheck(path, reason, text, **meta)
    except Exception as err:  # Pillow's plugins raise many types on malformed files
        return ImageCheck(path, "corrupt", f"{type(err).__name__}: {err}", **meta)
    return ImageCheck(path, None, **meta)


def tensorflow_failures(paths: list[Path], workers: int) -> dict[int, str]:
    """Positions in ``paths`` that TensorFlow cannot decode, with the first line of its error.

    tf.data reads and decodes in parallel C++ threads and drops the failures; each of those
    (rare) is decoded again alone to get TensorFlow's message.
    """
    import tensorflow as tf

    from catsdogs.data.images import check_decodes

    if not paths:
        return {}
    names = [str(p) for p in paths]
    dataset = (
        tf.data.Dataset.from_tensor_slices((tf.range(len(names)), names))
        .map(
            lambda i, p: (i, check_decodes(tf.io.read_file(p))),
            num_parallel_calls=workers,
            deterministic=False,
        )
        .ignore_errors()
        .map(lambda i, _: i)
        .batch(len(names))
    )
    decoded = {i for batch in dataset for i in batch.numpy().tolist()}
    failures = {}
    for position in sorted(set(range(len(names))) - decoded):
        try:
            check_decodes(tf.io.read_file(names[position]))
            failures[position] = "TensorFlow failed on it inside tf.data"
        except tf.errors.OpError as err:
            failures[position] = first_line(err)
    return failures


def validate(paths: list[Path], workers: int) -> list[ImageCheck]:
    """Check every path; the result is in the order of ``paths`` whatever the scheduling.

    Files go in chunks: while the pool runs Pillow on one chunk, this thread runs the
    TensorFlow pass on the previous chunk's survivors (only those: a decompression bomb must
    never reach a decoder that would allocate it).
    """
    results: list[ImageCheck | None] = [None] * len(paths)

    def tensorflow_pass(indices: list[int]) -> None:
        failures = tensorflow_failures([paths[i] for i in indices], workers)
        for position, message in failures.items():
            index = indices[position]
            results[index] = dataclasses.replace(
                results[index], reason="tensorflow-cannot-decode", detail=message
            )
        bar.update(len(indices))

    with (
        warnings.catch_warnings(),
        ThreadPoolExecutor(max_workers=workers) as pool,
        progress.bar(total=len(paths), desc="validating images", unit="img", delay=1.0) as bar,
    ):
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        waiting: list[int] = []  # passed Pillow, not yet TensorFlow
        for start in range(0, len(paths), FILES_PER_CHUNK):
            chunk = range(start, min(start + FILES_PER_CHUNK, len(paths)))
            checks = pool.map(pillow_check, [paths[i] for i in chunk])
            tensorflow_pass(waiting)
            waiting = []
            for index, check in zip(chunk, checks):
                results[index] = check
                if check.ok:
                    waiting.append(index)
                else:
                    bar.update(1)
        tensorflow_pass(waiting)
    return results


def require_decodable(
    paths: list[str], names: list[str] | None = None, what: str = "test"
) -> list[int]:
    """Fail before the slow work, naming the first file (as ``names`` shows it, where given),
    if any image cannot be used as prepare would judge it; else each image's EXIF
    orientation."""
    checks = validate([Path(p) for p in paths], os.cpu_count() or 1)
    bad = [check for check in checks if not check.ok]
    if bad:
        shown = dict(zip(paths, names or paths))
        name, *others = (printable(shown.get(str(check.path), check.path)) for check in bad)
        raise UserError(f"cannot read {what} image {name}: {bad[0].reason}{and_more(others)}")
    return [check.orientation for check in checks]

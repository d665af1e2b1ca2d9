"""Small real and broken image files, and zips, made on the spot."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg_bytes(size=(48, 40), mode="RGB", seed=0, progressive=False) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "CMYK": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, progressive=progressive)
    return out.getvalue()


def image_bytes(fmt: str, size=(40, 32), seed=0, mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = len(mode)  # RGB or RGBA
    pixels = rng.integers(0, 255, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels, mode=mode)
    if fmt == "GIF":
        image = image.convert("P")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def huge_png_header(width=100_000, height=100_000) -> bytes:
    """A valid PNG header that claims width x height pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def broken_files(folder: Path) -> dict[str, str]:
    """Write the classic bad inputs into ``folder``; returns {name: expected reason or 'ok'}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(seed=1)
    files = {
        "empty.jpg": (b"", "empty"),
        "truncated.jpg": (good[: len(good) // 2], "truncated"),
        "text.jpg": (b"this is not an image, just text\n" * 4, "not-an-image"),
        "bomb.jpg": (huge_png_header(), "decompression-bomb"),
        "bomb-medium.jpg": (huge_png_header(10_000, 10_000), "decompression-bomb"),
        "png-named.jpg": (image_bytes("PNG"), "ok"),
        "gif-named.jpg": (image_bytes("GIF"), "ok"),
        "bmp-named.jpg": (image_bytes("BMP"), "ok"),
        "gray.jpg": (jpeg_bytes(mode="L", seed=2), "ok"),
        "progressive.jpg": (jpeg_bytes(seed=3, progressive=True), "ok"),
        "good.jpg": (good, "ok"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


def zip_folder(folder: Path, archive: Path, arcroot: str | None = None) -> Path:
    """Zip ``folder``'s contents (under ``arcroot/`` if given), like the competition's zips."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                zf.write(path, f"{arcroot}/{name}" if arcroot else name)
    return archive


def labelled_images(folder: Path, count: int) -> list[Path]:
    """``count`` small JPEGs named as the competition names them: cat.0.jpg, dog.1.jpg,
    cat.2.jpg, ... (image i is ``jpeg_bytes(seed=i)``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{'cat' if i % 2 == 0 else 'dog'}.{i}.jpg"
        path.write_bytes(jpeg_bytes(seed=i))
        paths.append(path)
    return paths


def copy_real(shared: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(shared / name, dest / Path(name).name)


def sideways(size=(40, 24)) -> Image.Image:
    """An image whose left half is red and right half blue: a camera held sideways stored it
    so, and its EXIF orientation 6 (turn 90 degrees clockwise) puts the red half on top."""
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """``image`` saved in ``fmt`` with the EXIF orientation tag ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()

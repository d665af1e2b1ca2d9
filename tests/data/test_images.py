"""The one decoder: every format TensorFlow reads, each image upright as Pillow's
``exif_transpose`` shows it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from imagefactory import sideways, with_orientation
from PIL import Image, ImageOps

from catsdogs.data.images import decode_rgb
from catsdogs.data.validate import pillow_check, read_orientation


def decoded(data: bytes, orientation: int) -> np.ndarray:
    return decode_rgb(tf.constant(data), orientation).numpy()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_gives_the_pixels_of_pillows_exif_transpose(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    stored = Image.fromarray(rng.integers(0, 255, (5, 7, 3), dtype=np.uint8))  # 7 wide, 5 high
    path = tmp_path / "photo.png"  # lossless, so the pixels compare exactly
    path.write_bytes(with_orientation(stored, orientation, "PNG"))
    assert read_orientation(str(path)) == orientation == pillow_check(path).orientation
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    got = decoded(path.read_bytes(), orientation)
    assert got.shape == expected.shape == ((5, 7, 3) if orientation < 5 else (7, 5, 3))
    np.testing.assert_array_equal(got, expected)


def test_a_sideways_phone_photo_is_decoded_with_its_red_half_on_top(tmp_path):
    path = tmp_path / "phone.jpg"
    path.write_bytes(with_orientation(sideways((40, 24)), 6))
    orientation = read_orientation(str(path))
    image = decoded(path.read_bytes(), orientation).astype(int)
    assert orientation == 6 and image.shape == (40, 24, 3)  # stored 40 wide: now 40 high
    top, bottom = image[:18].mean(axis=(0, 1)), image[22:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue
    # As stored (what TensorFlow alone gives), red is on the left, not on top.
    stored = decoded(path.read_bytes(), 1).astype(int)
    assert stored.shape == (24, 40, 3) and stored[:, :18, 0].mean() > 200


@pytest.mark.parametrize("value", [0, 9, 300])
def test_an_orientation_outside_1_to_8_leaves_the_image_as_stored(tmp_path, value):
    path = tmp_path / "odd.png"
    path.write_bytes(with_orientation(sideways((6, 4)), value, "PNG"))
    assert read_orientation(str(path)) == 1  # as exif_transpose leaves it
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(decoded(path.read_bytes(), value), expected)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_still_webp_decodes_to_pillows_rgb_pixels(mode):
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, (6, 9, channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)
    out = io.BytesIO()
    image.save(out, format="WEBP", lossless=True)
    with Image.open(io.BytesIO(out.getvalue())) as reread:
        expected = np.asarray(reread.convert("RGBA"))[..., :3]  # alpha dropped, as PNG's is
    np.testing.assert_array_equal(decoded(out.getvalue(), 1), expected)

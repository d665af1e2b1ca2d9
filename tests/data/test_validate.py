"""Every image gets the right verdict from both decoders, with its metadata recorded."""

from __future__ import annotations

import hashlib
import warnings

import pytest
from imagefactory import broken_files, image_bytes, jpeg_bytes
from PIL import Image

from catsdogs.data.validate import validate


def test_broken_and_odd_files_get_the_right_reason(tmp_path):
    expected = broken_files(tmp_path)
    (tmp_path / "cmyk.jpg").write_bytes(jpeg_bytes(mode="CMYK", seed=4))
    paths = sorted(tmp_path.iterdir())
    checks = {check.path.name: check for check in validate(paths, workers=2)}
    for name, reason in expected.items():
        assert (checks[name].reason or "ok") == reason, (name, checks[name])
    assert checks["png-named.jpg"].format == "PNG"
    assert checks["gif-named.jpg"].format == "GIF" and checks["gif-named.jpg"].mode == "P"
    assert checks["bmp-named.jpg"].format == "BMP"
    assert checks["gray.jpg"].mode == "L"
    assert "10000000000 pixels" in checks["bomb.jpg"].detail  # Pillow refuses to open it
    assert checks["bomb-medium.jpg"].detail == "10000x10000 pixels"  # over our limit
    assert "truncated" in checks["truncated.jpg"].detail
    # Both decoders read CMYK JPEGs (TensorFlow converts them to RGB): kept, mode recorded.
    assert (checks["cmyk.jpg"].reason, checks["cmyk.jpg"].mode) == (None, "CMYK")
    good = checks["good.jpg"]
    assert (good.width, good.height, good.mode, good.format) == (48, 40, "RGB", "JPEG")
    assert good.sha256 == hashlib.sha256((tmp_path / "good.jpg").read_bytes()).hexdigest()


def test_tensorflow_rejects_what_pillow_accepts(tmp_path):
    # A TIFF behind a .jpg name: Pillow decodes it, TensorFlow's decoder (training's) cannot.
    (tmp_path / "tiff-named.jpg").write_bytes(image_bytes("TIFF"))
    (tmp_path / "cat.1.jpg").write_bytes(jpeg_bytes(seed=6))
    checks = {c.path.name: c for c in validate(sorted(tmp_path.iterdir()), workers=1)}
    assert checks["cat.1.jpg"].ok
    tiff = checks["tiff-named.jpg"]
    assert (tiff.reason, tiff.format) == ("tensorflow-cannot-decode", "TIFF")
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        tf.io.decode_image(image_bytes("TIFF"), channels=3)
    # TensorFlow's own reason, without the op names around it: "{{function_node ...}} <reason>
    # [Op:DecodeImage]".
    reason = refused.value.message.split("}}")[-1].split("[Op:")[0].strip()
    assert reason and reason in tiff.detail


def test_webp_is_kept_still_and_refused_animated_before_tensorflow_sees_it(tmp_path):
    import io

    frames = [Image.new("RGB", (12, 10), (40 * i, 0, 0)) for i in range(3)]
    animated = io.BytesIO()
    frames[0].save(animated, format="WEBP", save_all=True, append_images=frames[1:])
    (tmp_path / "animated.webp").write_bytes(animated.getvalue())
    (tmp_path / "still.webp").write_bytes(image_bytes("WEBP"))
    (tmp_path / "alpha.webp").write_bytes(image_bytes("WEBP", mode="RGBA"))
    checks = {c.path.name: c for c in validate(sorted(tmp_path.iterdir()), workers=1)}
    assert checks["still.webp"].ok and checks["still.webp"].format == "WEBP"
    assert checks["alpha.webp"].ok and checks["alpha.webp"].mode == "RGBA"
    # TensorFlow 2.21's decoder corrupts memory on an animated WebP: Pillow's pass refuses it.
    assert checks["animated.webp"].reason == "animated-webp"


def test_real_images_pass_with_their_metadata(shared_data):
    paths = [shared_data / "train" / f"{kind}.{i}.jpg" for kind in ("cat", "dog") for i in range(5)]
    checks = validate(paths, workers=2)
    assert [c.path for c in checks] == paths  # order kept
    assert all(c.ok and c.format == "JPEG" and c.mode == "RGB" for c in checks)
    for check in checks:
        with Image.open(check.path) as image:
            assert (check.width, check.height) == image.size, check.path
        assert check.sha256 == hashlib.sha256(check.path.read_bytes()).hexdigest(), check.path


def test_order_and_verdicts_do_not_depend_on_workers(tmp_path):
    broken_files(tmp_path)
    paths = sorted(tmp_path.iterdir())
    assert validate(paths, workers=1) == validate(paths, workers=3)


def _full_decode_ok(path) -> bool:
    """The slow way: Pillow and TensorFlow both decode at full resolution."""
    import tensorflow as tf

    from catsdogs.data.images import decode_rgb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.size[0] * image.size[1] > Image.MAX_IMAGE_PIXELS:
                    return False
                image.load()
        decode_rgb(tf.io.read_file(str(path)), 1)
        return True
    except Exception:
        return False


def test_scaled_jpeg_decoding_gives_the_verdicts_of_full_decoding(tmp_path):
    broken_files(tmp_path)
    good = jpeg_bytes(size=(256, 192), seed=8)
    for cut in (200, 600, 1500, len(good) - 200, len(good) - 2):
        (tmp_path / f"cut-{cut}.jpg").write_bytes(good[:cut])
    paths = sorted(tmp_path.iterdir())
    assert [c.ok for c in validate(paths, workers=2)] == [_full_decode_ok(p) for p in paths]

"""TensorFlow image decoding, in one place, so that prepare validates with the decoder that
training and prediction use, and every image is seen upright, as people see it.

TensorFlow's decoders ignore EXIF, so a phone photo stored sideways with an orientation tag
would reach the model sideways. The tag is read once, by Pillow, where the image is checked
(``validate.orientation``: prepare records it in the manifests, predict reads it from your
photos), and ``orient`` applies it here with TensorFlow ops: the pixels equal Pillow's
``ImageOps.exif_transpose``.
"""

from __future__ import annotations

import tensorflow as tf


def orient(image: tf.Tensor, orientation: tf.Tensor | int) -> tf.Tensor:
    """``image`` (H x W x C) turned as its EXIF ``orientation`` (1-8) says, exactly as
    Pillow's ``exif_transpose`` turns it; 1, or anything outside 1-8, leaves it as stored.

    A Python int outside 2-8 (a caller that knows every image is stored upright, as all of
    Kaggle's are) adds no op at all; a tensor that is 1 skips the turn at the cost of one
    ``tf.cond`` (measured: the turn's ``switch_case`` alone costs about 5% of a JPEG decode).
    """
    if isinstance(orientation, int) and not 2 <= orientation <= 8:
        return image
    orientation = tf.cast(orientation, tf.int32)

    def transposed() -> tf.Tensor:
        return tf.transpose(image, [1, 0, 2])

    branches = [
        lambda: image,  # 1: as stored
        lambda: tf.reverse(image, [1]),  # 2: mirrored
        lambda: tf.reverse(image, [0, 1]),  # 3: rotated 180 degrees
        lambda: tf.reverse(image, [0]),  # 4: flipped upside down
        transposed,  # 5: rows become columns
        lambda: tf.reverse(transposed(), [1]),  # 6: rotated 90 degrees clockwise
        lambda: tf.reverse(transposed(), [0, 1]),  # 7: transversed
        lambda: tf.reverse(transposed(), [0]),  # 8: rotated 90 degrees counter-clockwise
    ]
    index = tf.where((orientation >= 1) & (orientation <= 8), orientation - 1, 0)
    return tf.cond(index == 0, lambda: image, lambda: tf.switch_case(index, branches))


def _is_webp(contents: tf.Tensor) -> tf.Tensor:
    """A WebP file: ``RIFF`` + its size + ``WEBP``."""
    return tf.equal(tf.strings.substr(contents, 8, 4), b"WEBP") & tf.equal(
        tf.strings.substr(contents, 0, 4), b"RIFF"
    )


def _decode_stored(contents: tf.Tensor) -> tf.Tensor:
    """Decode JPEG/PNG/GIF/BMP/WebP bytes to uint8 H x W x 3 as stored (gray, palette and alpha
    all become RGB). TensorFlow decodes a WebP only in its own channel count (3, or 4 with
    alpha), so a WebP is decoded so and its alpha dropped, as PNG's is; an animated WebP never
    gets here (validate refuses it: TensorFlow's decoder corrupts memory on one)."""
    image = tf.cond(
        _is_webp(contents),
        lambda: tf.io.decode_image(contents, channels=0, expand_animations=False)[..., :3],
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
    )
    image.set_shape([None, None, 3])
    return image


def decode_rgb(contents: tf.Tensor, orientation: tf.Tensor | int) -> tf.Tensor:
    """Decode image bytes to uint8 H x W x 3, upright: turned by the image's EXIF
    ``orientation`` (1 for an image without one)."""
    image = orient(_decode_stored(contents), orientation)
    image.set_shape([None, None, 3])
    return image


def check_decodes(contents: tf.Tensor) -> tf.Tensor:
    """Raise (as a TF op) if ``decode_rgb`` would fail on ``contents``; returns the decoded shape.

    A JPEG is decoded at 1/8 scale: libjpeg still parses and entropy-decodes every byte of the
    stream (so truncation and corrupt data fail exactly as in a full decode) and only the final
    inverse DCT is smaller, which makes validation about twice as fast. Other formats are
    decoded in full by the same op as ``decode_rgb``. Turning an image cannot fail, so it is
    checked as stored.
    """
    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.shape(tf.io.decode_jpeg(contents, channels=3, ratio=8)),
        lambda: tf.shape(_decode_stored(contents)),
    )

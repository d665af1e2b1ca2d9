"""TensorFlow image decoding, in one place, so that prepare validates with the decoder that
training and prediction use."""

from __future__ import annotations

import tensorflow as tf


def decode_rgb(contents: tf.Tensor) -> tf.Tensor:
    """Decode JPEG/PNG/GIF/BMP bytes to uint8 HxWx3 (gray, palette, alpha all become RGB)."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def check_decodes(contents: tf.Tensor) -> tf.Tensor:
    """Raise (as a TF op) if ``decode_rgb`` would fail on ``contents``; returns the decoded shape.

    A JPEG is decoded at 1/8 scale: libjpeg still parses and entropy-decodes every byte of the
    stream (so truncation and corrupt data fail exactly as in a full decode) and only the final
    inverse DCT is smaller, which makes validation about twice as fast. Other formats are
    decoded in full by the same op as ``decode_rgb``.
    """
    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.shape(tf.io.decode_jpeg(contents, channels=3, ratio=8)),
        lambda: tf.shape(decode_rgb(contents)),
    )

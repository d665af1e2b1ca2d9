"""The tf.data input pipeline: prepare's manifests in, batches of (image, label) out.

One readable path: read file -> decode (3 channels, any format prepare accepted) -> on training
data, random resized crop and flip/rotate/brightness/contrast -> resize by the chosen policy ->
batch -> prefetch. Images stay in [0, 255] float32: each backbone's own preprocessing is part
of the model, so training and prediction cannot disagree on it. Every random op is stateless
and seeded per element from one seed, so a seed gives the same batches on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from catsdogs.errors import UserError
from catsdogs.images import decode_rgb
from catsdogs.manifests import Manifest

RESIZE_POLICIES = ("stretch", "center-crop", "pad")
AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class PipelineOptions:
    image_size: int = 224
    batch_size: int = 32
    resize: str = "stretch"
    augment: bool = True
    crop_area: tuple[float, float] = (0.6, 1.0)  # random resized crop: share of the image kept
    max_rotation_degrees: float = 0.0  # off by default: it halves CPU throughput at 224 px
    brightness: float = 0.1  # max change, as a share of 255
    contrast: float = 0.1  # max relative change
    cache: bool = False
    seed: int = 42


def resize(image: tf.Tensor, size: int, policy: str) -> tf.Tensor:
    """HxWx3 -> size x size x 3 float32, by stretching, center-cropping or padding."""
    image = tf.cast(image, tf.float32)
    if policy == "stretch":
        return tf.image.resize(image, [size, size])
    if policy == "pad":
        return tf.image.resize_with_pad(image, size, size)
    if policy == "center-crop":
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scaled = tf.cast(tf.math.ceil(shape * size / tf.reduce_min(shape)), tf.int32)
        return tf.image.resize_with_crop_or_pad(tf.image.resize(image, scaled), size, size)
    raise UserError(f"resize policy must be one of {', '.join(RESIZE_POLICIES)}; got {policy!r}")


def _rotate(image: tf.Tensor, radians: tf.Tensor) -> tf.Tensor:
    """Rotate about the centre, filling with the nearest edge pixels."""
    height, width = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    cos, sin = tf.cos(radians), tf.sin(radians)
    x0 = (width - 1) / 2 - cos * (width - 1) / 2 + sin * (height - 1) / 2
    y0 = (height - 1) / 2 - sin * (width - 1) / 2 - cos * (height - 1) / 2
    transform = tf.stack([cos, -sin, x0, sin, cos, y0, 0.0, 0.0])[tf.newaxis]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis],
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )[0]


def _crop_box(shape: tf.Tensor, seed: tf.Tensor, options: PipelineOptions):
    """A random box covering ``crop_area`` of the image with aspect ratio in [3/4, 4/3]."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        tf.zeros([1, 0, 4]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=options.crop_area,
        use_image_if_no_bounding_boxes=True,
    )
    return begin, size


def random_crop(image: tf.Tensor, seed: tf.Tensor, options: PipelineOptions) -> tf.Tensor:
    """Random resized crop of a decoded image."""
    begin, size = _crop_box(tf.shape(image), seed, options)
    return tf.slice(image, begin, size)


def decode_random_crop(contents: tf.Tensor, seed: tf.Tensor, options: PipelineOptions):
    """Random resized crop straight from the file: a JPEG decodes only the crop window."""

    def jpeg() -> tf.Tensor:
        begin, size = _crop_box(tf.io.extract_jpeg_shape(contents), seed, options)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        return tf.image.decode_and_crop_jpeg(contents, window, channels=3)

    return tf.cond(
        tf.io.is_jpeg(contents), jpeg, lambda: random_crop(decode_rgb(contents), seed, options)
    )


def augment(cropped: tf.Tensor, seed: tf.Tensor, options: PipelineOptions) -> tf.Tensor:
    """Resize a random crop, then flip, rotate (if asked), brightness and contrast."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    image = resize(cropped, options.image_size, "stretch")
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if options.max_rotation_degrees:
        limit = options.max_rotation_degrees * math.pi / 180
        image = _rotate(image, tf.random.stateless_uniform([], seeds[1], -limit, limit))
    if options.brightness:
        image = tf.image.stateless_random_brightness(image, options.brightness * 255, seeds[2])
    if options.contrast:
        image = tf.image.stateless_random_contrast(
            image, 1 - options.contrast, 1 + options.contrast, seeds[3]
        )
    return tf.clip_by_value(image, 0.0, 255.0)


def dataset(
    manifest: Manifest,
    options: PipelineOptions,
    training: bool,
    with_labels: bool = True,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of (image [B,S,S,3] float32 in [0,255], label [B,1] float32), or images alone,
    from a manifest that ``manifests.read`` checked.

    Training shuffles paths (cheap), not decoded images, and crops while decoding; with
    ``cache`` it decodes once, caches the full images and crops from those instead. With
    ``repeat`` the data never ends (each pass reshuffled and re-augmented) and every batch is
    full, as a step-counting training loop wants.
    """
    if options.resize not in RESIZE_POLICIES:
        raise UserError(
            f"resize policy must be one of {', '.join(RESIZE_POLICIES)}; got {options.resize!r}"
        )
    paths, labels = manifest.paths, manifest.labels
    if with_labels and labels is None:
        raise UserError(f"manifest {manifest.path} has no 'label' column")
    columns = (paths, [[float(label)] for label in labels]) if with_labels else (paths,)

    def decode(path, *label):
        return (decode_rgb(tf.io.read_file(path)), *label)

    def finish(image, *label):
        return (resize(image, options.image_size, options.resize), *label)

    def finish_training(item, seed):
        source, *label = item  # a decoded image when cached, else a path
        crop_seed, augment_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if not options.augment:
            return finish(source if options.cache else decode_rgb(tf.io.read_file(source)), *label)
        if options.cache:
            cropped = random_crop(source, crop_seed, options)
        else:
            cropped = decode_random_crop(tf.io.read_file(source), crop_seed, options)
        return (augment(cropped, augment_seed, options), *label)

    data = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        if options.cache:
            data = data.map(decode, num_parallel_calls=AUTOTUNE).cache()
        # Manifests are sorted (all cats, then all dogs): only a full shuffle mixes them.
        data = data.shuffle(len(paths), options.seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(options.seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip(data, seeds).map(finish_training, num_parallel_calls=AUTOTUNE)
    else:
        data = data.map(decode, num_parallel_calls=AUTOTUNE).map(
            finish, num_parallel_calls=AUTOTUNE
        )
        if options.cache:
            data = data.cache()
    if not with_labels:
        data = data.map(lambda image: image)  # a bare tensor, not a 1-tuple, for predict()
    if repeat:
        data = data.repeat()
    data = data.batch(options.batch_size).prefetch(AUTOTUNE)
    deterministic = tf.data.Options()
    deterministic.deterministic = True
    return data.with_options(deterministic)

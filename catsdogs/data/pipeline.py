"""The tf.data input pipeline: prepare's manifests in, batches of (image, label) out.

One readable path: read file -> decode (3 channels, any format prepare accepted, turned upright
by the EXIF orientation the manifest records) -> on training data, random resized crop and
flip/rotate/brightness/contrast -> resize by the chosen policy -> batch -> prefetch. Images
stay in [0, 255] float32: each backbone's own preprocessing is part of the model, so training
and prediction cannot disagree on it. Every random op is stateless
and seeded per element from one seed, so a seed gives the same batches on every run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from catsdogs.config import DataConfig
from catsdogs.data.images import decode_rgb, orient
from catsdogs.data.manifests import Manifest
from catsdogs.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE


def _stretch(image: tf.Tensor, size: int) -> tf.Tensor:
    return tf.image.resize(image, [size, size])


def _pad(image: tf.Tensor, size: int) -> tf.Tensor:
    return tf.image.resize_with_pad(image, size, size)


def _center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    shape = tf.cast(tf.shape(image)[-3:-1], tf.float32)  # one image or a batch of one size
    scaled = tf.cast(tf.math.ceil(shape * size / tf.reduce_min(shape)), tf.int32)
    return tf.image.resize_with_crop_or_pad(tf.image.resize(image, scaled), size, size)


# Keyed by config.RESIZE_POLICIES.
RESIZERS: dict[str, Callable[[tf.Tensor, int], tf.Tensor]] = {
    "stretch": _stretch,
    "center-crop": _center_crop,
    "pad": _pad,
}


def resize(image: tf.Tensor, size: int, policy: str) -> tf.Tensor:
    """HxWx3 -> size x size x 3 float32, by stretching, center-cropping or padding (a batch,
    N x H x W x 3, likewise)."""
    if policy not in RESIZERS:
        raise UserError(f"resize policy must be one of {', '.join(RESIZERS)}; got {policy!r}")
    return RESIZERS[policy](tf.cast(image, tf.float32), size)


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


def _crop_box(shape: tf.Tensor, seed: tf.Tensor, config: DataConfig):
    """A random box covering ``crop_area`` of the image with aspect ratio in [3/4, 4/3]."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        tf.zeros([1, 0, 4]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=config.crop_area,
        use_image_if_no_bounding_boxes=True,
    )
    return begin, size


def random_crop(image: tf.Tensor, seed: tf.Tensor, config: DataConfig) -> tf.Tensor:
    """Random resized crop of a decoded image."""
    begin, size = _crop_box(tf.shape(image), seed, config)
    return tf.slice(image, begin, size)


def decode_random_crop(
    contents: tf.Tensor, orientation: tf.Tensor | int, seed: tf.Tensor, config: DataConfig
):
    """Random resized crop straight from the file, upright: a JPEG decodes only the crop
    window (a box drawn on the image as stored, then turned with it: a random crop of the
    upright image, its aspect range [3/4, 4/3] the same either way)."""

    def jpeg() -> tf.Tensor:
        begin, size = _crop_box(tf.io.extract_jpeg_shape(contents), seed, config)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        return orient(tf.image.decode_and_crop_jpeg(contents, window, channels=3), orientation)

    def other() -> tf.Tensor:
        return random_crop(decode_rgb(contents, orientation), seed, config)

    cropped = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    cropped.set_shape([None, None, 3])
    return cropped


def augment(cropped: tf.Tensor, seed: tf.Tensor, config: DataConfig) -> tf.Tensor:
    """Resize a random crop, then flip, rotate (if asked), brightness and contrast."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    image = resize(cropped, config.image_size, "stretch")
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if config.max_rotation_degrees:
        limit = config.max_rotation_degrees * math.pi / 180
        image = _rotate(image, tf.random.stateless_uniform([], seeds[1], -limit, limit))
    if config.brightness:
        image = tf.image.stateless_random_brightness(image, config.brightness * 255, seeds[2])
    if config.contrast:
        image = tf.image.stateless_random_contrast(
            image, 1 - config.contrast, 1 + config.contrast, seeds[3]
        )
    return tf.clip_by_value(image, 0.0, 255.0)


# What the cache may take of the memory available when training starts (data.cache: auto).
CACHE_SHARE = 0.5


def _cached_short_side(config: DataConfig) -> int:
    """The short side a cached training image keeps: a random crop of the smallest area still
    has ``image_size`` pixels across, so caching loses no detail that training would use."""
    return math.ceil(config.image_size / math.sqrt(config.crop_area[0]))


def cache_bytes(manifest: Manifest, config: DataConfig, training: bool) -> int:
    """Memory the cache of ``manifest`` takes: training images (augmented) as uint8 with their
    short side at ``_cached_short_side`` (never enlarged), others as the float32 squares that
    go into the model."""
    if not (training and config.augment):
        return len(manifest) * config.image_size**2 * 3 * 4
    side, total = _cached_short_side(config), 0
    for width, height in manifest.sizes():
        short, long = min(width, height), max(width, height)
        kept = min(short, side)
        total += kept * math.ceil(long * kept / short) * 3
    return total


def available_memory() -> int:
    """Bytes of memory available now (Linux: MemAvailable; elsewhere the free pages)."""
    try:
        for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Caching:
    """Which of the training and validation images are kept in memory, and why."""

    train: bool
    val: bool
    reason: str


def choose_caching(
    train: Manifest, val: Manifest, config: DataConfig, available: int | None = None
) -> Caching:
    """``data.cache``: on and off as said; auto keeps the training images, then the validation
    images, in memory while they fit in ``CACHE_SHARE`` of the ``available`` memory."""
    if config.cache != "auto":
        on = config.cache == "on"
        return Caching(on, on, f"data.cache: {config.cache}")
    sizes = {"train": cache_bytes(train, config, True), "val": cache_bytes(val, config, False)}
    room = CACHE_SHARE * (available_memory() if available is None else available)
    keep = {"train": sizes["train"] <= room}
    keep["val"] = sizes["val"] <= room - (sizes["train"] if keep["train"] else 0)
    kept = sum(size for name, size in sizes.items() if keep[name])
    what = " and ".join(f"the {name} images" for name in sizes if keep[name]) or "no images"
    return Caching(
        keep["train"],
        keep["val"],
        f"{what}, decoded ({_size(kept)} of {_size(sum(sizes.values()))}; half the memory "
        f"available is {_size(room)})",
    )


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def dataset(
    manifest: Manifest,
    config: DataConfig,
    training: bool,
    seed: int = 42,
    repeat: bool = False,
    cache: bool = False,
) -> tf.data.Dataset:
    """Batches of (image [B,S,S,3] float32 in [0,255], label [B,1] float32) from a manifest
    that ``manifests.read`` checked, as a config's ``data`` section asks; ``seed`` (the
    config's) decides the order and every augmentation.

    Training shuffles paths (cheap), not decoded images, and crops while decoding; with
    ``cache`` it decodes each image once, keeps it in memory at the size training needs
    (see ``cache_bytes``) and crops from that. With ``repeat`` the data never ends (each pass
    reshuffled and re-augmented) and every batch is full, as a step-counting training loop
    wants.
    """
    if manifest.labels is None:
        raise UserError(f"manifest {manifest.path} has no 'label' column")
    orientations = manifest.orientation_list()
    columns = ((manifest.paths, orientations), [[float(label)] for label in manifest.labels])
    side = _cached_short_side(config)
    # Where every image is stored upright (all of Kaggle's), the decode has no turn at all.
    turned = any(orientation != 1 for orientation in orientations)

    def decode(file, label):
        path, orientation = file
        return decode_rgb(tf.io.read_file(path), orientation if turned else 1), label

    def shrink(image, label):
        """A decoded image with its short side at ``side`` at most, as uint8."""
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.minimum(1.0, side / tf.reduce_min(shape))
        size = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        return tf.cast(tf.round(tf.image.resize(image, size)), tf.uint8), label

    def finish(image, label):
        return resize(image, config.image_size, config.resize), label

    def finish_training(item, element_seed):
        source, label = item  # a decoded image when cached, else (path, orientation)
        crop_seed, augment_seed = tf.unstack(
            tf.random.experimental.stateless_split(element_seed, 2)
        )
        if not config.augment:  # cached images are finished already
            return (source, label) if cache else finish(*decode(source, label))
        if cache:
            cropped = random_crop(source, crop_seed, config)
        else:
            path, orientation = source
            orientation = orientation if turned else 1
            cropped = decode_random_crop(tf.io.read_file(path), orientation, crop_seed, config)
        return augment(cropped, augment_seed, config), label

    data = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        if cache:
            data = data.map(decode, num_parallel_calls=AUTOTUNE)
            data = data.map(shrink if config.augment else finish, num_parallel_calls=AUTOTUNE)
            data = data.cache()
        # Manifests are sorted (all cats, then all dogs): only a full shuffle mixes them.
        data = data.shuffle(len(manifest), seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip(data, seeds).map(finish_training, num_parallel_calls=AUTOTUNE)
    else:
        data = data.map(decode, num_parallel_calls=AUTOTUNE).map(
            finish, num_parallel_calls=AUTOTUNE
        )
        if cache:
            data = data.cache()
    if repeat:
        data = data.repeat()
    data = data.batch(config.batch_size).prefetch(AUTOTUNE)
    deterministic = tf.data.Options()
    deterministic.deterministic = True
    return data.with_options(deterministic)

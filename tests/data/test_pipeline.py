"""The tf.data pipeline on real files: shapes, dtypes, value ranges, labels, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers import real_manifest
from imagefactory import image_bytes, jpeg_bytes, sideways, with_orientation
from PIL import Image
from pydantic import ValidationError

from catsdogs.config import RESIZE_POLICIES, DataConfig
from catsdogs.data import manifests
from catsdogs.data.pipeline import RESIZERS, dataset, resize
from catsdogs.errors import UserError


def checked(path: Path, kind: str = "labelled") -> manifests.Manifest:
    return manifests.read(path, kind, echo=lambda _: None)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("policy", ["stretch", "center-crop", "pad"])
def test_batches_have_right_shape_dtype_range_labels(
    shared_data, tmp_path, training, cache, policy
):
    options = DataConfig(image_size=48, batch_size=4, resize=policy, cache=cache)
    path = real_manifest(shared_data, tmp_path / "train.csv", 6)
    batches = list(dataset(checked(path), options, training=training))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert [b[0].shape[0] for b in batches] == [4, 2]
    assert images.shape == (6, 48, 48, 3) and images.dtype == np.float32
    assert labels.shape == (6, 1) and labels.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 255.0 and images.std() > 10
    rows = pd.read_csv(path)
    assert sorted(labels.ravel().tolist()) == sorted(rows.label.tolist())
    if not training:  # in manifest order, each image decoded and resized, nothing more
        assert labels.ravel().tolist() == rows.label.tolist()
        for image, file in zip(images, rows.path):
            decoded = tf.io.decode_jpeg(tf.io.read_file(file), channels=3)
            np.testing.assert_allclose(image, resize(decoded, 48, policy).numpy(), atol=1e-3)


def test_same_seed_same_batches_other_seed_other_batches(shared_data, tmp_path):
    path = real_manifest(shared_data, tmp_path / "train.csv", 6)

    def first_epoch(seed: int) -> np.ndarray:
        options = DataConfig(image_size=32, batch_size=6, max_rotation_degrees=10)
        return next(iter(dataset(checked(path), options, training=True, seed=seed)))[0].numpy()

    np.testing.assert_array_equal(first_epoch(1), first_epoch(1))
    assert not np.allclose(first_epoch(1), first_epoch(2))


def test_epochs_differ_but_runs_repeat(shared_data, tmp_path):
    path = real_manifest(shared_data, tmp_path / "train.csv", 6)
    options = DataConfig(image_size=32, batch_size=6)

    def two_epochs():
        data = dataset(checked(path), options, training=True, seed=3)
        return [next(iter(data))[0].numpy() for _ in range(2)]

    first, second = two_epochs(), two_epochs()
    assert not np.allclose(first[0], first[1])  # a new augmentation each epoch
    np.testing.assert_array_equal(first[1], second[1])


def test_any_format_prepare_accepts_becomes_three_channels(tmp_path):
    files = {
        "gray.jpg": jpeg_bytes(mode="L"),
        "png.jpg": image_bytes("PNG"),
        "gif.jpg": image_bytes("GIF"),
        "bmp.jpg": image_bytes("BMP"),
        "cmyk.jpg": jpeg_bytes(mode="CMYK"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    csv = tmp_path / "val.csv"
    pd.DataFrame({"path": [str(tmp_path / n) for n in files], "label": [0, 1, 0, 1, 0]}).to_csv(csv)
    options = DataConfig(image_size=32, batch_size=5)
    images, labels = next(iter(dataset(checked(csv), options, False)))
    assert images.shape == (5, 32, 32, 3) and labels.numpy().ravel().tolist() == [0, 1, 0, 1, 0]


def sideways_manifest(folder: Path, kind: str) -> Path:
    """val.csv over three photos stored sideways with EXIF orientation 6 and one stored
    upright without EXIF (each, upright: red on top, blue below), as a user writes one
    (``handmade``), as prepare writes one (``prepared``: hashes and the orientation column) or
    as prepare wrote one before it recorded the orientation (``older``: hashes only)."""
    folder.mkdir()
    paths = [folder / f"{('cat', 'dog')[i % 2]}.{i}.jpg" for i in range(4)]
    for path in paths[:3]:
        path.write_bytes(with_orientation(sideways((40, 24)), 6))
    sideways((40, 24)).transpose(Image.Transpose.ROTATE_270).save(paths[3], quality=95)
    frame = pd.DataFrame({"path": [str(p) for p in paths], "label": [0, 1, 0, 1]})
    if kind != "handmade":
        frame["sha256"] = [manifests.file_sha256(p) for p in paths]
    if kind == "prepared":
        frame["orientation"] = [6, 6, 6, 1]
    frame.to_csv(folder / "val.csv", index=False)
    return folder / "val.csv"


@pytest.mark.parametrize("kind", ["handmade", "prepared", "older"])
@pytest.mark.parametrize(("training", "cache"), [(False, False), (True, False), (True, True)])
def test_photos_reach_the_model_upright_as_their_exif_says(tmp_path, kind, training, cache):
    manifest = checked(sideways_manifest(tmp_path / "photos", kind))
    assert manifest.orientations == [6, 6, 6, 1]
    # Augmented: a random crop of at least 60% of the image (of aspect 3/4 to 4/3) still
    # spans the middle, so its top row is red and its bottom row blue, flipped or not.
    options = DataConfig(image_size=32, batch_size=4, cache=cache, brightness=0, contrast=0)
    images = next(iter(dataset(manifest, options, training=training, seed=7)))[0].numpy()
    top, bottom = images[:, 0].mean(axis=1), images[:, -1].mean(axis=1)  # (image, RGB)
    assert (top[:, 0] > 200).all() and (top[:, 2] < 60).all(), top
    assert (bottom[:, 2] > 200).all() and (bottom[:, 0] < 60).all(), bottom


def test_resize_policies_on_a_known_image():
    # 20 rows x 40 columns: the left half black, the right half bright.
    image = tf.concat([tf.zeros([20, 20, 3]), tf.fill([20, 20, 3], 200.0)], axis=1)
    padded = resize(image, 40, "pad").numpy()  # black bars above and below
    assert padded[:10].max() == 0 and padded[30:].max() == 0
    assert padded[10:30, 22:].min() > 150 and padded[10:30, :18].max() == 0
    cropped = resize(image, 20, "center-crop").numpy()  # columns 10-29: half black, half bright
    assert cropped[:, :9].max() == 0 and cropped[:, 11:].min() > 150
    stretched = resize(image, 40, "stretch").numpy()  # 40x40, the boundary stays mid-way
    assert stretched[:, :18].max() == 0 and stretched[:, 22:].min() > 150


def test_bad_policy_is_a_clear_error():
    with pytest.raises(UserError, match="resize policy must be one of stretch, center-crop, pad"):
        resize(tf.zeros([4, 4, 3]), 8, "squash")
    with pytest.raises(ValidationError, match="stretch"):
        DataConfig(resize="squash")


def test_resizers_are_the_config_policies():
    assert tuple(RESIZERS) == RESIZE_POLICIES


def test_training_order_mixes_a_sorted_manifest(shared_data, tmp_path):
    # prepare writes manifests sorted by path: every cat, then every dog. A shuffle buffer
    # smaller than the manifest would start each epoch with mostly cats; the first 100
    # examples of an 1800 + 1800 manifest must be about half dogs.
    path = real_manifest(shared_data, tmp_path / "sorted.csv", 3600)
    options = DataConfig(image_size=16, batch_size=100, augment=False)
    dogs = next(iter(dataset(checked(path), options, training=True)))[1].numpy().sum()
    assert 30 <= dogs <= 70

"""From a trained model and a set of images to P(dog) per image, batched, with optional TTA."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml
from tqdm import tqdm

from catsdogs.errors import UserError
from catsdogs.images import decode_rgb
from catsdogs.pipeline import RESIZE_POLICIES, resize
from catsdogs.rundir import RUNS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}


def find_model(path: Path | None) -> Path:
    """A .keras file; a run directory means its best.keras; nothing means the newest run's."""
    if path is None:
        runs = sorted(RUNS.glob("*/best.keras"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise UserError(f"no trained model under {RUNS}/: train one, or pass --model")
        return runs[-1]
    if path.is_dir():
        path = path / "best.keras"
    if not path.is_file():
        raise UserError(f"model {path} does not exist")
    return path


def load_model(path: Path) -> tuple[keras.Model, str]:
    """The model and the resize policy it was trained with (from its run's config.yaml)."""
    try:
        model = keras.models.load_model(path)
    except Exception as err:
        raise UserError(f"cannot load model {path}: {type(err).__name__}: {err}") from None
    policy = "stretch"
    config = path.parent / "config.yaml"
    if config.is_file():
        policy = yaml.safe_load(config.read_text()).get("data", {}).get("resize", policy)
    return model, policy if policy in RESIZE_POLICIES else "stretch"


def images_from(source: Path, scratch: Path) -> pd.DataFrame:
    """``path,id`` (and ``label`` if known) from a manifest CSV, a folder or a zip of images."""
    from catsdogs.prepare import extract

    if not source.exists():
        raise UserError(f"--test {source} does not exist")
    if source.suffix.lower() == ".csv":
        frame = pd.read_csv(source)
        if not {"path", "id"} <= set(frame.columns):
            raise UserError(f"{source} needs 'path' and 'id' columns (prepare's test.csv has them)")
        return frame
    if source.suffix.lower() == ".zip":
        source = extract.extract(source, scratch / source.stem)
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images in {source}")
    bad = [p for p in files if not p.stem.isdigit()]
    if bad:
        raise UserError(
            f"test image {bad[0]} has no integer id in its name (expected e.g. 123.jpg)"
        )
    return pd.DataFrame({"path": [str(p) for p in files], "id": [int(p.stem) for p in files]})


def check_readable(paths: list[str]) -> None:
    """Fail before inference, naming the file, if any image cannot be decoded."""
    from catsdogs.prepare.validate import validate

    checks = validate([Path(p) for p in paths], os.cpu_count() or 1)
    bad = [c for c in checks if not c.ok]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(f"cannot read test image {bad[0].path}: {bad[0].reason}{more}")


def predict(
    model: keras.Model, paths: list[str], policy: str, tta: bool, batch_size: int = 64
) -> np.ndarray:
    """P(dog) for each path, in order; with TTA the mean over the image and its mirror."""
    size = int(model.input_shape[1])
    data = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(
            lambda p: resize(decode_rgb(tf.io.read_file(p)), size, policy),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    predict_batch = tf.function(lambda x: model(x, training=False))
    out = []
    with tqdm(total=len(paths), desc="predicting" + (" (TTA)" if tta else ""), unit="img") as bar:
        for images in data:
            if tta:  # one call on image + mirror: a fuller batch for the accelerator
                both = predict_batch(tf.concat([images, tf.reverse(images, axis=[2])], axis=0))
                plain, mirrored = tf.split(both, 2, axis=0)
                probabilities = (plain + mirrored) / 2
            else:
                probabilities = predict_batch(images)
            out.append(np.asarray(probabilities, dtype=np.float64).reshape(-1))
            bar.update(int(images.shape[0]))
    return np.concatenate(out) if out else np.zeros(0)

"""The one prediction path: find the model, load it with the input it was trained on (its size
and resize policy, recorded in the model), check every image, and compute P(dog) per image,
batched, with optional TTA (the mean over each image and its mirror)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catsdogs import progress
from catsdogs.data.manifests import TEST
from catsdogs.data.validate import require_decodable
from catsdogs.errors import UserError
from catsdogs.paths import PREPARED, RUNS
from catsdogs.training.rundir import BEST, RunDir, is_run, run_of

if TYPE_CHECKING:
    import keras

# Keras and TensorFlow are imported where a model is loaded or run, so that predict and
# evaluate check their arguments and inputs in well under a second first.


def find(path: Path | None) -> Path:
    """A .keras file; a run directory means its best.keras; nothing means the newest run's."""
    if path is None:
        models = sorted(RUNS.glob(f"*/{BEST}"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise UserError(f"no trained model under {RUNS}/: train one, or pass --model")
        return models[-1]
    if is_run(path):
        return RunDir(path).best_model()
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise UserError(f"model {path} does not exist")
    return path


def default_test(model: Path | None) -> Path:
    """The test manifest of the data that ``model``'s run trained on, where it has one; else
    prepare's default one."""
    fallback = PREPARED / TEST
    try:
        run = run_of(find(model))
    except UserError:
        if model is not None and is_run(model):
            raise  # a run without its model (no epoch finished): that, not the test set
        return fallback  # predict says what is wrong with the model itself
    folder = run.data_record()[0] if run else None
    if folder is None:
        return fallback
    if not (folder / TEST).is_file():  # moved or deleted: not silently another data's test set
        gone = "is gone" if not folder.exists() else f"has no {TEST}"
        raise UserError(
            f"the data the model trained on ({folder}) {gone}: give the test set with --test"
        )
    return folder / TEST


@dataclass(frozen=True)
class Loaded:
    """A loaded model and the input it takes: ``size`` x ``size`` images made square by
    ``policy``, as its training pipeline made them."""

    path: Path
    model: keras.Model
    size: int
    policy: str

    def __str__(self) -> str:
        return f"{self.path} ({self.policy} to {self.size} px)"


def load(path: Path) -> Loaded:
    """The model at ``path`` (from ``find``), with the input it records."""
    import keras

    from catsdogs.model import classifier

    if not zipfile.is_zipfile(path):  # what Keras reports as "file not found"
        raise UserError(f"model {path} is not a .keras file (damaged, or another format)")
    try:
        model = keras.models.load_model(path)
    except Exception as err:
        raise UserError(f"cannot load model {path}: {type(err).__name__}: {err}") from None
    size, policy = classifier.input_of(model, path)
    return Loaded(path, model, size, policy)


def tta_line(tta: bool) -> str:
    """The line predict, evaluate and report each print, so their numbers can be compared."""
    if tta:
        return (
            "TTA on: each image is also seen mirrored and the two P(dog) averaged "
            "(--no-tta: one pass)"
        )
    return "TTA off: one pass per image (--tta also averages in the mirrored image)"


def model_input(loaded: Loaded, path, orientation):
    """One image as the model takes it (and as prediction and Grad-CAM show it): decoded,
    turned upright by its EXIF ``orientation``, made square by its resize policy at its
    predict size; float32 RGB in [0, 255]."""
    import tensorflow as tf

    from catsdogs.data.images import decode_rgb
    from catsdogs.data.pipeline import resize

    return resize(decode_rgb(tf.io.read_file(path), orientation), loaded.size, loaded.policy)


def p_dog(
    loaded: Loaded,
    paths: list[str],
    tta: bool,
    *,
    orientations: list[int] | None = None,
    names: list[str] | None = None,
    what: str = "test",
    batch_size: int = 64,
) -> np.ndarray:
    """P(dog) for each path, in order, each image upright by its EXIF orientation. Images a
    manifest's reader checked come with their ``orientations`` (``Manifest.orientations``);
    others (None) are checked here first, which reads them: an unreadable one is an error
    naming it, as ``names`` shows it, never a silently missing row."""
    import tensorflow as tf

    if orientations is None:
        orientations = require_decodable(paths, names, what)
    data = (
        tf.data.Dataset.from_tensor_slices((paths, orientations))
        .map(lambda p, o: model_input(loaded, p, o), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    predict_batch = tf.function(lambda x: loaded.model(x, training=False))
    out = []
    with progress.bar(
        total=len(paths), desc="predicting" + (" (TTA)" if tta else ""), unit="img", delay=1.0
    ) as bar:
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

"""From a trained model and a set of images to P(dog) per image, batched, with optional TTA."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from catsdogs import files, manifests, rundir
from catsdogs.errors import UserError

if TYPE_CHECKING:
    import keras

# Keras and TensorFlow are imported where a model is loaded or run, so that predict and
# evaluate check their arguments and inputs in well under a second first.

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}


def load_model(path: Path) -> tuple[keras.Model, str]:
    """The model and the resize policy it was trained with (from its run's config)."""
    import keras

    from catsdogs.config import RESIZE_POLICIES

    if not zipfile.is_zipfile(path):  # what Keras reports as "file not found"
        raise UserError(f"model {path} is not a .keras file (damaged, or another format)")
    try:
        model = keras.models.load_model(path)
    except Exception as err:
        raise UserError(f"cannot load model {path}: {type(err).__name__}: {err}") from None
    run = rundir.run_of(path)
    policy = (run.config().get("data") or {}).get("resize", "stretch") if run else "stretch"
    return model, policy if policy in RESIZE_POLICIES else "stretch"


def _test_ids(files: list[Path]) -> list[int]:
    """Ids from Kaggle test names (``123.jpg``): ASCII digits, each id once."""
    seen: dict[int, Path] = {}
    for path in files:
        if not path.stem.isascii() or not path.stem.isdigit():
            raise UserError(
                f"test image {path} has no integer id in its name (expected e.g. 123.jpg)"
            )
        number = int(path.stem)
        if number in seen:
            raise UserError(f"test images {seen[number]} and {path} both have id {number}")
        seen[number] = path
    return list(seen)


def images_from(source: Path, scratch: Path, echo: Callable[[str], None]) -> pd.DataFrame:
    """``path,id`` of the test images in a manifest CSV, a folder or a zip of ``N.jpg`` files."""
    from catsdogs.prepare import extract

    if not source.exists():
        raise UserError(f"--test {source} does not exist")
    if source.suffix.lower() == ".csv":
        manifest = manifests.read(source, "test", echo)
        return pd.DataFrame({"path": manifest.paths, "id": manifest.ids})
    folder = source
    if source.suffix.lower() == ".zip":
        folder = extract.extract(source, scratch / source.stem)
    elif not source.is_dir():
        raise UserError(f"--test {source} is neither a CSV manifest, a folder nor a zip")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images in --test {source}")
    return pd.DataFrame({"path": [str(p) for p in files], "id": _test_ids(files)})


def is_kaggle_test(source: Path) -> bool:
    """prepare's test manifest, or the competition's test folder or zip (``test1/``,
    ``test1.zip`` holding ``test1/N.jpg``): a submission. Anything else is photos."""
    from catsdogs.prepare.layout import TEST_DIRS

    if source.suffix.lower() == ".csv":
        return True
    if source.suffix.lower() == ".zip" and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            tops = {PurePosixPath(name).parts[0].lower() for name in zf.namelist() if "/" in name}
        tops.discard("__macosx")
        return source.stem.lower() in TEST_DIRS or (bool(tops) and tops <= TEST_DIRS)
    return source.is_dir() and source.name.lower() in TEST_DIRS


def photos_from(sources: list[Path], scratch: Path) -> pd.DataFrame:
    """``path,file`` of every image in ``sources`` (image files, folders searched
    recursively, zips), in the order given, folders sorted; ``file`` is the name to show:
    the path as given, or ``archive.zip:inner/name``. Files the OS leaves behind and files
    that are not images are skipped, as prepare skips them."""
    from catsdogs.prepare import extract
    from catsdogs.prepare.layout import is_junk

    rows: list[tuple[str, str]] = []
    for index, source in enumerate(sources):
        if not source.exists():
            raise UserError(f"{source} does not exist")
        if source.is_file() and source.suffix.lower() == ".zip":
            folder = extract.extract(source, scratch / f"{index}-{source.stem}")
            found = sorted(p for p in folder.rglob("*") if p.is_file())
            shown = [f"{source}:{p.relative_to(folder).as_posix()}" for p in found]
        elif source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.is_file())
            shown = [str(p) for p in found]
        else:
            found, shown = [source], [str(source)]
        kept = [
            (str(path), name)
            for path, name in zip(found, shown)
            if not is_junk(path) and path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if source.is_file() and source.suffix.lower() != ".zip" and not kept:
            raise UserError(
                f"{source} is not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a zip"
            )
        rows += kept
    if not rows:
        raise UserError(f"no images in {', '.join(str(s) for s in sources)}")
    return pd.DataFrame(rows, columns=["path", "file"])


def check_readable(paths: list[str], names: list[str] | None = None, what: str = "test") -> None:
    """Fail before inference, naming the file (by ``names`` where given), if any image
    cannot be decoded."""
    from catsdogs.prepare.validate import validate

    checks = validate([Path(p) for p in paths], os.cpu_count() or 1)
    shown = dict(zip(paths, names or paths))
    bad = [c for c in checks if not c.ok]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        name = files.printable(Path(shown.get(str(bad[0].path), bad[0].path)))
        raise UserError(f"cannot read {what} image {name}: {bad[0].reason}{more}")


def predict(
    model: keras.Model, paths: list[str], policy: str, tta: bool, batch_size: int = 64
) -> np.ndarray:
    """P(dog) for each path, in order; with TTA the mean over the image and its mirror."""
    import tensorflow as tf

    from catsdogs.images import decode_rgb
    from catsdogs.pipeline import resize

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

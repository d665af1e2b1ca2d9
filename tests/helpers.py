"""What many test files share: the repository's configs, manifests over real or made images,
the command line (in this process and as `python -m catsdogs`), a tiny saved model, P(dog)
and scores computed here without catsdogs' own pipeline, a stand-in Kaggle client, and free
loopback ports. Fixtures live in conftest.py; image and zip makers in imagefactory.py."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SMOKE = CONFIGS / "smoke.yaml"
PNG = b"\x89PNG\r\n\x1a\n"  # the first bytes of every PNG file


def require_shared(folder: Path) -> Path:
    """``folder`` (the real images of ../shared) when it holds ``train/``; else the test is
    skipped with the reason, except under CI (``CI=true``), where its absence is a failure."""
    import pytest

    if not (folder / "train").is_dir():
        reason = f"real data not found at {folder} (see ../shared/README.md)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; under CI it must be there")
        pytest.skip(reason)
    return folder


# --- manifests ----------------------------------------------------------------------------


def real_images(shared: Path, first: int, count: int) -> pd.DataFrame:
    """``path,label`` of real training images of ``shared``: cats number ``first`` to
    ``first + count // 2 - 1`` (label 0), then the dogs of the same numbers (label 1)."""
    return pd.DataFrame(
        [
            {"path": str(shared / "train" / f"{kind}.{i}.jpg"), "label": label}
            for kind, label in (("cat", 0), ("dog", 1))
            for i in range(first, first + count // 2)
        ]
    )


def real_manifest(shared: Path, path: Path, count: int, first: int = 0) -> Path:
    """One labelled manifest CSV over real images, as a user writes one (no sha256 column,
    no prepare.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    real_images(shared, first, count).to_csv(path, index=False)
    return path


def real_data(
    shared: Path,
    folder: Path,
    *,
    first: int = 0,
    train: int = 8,
    val: int = 4,
    test: int = 0,
    labelled_test: int = 0,
    verified: bool = True,
) -> Path:
    """A data folder train reads, over real images of ``shared``: train.csv with ``train``
    images from number ``first`` on, val.csv with ``val`` more, half cats in each; with
    ``test``, a test.csv of test1/1.jpg .. test1/<test>.jpg; with ``labelled_test``, a
    test.csv of that many more labelled images (as prepare splits one from labelled data).
    ``verified``: as prepare writes it (a sha256 column and prepare.json); else plain CSV
    files, as a user writes them."""
    from catsdogs.data import manifests

    frames = {
        manifests.TRAIN: real_images(shared, first, train),
        manifests.VAL: real_images(shared, first + train, val),
    }
    if test:
        paths = [shared / "test1" / f"{i}.jpg" for i in range(1, test + 1)]
        frames["test.csv"] = pd.DataFrame(
            {"path": [str(p) for p in paths], "id": range(1, test + 1)}
        )
    if labelled_test:
        labelled = real_images(shared, first + train + val, labelled_test)
        frames[manifests.TEST] = labelled.assign(id=range(1, len(labelled) + 1))
    if not verified:
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            frame.to_csv(folder / name, index=False)
        return folder
    for frame in frames.values():
        frame["sha256"] = [manifests.file_sha256(Path(p)) for p in frame["path"]]
    manifests.write_set(folder, frames, {})
    return folder


def data_identity(folder: Path) -> str:
    """A data folder's identity worked out here: the first 16 hex digits of the sha256 of
    ``train.csv <its sha256>`` and ``val.csv <its sha256>``, one line each."""
    import hashlib

    digest = {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("train.csv", "val.csv")
    }
    text = f"train.csv {digest['train.csv']}\nval.csv {digest['val.csv']}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def labelled_frame(paths: Sequence[Path], sha256: bool = True) -> pd.DataFrame:
    """``path,label[,sha256]`` of images named ``cat.*`` (label 0) or ``dog.*`` (label 1)."""
    from catsdogs.data import manifests

    frame = pd.DataFrame(
        {"path": [str(p) for p in paths], "label": [int(p.name.startswith("dog")) for p in paths]}
    )
    if sha256:
        frame["sha256"] = [manifests.file_sha256(p) for p in paths]
    return frame


def die_after_writing(monkeypatch, name: str) -> list[str]:
    """Make ``catsdogs.files.write_text`` raise KeyboardInterrupt right after it writes a file
    called ``name``: a process killed at that instant. Returns the names written, in order."""
    from catsdogs import files

    real, written = files.write_text, []

    def write_text(path, text):
        real(path, text)
        written.append(path.name)
        if path.name == name:
            raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(files, "write_text", write_text)
    return written


# --- the command line ---------------------------------------------------------------------


def cli(*args, **invoke):
    """``catsdogs ARGS`` in this process (paths may be given as Path); Click's result.
    ``invoke`` goes to CliRunner.invoke (``env``, ``terminal_width``, ...)."""
    from typer.testing import CliRunner

    from catsdogs.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args], **invoke)


def smoke_train(*args):
    """``catsdogs train --config configs/smoke.yaml ARGS`` in this process."""
    return cli("train", "--config", SMOKE, *args)


def module_command(*args) -> list[str]:
    """``python -m catsdogs ARGS`` with this interpreter, for subprocess."""
    return [sys.executable, "-m", "catsdogs", *(str(arg) for arg in args)]


# --- models and scores computed here --------------------------------------------------------


def tiny_model(path: Path, flip_invariant: bool = True, resize: str = "stretch") -> Path:
    """Save a tiny model on 32x32 images, recording the ``resize`` policy as catsdogs' models
    do: global average pooling is blind to mirroring; a strided convolution is not."""
    import keras

    from catsdogs.model.classifier import ResizePolicy

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = ResizePolicy(resize, 32)(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    if flip_invariant:
        x = keras.layers.GlobalAveragePooling2D()(x)
    else:
        x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, strides=4)(x))
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    keras.Model(inputs, outputs).save(path)
    return path


def p_dog_by_hand(
    model_path: Path,
    paths: Sequence,
    tta: bool = False,
    resize: str = "stretch",
    size: int | None = None,
) -> np.ndarray:
    """P(dog) of a saved model for image files, computed with TensorFlow's own decode and
    resize ops, not catsdogs' pipeline, to ``size`` (default: the size the model records to
    predict at): ``stretch`` is a bilinear resize, ``pad`` TensorFlow's resize_with_pad; with
    ``tta``, the mean over each image and its mirror."""
    import keras
    import tensorflow as tf

    from catsdogs.model import classifier

    model = keras.models.load_model(model_path)
    size = classifier.input_of(model, model_path)[0] if size is None else size
    square = {
        "stretch": lambda image: tf.image.resize(image, [size, size]),
        "pad": lambda image: tf.image.resize_with_pad(tf.cast(image, tf.float32), size, size),
    }[resize]
    images = tf.stack(
        [
            square(tf.io.decode_image(tf.io.read_file(str(p)), channels=3, expand_animations=False))
            for p in paths
        ]
    )
    p_dog = model(images, training=False)
    if tta:
        p_dog = (p_dog + model(tf.reverse(images, axis=[2]), training=False)) / 2
    return np.asarray(p_dog, dtype=np.float64).ravel()


def loss_and_accuracy(labels: Sequence[int], p_dog: np.ndarray) -> tuple[float, float]:
    """Mean binary cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7], as Keras does)
    and the share of images on the right side of 0.5."""
    labels = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(p_dog, dtype=np.float64), 1e-7, 1 - 1e-7)
    loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return float(loss), float(np.mean((p > 0.5) == (labels == 1)))


# --- stand-ins ------------------------------------------------------------------------------


class FakeKaggle:
    """Stands in for kagglehub: returns a folder, or raises like kagglehub does."""

    def __init__(self, folder: Path | None = None, status: int | None = None, error=None):
        self.folder, self.status, self.error, self.calls = folder, status, error, []

    def competition_download(self, handle: str) -> str:
        import requests

        self.calls.append(handle)
        if self.error is not None:
            raise self.error
        if self.status is not None:
            response = requests.Response()
            response.status_code = self.status
            raise requests.HTTPError(f"{self.status} Client Error", response=response)
        return str(self.folder)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on (free when this returns)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()

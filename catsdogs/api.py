"""The Python API, a few names a notebook user can guess: ``load(path)`` gives a ``Model`` that
predicts, sums itself up and shows where it looked (Grad-CAM); ``train(config, ...)`` trains a
run and returns its summary. Underneath are the functions the commands call (`catsdogs
predict`'s reading of photos and P(dog), `catsdogs train`), so a notebook and a terminal give
the same numbers for the same images."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catsdogs.errors import UserError
from catsdogs.predict import TTA, inputs, photos, predictor
from catsdogs.training.rundir import RunDir, run_of

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure
    from PIL import Image as PILImage


def _quiet(line: str) -> None:
    """Lines the commands print (skipped files...) are not a notebook's business."""


def _as_files(images: Any, scratch: Path) -> tuple[list[Path], dict[str, str]]:
    """``images`` as files predict reads: paths (images, folders, zips) as they are; PIL images
    (turned upright by their EXIF orientation) and RGB arrays (H x W x 3, or a batch of them)
    written losslessly as PNGs, each named ``image N`` by its place in ``images``."""
    from PIL import Image, ImageOps

    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, (str, Path, np.ndarray)) or not isinstance(images, Sequence):
        images = [images]
    if len(images) == 0:
        raise UserError("no images given: give paths, PIL images or RGB arrays")
    sources, names = [], {}
    for index, image in enumerate(images):
        if isinstance(image, (str, Path)):
            if not str(image).strip():  # Path("") is the current folder: not meant
                raise UserError(f"image {index}: an empty path")
            sources.append(Path(image))
            continue
        if isinstance(image, np.ndarray):
            image = Image.fromarray(_rgb(image, index), "RGB")
        elif isinstance(image, Image.Image):
            image = ImageOps.exif_transpose(image).convert("RGB")
        else:
            raise UserError(
                f"image {index}: give a path, a PIL image or an RGB array, not "
                f"{type(image).__name__}"
            )
        file = scratch / f"image-{index}.png"
        image.save(file)
        sources.append(file)
        names[str(file)] = f"image {index}"
    return sources, names


def _rgb(image: np.ndarray, index: int) -> np.ndarray:
    """An array as RGB uint8, or one line saying why it is not an image the model can take."""
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise UserError(f"image {index}: an array must be H x W x 3 RGB, got {image.shape}")
    if image.dtype.kind not in "fiu":  # bool, complex, objects: no colours
        raise UserError(f"image {index}: an array of {image.dtype} is no RGB image")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise UserError(f"image {index}: the array holds NaN or infinite values")
        if 0 < image.max() <= 1.0:  # [0, 1]: read as 0-255 it would be a black image
            raise UserError(
                f"image {index}: a float array in [0, 1]; give RGB values in [0, 255], e.g. "
                "(array * 255).astype('uint8')"
            )
    if image.min() < 0 or image.max() > 255:  # clipped, it would be another image
        raise UserError(
            f"image {index}: values from {image.min():g} to {image.max():g}; give RGB values "
            "in [0, 255]"
        )
    return image.astype(np.uint8)


@dataclass
class Model:
    """A trained catsdogs model (``load``'s): ``keras`` is the Keras model itself."""

    loaded: predictor.Loaded

    @property
    def keras(self) -> keras.Model:
        return self.loaded.model

    @property
    def run(self) -> RunDir | None:
        """The run directory the model was trained in (None for a .keras file on its own)."""
        return run_of(self.loaded.path)

    def predict(self, images: Any, tta: bool = TTA) -> pd.DataFrame:
        """P(dog) of each image, as `catsdogs predict` computes it (upright by EXIF, made square
        by the model's resize policy at its size, the mirror averaged in with ``tta``): a
        DataFrame of ``file``, ``p_dog`` and ``label`` (cat or dog), as photos.csv has them.
        ``images``: paths of images, folders or zips, PIL images, RGB arrays, or a list."""
        with tempfile.TemporaryDirectory(prefix="catsdogs-api-") as scratch:
            sources, names = _as_files(images, Path(scratch))
            found = inputs.photos(sources, Path(scratch), _quiet)
            found["file"] = [
                names.get(path, file) for path, file in zip(found["path"], found["file"])
            ]
            return photos.p_dog_frame(self.loaded, found, tta)

    def summary(self, print_fn: Callable[[str], None] | None = print) -> str | None:
        """Keras' layer table, then what the model takes (its size and resize policy) and the
        run it came from with its best epoch's scores: given to ``print_fn``, or returned where
        it is None (a notebook would show a returned text a second time)."""
        lines: list[str] = []
        # Keras' own width: it draws into a console of the terminal's width (80 off one).
        self.keras.summary(print_fn=lambda line, *_, **__: lines.append(line))
        lines += [f"input: RGB images made square by {self.loaded.policy} to {self.loaded.size} px"]
        run = self.run
        summary = run.summary() if run else None
        if summary is None:
            lines.append(f"model file: {self.loaded.path} (not in a run directory)")
        else:
            lines.append(
                f"run: {run.path}; best epoch {summary.best_epoch} of {summary.epochs}: val_loss "
                f"{summary.best_val_loss:.4f}, val_acc {summary.best_val_accuracy:.4f}"
            )
        text = "\n".join(lines)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def gradcam(self, image: str | Path | PILImage.Image | np.ndarray) -> Figure:
        """One image as the model sees it beside its Grad-CAM map (where the evidence for the
        predicted class lies, red strongest), titled with P(dog): a matplotlib figure (a
        notebook shows it; ``.savefig(path)`` writes it)."""
        from catsdogs import plots
        from catsdogs.data.validate import require_decodable
        from catsdogs.predict import tiles
        from catsdogs.predict.gradcam import GradCam

        with tempfile.TemporaryDirectory(prefix="catsdogs-api-") as scratch:
            [source], names = _as_files([image], Path(scratch))
            if source.is_dir() or source.suffix.lower() == ".zip":
                raise UserError(f"{source}: gradcam takes one image, not a folder or zip")
            [orientation] = require_decodable([str(source)], [str(source)], "the")
            seen = predictor.model_input(self.loaded, str(source), orientation).numpy()
        [heat], [p_dog] = GradCam(self.keras).maps(seen[None])
        label = "dog" if p_dog >= 0.5 else "cat"
        figure, axis = plots.figure(figsize=(6, 3.4))
        axis.imshow(tiles.pair(seen, heat))
        axis.axis("off")
        name = names.get(str(source), str(source))
        axis.set_title(
            f"{name}: {label}, P(dog) {p_dog:.3f}\nleft: as the model saw it; right: Grad-CAM"
        )
        return figure


def load(path: str | Path) -> Model:
    """The model of a run directory (its best.keras) or a .keras file that catsdogs saved."""
    if not isinstance(path, (str, os.PathLike)):
        raise UserError(f"load: give a run directory or a .keras file, not {type(path).__name__}")
    if not str(path).strip():  # Path("") is the current folder: not what was meant
        raise UserError("load: an empty path; give a run directory or a .keras file")
    return Model(predictor.load(predictor.find(Path(path))))


def train(
    config: str | Path,
    data: str | Path | None = None,
    time_budget: str | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    echo: Callable[[str], None] = print,
    callbacks: Sequence[Any] = (),
) -> dict:
    """`catsdogs train` from Python: ``config`` (a YAML file) with ``overrides`` ("key=value",
    as ``--set``), on the prepared ``data`` (default: the config's data.dir), for
    ``time_budget`` ("10m", as ``--time-budget``); ``callbacks``: Keras callbacks called beside
    the run's own. Returns the run's summary: its directory, best epoch and scores, epochs and
    training seconds."""
    from catsdogs.config import load_with_budget
    from catsdogs.training.budget import Clock
    from catsdogs.training.train import train as train_run

    clock = Clock()  # a time budget counts from this call
    if isinstance(overrides, str):  # one "key=value", not its characters
        overrides = [overrides]
    checked = load_with_budget(Path(config), overrides, time_budget, "time_budget")
    path = train_run(
        checked,
        Path(data) if data is not None else None,
        Path(run_dir) if run_dir is not None else None,
        resume,
        echo,
        clock=clock,
        callbacks=callbacks,
    )
    summary = RunDir(path).summary()
    facts = {"run": path}
    if summary is not None:
        facts.update(
            best_epoch=summary.best_epoch,
            epochs=summary.epochs,
            val_loss=summary.best_val_loss,
            val_accuracy=summary.best_val_accuracy,
            seconds=summary.seconds,
        )
    return facts

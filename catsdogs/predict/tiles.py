"""The pictures people read first: validation images, each as the model saw it beside its
Grad-CAM map (where the evidence for the predicted class lies), titled with the true and the
predicted label, P(dog) and the image's loss. mistakes.png shows the worst mistakes,
correct.png the most confident right answers of each class; both fill their grid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from catsdogs import plots
from catsdogs.predict import predictor

MOST_MISTAKES = 16
CORRECT_PER_CLASS = 4
WIDEST = 4  # tiles in a row: each is two images wide
TILE_WIDTH, TILE_HEIGHT = 4.2, 2.8  # inches: the pair of images and its three lines of title
LINE_HEIGHT = 0.16  # inches: a fourth line of title (an empty map's)
CHARACTERS_PER_INCH = 12  # of the figure's title at 11 points
COLOURS = "jet"  # the Grad-CAM map's colour map (its colour bar says how to read it)
NAMES = ("cat", "dog")


def grid(count: int, widest: int = WIDEST) -> tuple[int, int]:
    """Rows and columns of the fullest grid of at most ``count`` tiles with no empty cell:
    one row up to ``widest`` tiles, else ``widest`` or one fewer columns, whichever leaves
    fewer tiles out (the wider of equals). Narrower grids would show every tile more often,
    but as a tall strip; these leave out at most two, the last (least telling) ones."""
    if count <= widest:
        return (1, count) if count else (0, 0)
    columns = max((widest, widest - 1), key=lambda c: count // c * c)
    return count // columns, columns


def worst_mistakes(frame: pd.DataFrame, most: int = MOST_MISTAKES) -> tuple[pd.DataFrame, int, int]:
    """The mistakes with the highest loss that fill a grid, worst first; the grid's columns;
    and how many mistakes there are. ``frame``: path, orientation, label, probability, loss
    (``evaluation.score``'s)."""
    wrong = frame[(frame["probability"] >= 0.5) != (frame["label"] == 1)]
    rows, columns = grid(min(len(wrong), most))
    return (
        wrong.sort_values("loss", ascending=False, kind="stable").head(rows * columns),
        columns,
        len(wrong),
    )


def most_confident_correct(
    frame: pd.DataFrame, per_class: int = CORRECT_PER_CLASS
) -> tuple[pd.DataFrame, int]:
    """The right answers with the lowest loss, a row of cats over a row of dogs (as many of
    each, so the grid is full), and the number of columns."""
    right = frame[(frame["probability"] >= 0.5) == (frame["label"] == 1)]
    by_class = [
        right[right["label"] == label].sort_values("loss", kind="stable") for label in (0, 1)
    ]
    present = [rows for rows in by_class if len(rows)]
    columns = min([per_class, *(len(rows) for rows in present)]) if present else 0
    return pd.concat([rows.head(columns) for rows in present] or [frame.head(0)]), columns


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3 in [0, 255]) in grey under ``heat`` (H, W in [0, 1]) in colour:
    RGB in [0, 1]. Grey, so the map's colours cannot be taken for the photo's."""
    grey = image.mean(axis=-1, keepdims=True) / 255
    colours = matplotlib.colormaps[COLOURS](heat)[..., :3]
    return 0.5 * grey + 0.5 * colours


def pair(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The image beside its overlay, a thin white gap between: one RGB picture in [0, 1]."""
    gap = np.ones((image.shape[0], max(2, image.shape[1] // 40), 3))
    return np.concatenate([np.clip(image / 255, 0, 1), gap, overlay(image, heat)], axis=1)


def _short(name: str, most: int = 34) -> str:
    return name if len(name) <= most else f"{name[: most // 2 - 1]}…{name[-(most // 2 - 1) :]}"


def _caption(row: pd.Series, empty: bool) -> str:
    truth, said = NAMES[int(row["label"])], NAMES[int(row["probability"] >= 0.5)]
    lines = [
        _short(Path(row["path"]).name),
        f"true {truth}, predicted {said}",
        f"P(dog) {row['probability']:.3f}, loss {row['loss']:.2f}",
    ]
    if empty:
        lines.append("map empty: no evidence for it")
    return "\n".join(lines)


def draw(
    tiles: pd.DataFrame,
    columns: int,
    loaded: predictor.Loaded,
    title: str,
    path: Path,
    nothing: str,
) -> None:
    """Write ``tiles`` (path, orientation, label, probability, loss; a full grid of ``columns``) to
    ``path``: each image as ``loaded`` takes it, beside its Grad-CAM map; ``nothing`` is
    what the figure says when there are no tiles."""
    if tiles.empty:  # one line says so (the title would say it again)
        figure, axis = plots.figure(figsize=(5, 1.5))
        axis.axis("off")
        axis.text(0.5, 0.5, nothing, ha="center", va="center", fontsize=12)
        plots.save(figure, path)
        return
    from catsdogs.predict.gradcam import GradCam  # Keras: only where a model runs

    images = np.stack(
        [
            predictor.model_input(loaded, path, orientation).numpy()
            for path, orientation in zip(tiles["path"], tiles["orientation"])
        ]
    )
    heat, _ = GradCam(loaded.model).maps(images)
    captions = [_caption(row, not cam.any()) for (_, row), cam in zip(tiles.iterrows(), heat)]
    lines = max(caption.count("\n") + 1 for caption in captions)
    rows, width = len(tiles) // columns, TILE_WIDTH * columns
    height = (TILE_HEIGHT + LINE_HEIGHT * (lines - 3)) * rows + 0.7  # and the figure's title
    figure, axes = plots.figure(
        rows, columns, figsize=(width, height), squeeze=False, layout="constrained"
    )
    for axis, caption, image, cam in zip(axes.ravel(), captions, images, heat):
        axis.imshow(pair(image, cam))
        axis.set_title(caption, fontsize=9)
        axis.axis("off")
    explained = [
        f"{title}.",
        f"Left: the image as the model saw it ({loaded.size} px, {loaded.policy}); right: "
        "Grad-CAM, where the evidence for the predicted class lies (red strongest).",
    ]
    wrapped = [textwrap.fill(line, width=int(width * CHARACTERS_PER_INCH)) for line in explained]
    figure.suptitle("\n".join(wrapped), fontsize=11)
    scale = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, 1), COLOURS)
    figure.colorbar(scale, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01).set_label(
        "Grad-CAM (1: the image's strongest)"
    )
    plots.save(figure, path)

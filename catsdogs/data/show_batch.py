"""`catsdogs show-batch`: training images as the model gets them, in a grid of tiles.

The images come from the training pipeline (``pipeline.dataset``, training mode, the config's
``data`` section and seed): its random crops, flips, rotation, brightness and contrast. They
are decoded from the files; where training keeps decoded images in memory (``data.cache``)
it crops from a copy at the size it needs, so its draws are of the same kind, not the same
pixels. The pipeline gives RGB in [0, 255] and each backbone's own preprocessing (mean
subtraction, BGR for VGG) is a layer inside the model, so what is shown is the model's input.
Each tile is drawn pixel for pixel (no smoothing), titled with its label and its size.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catsdogs import outputs, printing
from catsdogs.errors import UserError
from catsdogs.paths import SHOW_BATCH

if TYPE_CHECKING:  # the CLI reads COUNT from here without loading the config's schema
    from catsdogs.config import Config

COUNT = 16
MOST = 100  # tiles one figure holds readably
KIND = "show-batch"  # its figure's mark: what --out may replace
TILE_INCHES = 2.0
CHARACTERS_PER_INCH = 12  # of the figure's title at 11 points
TITLE_LINE_INCHES = 0.2
LABELS = ("cat", "dog")  # by label: 0 cat, 1 dog


def grid(count: int) -> tuple[int, int]:
    """Rows and columns holding exactly ``count`` tiles, as near square as that allows
    (columns >= rows): no cell left blank."""
    rows = max(r for r in range(1, math.isqrt(count) + 1) if count % r == 0)
    return rows, count // rows


def _check(count: int, out: Path) -> None:
    if not 1 <= count <= MOST:
        raise UserError(f"--count must be between 1 and {MOST}; got {count}")
    figure = (outputs.drawn_as(KIND), "a figure show-batch drew")
    outputs.check_file(out, "--out", ".png", figure)


def draw(images, labels: list[int], title: str, path: Path) -> None:
    """``images`` (N x S x S x 3, floats in [0, 255]) in a full grid, each titled with its
    label and size."""
    from catsdogs import plots  # matplotlib loads to draw, not when the CLI reads COUNT

    rows, columns = grid(len(images))
    # A narrow grid (a few images) wraps the title rather than cutting it at the edges.
    title = textwrap.fill(title, width=int(columns * TILE_INCHES * CHARACTERS_PER_INCH))
    extra = TITLE_LINE_INCHES * title.count("\n")
    figure, axes = plots.figure(
        rows,
        columns,
        figsize=(columns * TILE_INCHES, rows * TILE_INCHES + 0.6 + extra),
        squeeze=False,
    )
    for axis, image, label in zip(axes.flat, images, labels):
        height, width = image.shape[:2]
        axis.imshow((image / 255).clip(0, 1), interpolation="nearest")
        axis.set_title(f"{LABELS[label]}  {width}x{height}", fontsize=10)
        axis.set_axis_off()
    figure.suptitle(title, fontsize=11)
    plots.save(figure, path, KIND)


def show_batch(
    config: Config,
    data_dir: Path | None = None,
    out: Path = SHOW_BATCH,
    count: int = COUNT,
    echo: Callable[[str], None] = print,
    config_file: Path | None = None,
) -> Path:
    """Draw the first ``count`` training images of ``config``'s pipeline (read from
    ``config_file``) on the manifests in ``data_dir`` (default: the config's ``data.dir``)
    into ``out``, which may not be one of those inputs; returns ``out``."""
    _check(count, out)
    import numpy as np

    from catsdogs.data import manifests, pipeline

    folder = data_dir or config.data.dir
    config_input = [] if config_file is None else [(config_file, "the config")]
    outputs.check_not_input([(out, "--out")], [*config_input, *manifests.set_files(folder)])
    data = manifests.read_training_data(folder, echo)
    outputs.check_not_input([(out, "--out")], data.images())
    batches = pipeline.dataset(data.train, config.data, True, config.seed, repeat=True)
    images, labels = [], []
    for batch_images, batch_labels in batches:
        images.extend(batch_images.numpy())
        labels.extend(int(label) for label in batch_labels.numpy()[:, 0])
        if len(images) >= count:
            break
    augmented = "augmented" if config.data.augment else f"not augmented, {config.data.resize}"
    title = (
        f"{config.name}: {count} training images as the model gets them "
        f"({augmented}; seed {config.seed})"
    )
    draw(np.stack(images[:count]), labels[:count], title, out)
    echo(f"wrote {printing.printable(out)}")
    return out

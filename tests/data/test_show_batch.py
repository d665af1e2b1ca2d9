"""`catsdogs show-batch`: the training pipeline's first images in a full grid, in true colours."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SMOKE, cli, real_data
from PIL import Image

from catsdogs.config import load
from catsdogs.data import manifests, pipeline, show_batch


@pytest.mark.parametrize(
    ("count", "shape"), [(1, (1, 1)), (6, (2, 3)), (7, (1, 7)), (12, (3, 4)), (16, (4, 4))]
)
def test_the_grid_is_full_and_as_square_as_the_count_allows(count, shape):
    assert show_batch.grid(count) == shape


def test_every_count_fills_its_grid():
    for count in range(1, show_batch.MOST + 1):
        rows, columns = show_batch.grid(count)
        assert rows * columns == count and rows <= columns


def test_the_tiles_show_the_pipelines_colours(tmp_path):
    # The pipeline gives [0, 255]: a pure red and a mid grey must come out as themselves.
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 255
    grey = np.full((8, 8, 3), 128, np.float32)
    show_batch.draw(np.stack([red, grey]), [0, 1], "colours", tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as figure:
        pixels = np.asarray(figure.convert("RGB")).reshape(-1, 3)
    counted = {
        tuple(colour): n for colour, n in zip(*np.unique(pixels, axis=0, return_counts=True))
    }
    tile = 100 * 100  # a tile is 2 inches at 100 dpi, less its title and margins
    assert counted.get((255, 0, 0), 0) > tile and counted.get((128, 128, 128), 0) > tile


def test_show_batch_draws_the_training_pipelines_first_images(shared_data, tmp_path, monkeypatch):
    data = real_data(shared_data, tmp_path / "data", train=12, val=4, verified=False)
    drawn = {}
    real_draw = show_batch.draw

    def draw(images, labels, title, path):
        drawn.update(images=images, labels=labels, title=title)
        real_draw(images, labels, title, path)

    monkeypatch.setattr(show_batch, "draw", draw)
    # 10 images at smoke's batch of 8: two batches of the repeating training pipeline.
    done = cli(
        "show-batch", "--config", SMOKE, "--data", data, "--count", 10, "--out", tmp_path / "b.png"
    )
    assert done.exit_code == 0, done.output
    config = load(SMOKE)
    train = manifests.read_training_data(data, lambda _: None).train
    batches = list(pipeline.dataset(train, config.data, True, config.seed, repeat=True).take(2))
    images = np.concatenate([batch[0].numpy() for batch in batches])[:10]
    labels = np.concatenate([batch[1].numpy() for batch in batches])[:10, 0]
    np.testing.assert_array_equal(drawn["images"], images)
    assert drawn["labels"] == labels.astype(int).tolist()
    assert drawn["images"].shape == (10, 32, 32, 3)
    assert "smoke: 10 training images" in drawn["title"] and "augmented" in drawn["title"]
    with Image.open(tmp_path / "b.png") as figure:
        figure.verify()
        # 2 rows x 5 columns of 2-inch tiles and a title line, at 100 dpi.
        assert figure.format == "PNG" and figure.size == (1000, 460)
        assert figure.info["Software"] == "catsdogs show-batch"  # lets the next one replace it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "data"]
    again = cli("show-batch", "--config", SMOKE, "--data", data, "--out", tmp_path / "b.png")
    assert again.exit_code == 0, again.output

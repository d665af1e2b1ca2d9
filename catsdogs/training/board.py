"""What TensorBoard shows of a run (``RUN/logs``): every step's training loss and learning
rate; every epoch's scores; and a few validation images with the model's P(dog) under each,
so that TensorBoard shows how the run learns, step by step, and what it gets wrong. A full disk
is one line naming the folder, as for every file the run writes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from catsdogs import files, plots
from catsdogs.data import manifests, pipeline
from catsdogs.training.rundir import COLUMNS
from catsdogs.training.trainer import Trainer

IMAGES = 8  # validation images shown, the same ones every epoch
EPOCH_SCALARS = COLUMNS[1:6]  # the losses, accuracies and learning rate of history.csv


class Board(keras.callbacks.Callback):
    """A run's TensorBoard writer, a hook of its loop (``hooks``: every window's loss and
    learning rate; the epoch's scores come from ``hooks.record_epoch``, which orders them
    among the epoch's files); ``data`` (None: no images) gives the validation images."""

    def __init__(
        self, folder: Path, trainer: Trainer, data: manifests.TrainingData | None = None
    ) -> None:
        super().__init__()
        self.folder = folder
        with files.writing(folder):
            self.writer = tf.summary.create_file_writer(str(folder))
        self.trainer = trainer
        self.images: np.ndarray | None = None
        self.labels: list[int] = []
        if data is not None and len(data.val):
            config = trainer.config
            sample = data.val.sample(IMAGES, config.seed)
            batches = pipeline.dataset(sample, config.data, False, config.seed)
            self.images = np.concatenate([images.numpy() for images, _ in batches])
            self.labels = list(sample.labels or [])

    def on_train_batch_end(self, done: int, logs: dict) -> None:
        """The training loss of the window that ends at the run's step ``logs["step"]`` and
        the learning rate it used."""
        with files.writing(self.folder), self.writer.as_default(step=int(logs["step"])):
            tf.summary.scalar("step/loss", logs["window_loss"])
            tf.summary.scalar("step/learning_rate", logs["learning_rate"])

    def epoch(self, row: dict) -> None:
        """An epoch's scores, and the validation images with P(dog) from the model as it is
        now (call it where the model holds the weights the run is judged by)."""
        with files.writing(self.folder), self.writer.as_default(step=int(row["epoch"])):
            for key in EPOCH_SCALARS:
                tf.summary.scalar(key, row[key])
            if self.images is not None:
                dog = self.trainer.model(self.images, training=False).numpy().ravel()
                tf.summary.image(
                    "validation images, P(dog)", _figure(self.images, self.labels, dog)
                )

    def on_train_end(self, logs: dict | None = None) -> None:
        """The events flushed and the writer closed, however the loop ends."""
        with files.writing(self.folder):
            self.writer.close()


def _figure(images: np.ndarray, labels: list[int], dog: np.ndarray) -> tf.Tensor:
    """A [1, H, W, 4] picture: each image titled with its label and P(dog), red if wrong."""
    columns = min(len(images), 4)
    rows = -(-len(images) // columns)
    figure, axes = plots.figure(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, label, p in zip(axes.ravel(), images, labels, dog):
        ax.imshow(np.clip(image, 0, 255).astype(np.uint8))
        right = (p >= 0.5) == bool(label)
        title = f"{'dog' if label else 'cat'}: P(dog) {p:.2f}"
        ax.set_title(title, fontsize=9, color="black" if right else "tab:red")
    return tf.image.decode_png(plots.png_bytes(figure), channels=4)[tf.newaxis]

"""`catsdogs train`: one training loop for every strategy, resumable after any crash.

A custom step run with ``strategy.run`` over a distributed dataset serves the default strategy,
MirroredStrategy and MultiWorkerMirroredStrategy alike (``model.fit`` under MultiWorker breaks
with TF 2.21 / Keras 3.15, keras#20585). Everything a run needs to continue (weights, optimizer
state with Lookahead's slow weights, the epoch counter) is in a tf.train.Checkpoint saved at
every epoch's end; the learning-rate and early-stopping decisions are derived from
``history.csv``, so they survive a restart too.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from catsdogs import devices, pipeline, plots
from catsdogs import model as model_lib
from catsdogs.config import Config, dump
from catsdogs.errors import UserError
from catsdogs.optim import factory
from catsdogs.optim.lookahead import find_lookahead
from catsdogs.rundir import RunDir, open_run

# Reading a step's results waits for the device to finish it. Reading them every few steps
# instead of every step lets the host queue the next steps while a GPU still works on these.
HOST_SYNC_STEPS = 8


class NonFiniteLoss(UserError):
    """Training diverged: the loss became NaN or infinite."""


def _manifest_rows(path: Path) -> int:
    if not path.is_file():
        raise UserError(f"manifest {path} does not exist: run `catsdogs prepare` first")
    return len(pd.read_csv(path, usecols=["path"]))


def _pipeline_options(config: Config) -> pipeline.PipelineOptions:
    data = config.data
    return pipeline.PipelineOptions(
        image_size=data.image_size,
        batch_size=data.batch_size,
        resize=data.resize,
        augment=data.augment,
        crop_area=data.crop_area,
        max_rotation_degrees=data.max_rotation_degrees,
        brightness=data.brightness,
        contrast=data.contrast,
        cache=data.cache,
        seed=config.seed,
    )


def _distribute(strategy: tf.distribute.Strategy, data: tf.data.Dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(data.with_options(options))


def _save_model(model: keras.Model, path: Path) -> None:
    """model.save into a temporary name, then rename: never a half-written .keras file."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    rate = optimizer.learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = rate(optimizer.iterations)
    return float(keras.ops.convert_to_numpy(rate))


def _epochs_since(history: pd.DataFrame, column: str = "val_loss") -> int:
    """Epochs since ``column`` was last at its best (0 if the last epoch was the best)."""
    values = history[column].to_numpy()
    return len(values) - 1 - int(np.argmin(values))


def _plateau_decision(history: pd.DataFrame, config: Config) -> float | None:
    """A lower learning rate once val_loss has not improved for `patience` epochs, counted
    since the best epoch and since the last change (Keras' ReduceLROnPlateau, from history)."""
    plateau = config.training.reduce_lr_on_plateau
    if not plateau.enabled or history.empty:
        return None
    rates = history["learning_rate"].to_numpy()
    with_this_rate = len(rates) - 1 - int(np.flatnonzero(rates != rates[-1]).max(initial=-1))
    if min(_epochs_since(history), with_this_rate) < plateau.patience:
        return None
    lowered = max(rates[-1] * plateau.factor, plateau.min_learning_rate)
    return lowered if lowered < rates[-1] else None


def _should_stop(history: pd.DataFrame, config: Config) -> bool:
    """Keras' EarlyStopping, from history: `patience` epochs without a better val_loss."""
    stopping = config.training.early_stopping
    return stopping.enabled and not history.empty and _epochs_since(history) >= stopping.patience


class Trainer:
    """Builds everything under the strategy's scope, then runs epochs until done."""

    def __init__(self, config: Config, data_dir: Path, run: RunDir, echo: Callable[[str], None]):
        self.config, self.run, self.echo = config, run, echo
        self.strategy = devices.strategy()
        self.mixed = devices.resolve(config.training.mixed_precision)
        self.jit = devices.resolve(config.training.jit_compile)
        keras.mixed_precision.set_dtype_policy("mixed_float16" if self.mixed else "float32")
        keras.utils.set_random_seed(config.seed)

        train_rows = _manifest_rows(data_dir / "train.csv")
        self.val_csv = data_dir / "val.csv"
        _manifest_rows(self.val_csv)
        batch = config.data.batch_size
        self.steps = config.training.steps_per_epoch or max(1, math.ceil(train_rows / batch))
        options = _pipeline_options(config)
        train = pipeline.dataset(data_dir / "train.csv", options, training=True, repeat=True)
        self.train_batches = iter(_distribute(self.strategy, train))
        self.val_data = _distribute(
            self.strategy, pipeline.dataset(self.val_csv, options, training=False)
        )

        with self.strategy.scope():
            self.model = model_lib.build(config.model, config.data.image_size)
            optimizer = factory.build(config.optimizer, self.steps, config.training.epochs)
            if self.mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epochs_done=self.epochs_done
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(run.path / "checkpoints"), max_to_keep=2
        )
        self.loss = keras.losses.BinaryCrossentropy(reduction=None)
        head = model_lib.head_variables(self.model)
        self.train_head = self._train_step(head)
        self.train_all = self._train_step(self.model.trainable_variables)
        self.evaluate_batch = self._eval_step()

    def _sums(self, labels, probabilities, per_example):
        correct = tf.cast(tf.equal(probabilities > 0.5, labels > 0.5), tf.float32)
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct), count

    def _train_step(self, variables: list) -> Callable:
        def step(images, labels):
            with tf.GradientTape() as tape:
                probabilities = self.model(images, training=True)
                per_example = self.loss(labels, probabilities)
                loss = tf.nn.compute_average_loss(per_example)
                scaled = self.optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled, variables)
            self.optimizer.apply(gradients, variables)
            return self._sums(labels, probabilities, per_example)

        return self._distributed(tf.function(step, jit_compile=self.jit))

    def _eval_step(self) -> Callable:
        def step(images, labels):
            probabilities = self.model(images, training=False)
            return self._sums(labels, probabilities, self.loss(labels, probabilities))

        return self._distributed(tf.function(step, jit_compile=self.jit))

    def _distributed(self, replica_fn: Callable) -> Callable:
        @tf.function
        def run(batch):
            results = self.strategy.run(replica_fn, args=batch)
            return [self.strategy.reduce("SUM", value, axis=None) for value in results]

        return run

    def _validate(self) -> tuple[float, float]:
        lookahead = find_lookahead(self.optimizer)
        slow = self.config.training.evaluate_slow_weights and lookahead is not None
        totals = np.zeros(3)
        with lookahead.slow_weights_applied() if slow else contextlib.nullcontext():
            for batch in self.val_data:
                totals += [float(v) for v in self.evaluate_batch(batch)]
        return totals[0] / totals[2], totals[1] / totals[2]

    def _save_models(self, history: pd.DataFrame) -> None:
        """best.keras (lowest val loss) and last.keras, with the slow weights (what we judge)."""
        lookahead = find_lookahead(self.optimizer)
        with lookahead.slow_weights_applied() if lookahead else contextlib.nullcontext():
            _save_model(self.model, self.run.path / "last.keras")
            if _epochs_since(history) == 0:
                _save_model(self.model, self.run.path / "best.keras")

    def fit(self) -> pd.DataFrame:
        config, run = self.config, self.run
        epochs, warmup = config.training.epochs, config.model.warmup_epochs
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
        start = int(self.epochs_done.numpy())
        history = run.history().iloc[:start]
        if run.resumed:
            self.echo(f"resuming {run.path} after epoch {start} of {epochs}")
        writer = tf.summary.create_file_writer(str(run.path / "logs"))
        for epoch in range(start, epochs):
            started = time.monotonic()
            # A frozen backbone also runs in inference mode (BatchNorm statistics stay put);
            # each step function is traced under the setting it runs with.
            model_lib.backbone_of(self.model).trainable = epoch >= warmup
            step = self.train_head if epoch < warmup else self.train_all
            totals = np.zeros(3)
            label = f"epoch {epoch + 1}/{epochs}" + (" (head only)" if epoch < warmup else "")
            with tqdm(total=self.steps, desc=label, unit="step", leave=False) as bar:
                pending = []
                for index in range(self.steps):
                    pending.append(step(next(self.train_batches)))
                    if len(pending) < HOST_SYNC_STEPS and index + 1 < self.steps:
                        continue
                    window = np.array([[float(v) for v in sums] for sums in pending])
                    pending = []
                    if not np.isfinite(window[:, 0]).all():
                        message = (
                            f"loss became {window[:, 0].sum()} in epoch {epoch + 1}: training "
                            "diverged; lower optimizer.learning_rate (the last good epoch's "
                            "checkpoint is kept)"
                        )
                        run.set_state("failed", epoch, message)
                        raise NonFiniteLoss(message)
                    totals += window.sum(axis=0)
                    bar.set_postfix(
                        loss=f"{totals[0] / totals[2]:.4f}", acc=f"{totals[1] / totals[2]:.3f}"
                    )
                    bar.update(len(window))
            val_loss, val_accuracy = self._validate()
            row = {
                "epoch": epoch + 1,
                "loss": totals[0] / totals[2],
                "accuracy": totals[1] / totals[2],
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "learning_rate": _current_learning_rate(self.optimizer),
                "seconds": round(time.monotonic() - started, 1),
            }
            history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
            # History first, checkpoint second: a crash in between leaves a history row more
            # than the checkpoint holds, which the resumed run drops and redoes.
            run.write_history(history)
            with writer.as_default(step=epoch + 1):
                for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
                    tf.summary.scalar(key, row[key])
            self._save_models(history)
            self.epochs_done.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch + 1)
            run.set_state("running", epoch + 1)
            self.echo(
                f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f} acc {row['accuracy']:.4f}"
                f" | val_loss {val_loss:.4f} val_acc {val_accuracy:.4f}"
                f" | lr {row['learning_rate']:.3g} | {row['seconds']:.0f}s"
            )
            lowered = _plateau_decision(history, config)
            if lowered is not None:
                self.optimizer.learning_rate = lowered
                self.echo(f"validation loss has not improved: learning rate -> {lowered:.3g}")
            if _should_stop(history, config):
                patience = config.training.early_stopping.patience
                self.echo(f"early stopping: no better val_loss for {patience} epochs")
                break
        return history


def train(
    config: Config,
    data_dir: Path | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> Path:
    """Train ``config`` into a run directory and return its path.

    Under MultiWorkerMirroredStrategy every worker trains the same replica of the model; the
    chief (worker 0) writes ``run_dir``, worker i its own ``<run_dir>.worker-<i>``, so no two
    processes ever write the same file.
    """
    index = devices.worker_index()
    if index:
        if run_dir is None:
            raise UserError("with TF_CONFIG, pass the same --run-dir to every worker")
        run_dir = run_dir.with_name(f"{run_dir.name}.worker-{index}")
    run = open_run(config.name, dump(config), run_dir, resume)
    trainer = Trainer(config, data_dir or config.data.dir, run, echo)
    echo(f"run directory: {run.path}")
    echo(
        f"devices: {devices.describe(trainer.strategy)}; mixed precision "
        f"{'on' if trainer.mixed else 'off'}, XLA {'on' if trainer.jit else 'off'}"
    )
    history = trainer.fit()
    if len(history):
        plots.training_curves(history, run.path / "curves.png")
        best = history.loc[history["val_loss"].idxmin()]
        run.write_json(
            "metrics.json",
            {
                "epochs": int(history["epoch"].iloc[-1]),
                "best_epoch": int(best["epoch"]),
                "best_val_loss": float(best["val_loss"]),
                "best_val_accuracy": float(best["val_accuracy"]),
                "final": {k: float(v) for k, v in history.iloc[-1].items()},
                "mixed_precision": trainer.mixed,
                "jit_compile": trainer.jit,
                "replicas": trainer.strategy.num_replicas_in_sync,
            },
        )
        run.set_state("finished", int(history["epoch"].iloc[-1]))
    return run.path

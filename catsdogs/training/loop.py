"""The epoch loop, readable at once: train an epoch's steps, validate, record the epoch in an
order that survives a crash at any instant, then decide the learning rate and whether to stop.

The learning-rate and early-stopping decisions are derived from ``history.csv``, so a run
continued after a crash decides as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from catsdogs.errors import UserError
from catsdogs.training import decisions, devices, timing
from catsdogs.training.checkpoints import Checkpoints
from catsdogs.training.rundir import BEST, LAST, LOGS, RunDir
from catsdogs.training.trainer import Sums, Trainer


class NonFiniteLoss(UserError):
    """Training diverged: the loss became NaN or infinite."""


def train_epoch(
    trainer: Trainer,
    epoch: int,
    run: RunDir,
    echo: Callable[[str], None],
    length: timing.RunLength | None,
) -> Sums:
    """One epoch of training steps under a progress bar. A NaN or infinite loss marks the run
    failed and stops it; with ``length``, the long-run warning is judged as the steps go."""
    epochs = trainer.config.training.epochs
    head_only = trainer.head_only(epoch)
    label = f"epoch {epoch + 1}/{epochs}" + (" (head only)" if head_only else "")
    totals = Sums()
    with tqdm(total=trainer.steps, desc=label, unit="step", leave=False) as bar:
        for window in trainer.train_steps(trainer.steps, head_only):
            window_loss = sum(sums.loss for sums in window)
            if not math.isfinite(window_loss):
                message = (
                    f"loss became {window_loss} in epoch {epoch + 1}: training diverged; "
                    "lower optimizer.learning_rate (the last good epoch's checkpoint is kept)"
                )
                run.set_state("failed", epoch, message)
                raise NonFiniteLoss(message)
            totals = sum(window, totals)
            bar.set_postfix(loss=f"{totals.mean_loss:.4f}", acc=f"{totals.accuracy:.3f}")
            bar.update(len(window))
            left = trainer.steps * (epochs - epoch) - bar.n
            if length and (line := length.warning(bar.n, left)):
                with tqdm.external_write_mode():
                    echo(line)
    return totals


def record_epoch(
    trainer: Trainer,
    run: RunDir,
    history: pd.DataFrame,
    row: dict,
    writer: tf.summary.SummaryWriter,
    checkpoints: Checkpoints,
) -> pd.DataFrame:
    """Record a finished epoch: history, TensorBoard, the models, then the checkpoint and the
    run's state. History first, checkpoint second: a crash in between leaves a history row
    more than the checkpoint holds, which the resumed run drops and trains again."""
    epoch = row["epoch"]
    history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
    run.write_history(history)
    with writer.as_default(step=epoch):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            tf.summary.scalar(key, row[key])
    with trainer.judged_weights():  # the models hold the weights validation used
        run.save_model(LAST, trainer.model)
        if decisions.epochs_since_best(history) == 0:
            run.save_model(BEST, trainer.model)
    trainer.epochs_done.assign(epoch)
    checkpoints.save(epoch)
    run.set_state("running", epoch)
    return history


def decide(trainer: Trainer, history: pd.DataFrame, echo: Callable[[str], None]) -> bool:
    """The learning-rate and early-stopping decisions after an epoch; True: stop."""
    lowered = decisions.plateau(history, trainer.config)
    if lowered is not None:
        trainer.learning_rate = lowered
        echo(f"validation loss has not improved: learning rate -> {lowered:.3g}")
    if decisions.should_stop(history, trainer.config):
        patience = trainer.config.training.early_stopping.patience
        echo(f"early stopping: no better val_loss for {patience} epochs")
        return True
    return False


def fit(
    trainer: Trainer,
    run: RunDir,
    checkpoints: Checkpoints,
    start: int,
    echo: Callable[[str], None],
) -> pd.DataFrame:
    """Train from epoch ``start`` (what the checkpoint holds) to the config's last epoch."""
    epochs = trainer.config.training.epochs
    history = run.history().iloc[:start]
    writer = tf.summary.create_file_writer(str(run.path / LOGS))
    length = timing.RunLength(devices.has_gpu())
    for epoch in range(start, epochs):
        started = time.monotonic()
        # The long-run estimate is judged once, in this session's first epoch.
        train = train_epoch(trainer, epoch, run, echo, length if epoch == start else None)
        val = trainer.validate()
        row = {
            "epoch": epoch + 1,
            "loss": train.mean_loss,
            "accuracy": train.accuracy,
            "val_loss": val.mean_loss,
            "val_accuracy": val.accuracy,
            "learning_rate": trainer.learning_rate,
            "seconds": round(time.monotonic() - started, 1),
        }
        history = record_epoch(trainer, run, history, row, writer, checkpoints)
        echo(
            f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f} acc {row['accuracy']:.4f} | "
            f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} | "
            f"lr {row['learning_rate']:.3g} | {row['seconds']:.0f}s"
        )
        if decide(trainer, history, echo):
            break
    return history

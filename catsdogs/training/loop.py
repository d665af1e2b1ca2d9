"""The epoch loop, readable at once: train an epoch's steps, validate, record the epoch in an
order that survives a crash at any instant, then decide the learning rate and whether to stop.

The learning-rate and early-stopping decisions are derived from ``history.csv``, so a run
continued after a crash decides as the uninterrupted run would have. With a time budget, a
``Watch`` sees every window of steps and every epoch's end, and may shorten the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pandas as pd

from catsdogs import durations, progress
from catsdogs.config import dump
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.training import decisions, devices, timing
from catsdogs.training.board import Board
from catsdogs.training.budget import Start, Watch
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
    watch: Watch | None,
    start: Start,
    board: Board,
) -> Sums:
    """One epoch of training steps under a progress bar, ``start.done`` of them taken already
    (the first steps that measured the machine). A NaN or infinite loss marks the run failed
    and stops it; with ``length`` the long-run warning, with ``watch`` the budget, is judged
    as the steps go; TensorBoard gets each window's loss and learning rate."""
    head_only = trainer.head_only(epoch)
    label = f"epoch {epoch + 1}/{trainer.config.training.epochs}"
    done, totals = start.done, start.sums

    def say(line: str) -> None:
        with progress.aside():
            echo(line)

    with progress.bar(
        total=trainer.epoch_steps(epoch),
        initial=done,
        desc=label + (" (head only)" if head_only else ""),
        unit="step",
        leave=False,
    ) as bar:
        while done < trainer.epoch_steps(epoch):
            count = min(trainer.sync_steps, trainer.epoch_steps(epoch) - done)
            rate = trainer.learning_rate
            window, seconds = trainer.timed_steps(count, head_only, say)
            if not math.isfinite(window.loss):
                message = (
                    f"loss became {window.loss} in epoch {epoch + 1}: training diverged; "
                    "lower optimizer.learning_rate (the last good epoch's checkpoint is kept)"
                )
                run.set_state("failed", epoch, message)
                raise NonFiniteLoss(message)
            totals, done = totals + window, done + count
            board.step(epoch * trainer.steps + done, window.mean_loss, rate)
            postfix = {"loss": f"{totals.mean_loss:.4f}", "acc": f"{totals.accuracy:.3f}"}
            if watch:
                replanned = watch.after_steps(seconds, count, epoch * trainer.steps + done, epoch)
                if replanned:
                    run.write_config(dump(trainer.config))
                    say(replanned)
                    bar.total = trainer.epoch_steps(epoch)
                postfix["left"] = durations.text(max(watch.left(), 0))
            bar.set_postfix(postfix)
            bar.update(count)
            left = trainer.total_steps - epoch * trainer.steps - done
            if length and (line := length.warning(done, left)):
                say(line)
    return totals


def record_epoch(
    trainer: Trainer,
    run: RunDir,
    history: pd.DataFrame,
    row: dict,
    board: Board,
    checkpoints: Checkpoints,
) -> pd.DataFrame:
    """Record a finished epoch: history, the models and TensorBoard, then the checkpoint and
    the run's state. History first, checkpoint second: a crash in between leaves a history
    row more than the checkpoint holds, which the resumed run drops and trains again."""
    epoch = row["epoch"]
    history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
    run.write_history(history)
    with trainer.judged_weights():  # the models hold the weights validation used
        run.save_model(LAST, trainer.model)
        if decisions.epochs_since_best(history) == 0:
            run.save_model(BEST, trainer.model)
        board.epoch(row)
    trainer.epochs_done.assign(epoch)
    checkpoints.save(epoch)
    run.set_state("running", epoch)
    return history


def decide(
    trainer: Trainer, history: pd.DataFrame, echo: Callable[[str], None], val_images: int
) -> bool:
    """The decisions after an epoch (the learning rate, whether to stop) and a warning when
    the run is not learning; True: stop."""
    if warning := decisions.at_chance(history, val_images):
        echo(warning)
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
    first: Start | None = None,
    watch: Watch | None = None,
    data: manifests.TrainingData | None = None,
) -> pd.DataFrame:
    """Train from epoch ``start`` (what the checkpoint holds) to the run's last epoch; the
    first of them begins where ``first`` (the measuring steps) left it. ``data`` gives
    TensorBoard its validation images."""
    history = run.history().iloc[:start]
    board = Board(run.path / LOGS, trainer, data)
    # The long-run estimate is judged once, in this session's first epoch (not on a budget).
    length = None if watch else timing.RunLength(devices.has_gpu())
    epoch = start
    try:
        while epoch < trainer.config.training.epochs:
            begun = first if epoch == start and first else Start()
            judged = length if epoch == start else None
            history = _epoch(
                trainer, run, checkpoints, epoch, history, board, echo, begun, judged, watch
            )
            if decide(trainer, history, echo, trainer.val_images):
                break
            epoch += 1
    finally:
        board.close()  # TensorBoard's events are on disk however the loop ends
    return history


def _epoch(
    trainer: Trainer,
    run: RunDir,
    checkpoints: Checkpoints,
    epoch: int,
    history: pd.DataFrame,
    board: Board,
    echo: Callable[[str], None],
    begun: Start,
    length: timing.RunLength | None,
    watch: Watch | None,
) -> pd.DataFrame:
    """One epoch: its steps, its validation, its record; the budget watched."""
    started = time.monotonic()
    train = train_epoch(trainer, epoch, run, echo, length, watch, begun, board)
    validating = time.monotonic()
    val = trainer.validate()
    saving = time.monotonic()
    row = {
        "epoch": epoch + 1,
        "loss": train.mean_loss,
        "accuracy": train.accuracy,
        "val_loss": val.mean_loss,
        "val_accuracy": val.accuracy,
        "learning_rate": trainer.learning_rate,
        "seconds": round(saving - started, 1),
        "val_dog_share": val.dog_share,
    }
    history = record_epoch(trainer, run, history, row, board, checkpoints)
    echo(
        f"epoch {epoch + 1}/{trainer.config.training.epochs}: loss {row['loss']:.4f} "
        f"acc {row['accuracy']:.4f} | val_loss {row['val_loss']:.4f} "
        f"val_acc {row['val_accuracy']:.4f} | lr {row['learning_rate']:.3g} | "
        f"{row['seconds']:.0f}s"
    )
    if watch:
        done = epoch * trainer.steps + trainer.epoch_steps(epoch)
        replanned = watch.after_epoch(saving - validating, time.monotonic() - saving, done, epoch)
        if replanned:
            run.write_config(dump(trainer.config))
            echo(replanned)
    return history

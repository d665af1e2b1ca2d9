"""The epoch loop, readable at once: train an epoch's steps, validate, record the epoch in an
order that survives a crash at any instant, then decide the learning rate and whether to stop.

The learning-rate and early-stopping decisions are derived from ``history.csv``, so a run
continued after a crash decides as the uninterrupted run would have. With a time budget, a
``Watch`` sees every window of steps and every epoch's end, and may shorten the run. An error
that ends training leaves the run "failed" with its line (``failures``), and an image changed
under a running run is named.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

import pandas as pd
import tensorflow as tf

from catsdogs import durations, progress, signals
from catsdogs.config import dump
from catsdogs.data import manifests
from catsdogs.errors import UserError, first_line
from catsdogs.training import decisions, devices, timing
from catsdogs.training.board import Board
from catsdogs.training.budget import Start, Watch
from catsdogs.training.checkpoints import Checkpoints
from catsdogs.training.rundir import BEST_PENDING, LAST, LOGS, RunDir
from catsdogs.training.trainer import Sums, Trainer


class NonFiniteLoss(UserError):
    """Training diverged: the loss became NaN or infinite."""


class ImageChanged(UserError):
    """An image the run trains on changed, went away or stopped decoding while it trained."""


@contextlib.contextmanager
def failures(run: RunDir, data: manifests.TrainingData) -> Iterator[None]:
    """Around training (the epochs and what follows them): an error that ends it leaves
    state.json "failed" with its first line (as far as the disk lets: ``RunDir.fail``), and
    TensorFlow failing to read or decode an image that changed under the run (overwritten,
    truncated, deleted) becomes one line naming the image."""
    try:
        yield
    except tf.errors.OpError as err:
        changed = _changed_image(data)
        run.fail(first_line(changed or err))
        if changed is None:
            raise
        raise changed from None
    except Exception as err:
        run.fail(first_line(err))
        raise


def _changed_image(data: manifests.TrainingData) -> ImageChanged | None:
    """The first image of the run's manifests that is no longer as the start of the run found
    it, in the words of the manifests' own check (gone; other bytes than prepare hashed; in a
    manifest without hashes, no longer decodable); None where every one still is. Images that
    ``data.cache`` holds in memory were read once, before: a change to them does not matter."""
    go_on = "put the image back and run the same command again to continue this run"
    rerun = manifests.RERUN
    for manifest in (data.train, data.val):
        try:
            manifests.read(manifest.path, "labelled", echo=lambda line: None)
        except UserError as found:
            text = str(found)
            if rerun in text:
                text = text.replace(rerun, f"{rerun} and train anew, or {go_on}")
            else:
                text = f"{text}; {go_on}"
            return ImageChanged(f"an image changed while training: {text}")
    return None


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
            signals.check()
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
    """Record a finished epoch: the checkpoint, the models (a new best one pending) and
    TensorBoard, then history.csv, the best model put in place, then the run's state.
    history.csv is the record a run continues from (the newest checkpoint it reaches:
    ``Checkpoints.restore``), and it is written after everything it needs, so a write that
    fails (a full disk) or a kill at any instant leaves it either without this epoch (what
    was written of it is written again when the epoch is trained again) or with this epoch
    and its checkpoint; best.keras follows history.csv (``RunDir.settle_best``); state.json,
    last, only repeats its count."""
    epoch = row["epoch"]
    history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
    trainer.epochs_done.assign(epoch)
    checkpoints.save(epoch)
    with trainer.judged_weights():  # the models hold the weights validation used
        run.save_model(LAST, trainer.model)
        if decisions.epochs_since_best(history) == 0:
            run.save_model(BEST_PENDING, trainer.model)
        board.epoch(row)
    run.write_history(history)
    run.settle_best()
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
            signals.check()
            epoch += 1
    except BaseException:
        # TensorBoard's events are flushed however the loop ends; where that fails too (the
        # disk that ended the loop), the first error is the one to report.
        with contextlib.suppress(Exception):
            board.close()
        raise
    board.close()
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

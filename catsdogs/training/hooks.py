"""Everything that reacts to a run's steps and epochs, each a Keras callback: ``loop.fit`` calls
them through Keras' ``CallbackList`` under the method names Keras' own ``fit`` uses, so a reader
knows the protocol and a user's Keras callback (``EarlyStopping``, a logger of their own) runs
beside them.

What ``fit`` passes (``CallbackList`` hands every value over as a float):
- ``on_epoch_begin(epoch, {"done", "head_only"})``: ``done`` steps of the epoch taken already
  (the first steps, which measured the machine);
- ``on_train_batch_end(done, {"loss", "accuracy", "window_loss", "learning_rate", "steps",
  "seconds", "step"})``: after a window of ``steps`` optimizer steps (one on a CPU), ``done``
  of the epoch: the epoch's running loss and accuracy, the window's own loss, the learning rate
  it used, the seconds it took, and ``step``, the steps the run has taken;
- ``on_epoch_end(epoch, logs)``: the epoch's row of history.csv (``rundir.COLUMNS`` but
  ``epoch``), ``validation_seconds`` and ``validated_at`` (a ``time.monotonic`` reading).
A hook that ends the run sets ``model.stop_training``, as Keras' EarlyStopping does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import pandas as pd

from catsdogs import durations, progress
from catsdogs.config import dump
from catsdogs.data import manifests
from catsdogs.training import decisions, devices, long_run
from catsdogs.training.board import Board
from catsdogs.training.budget import Watch
from catsdogs.training.checkpoints import Checkpoints
from catsdogs.training.rundir import (
    BEST_PENDING,
    COLUMNS,
    LAST,
    LOGS,
    VAL_ACCURACY,
    VAL_LOSS,
    RunDir,
)
from catsdogs.training.trainer import Trainer


def aside(echo: Callable[[str], None]) -> Callable[[str], None]:
    """``echo`` for lines printed while a progress bar may be open (they do not tear it)."""

    def say(line: str) -> None:
        with progress.aside():
            echo(line)

    return say


class Record(keras.callbacks.Callback):
    """Each epoch recorded (``record_epoch``) and said in one line; ``history``: the run's
    history.csv as recorded so far."""

    def __init__(
        self,
        trainer: Trainer,
        run: RunDir,
        checkpoints: Checkpoints,
        board: Board,
        first_epoch: int,
        echo: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.trainer, self.run, self.checkpoints, self.board = trainer, run, checkpoints, board
        self.history = run.history().iloc[:first_epoch]
        self.echo = echo

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        row = {"epoch": epoch + 1, **{column: logs[column] for column in COLUMNS[1:]}}
        self.history = record_epoch(
            self.trainer, self.run, self.history, row, self.board, self.checkpoints
        )
        self.echo(
            f"epoch {epoch + 1}/{self.trainer.config.training.epochs}: loss {row['loss']:.4f} "
            f"acc {row['accuracy']:.4f} | val_loss {row[VAL_LOSS]:.4f} "
            f"val_acc {row[VAL_ACCURACY]:.4f} | lr {row['learning_rate']:.3g} | "
            f"{row['seconds']:.0f}s"
        )


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


class Decide(keras.callbacks.Callback):
    """The decisions after an epoch, from the recorded history alone (a continued run decides
    as the uninterrupted one would have): a warning when the run is not learning, a lower
    learning rate on a plateau, early stopping."""

    def __init__(self, trainer: Trainer, record: Record, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.trainer, self.record, self.echo = trainer, record, echo

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        history, config = self.record.history, self.trainer.config
        if warning := decisions.at_chance(history, self.trainer.val_images):
            self.echo(warning)
        lowered = decisions.plateau(history, config)
        if lowered is not None:
            self.trainer.learning_rate = lowered
            self.echo(f"validation loss has not improved: learning rate -> {lowered:.3g}")
        if decisions.should_stop(history, config):
            patience = config.training.early_stopping.patience
            self.echo(f"early stopping: no better val_loss for {patience} epochs")
            self.model.stop_training = True


class Budget(keras.callbacks.Callback):
    """The time budget's watch: after every window and every epoch it may shorten or lengthen
    the run; the new plan is written to the run's config.yaml here (each re-plan is recorded
    in it), and said at most once an epoch, where it changes the plan said last by more than
    ``SAY_SHARE`` (a pace drifting within an epoch re-plans a few steps at a time), and
    whenever it changes the number of epochs."""

    SAY_SHARE = 0.03

    def __init__(self, watch: Watch, run: RunDir, say: Callable[[str], None]) -> None:
        super().__init__()
        self.watch, self.run, self.say = watch, run, say
        self.epoch = 0
        planned = watch.trainer.length()
        self.said_epoch, self.said_steps, self.said_epochs = -1, planned.steps, planned.epochs

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, done: int, logs: dict) -> None:
        seconds, steps, step = logs["seconds"], int(logs["steps"]), int(logs["step"])
        self._replanned(self.watch.after_steps(seconds, steps, step, self.epoch))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        saving = time.monotonic() - logs["validated_at"]
        trainer = self.watch.trainer
        done = epoch * trainer.steps + trainer.epoch_steps(epoch)
        self._replanned(self.watch.after_epoch(logs["validation_seconds"], saving, done, epoch))

    def _replanned(self, line: str | None) -> None:
        if not line:
            return
        self.run.write_config(dump(self.watch.trainer.config))
        planned = self.watch.trainer.length()
        steps = planned.steps
        changed = self.said_epoch != self.epoch and abs(steps - self.said_steps) > (
            self.SAY_SHARE * self.said_steps
        )
        if changed or planned.epochs != self.said_epochs:  # "epoch 1/3" then "2/2": said
            self.say(line)
            self.said_epoch, self.said_steps, self.said_epochs = self.epoch, steps, planned.epochs


def bar_values(logs: dict, left: float | None) -> dict[str, str]:
    """What an epoch's bar shows after its rate: the budget's time left first, where there is
    one (an 80-column terminal cuts the end of a bar's line), then the loss and accuracy."""
    values = {} if left is None else {"left": durations.text(left)}
    return values | {"loss": f"{logs['loss']:.4f}", "acc": f"{logs['accuracy']:.3f}"}


class Bar(keras.callbacks.Callback):
    """An epoch's progress bar: its steps, the running loss and accuracy, and with a budget
    the time left."""

    def __init__(self, trainer: Trainer, watch: Watch | None) -> None:
        super().__init__()
        self.trainer, self.watch = trainer, watch
        self.bar, self.epoch = None, 0

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.epoch = epoch
        label = f"epoch {epoch + 1}/{self.trainer.config.training.epochs}"
        self.bar = progress.bar(
            total=self.trainer.epoch_steps(epoch),
            initial=int(logs["done"]),
            desc=label + (" (head only)" if logs["head_only"] else ""),
            unit="step",
            leave=False,
        )

    def on_train_batch_end(self, done: int, logs: dict) -> None:
        left = max(self.watch.left(), 0) if self.watch else None
        self.bar.total = self.trainer.epoch_steps(self.epoch)  # a re-plan may change it
        self.bar.set_postfix(bar_values(logs, left))
        self.bar.update(int(logs["steps"]))
        if done >= self.bar.total:
            self.on_train_end()  # the epoch's steps are done; validation follows

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.on_train_end()  # an epoch without steps of its own closes its bar too

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LongRun(keras.callbacks.Callback):
    """Warns once, from the first two windows of this process's first epoch (the first
    includes tracing and compiling), where the rest of the run is far too long for a machine
    without a GPU (``long_run``)."""

    def __init__(self, trainer: Trainer, say: Callable[[str], None]) -> None:
        super().__init__()
        self.trainer, self.say = trainer, say
        self.epochs: list[int] = []  # the epochs begun, this process's first one first
        self.first: tuple[float, int] | None = None  # the clock and steps at the first window
        self.judged = False

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.epochs.append(epoch)

    def on_train_batch_end(self, done: int, logs: dict) -> None:
        if self.judged or len(self.epochs) > 1:
            return
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
            return
        self.judged = True
        per_step = (now - self.first[0]) / (done - self.first[1])
        left = self.trainer.total_steps - self.epochs[0] * self.trainer.steps - done
        if line := long_run.warning(per_step, left, devices.has_gpu()):
            self.say(line)


def of_a_run(
    trainer: Trainer,
    run: RunDir,
    checkpoints: Checkpoints,
    first_epoch: int,
    echo: Callable[[str], None],
    watch: Watch | None = None,
    data: manifests.TrainingData | None = None,
) -> tuple[list[keras.callbacks.Callback], Record]:
    """A run's hooks in the order they act, and its ``Record`` (the history it writes):
    TensorBoard, the record, the budget (or the long-run warning: a budgeted run keeps its
    time), the decisions, and last the bar (it shows what the others changed). ``data`` gives
    TensorBoard its validation images."""
    say = aside(echo)
    board = Board(run.path / LOGS, trainer, data)
    record = Record(trainer, run, checkpoints, board, first_epoch, say)
    timed = Budget(watch, run, say) if watch else LongRun(trainer, say)
    return [board, record, timed, Decide(trainer, record, say), Bar(trainer, watch)], record

"""The training loop: each epoch's steps, then its validation; what reacts to them (the
record of each epoch, the budget's watch, the decisions, TensorBoard, the bar) is a hook
(``hooks``). An error that ends training leaves the run "failed" with its line
(``failures``), and an image changed under a running run is named.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence

import keras
import tensorflow as tf

from catsdogs import signals
from catsdogs.data import manifests
from catsdogs.errors import UserError, first_line
from catsdogs.training.budget import Start
from catsdogs.training.hooks import aside
from catsdogs.training.rundir import RunDir
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
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: stopped, not running any more
        run.stop(
            "stopped by SIGTERM" if isinstance(stop, signals.Terminated) else "stopped by Ctrl-C"
        )
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


def fit(
    trainer: Trainer,
    callbacks: Sequence[keras.callbacks.Callback],
    start: Start | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Train from ``start`` (the epoch the checkpoint holds, the steps measuring took) to the
    run's last epoch, or until a hook sets ``model.stop_training``. Whatever reacts to steps
    and epochs is one of ``callbacks``, called as Keras' fit calls them (``hooks``)."""
    start, say = start or Start(), aside(echo)
    with _called(callbacks, trainer) as hooks:
        epoch = start.epoch
        while epoch < trainer.config.training.epochs and not trainer.model.stop_training:
            started, head_only = time.monotonic(), trainer.head_only(epoch)
            done, sums = (start.done, start.sums) if epoch == start.epoch else (0, Sums())
            hooks.on_epoch_begin(epoch, {"done": done, "head_only": head_only})
            while done < trainer.epoch_steps(epoch):
                count = min(trainer.sync_steps, trainer.epoch_steps(epoch) - done)
                rate = trainer.learning_rate
                window, seconds = trainer.timed_steps(count, head_only, say)
                _finite(window, epoch)
                sums, done = sums + window, done + count
                hooks.on_train_batch_end(done, {
                    **sums.logs(), "window_loss": window.mean_loss, "learning_rate": rate,
                    "steps": count, "seconds": seconds, "step": epoch * trainer.steps + done,
                })  # fmt: skip
                signals.check()
            validating, val = time.monotonic(), trainer.validate()
            validated = time.monotonic()
            hooks.on_epoch_end(epoch, {
                **sums.logs(), **val.logs("val_"), "learning_rate": trainer.learning_rate,
                "seconds": round(validated - started, 1), "validated_at": validated,
                "validation_seconds": validated - validating,
            })  # fmt: skip
            signals.check()
            epoch += 1


@contextlib.contextmanager
def _called(
    callbacks: Sequence[keras.callbacks.Callback], trainer: Trainer
) -> Iterator[keras.callbacks.CallbackList]:
    """Keras' CallbackList over ``callbacks``, begun, and ended however the block ends (where
    ending fails too, as on the full disk that ended the loop, the first error is reported)."""
    hooks = keras.callbacks.CallbackList(list(callbacks), model=trainer.model)
    trainer.model.stop_training = False
    hooks.on_train_begin()
    try:
        yield hooks
    except BaseException:
        with contextlib.suppress(Exception):
            hooks.on_train_end()
        raise
    hooks.on_train_end()


def _finite(window: Sums, epoch: int) -> None:
    """Refuses a window whose loss is NaN or infinite: training diverged."""
    if not math.isfinite(window.loss):
        kept = (
            "the last good epoch's checkpoint is kept"
            if epoch > 0
            else "no epoch had finished, so nothing was kept"
        )
        raise NonFiniteLoss(
            f"loss became {window.loss} in epoch {epoch + 1}: training diverged; "
            f"lower optimizer.learning_rate ({kept})"
        )

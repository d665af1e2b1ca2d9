"""A run's checkpoints: everything it needs to continue (weights, optimizer state with
Lookahead's slow weights, the epochs done) in a tf.train.Checkpoint saved at every epoch's end.

The last two are kept: a damaged newest one (every tensor is read before one is restored)
falls back to the one before, and so does one newer than history.csv (an epoch whose end was
not written in full: see ``hooks.record_epoch``). A checkpoint that does not fit the config's
model or optimizer is refused before anything in the run changes, naming the config keys that
differ. A save that fails (a full disk) is one line and leaves no part of itself behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from catsdogs import files
from catsdogs.config import config_changes
from catsdogs.errors import UserError, first_line
from catsdogs.training.rundir import CHECKPOINTS, RunDir

# What decides the variables a checkpoint holds; the other keys may change on --resume.
STRUCTURE = ("model.", "optimizer.", "data.image_size", "training.mixed_precision")


def _damage(path: str) -> str | None:
    """Why the checkpoint at ``path`` cannot be read in full (None if it can)."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # truncated or garbled files raise OpError, IndexError and more
        return first_line(err)
    return None


def _number(path: str) -> int:
    """The epochs a checkpoint holds, from its name (``ckpt-3``: the number it was saved as)."""
    return int(Path(path).name.rsplit("-", 1)[1])


def _differences(before: str, after: str) -> str:
    """The dotted config keys that decide a checkpoint's variables and differ between two
    resolved configs (all differing keys if none of those do)."""
    changed = list(config_changes(before, after))
    structural = [key for key in changed if key.startswith(STRUCTURE)]
    return ", ".join(structural or changed) or "nothing in the config"


class Checkpoints:
    """The checkpoints of one run for one trainer's ``checkpoint`` object."""

    def __init__(self, checkpoint: tf.train.Checkpoint, run: RunDir) -> None:
        self.checkpoint, self.run = checkpoint, run
        self.folder = run.path / CHECKPOINTS
        self._manager: tf.train.CheckpointManager | None = None

    @property
    def manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                self.checkpoint, str(self.folder), max_to_keep=2
            )
        return self._manager

    def saved(self) -> list[str]:
        """The checkpoints, oldest first: as the manager's state file lists them, or, where
        that file is damaged or gone, as the checkpoint files themselves say."""
        try:
            listed = self.manager.checkpoints
        except Exception:  # a damaged state file: TensorFlow raises parse errors of all kinds
            listed = []
        if listed:
            return list(listed)
        found = self.folder.glob("ckpt-*.index")
        numbered = sorted((int(p.stem.split("-")[1]), p) for p in found if p.stem[5:].isdigit())
        return [str(path.with_suffix("")) for _, path in numbered]

    def restore(self, before: str, now: str, echo: Callable[[str], None], most: int) -> bool:
        """Load the newest usable checkpoint of at most ``most`` epochs (those history.csv
        records); False where the run has none. ``before`` is the run's config as it was and
        ``now`` the one it goes on with, to name what differs."""
        for path in reversed(self.saved()):
            if _number(path) > most:
                echo(
                    f"checkpoint {Path(path).name} is newer than history.csv (its epoch's end "
                    "was not written in full): that epoch is trained again"
                )
                continue
            damage = _damage(path)
            if damage is not None:
                echo(
                    f"checkpoint {Path(path).name} is damaged ({damage}); "
                    "going on from the one before"
                )
                continue
            status = None
            try:
                status = self.checkpoint.restore(path)
                status.assert_consumed()
            except (ValueError, AssertionError):
                raise UserError(
                    f"run {self.run.path}: its checkpoint does not fit this config "
                    f"({_differences(before, now)} changed); resume it with the "
                    "config it was trained with, or train into another --run-dir"
                ) from None
            finally:
                if status is not None:
                    status.expect_partial()  # checked above: no warnings when it is collected
            return True
        return False

    def save(self, epoch: int) -> None:
        """Save the checkpoint of ``epoch`` epochs done. A failed save leaves the ones before as
        they were and none of its own files (a full disk keeps what space it has)."""
        name = f"ckpt-{epoch}"
        try:
            with files.writing(self.folder / name):
                self.manager.save(checkpoint_number=epoch)
        except BaseException:
            shutil.rmtree(self.folder / f"{name}_temp", ignore_errors=True)  # TensorFlow's
            for part in self.folder.glob(f"{name}.*"):
                part.unlink(missing_ok=True)
            raise

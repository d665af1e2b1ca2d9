"""A disk that fills while a run trains: one `error:` line naming the file being written, a run
left whole and not "running", and, once there is space again, the same command continues it to
the epochs an uninterrupted run has. Faults are injected at every write of an epoch's end in
turn, and a real tmpfs is filled by a real run."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from helpers import real_data, smoke_train

from catsdogs import files
from catsdogs.training import hooks

# The writes that record epoch 1, in their order (epoch 1 is always the best so far), and
# where the error line says each was writing.
TENSORBOARD = "TensorBoard's events"
EPOCH_END = {
    "checkpoints/ckpt-1": "checkpoints/ckpt-1",
    "last.keras": "last.keras",
    "best.pending.keras": "best.pending.keras",
    TENSORBOARD: "logs",
    "history.csv": "history.csv",
    "state.json": "state.json",
}
NO_SPACE = os.strerror(errno.ENOSPC)


def one_error(done) -> str:
    """The only `error:` line of a command that failed as a user error (no traceback)."""
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.output
    return errors[0].removeprefix("error: ")


class FullDisk:
    """The disk fills at the ``failing``-th write (from 1) made while ``epoch`` is recorded:
    files' own writer (history, state, the models) fails halfway through its temporary file;
    TensorFlow's checkpoint save and its TensorBoard writer's flush raise what their ops raise
    on a full disk, the checkpoint's half-made folder left behind. With ``stays_full`` every
    write after that one fails too. ``written``: the writes counted, in order (a path, or
    TENSORBOARD)."""

    def __init__(
        self, monkeypatch, scratch: Path, epoch: int, failing: int, stays_full: bool = False
    ) -> None:
        self.failing, self.stays_full, self.armed, self.full = failing, stays_full, False, False
        self.written: list[Path | str] = []
        real_record, real_write_with = hooks.record_epoch, files.write_with
        real_save = tf.train.CheckpointManager.save
        writers = type(tf.summary.create_file_writer(str(scratch)))
        real_flush = writers.flush

        def record_epoch(trainer, run, history, row, *rest):
            self.armed = row["epoch"] == epoch
            try:
                return real_record(trainer, run, history, row, *rest)
            finally:
                self.armed = False

        def write_with(path, write):
            if not self._fails(path):
                return real_write_with(path, write)

            def half(tmp: Path) -> None:
                tmp.write_bytes(b"half a file")
                raise OSError(errno.ENOSPC, NO_SPACE, str(tmp))

            return real_write_with(path, half)

        def save(manager, checkpoint_number=None, **options):
            prefix = Path(manager.directory) / f"ckpt-{checkpoint_number}"
            if not self._fails(prefix):
                return real_save(manager, checkpoint_number=checkpoint_number, **options)
            part = prefix.with_name(f"{prefix.name}_temp") / "part-00000-of-00001.data"
            part.parent.mkdir(parents=True)
            raise tf.errors.ResourceExhaustedError(None, None, f"{part}; {NO_SPACE} [Op:SaveV2]")

        def flush(writer):
            if not self._fails(TENSORBOARD):
                return real_flush(writer)
            raise tf.errors.ResourceExhaustedError(
                None, None, f"events.out.tfevents; {NO_SPACE}\n\tCould not flush events file."
            )

        monkeypatch.setattr(hooks, "record_epoch", record_epoch)
        monkeypatch.setattr(files, "write_with", write_with)
        monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
        monkeypatch.setattr(writers, "flush", flush)

    def _fails(self, what: Path | str) -> bool:
        if self.full or not self.armed:
            return self.full
        self.written.append(what)
        if len(self.written) == self.failing:
            self.full = self.stays_full
            return True
        return False


def temporaries(run: Path) -> list[Path]:
    """What half-done writes may leave in a run: files' temporaries, TensorFlow's."""
    return [p for p in run.rglob("*") if ".tmp" in p.name or p.name.endswith("_temp")]


@pytest.mark.parametrize("failing", list(EPOCH_END))
def test_a_full_disk_at_any_write_of_an_epochs_end_then_the_same_command_continues(
    shared_data, tmp_path, monkeypatch, failing
):
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    # Two epochs of one step; a fixed predict size spares the end trying sizes.
    settings = "--set training.steps_per_epoch=1 --set data.predict_size=32".split()
    command = ["--data", data, "--run-dir", run, *settings]
    writes = list(EPOCH_END)
    disk = FullDisk(monkeypatch, tmp_path / "scratch", epoch=1, failing=writes.index(failing) + 1)
    done = smoke_train(*command)
    line = one_error(done)
    target = run / EPOCH_END[failing]
    assert line == f"{NO_SPACE.lower()} writing {target}: free space and run the same command again"
    done_writes = writes[: writes.index(failing) + 1]
    assert disk.written == [w if w == TENSORBOARD else run / w for w in done_writes]
    # history.csv is the record: it holds epoch 1 only once everything else of it is written,
    # and state.json (failed, with the line) counts what history.csv holds.
    recorded = 1 if failing == "state.json" else 0
    history = run / "history.csv"
    assert (len(pd.read_csv(history)) if history.exists() else 0) == recorded
    state = json.loads((run / "state.json").read_text())
    assert state == {"status": "failed", "epochs_done": recorded, "message": line}
    assert temporaries(run) == []

    monkeypatch.undo()  # space again
    done = smoke_train(*command)
    assert done.exit_code == 0, done.output
    assert f"resuming {run} after epoch {recorded} of 2" in done.output
    assert pd.read_csv(history).epoch.tolist() == [1, 2]
    assert json.loads((run / "state.json").read_text()) == {
        "status": "finished",
        "epochs_done": 2,
        "message": "",
    }
    assert sorted(p.name for p in (run / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-1.index",
        "ckpt-2.index",
    ]


def test_a_disk_that_stays_full_leaves_the_run_running_and_the_next_run_copes(
    shared_data, tmp_path, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    settings = "--set training.steps_per_epoch=1 --set data.predict_size=32".split()
    command = ["--data", data, "--run-dir", run, *settings]
    FullDisk(monkeypatch, tmp_path / "scratch", epoch=1, failing=1, stays_full=True)
    line = one_error(smoke_train(*command))
    assert line.startswith(f"{NO_SPACE.lower()} writing {run / 'checkpoints' / 'ckpt-1'}: ")
    # Not even state.json could be written: it says what the start wrote.
    assert json.loads((run / "state.json").read_text()) == {
        "status": "running",
        "epochs_done": 0,
        "message": "",
    }
    assert not (run / "history.csv").exists() and temporaries(run) == []

    monkeypatch.undo()
    done = smoke_train(*command)
    assert done.exit_code == 0, done.output
    assert f"resuming {run} after epoch 0 of 2" in done.output
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1, 2]


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs, unmounted after the test; skipped where mounting is not permitted."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small file system with")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_run_that_fills_a_real_disk_continues_once_space_is_freed(
    shared_data, tmp_path, small_disk
):
    data = real_data(shared_data, tmp_path / "data")
    # Another program's file leaves 2.5 MiB: the run's checkpoints (about 0.9 MiB each, two
    # kept and a third while it is saved) and models (0.4 MiB each) do not fit.
    filler = small_disk / "filler"
    filler.write_bytes(bytes(int(5.5 * 2**20)))
    run = small_disk / "r"
    command = ["--data", data, "--run-dir", run, "--set", "training.epochs=4"]
    done = smoke_train(*command)
    line = one_error(done)
    assert line.startswith(f"{NO_SPACE.lower()} writing {run}/"), line
    assert line.endswith(": free space and run the same command again"), line
    history = run / "history.csv"
    recorded = len(pd.read_csv(history)) if history.exists() else 0
    assert recorded < 4
    # The failed write's temporary file is gone, which leaves room for state.json.
    state = json.loads((run / "state.json").read_text())
    assert state == {"status": "failed", "epochs_done": recorded, "message": line}
    checkpoints = [int(p.stem[5:]) for p in (run / "checkpoints").glob("ckpt-*.index")]
    assert recorded == 0 or max(checkpoints) >= recorded  # every recorded epoch is checkpointed
    assert temporaries(run) == []

    filler.unlink()
    done = smoke_train(*command)
    assert done.exit_code == 0, done.output
    assert f"resuming {run} after epoch {recorded} of 4" in done.output
    assert pd.read_csv(history).epoch.tolist() == [1, 2, 3, 4]
    assert json.loads((run / "state.json").read_text())["status"] == "finished"

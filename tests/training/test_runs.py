"""Runs that cannot be hurt: their data recorded, one trainer at a time, whole at every instant,
refused before anything changes, and honest about which weights they saved."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import (
    SMOKE,
    cli,
    data_identity,
    die_after_writing,
    loss_and_accuracy,
    module_command,
    p_dog_by_hand,
    real_data,
    smoke_train,
)

from catsdogs import signals
from catsdogs.config import dump, load
from catsdogs.data import manifests
from catsdogs.optim import find_lookahead
from catsdogs.training import batchnorm, board, decisions, hooks, loop, predict_size, rundir
from catsdogs.training.checkpoints import Checkpoints
from catsdogs.training.rundir import RunDir
from catsdogs.training.train import with_data
from catsdogs.training.trainer import Trainer


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_run_records_its_data_and_never_continues_on_other_data(
    shared_data, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    first = real_data(shared_data, tmp_path / "a")
    other = real_data(shared_data, tmp_path / "b", first=100)
    one_epoch = ["--set", "training.epochs=1", "--set", "training.steps_per_epoch=1"]
    done = smoke_train("--data", str(first), *one_epoch)
    assert done.exit_code == 0, done.output
    [run] = list((tmp_path / "runs").iterdir())
    recorded = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert recorded["dir"] == str(first) and Path(recorded["dir"]).is_absolute()
    assert recorded["identity"] == data_identity(first)

    # Killed after its first epoch: the same command on other data must not continue it.
    (run / "state.json").write_text(json.dumps({"status": "running", "epochs_done": 1}))
    done = smoke_train("--data", str(other), *one_epoch)
    assert done.exit_code == 0, done.output
    assert f"note: the unfinished run runs/{run.name} trained on other data" in done.output
    assert len(list((tmp_path / "runs").iterdir())) == 2
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1]  # untouched

    for args in (["--run-dir", str(run)], ["--resume", "--run-dir", str(run)]):
        done = smoke_train("--data", str(other), *one_epoch, *args)
        assert done.exit_code == 1, done.output
        assert "was trained on" in done.output and "never continues on other data" in done.output

    # report reads the run's own data, not the data/processed of wherever one stands.
    real_data(shared_data, tmp_path / "elsewhere" / "data" / "processed", first=200)
    monkeypatch.chdir(tmp_path / "elsewhere")
    done = cli("report", run)
    assert done.exit_code == 0, done.output
    assert f"px on `{first / 'val.csv'}`" in (run / "report.md").read_text()
    # ... and only while it is still that data.
    val = pd.read_csv(first / "val.csv").iloc[:2]
    val.to_csv(first / "val.csv", index=False)
    done = cli("report", run)
    assert done.exit_code == 1 and "is no longer what" in done.output


def test_a_second_trainer_of_a_run_is_refused_naming_the_first(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    done = smoke_train("--data", str(data), "--run-dir", str(run), "--set", "training.epochs=1")
    assert done.exit_code == 0, done.output
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from catsdogs.training.rundir import RunDir; "
            "RunDir(Path(sys.argv[1])).lock(); print('locked', flush=True); time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = smoke_train("--data", str(data), "--run-dir", str(run), "--resume")
        assert done.exit_code == 1
        assert done.output.strip() == (
            f"error: run {run} is being trained by process {holder.pid}; wait for it to end, "
            "or choose another --run-dir"
        )
    finally:
        holder.kill()
        holder.wait()
    # kill -9 released the lock with the process.
    done = smoke_train(
        "--data", str(data), "--run-dir", str(run), "--resume", "--set", "training.epochs=2"
    )
    assert done.exit_code == 0, done.output


def test_kill_9_while_the_run_folder_is_made_then_the_same_command_trains(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    args = ["--config", str(SMOKE), "--data", str(data), "--set", "training.epochs=1"]
    # The process kills itself with SIGKILL after the new run's config is written, before the
    # folder is in place: the worst instant for a run directory to be half made.
    die = (
        "import os, signal, sys; from catsdogs import files; real = files.write_text\n"
        "def write_text(path, text):\n"
        "    real(path, text)\n"
        "    if path.name == 'config.yaml': os.kill(os.getpid(), signal.SIGKILL)\n"
        "files.write_text = write_text\n"
        "from catsdogs.cli import app; app(['train', *sys.argv[1:]])\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", die, *args], cwd=tmp_path, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")] == []
    again = subprocess.run(
        module_command("train", *args),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    [run] = list((tmp_path / "runs").iterdir())  # the killed one's leftovers are gone
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


def test_sigterm_stops_training_in_one_line_and_the_same_command_goes_on(shared_data, tmp_path):
    # SIGTERM (kill PID, docker stop, a scheduler's stop) ended the process without a word,
    # leaving whatever the moment held; now it unwinds as Ctrl-C does: one line, exit 143,
    # the lock released, and the same command continues after the epochs it finished.
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    args = ["--config", str(SMOKE), "--data", str(data), "--run-dir", str(run)]
    longer = ["--set", "training.epochs=500", "--set", "training.steps_per_epoch=1"]
    training = subprocess.Popen(
        module_command("train", *args, *longer),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        history = run / "history.csv"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and training.poll() is None:
            if history.exists() and len(pd.read_csv(history)) >= 2:
                break
            time.sleep(0.2)
        assert training.poll() is None, training.stderr.read()[-2000:]
        training.send_signal(signal.SIGTERM)
        _, stderr = training.communicate(timeout=120)
    finally:
        training.kill()
    assert training.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == (
        "stopped (SIGTERM); run the same command again to go on"
    )
    done = len(pd.read_csv(history))
    # Not "running" any more (a clean stop left it so): stopped, after the epochs recorded.
    state = json.loads((run / "state.json").read_text())
    assert state == {"status": "stopped", "epochs_done": done, "message": "stopped by SIGTERM"}
    again = subprocess.run(
        module_command(
            "train",
            *args,
            "--set",
            f"training.epochs={done + 1}",
            "--set",
            "training.steps_per_epoch=1",
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"after epoch {done} of {done + 1}" in again.stdout + again.stderr
    assert pd.read_csv(history)["epoch"].tolist() == list(range(1, done + 2))
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


def test_best_keras_never_holds_an_epoch_that_history_csv_does_not(
    shared_data, tmp_path, monkeypatch
):
    # best.keras was written before history.csv, TensorBoard's epoch record between them: a
    # run ended there kept the dropped epoch's model as its best while history.csv, and every
    # score read from it, named another epoch (the epoch trained again need not be the best).
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    fixed = "--set training.steps_per_epoch=1 --set data.predict_size=32".split()
    command = ["--data", data, "--run-dir", run, "--resume", *fixed]
    assert smoke_train(*command, "--set", "training.epochs=1").exit_code == 0
    epoch_1 = (run / "best.keras").read_bytes()
    more = [*command, "--set", "training.epochs=2"]
    real_epoch = board.Board.epoch

    def recorded_then_died(self, row):  # after TensorBoard, before history.csv
        real_epoch(self, row)
        raise KeyboardInterrupt

    with monkeypatch.context() as crash:
        crash.setattr(decisions, "epochs_since_best", lambda history: 0)  # epoch 2 is a best
        crash.setattr(board.Board, "epoch", recorded_then_died)
        assert smoke_train(*more).exit_code == 130
    assert len(pd.read_csv(run / "history.csv")) == 1
    assert (run / "best.keras").read_bytes() == epoch_1
    assert smoke_train(*more).exit_code == 0  # epoch 2 trained again
    assert not (run / rundir.BEST_PENDING).exists()

    # Killed after history.csv recorded a best epoch, before its model was put in place: the
    # next command puts it there.
    with monkeypatch.context() as crash:
        crash.setattr(decisions, "epochs_since_best", lambda history: 0)
        die_after_writing(crash, "history.csv")
        died = smoke_train(*command, "--set", "training.epochs=3")
        assert died.exit_code == 130, died.output
    epoch_3 = (run / rundir.BEST_PENDING).read_bytes()
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2, 3]
    done = smoke_train(*command, "--set", "training.epochs=3")
    assert done.exit_code == 0, done.output
    assert (run / "best.keras").read_bytes() == epoch_3
    assert not (run / rundir.BEST_PENDING).exists()


def test_resume_with_another_model_is_refused_before_anything_changes(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    base = ["--data", str(data), "--run-dir", str(run), "--set", "training.steps_per_epoch=2"]
    done = smoke_train(*base, "--set", "training.epochs=1")
    assert done.exit_code == 0, done.output
    before = snapshot(run)
    done = smoke_train(
        *base, "--resume", "--set", "training.epochs=2", "--set", "model.dense_units=8"
    )
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == [
        f"error: run {run}: its checkpoint does not fit this config (model.dense_units changed); "
        "resume it with the config it was trained with, or train into another --run-dir"
    ]
    assert snapshot(run) == before

    # The optimizer's variables count too: without Lookahead the slow weights find no home.
    done = smoke_train(*base, "--resume", "--set", "optimizer.lookahead.enabled=false")
    assert done.exit_code == 1
    assert "does not fit this config (optimizer.lookahead.enabled changed)" in done.output
    done = smoke_train(*base, "--resume", "--set", "training.epochs=1")  # nothing left to train
    assert done.exit_code == 1
    assert "has trained 1 epochs; --resume trains on only with training.epochs above 1" in (
        done.output
    )
    assert snapshot(run) == before

    done = smoke_train(*base, "--resume", "--set", "training.epochs=2")
    assert done.exit_code == 0, done.output
    assert (run / "config.previous-1.yaml").read_bytes() == before["config.yaml"]
    assert load(run / "config.yaml").training.epochs == 2
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1, 2]


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    run = tmp_path / "r"
    base = ["--data", str(data), "--run-dir", str(run), "--set", "training.steps_per_epoch=2"]
    assert smoke_train(*base, "--set", "training.epochs=2").exit_code == 0
    [newest] = (run / "checkpoints").glob("ckpt-2.data-*")
    damaged = bytearray(newest.read_bytes())
    damaged[: len(damaged) // 2] = bytes(len(damaged) // 2)
    newest.write_bytes(bytes(damaged))
    done = smoke_train(*base, "--resume", "--set", "training.epochs=3")
    assert done.exit_code == 0, done.output
    assert "checkpoint ckpt-2 is damaged" in done.output
    assert f"resuming {run} after epoch 1 of 3" in done.output
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1, 2, 3]

    # Random bytes in the newest (ckpt-3) and a garbled index of checkpoints: the files speak.
    [newest] = (run / "checkpoints").glob("ckpt-3.data-*")
    newest.write_bytes(os.urandom(100))
    (run / "checkpoints" / "checkpoint").write_text("garbage\n")
    done = smoke_train(*base, "--resume", "--set", "training.epochs=4")
    assert done.exit_code == 0, done.output
    assert "checkpoint ckpt-3 is damaged" in done.output
    assert f"resuming {run} after epoch 2 of 4" in done.output

    # No checkpoint at all after epochs were trained: refused, not silently started over.
    best = (run / "best.keras").read_bytes()
    shutil.rmtree(run / "checkpoints")
    done = smoke_train(*base, "--resume", "--set", "training.epochs=5")
    assert done.exit_code == 1
    assert "trained 4 epoch(s) but has no usable checkpoint" in done.output
    assert (run / "best.keras").read_bytes() == best


def test_a_failed_start_leaves_no_run_folder(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = real_data(shared_data, tmp_path / "data")
    (tmp_path / "weights.h5").write_bytes(b"not weights")
    done = smoke_train("--data", str(data), "--set", f"model.weights={tmp_path / 'weights.h5'}")
    assert done.exit_code == 1 and "small_cnn has no pretrained weights" in done.output
    assert list((tmp_path / "runs").glob("*")) == []


def test_files_follow_the_umask(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    assert (data / "train.csv").stat().st_mode & 0o777 == 0o666 & ~_umask()
    old = os.umask(0o027)
    try:
        done = smoke_train(
            "--data", str(data), "--run-dir", str(tmp_path / "r"), "--set", "training.epochs=1"
        )
    finally:
        os.umask(old)
    assert done.exit_code == 0, done.output
    for name in ("config.yaml", "state.json", "history.csv", "best.keras", "curves.png"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o640, name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_sigterm_python_lost_in_a_gc_callback_still_stops_training(
    shared_data, tmp_path, monkeypatch
):
    # CI: SIGTERM landed while XLA's garbage-collector callback ran; Python printed "Exception
    # ignored in: <function _xla_gc_callback>" and the run trained on, never ending. A __del__
    # swallows an exception the same way.
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data"))
    config = load(SMOKE, ["training.epochs=3", "training.steps_per_epoch=4"])
    trainer = Trainer(with_data(config, data), data)
    run = RunDir(tmp_path / "r", exists=False)
    run.start(dump(config))
    lost: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_value))

    class SignalledWhileCollected:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the interpreter runs the handler here, in __del__
                pass

    windows = 0
    steps = trainer.timed_steps

    def timed_steps(*args, **kwargs):
        nonlocal windows
        windows += 1
        if windows == 2:
            SignalledWhileCollected()
        return steps(*args, **kwargs)

    monkeypatch.setattr(trainer, "timed_steps", timed_steps)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(signals, "_asked", None)
    signals.install()
    try:
        with pytest.raises(signals.Terminated):
            loop.fit(
                trainer,
                hooks.of_a_run(trainer, run, Checkpoints(trainer.checkpoint, run), 0, print)[0],
                echo=lambda _: None,
            )
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        run.unlock()
    assert [type(e) for e in lost] == [signals.Terminated]  # Python lost the first raise
    assert windows == 2  # the window the signal came in is the last


def test_the_size_to_predict_at_is_chosen_for_the_best_model_not_the_last(shared_data, tmp_path):
    # The size was chosen on the last epoch's weights and written into best.keras, whose
    # weights may be another epoch's: it must be chosen on best.keras's own.
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data"))
    config = with_data(load(SMOKE, ["training.epochs=2", "training.steps_per_epoch=4"]), data)
    trainer = Trainer(config, data)
    run = RunDir(tmp_path / "r", exists=False)
    run.start(dump(config))
    list(trainer.train_steps(4))
    with trainer.judged_weights():
        run.save_model(rundir.BEST, trainer.model)  # an earlier epoch's model is the best
    best_loss = trainer.validate().mean_loss
    list(trainer.train_steps(8))
    with trainer.judged_weights():
        run.save_model(rundir.LAST, trainer.model)
    own = [w.copy() for w in trainer.model.get_weights()]
    chosen = predict_size.choose(trainer, data, best_loss, run, echo=lambda _: None)
    run.unlock()
    assert sorted(chosen["val_loss"]) == ["32", "40"]
    assert chosen["val_loss"]["32"] == best_loss
    by_hand = {
        name: loss_and_accuracy(
            data.val.labels, p_dog_by_hand(tmp_path / "r" / name, data.val.paths, size=40)
        )[0]
        for name in (rundir.BEST, rundir.LAST)
    }
    assert chosen["val_loss"]["40"] == pytest.approx(by_hand[rundir.BEST], rel=1e-4, abs=1e-6)
    assert abs(by_hand[rundir.BEST] - by_hand[rundir.LAST]) > 1e-3  # the two models differ
    for mine, before in zip(trainer.model.get_weights(), own):
        np.testing.assert_array_equal(mine, before)  # the trainer's weights put back


@pytest.mark.parametrize("slow", [True, False])
def test_saved_models_hold_the_weights_validation_used(shared_data, tmp_path, slow):
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data"))
    config = load(SMOKE, [f"training.evaluate_slow_weights={str(slow).lower()}"])
    config = with_data(config, data)  # 2 epochs of 4 steps, k = 3: fast and slow differ
    trainer = Trainer(config, data)
    run = RunDir(tmp_path / "r", exists=False)
    run.start(dump(config))
    ours, _ = hooks.of_a_run(trainer, run, Checkpoints(trainer.checkpoint, run), 0, print)
    loop.fit(trainer, ours, echo=lambda _: None)
    run.unlock()
    lookahead = find_lookahead(trainer.optimizer)
    fast = [v.numpy() for v in trainer.model.trainable_variables]
    slow_weights = [v.numpy() for v in lookahead.slow_variables]
    assert not all(np.allclose(f, s) for f, s in zip(fast, slow_weights))
    judged = slow_weights if slow else fast
    last = keras.models.load_model(tmp_path / "r" / "last.keras")
    saved = {v.path: v.numpy() for v in last.trainable_variables}
    for variable, expected in zip(trainer.model.trainable_variables, judged):
        np.testing.assert_array_equal(saved[variable.path], expected)
    # BatchNorm statistics: measured for the judged weights; the trainer goes on with the
    # moving ones of its fast weights.
    norms = batchnorm.layers(trainer.model)
    own = batchnorm.statistics(norms)
    with lookahead.slow_weights_applied() if slow else contextlib.nullcontext():
        expected_statistics = batchnorm.measure(trainer.model, trainer.batchnorm_images)
    assert not all(np.allclose(a, b) for a, b in zip(own, expected_statistics))
    saved_statistics = {v.path: v.numpy() for v in last.non_trainable_variables}
    variables = [v for layer in norms for v in (layer.moving_mean, layer.moving_variance)]
    for variable, expected in zip(variables, expected_statistics):
        np.testing.assert_allclose(saved_statistics[variable.path], expected, rtol=1e-5)
    for after, before in zip(batchnorm.statistics(norms), own):
        np.testing.assert_array_equal(after, before)


def test_a_dead_writers_temporary_files_are_removed(tmp_path):
    from catsdogs import files

    stale = tmp_path / ".best.keras.99999999-0123abcd.tmp.keras"
    stale.write_bytes(b"half a model")
    mine = files.temporary_name(tmp_path / "x")
    mine.write_bytes(b"in use")
    assert files.remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and mine.exists()


def test_every_next_line_of_a_run_pastes_into_a_shell_also_where_its_path_has_spaces(
    tmp_path, monkeypatch
):
    from catsdogs.training.train import closing

    run = RunDir(tmp_path / "my runs" / "cpu (1)")
    run.path.mkdir(parents=True)
    row = dict(zip(rundir.COLUMNS, [1, 0.6, 0.7, 0.5, 0.8, 1e-3, 9.0, 0.5]))
    pd.DataFrame([row]).to_csv(run.path / "history.csv", index=False)
    lines = closing(run)
    commands = [shlex.split(line) for line in lines[lines.index("next:") + 1 :]]
    assert commands == [
        ["catsdogs", "report", str(run.path)],
        ["catsdogs", "predict", "--model", str(run.path), "--out", "submission.csv"],
        ["tensorboard", "--logdir", str(run.path / "logs")],
    ]
    # A sweep's trials leave the next: block to the sweep.
    monkeypatch.setenv("CATSDOGS_NEXT", "0")
    assert not [line for line in closing(run) if "next:" in line or "catsdogs" in line]

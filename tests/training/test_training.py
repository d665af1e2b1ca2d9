"""`catsdogs train` on real images: a run directory that is complete, resumable and honest.
The runs here train on manifests made by hand (no prepare.json), which train accepts too."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers import (
    PNG,
    SMOKE,
    free_ports,
    loss_and_accuracy,
    module_command,
    p_dog_by_hand,
    real_data,
    smoke_train,
)

from catsdogs import durations
from catsdogs.config import load
from catsdogs.data import manifests
from catsdogs.training import decisions, devices
from catsdogs.training.rundir import RunDir
from catsdogs.training.trainer import Trainer

# An epoch's line: its number, then loss, accuracy, val_loss and val_accuracy.
EPOCH_LINE = re.compile(r"epoch (\d+)/\d+: loss (\S+) acc (\S+) \| val_loss (\S+) val_acc (\S+) \|")
METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]


def tensorboard_values(folder: Path) -> dict[str, dict[int, object]]:
    """{tag: {step: value}} of the event files of ``folder``: a number for a scalar, the
    encoded images (width, height, PNG bytes...) for an image summary."""
    import tensorflow as tf

    values: dict[str, dict[int, object]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                shown = float(array) if array.dtype != object else array.tolist()
                values.setdefault(value.tag, {})[event.step] = shown
    return values


def test_smoke_run_lowers_the_loss_and_fills_the_run_directory(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = real_data(shared_data, tmp_path / "data", train=24, val=8, verified=False)
    args = ["--data", data, "--set", "training.epochs=5", "--set", "training.steps_per_epoch=6"]
    done = smoke_train(*args)
    assert done.exit_code == 0, done.output
    [run] = list((tmp_path / "runs").iterdir())
    assert run.name.startswith("smoke-")
    history = pd.read_csv(run / "history.csv")
    assert history.epoch.tolist() == [1, 2, 3, 4, 5]
    assert history.loss.iloc[-1] < history.loss.iloc[0]
    # One line per epoch, saying what history.csv recorded (to the 4 decimals shown).
    printed = EPOCH_LINE.findall(done.output)
    assert [int(line[0]) for line in printed] == history.epoch.tolist()
    for line, (_, row) in zip(printed, history.iterrows()):
        assert [float(x) for x in line[1:]] == pytest.approx(row[METRICS].tolist(), abs=5e-5)
    # The validation scores are those of the saved models on val.csv, computed here.
    val = pd.read_csv(data / "val.csv")
    best = history.loc[history.val_loss.idxmin()]
    for name, row in (("last.keras", history.iloc[-1]), ("best.keras", best)):
        p_dog = p_dog_by_hand(run / name, val.path, size=32)  # the training size
        loss, accuracy = loss_and_accuracy(val.label, p_dog)
        assert row.val_accuracy == pytest.approx(accuracy, abs=1e-6), name
        assert row.val_loss == pytest.approx(loss, rel=1e-4, abs=1e-6), name
    # The size to predict at: the lowest validation loss of the best model at 32 and 40 px
    # (4/3 and 7/6 of 32, to a multiple of 8), recorded in both models.
    chosen = json.loads((run / "metrics.json").read_text())["predict_size"]
    assert chosen["val_loss"]["32"] == pytest.approx(best.val_loss)
    at_40 = loss_and_accuracy(val.label, p_dog_by_hand(run / "best.keras", val.path, size=40))[0]
    assert chosen["val_loss"]["40"] == pytest.approx(at_40, rel=1e-4, abs=1e-6)
    assert chosen["size"] == min((32, 40), key=lambda s: chosen["val_loss"][str(s)])
    for name in ("last.keras", "best.keras"):
        layer = keras.models.load_model(run / name).get_layer("resize_policy")
        assert (layer.size, layer.policy) == (chosen["size"], "stretch")
    # Where it runs, said up front: a GPU machine without CUDA wheels must not pass unnoticed.
    assert "devices: 1 replica on /cpu:0 (no GPU visible to TensorFlow)" in done.output
    assert "mixed precision off, XLA off" in done.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 5 and metrics["best_epoch"] == best.epoch
    assert metrics["best_val_loss"] == pytest.approx(best.val_loss)
    assert metrics["best_val_accuracy"] == pytest.approx(best.val_accuracy)
    assert metrics["final"] == pytest.approx(history.iloc[-1].to_dict())
    assert json.loads((run / "state.json").read_text())["status"] == "finished"
    assert load(run / "config.yaml").training.epochs == 5  # the resolved config, overrides in
    assert (run / "curves.png").read_bytes()[:8] == PNG
    logged = tensorboard_values(run / "logs")
    for key in [*METRICS, "learning_rate"]:
        assert logged[key] == pytest.approx(dict(zip(history.epoch, history[key])), rel=1e-6)
    # Every step's loss and learning rate (each step is read on a CPU): an epoch's loss is
    # the mean of its steps' (equal batches), and a step uses the rate history.csv recorded
    # after the epoch before it.
    steps = logged["step/loss"]
    assert sorted(steps) == list(range(1, 31))
    for epoch in range(5):
        mean = np.mean([steps[epoch * 6 + i] for i in range(1, 7)])
        assert mean == pytest.approx(history.loss.iloc[epoch], rel=1e-5)
        if epoch:
            rate = logged["step/learning_rate"][epoch * 6 + 1]
            assert rate == pytest.approx(history.learning_rate.iloc[epoch - 1], rel=1e-6)
    # And each epoch a picture of validation images with the model's P(dog).
    pictures = logged["validation images, P(dog)"]
    assert sorted(pictures) == [1, 2, 3, 4, 5]
    width, height, png = pictures[5][:3]
    assert png[:8] == PNG and int(width) > 300 and int(height) > 100
    # The terminal: a line while the step compiles; sizes at the start; at the end the best
    # epoch, where the files are and what to run next; in a log (not a terminal), no bar
    # frames piled onto one line.
    assert "\r" not in done.output
    assert done.output.count("compiling the training step (XLA off)...\n") == 1
    assert re.search(r"\ncompiled in \d+\.\d s \(with its first step\)\n", done.output)
    parameters = keras.models.load_model(run / "last.keras").count_params()
    assert (
        f"model: small_cnn at 32 px, {parameters:,} parameters" in done.output
        and f"data: 24 train and 8 val images in {data}" in done.output
    )
    shown = Path("runs") / run.name  # as the command names it, from the folder it ran in
    closing = done.output[done.output.index(f"done: {shown}\n") :].splitlines()
    assert closing[1] == (
        f"best epoch {int(best.epoch)} of 5 (lowest val_loss): val_loss {best.val_loss:.4f}, "
        f"val_acc {best.val_accuracy:.4f}; {durations.text(history.seconds.sum())} of training"
    )
    # A few steps on 8 validation images may end weak: its predict line then says so.
    weak = decisions.weakness(RunDir(run))
    said = "  # a weak model: writes only the run's own submission (--force: --out)"
    assert closing[-3:] == [
        f"  catsdogs report {shown}",
        f"  catsdogs predict --model {shown} --out submission.csv" + (said if weak else ""),
        f"  tensorboard --logdir {shown}/logs",
    ]
    # The same command again starts a new run: a finished run is never written into.
    again = smoke_train("--data", data, "--set", "training.epochs=1")
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_finished_run_dir_is_not_overwritten(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", verified=False)
    args = ["--data", data, "--run-dir", tmp_path / "r"]
    args += ["--set", "training.epochs=1", "--set", "training.steps_per_epoch=1"]
    assert smoke_train(*args).exit_code == 0
    before = (tmp_path / "r" / "history.csv").read_bytes()
    done = smoke_train(*args)
    assert done.exit_code == 1 and "holds a finished run" in done.output
    assert (tmp_path / "r" / "history.csv").read_bytes() == before


def test_diverging_loss_stops_with_a_clear_message(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", verified=False)
    done = smoke_train(
        "--data",
        data,
        "--run-dir",
        tmp_path / "r",
        "--set",
        "optimizer.learning_rate=1e30",
        "--set",
        "optimizer.lookahead.enabled=false",
    )
    assert done.exit_code == 1
    assert "training diverged; lower optimizer.learning_rate" in done.output
    # In its first epoch: nothing was kept, and it says so (a probe: "the last good epoch's
    # checkpoint is kept" of a run that had none).
    assert "(no epoch had finished, so nothing was kept)" in done.output
    assert not (tmp_path / "r" / "best.keras").exists()
    assert json.loads((tmp_path / "r" / "state.json").read_text())["status"] == "failed"


def train_command(data: Path, *extra: str) -> list[str]:
    """`python -m catsdogs train` on the smoke config, as a user would type it."""
    return module_command("train", "--config", SMOKE, "--data", data, *extra)


def test_kill_9_mid_run_then_the_same_command_continues(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", train=16, verified=False)
    command = train_command(
        data, *"--set training.epochs=8 --set training.steps_per_epoch=12".split()
    )
    first = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 240
    state = None
    while time.monotonic() < deadline and first.poll() is None:
        states = list((tmp_path / "runs").glob("*/state.json"))
        if states and json.loads(states[0].read_text())["epochs_done"] >= 2:
            state = states[0]
            break
        time.sleep(0.02)
    assert state is not None, "the first run never finished two epochs"
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = json.loads(state.read_text())["epochs_done"]
    assert 2 <= killed_at < 8, "the run ended before it could be killed"

    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert f"resuming runs/{state.parent.name} after epoch" in second.stdout
    assert list((tmp_path / "runs").iterdir()) == [state.parent]  # no new run directory
    history = pd.read_csv(state.parent / "history.csv")
    assert history.epoch.tolist() == list(range(1, 9))
    assert json.loads(state.read_text()) == {"status": "finished", "epochs_done": 8, "message": ""}


def test_mixed_precision_on_a_cpu_is_bfloat16_and_trains_with_xla(shared_data, tmp_path):
    # On a CPU, mixed precision means bfloat16 (float32's range: no loss scale); a subprocess
    # keeps the global policy out of the other tests.
    data = real_data(shared_data, tmp_path / "data", train=16, verified=False)
    extra = "--set training.mixed_precision=on --set training.jit_compile=on"
    command = train_command(data, "--run-dir", str(tmp_path / "r"), *extra.split())
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mixed precision bfloat16, XLA on" in done.stdout
    history = pd.read_csv(tmp_path / "r" / "history.csv")
    assert len(history) == 2 and np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["mixed_precision"] is True and metrics["jit_compile"] is True
    best = keras.models.load_model(tmp_path / "r" / "best.keras")
    assert best.get_layer("head_dense").dtype_policy.name == "mixed_bfloat16"
    assert best.get_layer("p_dog").dtype_policy.name == "float32"  # the final unit stays float32
    assert best.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).dtype == np.float32


def test_gpu_defaults_mixed_float16_scale_the_loss_in_the_training_step(
    shared_data, tmp_path, monkeypatch
):
    # Where there is a GPU, mixed precision is float16, under a LossScaleOptimizer around
    # Lookahead; here the machine is said to have one, and the same step runs on the CPU.
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data", train=16))
    monkeypatch.setattr(devices, "has_gpu", lambda: True)
    config = load(SMOKE, ["training.mixed_precision=auto"])
    try:
        trainer = Trainer(config, data, tf.distribute.OneDeviceStrategy("/cpu:0"))
        assert trainer.policy == "mixed_float16" and trainer.bfloat16_speedup is None
        assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
        sums = [s for window in trainer.train_steps(3) for s in window]
        assert len(sums) == 3 and all(np.isfinite(s.loss) for s in sums)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize(
    ("setting", "speedup", "policy"),
    [("auto", 1.8, "mixed_bfloat16"), ("auto", 0.7, "float32"), ("on", None, "mixed_bfloat16")],
)
def test_on_a_cpu_auto_trains_bfloat16_only_where_it_measures_faster(
    monkeypatch, setting, speedup, policy
):
    monkeypatch.setattr(devices, "has_gpu", lambda: False)
    monkeypatch.setattr(devices, "bfloat16_speedup", lambda: speedup)
    assert devices.precision(setting) == (policy, speedup)
    assert devices.precision("off") == ("float32", None)


def test_the_bfloat16_probe_measures_a_real_ratio():
    devices.bfloat16_speedup.cache_clear()
    assert 0.05 < devices.bfloat16_speedup(rounds=1) < 20  # emulated (slower) or native


def test_a_ladder_trains_its_first_steps_smaller_then_at_image_size(shared_data, tmp_path):
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data", train=16))
    # 2 epochs of 4 steps (smoke.yaml) at 32 px; half the steps on the ladder, 2 at each size.
    trainer = Trainer(load(SMOKE, ["data.ladder=[16, 24]", "data.ladder_share=0.5"]), data)
    assert trainer.ladder == [(16, 2), (24, 4)]
    assert [trainer.size_at(step) for step in range(6)] == [16, 16, 24, 24, 32, 32]
    [s for window in trainer.train_steps(3) for s in window]
    assert trainer.traced(size=16) and trainer.traced(size=24) and not trainer.traced(size=32)
    assert trainer.step_index() == 3
    # A run's length set again (a budget's plan) lays the ladder out for it, until fixed.
    trainer.set_length(10, 40)
    assert trainer.ladder == [(16, 10), (24, 20)]
    trainer.ladder_fixed = True
    trainer.set_length(10, 30)  # a re-plan shortens the last size only
    assert trainer.ladder == [(16, 10), (24, 20)]


def test_two_workers_on_loopback_end_with_equal_weights(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", train=16, verified=False)
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    run_dir = tmp_path / "run"
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            ),
        )
        command = train_command(
            data,
            "--run-dir",
            str(run_dir),
            *"--set training.epochs=2 --set training.steps_per_epoch=3".split(),
        )
        processes.append(
            subprocess.Popen(
                command,
                cwd=tmp_path,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    chief = keras.models.load_model(run_dir / "last.keras").get_weights()
    other = keras.models.load_model(tmp_path / "run.worker-1" / "last.keras").get_weights()
    # Every weight, BatchNorm's moving statistics too (small_cnn synchronizes them).
    for a, b in zip(chief, other, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for folder in (run_dir, tmp_path / "run.worker-1"):
        assert json.loads((folder / "metrics.json").read_text())["replicas"] == 2


def test_offline_imagenet_weights_is_a_clear_error(monkeypatch):
    from keras.src.applications import vgg19

    from catsdogs.config import ModelConfig
    from catsdogs.errors import UserError
    from catsdogs.model.classifier import build

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(vgg19.file_utils, "get_file", no_network)
    with pytest.raises(UserError, match="offline.*model.weights: /path/to/file.h5"):
        build(ModelConfig(backbone="vgg19", weights="imagenet"), 32, "stretch")


def test_local_weights_file_is_loaded(tmp_path):
    from catsdogs.config import ModelConfig
    from catsdogs.model.classifier import build

    keras.utils.set_random_seed(3)
    source = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(4)  # other random weights, unless the file is used
    model = build(ModelConfig(backbone="mobilenetv3small", weights=str(path)), 32, "stretch")
    backbone = model.get_layer("MobileNetV3Small")
    for got, want in zip(backbone.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_head_only_warmup_leaves_the_backbone_alone(shared_data, tmp_path):
    from catsdogs.model.classifier import build

    data = real_data(shared_data, tmp_path / "data", verified=False)
    config = load(SMOKE, ["model.warmup_epochs=1", "training.epochs=1"])
    keras.utils.set_random_seed(config.seed)
    initial = build(config.model, config.data.image_size, config.data.resize)
    run = tmp_path / "r"
    from catsdogs.training.train import train

    train(config, data, run, echo=lambda _: None)
    trained = keras.models.load_model(run / "last.keras")
    for layer in (layer for layer in initial.layers if layer.weights):
        before, after = layer.get_weights(), trained.get_layer(layer.name).get_weights()
        same = all(np.array_equal(a, b) for a, b in zip(before, after))
        assert same == (not layer.name.startswith(("head_", "p_dog"))), layer.name


def test_the_long_run_warning_is_judged_once_from_the_first_steps(
    shared_data, tmp_path, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data", train=24, val=8, verified=False)
    args = ["--data", data, "--set", "training.epochs=1", "--set", "training.steps_per_epoch=17"]
    quick = smoke_train(*args, "--run-dir", tmp_path / "quick")
    assert quick.exit_code == 0, quick.output
    assert "s per step this run needs about" not in quick.output  # seconds, not hours
    monkeypatch.setattr("catsdogs.training.long_run.LONG_RUN_SECONDS", 0)
    slow = smoke_train(*args, "--run-dir", tmp_path / "slow")
    assert slow.exit_code == 0, slow.output
    [warning] = [line for line in slow.output.splitlines() if "s per step this run" in line]
    assert warning.startswith("warning: ")


def test_reuse_finished_names_the_finished_run_and_trains_nothing(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", verified=False)
    run = tmp_path / "runs" / "smoke"
    args = ["--data", data, "--run-dir", run]
    first = smoke_train(*args, "--reuse-finished")  # nothing to reuse: trains
    assert first.exit_code == 0, first.output
    history = (run / "history.csv").read_bytes()
    again = smoke_train(*args, "--reuse-finished")
    assert again.exit_code == 0, again.output
    # It names the run's best epoch (lowest val_loss) and that epoch's val_accuracy.
    trained = pd.read_csv(run / "history.csv")
    best = trained.loc[trained.val_loss.idxmin()]
    assert (
        f"{run} has already trained this config on this data: not training again\ndone: {run}\n"
        f"best epoch {int(best.epoch)} of {len(trained)} (lowest val_loss): val_loss "
        f"{best.val_loss:.4f}, val_acc {best.val_accuracy:.4f};"
    ) in again.output
    assert "epoch 1/" not in again.output
    assert (run / "history.csv").read_bytes() == history
    # Another config in that folder is not the same run: refused as without the flag.
    other = smoke_train(*args, "--reuse-finished", "--set", "seed=7")
    assert other.exit_code == 1
    assert f"--run-dir {run} holds a run of another config (seed 42 (now 7))" in other.output
    both = smoke_train(*args, "--reuse-finished", "--resume")
    assert both.exit_code == 1 and "pick one" in both.output


def test_reuse_finished_without_a_run_dir_finds_the_newest_finished_run(
    shared_data, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    data = real_data(shared_data, tmp_path / "data", verified=False)
    args = ["--data", data, "--reuse-finished"]
    assert smoke_train(*args).exit_code == 0
    [run] = list((tmp_path / "runs").iterdir())
    again = smoke_train(*args)
    assert again.exit_code == 0 and "not training again" in again.output
    assert list((tmp_path / "runs").iterdir()) == [run]
    changed = smoke_train(*args, "--set", "seed=7")  # another config: trains
    assert changed.exit_code == 0 and "not training again" not in changed.output
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_a_users_keras_callbacks_hear_every_window_and_epoch_and_may_stop_the_run(
    shared_data, tmp_path
):
    # The loop calls its hooks as Keras' fit calls callbacks: a user's own callback hears
    # each step (one a window on a CPU) and each epoch's scores, and Keras' EarlyStopping
    # ends the run through model.stop_training.
    from catsdogs.training.train import train

    class Heard(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple] = []

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("step", batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("epoch", epoch, logs["val_loss"]))

    data = real_data(shared_data, tmp_path / "data", verified=False)
    config = load(SMOKE, ["training.epochs=4", "training.steps_per_epoch=3"])
    heard = Heard()
    # min_delta larger than any loss: epoch 2 does not improve on epoch 1, so the run stops.
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=100)
    run = tmp_path / "r"
    train(config, data, run, echo=lambda _: None, callbacks=[heard, stopping])
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert [(kind, index) for kind, index, _ in heard.calls] == [
        ("step", 1), ("step", 2), ("step", 3), ("epoch", 0),
        ("step", 1), ("step", 2), ("step", 3), ("epoch", 1),
    ]  # fmt: skip
    epochs = [value for kind, _, value in heard.calls if kind == "epoch"]
    np.testing.assert_allclose(epochs, history["val_loss"], rtol=1e-6)
    steps = [value for kind, _, value in heard.calls if kind == "step"]
    np.testing.assert_allclose([steps[2], steps[5]], history["loss"], rtol=1e-6)


def test_label_smoothing_changes_the_step_but_not_the_log_loss_it_reports(shared_data, tmp_path):
    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data", train=16))

    def first_step(smoothing: float) -> tuple[float, list[np.ndarray]]:
        keras.utils.set_random_seed(0)
        trainer = Trainer(load(SMOKE, [f"training.label_smoothing={smoothing}"]), data)
        [[sums]] = list(trainer.train_steps(1))
        return sums.loss, [v.numpy() for v in trainer.model.trainable_variables]

    plain_loss, plain = first_step(0.0)
    smoothed_loss, smoothed = first_step(0.2)
    # The same weights and batch before the step: the same log loss reported...
    assert smoothed_loss == pytest.approx(plain_loss, rel=1e-6)
    # ...and a different step: the targets were 0.1 and 0.9, not 0 and 1.
    assert any(not np.allclose(a, b) for a, b in zip(plain, smoothed))

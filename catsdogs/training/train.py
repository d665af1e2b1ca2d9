"""`catsdogs train`: check the data and the config, choose the run, build the trainer, continue
from the run's checkpoint, run the epochs, and sum the run up.

Everything that can be refused (the data, the config, a checkpoint that no longer fits the
model) is refused before the run directory is created or changed.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import pandas as pd

from catsdogs import durations
from catsdogs.config import Config, asked_text, config_changes, dump, load
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.training import (
    NEXT_VARIABLE,
    budget,
    curves,
    decisions,
    devices,
    hooks,
    loop,
    predict_size,
    recipes,
    runs,
)
from catsdogs.training.budget import Clock, Watch
from catsdogs.training.checkpoints import Checkpoints
from catsdogs.training.rundir import (
    BEST,
    CHECKPOINTS,
    CONFIG,
    CURVES,
    HISTORY,
    LAST,
    LOGS,
    RunDir,
    Summary,
)
from catsdogs.training.trainer import Trainer


def with_data(config: Config, data: manifests.TrainingData) -> Config:
    """The config as a run records it: the data's absolute folder and identity filled in;
    refused for data it cannot train on."""
    if config.data.batch_size > len(data.train):
        raise UserError(
            f"data.batch_size {config.data.batch_size} is larger than the {len(data.train)} "
            f"images of {data.train.path}"
        )
    wanted = config.data.identity
    if wanted is not None and wanted != data.identity:
        raise UserError(
            f"the config trains only on data with identity {wanted}; {data.folder} has "
            f"identity {data.identity}"
        )
    resolved = config.data.model_copy(update={"dir": data.folder, "identity": data.identity})
    return config.model_copy(update={"data": resolved})


def _restore(trainer: Trainer, run: RunDir, checkpoints: Checkpoints, now: str, echo) -> int:
    """The epochs the run's newest usable checkpoint that history.csv reaches holds (0 for a
    new run); epochs of history.csv beyond it are trained again, saying so. A run whose
    state.json counts epochs (written only after their checkpoint) but that has no usable
    checkpoint is refused, never silently started over."""
    if not run.exists:
        return 0
    recorded = len(run.history())
    start = 0
    if checkpoints.restore(run.config_text(), now, echo, most=recorded):
        start = int(trainer.epochs_done.numpy())
    elif trained := int(run.state.get("epochs_done", 0)):
        raise UserError(
            f"run {run.path} trained {trained} epoch(s) but has no usable checkpoint in "
            f"{CHECKPOINTS}/; train into another --run-dir"
        )
    if recorded > start:
        echo(
            f"history.csv records {recorded} epoch(s), the checkpoints {start}: training from "
            f"epoch {start + 1} again"
        )
    return start


def _continued(run: RunDir, config: Config, text: str) -> Config:
    """The config an existing run goes on with: its own, as it was planned (a time budget's
    plan, XLA decided), where the command asks for the config that started it; else the
    command's (a run may be resumed under another config, but never planned again)."""
    recorded = run.config_text()
    if asked_text(recorded) == text:
        return load(run.path / CONFIG)
    if config.training.planned_by_budget:
        changed = ", ".join(config_changes(asked_text(recorded), text)) or "its plan"
        raise UserError(
            f"run {run.path} was planned under another config (this one changes {changed}); "
            "a time budget plans only a new run: to train this one further, --resume with "
            "training.time_budget=null and more training.epochs (or drop --resume for a new run)"
        )
    return config


def train(
    config: Config,
    data_dir: Path | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
    reuse: bool = False,
    clock: Clock | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Path:
    """Train ``config`` into a run directory and return its path. With ``reuse`` (what
    ``make run`` asks), a finished run of the same config and data is returned untouched.
    ``clock``: when the command started (a time budget counts from there). ``callbacks``:
    Keras callbacks called beside the run's own hooks (``hooks``), after them.

    Under MultiWorkerMirroredStrategy every worker trains the same replica of the model; the
    chief (worker 0) writes ``run_dir``, worker i its own ``<run_dir>.worker-<i>``, so no two
    processes ever write the same file.
    """
    clock = clock or Clock()
    if resume and reuse:
        raise UserError("--resume trains on, --reuse-finished trains nothing: pick one")
    if config.training.planned_by_budget and devices.several_workers():
        raise UserError(
            "training.time_budget plans a run from this machine's speed; several workers "
            "would each plan their own: give training.epochs instead"
        )
    index = devices.worker_index()
    if index:
        if run_dir is None:
            raise UserError("with TF_CONFIG, pass the same --run-dir to every worker")
        run_dir = run_dir.with_name(f"{run_dir.name}.worker-{index}")
    # First: MultiWorkerMirroredStrategy must exist before any TensorFlow op runs, and checking
    # a hand-made manifest decodes its images with TensorFlow.
    strategy = devices.strategy()
    data = manifests.read_training_data(data_dir or config.data.dir, echo)
    config = with_data(config, data)
    text = dump(config)
    with runs.for_training(config.name, text, data.identity, run_dir, resume, echo, reuse) as run:
        if reuse and run.exists and run.finished:
            echo(f"{run.path} has already trained this config on this data: not training again")
            echo("\n".join(closing(run)))
            return run.path
        if config.training.planned_by_budget:  # a budget gone already ends here, not later
            budget.within(clock, config.training.budget_seconds, "building the model")
        if run.exists:
            config = _continued(run, config, text)
        elif config.data.sizes == "auto" and config.training.planned_by_budget:
            config = recipes.sized(config, data, clock, echo)
        trainer = Trainer(config, data, strategy)
        checkpoints = Checkpoints(trainer.checkpoint, run)
        resumed = run.exists
        epochs_done = _restore(trainer, run, checkpoints, dump(config), echo)
        # A finished run trains on only with more epochs; an unfinished one (ended after
        # recording its last epoch) goes on to finish.
        if resume and run.finished and epochs_done >= config.training.epochs:
            raise UserError(
                f"run {run.path} has trained {epochs_done} epochs; --resume trains on only "
                f"with training.epochs above {epochs_done}"
            )
        if config.data.cache == "auto":
            echo(f"in memory: {trainer.caching.reason}")
        # May refuse the budget: nothing written yet.
        start = budget.begin(trainer, clock, echo, epochs_done)
        watch = (
            Watch(trainer, clock, config.training.budget_seconds, start) if start.costs else None
        )
        run.start(dump(trainer.config), epochs_done)
        echo(f"run directory: {run.path}")
        if resumed:
            echo(
                f"resuming {run.path} after epoch {epochs_done} of {trainer.config.training.epochs}"
            )
        echo(
            f"devices: {devices.describe(trainer.strategy)}; mixed precision "
            f"{trainer.compute_dtype if trainer.mixed else 'off'}, XLA "
            f"{'on' if trainer.jit else 'off'}"
        )
        echo(sizes(trainer, data))
        ours, record = hooks.of_a_run(trainer, run, checkpoints, epochs_done, echo, watch, data)
        with loop.failures(run, data):
            loop.fit(trainer, [*ours, *callbacks], start, echo)
            if len(record.history):
                _finish(run, trainer, data, record.history, watch, echo)
    echo("\n".join(closing(run, watch.usage() if watch else None)))
    return run.path


def sizes(trainer: Trainer, data: manifests.TrainingData) -> str:
    """The model's and the data's sizes, in one line at the start of training."""
    model = trainer.model
    total = model.count_params()
    trainable = sum(int(v.numpy().size) for v in model.trainable_variables)
    config = trainer.config
    return (
        f"model: {config.model.backbone} at {config.data.image_size} px, {total:,} parameters "
        f"({'all' if trainable == total else f'{trainable:,}'} trainable); data: "
        f"{len(data.train):,} train and {len(data.val):,} val images in {data.folder}"
    )


def closing(run: RunDir, usage: str | None = None) -> list[str]:
    """The lines a run ends with: its best epoch, its time, where its files are and the
    commands that come next (but where ``NEXT_VARIABLE`` is 0)."""
    summary = run.summary()
    lines = [f"done: {run.path}" + (f"; {usage}" if usage else "")]
    if summary is None:
        return lines
    reason = decisions.weakness(run)
    lines += [
        f"best epoch {summary.best_epoch} of {summary.epochs} (lowest val_loss): val_loss "
        f"{summary.best_val_loss:.4f}, val_acc {summary.best_val_accuracy:.4f}; "
        f"{durations.text(summary.seconds)} of training",
        *([f"warning: a weak model ({reason}): {decisions.WEAK_ADVICE}"] if reason else []),
        f"files: {run.path}/ {BEST} (that epoch's model), {LAST}, {HISTORY}, {CURVES}, "
        f"{LOGS}/ (TensorBoard)",
    ]
    if os.environ.get(NEXT_VARIABLE) == "0":
        return lines
    lines += [
        "next:",
        f"  catsdogs report {shlex.quote(str(run.path))}",
        f"  catsdogs predict --model {shlex.quote(str(run.path))} --out submission.csv"
        + (
            "  # a weak model: writes only the run's own submission (--force: --out)"
            if reason
            else ""
        ),
        f"  tensorboard --logdir {shlex.quote(str(run.path / LOGS))}",
    ]
    return lines


def _finish(
    run: RunDir,
    trainer: Trainer,
    data: manifests.TrainingData,
    history: pd.DataFrame,
    watch: Watch | None,
    echo: Callable[[str], None],
) -> None:
    """The size to predict at, the figure and the summary of a run that trained to its end."""
    facts: dict = {
        "mixed_precision": trainer.mixed,
        "jit_compile": bool(trainer.jit),
        "replicas": trainer.strategy.num_replicas_in_sync,
        "predict_size": predict_size.choose(
            trainer, data, Summary.of(history).best_val_loss, run, echo
        ),
        "val_images": trainer.val_images,
        "steps": trainer.step_index(),
        "passes": round(trainer.step_index() * trainer.config.data.batch_size / len(data.train), 3),
    }
    curves.draw(history, run.path / CURVES, run.path / LOGS)
    if watch:
        facts["time_budget"] = {"seconds": watch.budget, **watch.spent}
    run.write_metrics(Summary.of(history), **facts)
    run.set_state("finished", int(history["epoch"].iloc[-1]))

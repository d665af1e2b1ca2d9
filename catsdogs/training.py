"""`catsdogs train`: one training loop for every strategy, resumable after any crash.

A custom step run with ``strategy.run`` over a distributed dataset serves the default strategy,
MirroredStrategy and MultiWorkerMirroredStrategy alike (``model.fit`` under MultiWorker breaks
with TF 2.21 / Keras 3.15, keras#20585). Everything a run needs to continue (weights, optimizer
state with Lookahead's slow weights, the epoch counter) is in a tf.train.Checkpoint saved at
every epoch's end (the last two are kept: a damaged newest one falls back to the one before);
the learning-rate and early-stopping decisions are derived from ``history.csv``, so they
survive a restart too. Everything that can be refused (the data, the config, a checkpoint that
no longer fits the model) is refused before the run directory is created or changed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm import tqdm

from catsdogs import devices, manifests, pipeline, plots, rundir, timing
from catsdogs import model as model_lib
from catsdogs.config import Config, dump
from catsdogs.errors import UserError, first_line
from catsdogs.optim import factory
from catsdogs.optim.lookahead import find_lookahead
from catsdogs.rundir import RunDir

# Reading a step's results waits for the device to finish it. Reading them every few steps
# instead of every step lets the host queue the next steps while a GPU still works on these.
HOST_SYNC_STEPS = 8


class NonFiniteLoss(UserError):
    """Training diverged: the loss became NaN or infinite."""


@dataclass(frozen=True)
class Sums:
    """Per-example losses and correct predictions summed over ``count`` examples: what a step,
    an epoch or a validation pass adds up (sums, not means, so replicas and steps just add)."""

    loss: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    @classmethod
    def read(cls, tensors) -> Sums:
        """A step's result on the host (waits for the device to finish that step)."""
        return cls(*(float(value) for value in tensors))

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.loss + other.loss, self.correct + other.correct, self.count + other.count)

    @property
    def mean_loss(self) -> float:
        return self.loss / self.count

    @property
    def accuracy(self) -> float:
        return self.correct / self.count


def _step_sums(labels, probabilities, per_example) -> tuple:
    correct = tf.cast(tf.equal(probabilities > 0.5, labels > 0.5), tf.float32)
    count = tf.cast(tf.shape(labels)[0], tf.float32)
    return tf.reduce_sum(per_example), tf.reduce_sum(correct), count


def _distribute(strategy: tf.distribute.Strategy, data: tf.data.Dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(data.with_options(options))


def _current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    rate = optimizer.learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = rate(optimizer.iterations)
    return float(keras.ops.convert_to_numpy(rate))


def _epochs_since(history: pd.DataFrame, column: str = "val_loss") -> int:
    """Epochs since ``column`` was last at its best (0 if the last epoch was the best)."""
    values = history[column].to_numpy()
    return len(values) - 1 - int(np.argmin(values))


def _plateau_decision(history: pd.DataFrame, config: Config) -> float | None:
    """A lower learning rate once val_loss has not improved for `patience` epochs, counted
    since the best epoch and since the last change (Keras' ReduceLROnPlateau, from history)."""
    plateau = config.training.reduce_lr_on_plateau
    if not plateau.enabled or history.empty:
        return None
    rates = history["learning_rate"].to_numpy()
    with_this_rate = len(rates) - 1 - int(np.flatnonzero(rates != rates[-1]).max(initial=-1))
    if min(_epochs_since(history), with_this_rate) < plateau.patience:
        return None
    lowered = max(rates[-1] * plateau.factor, plateau.min_learning_rate)
    return lowered if lowered < rates[-1] else None


def _should_stop(history: pd.DataFrame, config: Config) -> bool:
    """Keras' EarlyStopping, from history: `patience` epochs without a better val_loss."""
    stopping = config.training.early_stopping
    return stopping.enabled and not history.empty and _epochs_since(history) >= stopping.patience


class Trainer:
    """Builds everything under the strategy's scope, then runs epochs until done."""

    def __init__(
        self,
        config: Config,
        data: manifests.TrainingData,
        echo: Callable[[str], None],
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        self.config, self.echo = config, echo
        self.strategy = strategy or devices.strategy()
        self.mixed = devices.is_on(config.training.mixed_precision)
        self.jit = devices.is_on(config.training.jit_compile)
        keras.mixed_precision.set_dtype_policy("mixed_float16" if self.mixed else "float32")
        keras.utils.set_random_seed(config.seed)

        batch = config.data.batch_size
        self.steps = config.training.steps_per_epoch or max(1, math.ceil(len(data.train) / batch))
        train = pipeline.dataset(data.train, config.data, True, config.seed, repeat=True)
        self.train_batches = iter(_distribute(self.strategy, train))
        val = pipeline.dataset(data.val, config.data, False, config.seed)
        self.val_data = _distribute(self.strategy, val)

        with self.strategy.scope():
            self.model = model_lib.build(config.model, config.data.image_size)
            optimizer = factory.build(config.optimizer, self.steps, config.training.epochs)
            if self.mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epochs_done=self.epochs_done
        )
        self.loss = keras.losses.BinaryCrossentropy(reduction=None)
        head = model_lib.head_variables(self.model)
        self.train_head = self._on_every_replica(
            lambda images, labels: self._train_step(images, labels, head)
        )
        self.train_all = self._on_every_replica(
            lambda images, labels: self._train_step(images, labels, self.model.trainable_variables)
        )
        self.evaluate_batch = self._on_every_replica(self._eval_step)

    def _train_step(self, images, labels, variables: list) -> tuple:
        """One optimizer step of ``variables`` on this replica's share of a batch."""
        with tf.GradientTape() as tape:
            probabilities = self.model(images, training=True)
            per_example = self.loss(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example)  # over the global batch
            scaled = self.optimizer.scale_loss(loss)  # mixed precision's loss scale, else 1
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return _step_sums(labels, probabilities, per_example)

    def _eval_step(self, images, labels) -> tuple:
        probabilities = self.model(images, training=False)
        return _step_sums(labels, probabilities, self.loss(labels, probabilities))

    def _on_every_replica(self, replica_step: Callable) -> Callable:
        """batch -> ``replica_step`` run on every replica (compiled with XLA when jit is on),
        its sums added across replicas, as one graph."""
        compiled = tf.function(replica_step, jit_compile=self.jit)

        @tf.function
        def run(batch):
            results = self.strategy.run(compiled, args=batch)
            return [self.strategy.reduce("SUM", value, axis=None) for value in results]

        return run

    def _judged_weights(self) -> contextlib.AbstractContextManager:
        """The weights a run is judged by: Lookahead's slow weights when the config says so,
        else the fast ones. Validation and the saved models both use them."""
        lookahead = find_lookahead(self.optimizer)
        if self.config.training.evaluate_slow_weights and lookahead is not None:
            return lookahead.slow_weights_applied()
        return contextlib.nullcontext()

    def validate(self) -> Sums:
        """One pass over the validation set with the weights the run is judged by."""
        totals = Sums()
        with self._judged_weights():
            for batch in self.val_data:
                totals += Sums.read(self.evaluate_batch(batch))
        return totals

    def _save_models(self, run: RunDir, history: pd.DataFrame) -> None:
        """last.keras, and best.keras (lowest val loss), with the weights validation used."""
        with self._judged_weights():
            run.save_model(rundir.LAST, self.model)
            if _epochs_since(history) == 0:
                run.save_model(rundir.BEST, self.model)

    def _manager(self, run: RunDir) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(
            self.checkpoint, str(run.path / rundir.CHECKPOINTS), max_to_keep=2
        )

    def _checkpoints(self, run: RunDir) -> list[str]:
        """The run's checkpoints, oldest first: as the manager's state file lists them, or,
        where that file is damaged or gone, as the checkpoint files themselves say."""
        try:
            listed = self._manager(run).checkpoints
        except Exception:  # a damaged state file: TensorFlow raises parse errors of all kinds
            listed = []
        if listed:
            return list(listed)
        found = (run.path / rundir.CHECKPOINTS).glob("ckpt-*.index")
        numbered = sorted((int(p.stem.split("-")[1]), p) for p in found if p.stem[5:].isdigit())
        return [str(path.with_suffix("")) for _, path in numbered]

    def restore(self, run: RunDir, before: str) -> int:
        """Load the run's newest usable checkpoint; returns the epochs it holds (0: none).

        A damaged newest checkpoint falls back to the one before, said in one line. A
        checkpoint that does not fit this config's model or optimizer (every value in it must
        find its variable, and every variable its value) is refused before anything in the run
        directory changes; ``before`` is the run's config as it was, to name what differs.
        """
        saved = self._checkpoints(run)
        for path in reversed(saved):
            damage = _damage(path)
            if damage is not None:
                self.echo(
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
                    f"run {run.path}: its checkpoint does not fit this config "
                    f"({_differences(before, dump(self.config))} changed); resume it with the "
                    "config it was trained with, or train into another --run-dir"
                ) from None
            finally:
                if status is not None:
                    status.expect_partial()  # checked above: no warnings when it is collected
            return int(self.epochs_done.numpy())
        trained = int(run.state.get("epochs_done", 0)) or len(run.history())
        if trained:
            raise UserError(
                f"run {run.path} trained {trained} epoch(s) but has no usable checkpoint in "
                f"{rundir.CHECKPOINTS}/; train into another --run-dir"
            )
        return 0

    def train_steps(self, count: int, head_only: bool = False) -> Iterator[list[Sums]]:
        """Runs ``count`` optimizer steps on the next training batches, yielding their results
        HOST_SYNC_STEPS at a time: reading a step's result waits for the device, so reading
        every few steps lets the host queue the next ones while a GPU still works."""
        step = self.train_head if head_only else self.train_all
        pending = []
        for index in range(count):
            pending.append(step(next(self.train_batches)))
            if len(pending) == HOST_SYNC_STEPS or index + 1 == count:
                yield [Sums.read(result) for result in pending]
                pending = []

    def train_epoch(self, epoch: int, run: RunDir, length: timing.RunLength | None) -> Sums:
        """One epoch of training. A NaN or infinite loss marks the run failed and stops it;
        with ``length``, the long-run warning is judged as the steps go."""
        head_only = epoch < self.config.model.warmup_epochs
        # A frozen backbone also runs in inference mode (BatchNorm statistics stay put); each
        # step function is traced under the setting it runs with.
        model_lib.backbone_of(self.model).trainable = not head_only
        label = f"epoch {epoch + 1}/{self.config.training.epochs}"
        totals = Sums()
        with tqdm(
            total=self.steps,
            desc=label + (" (head only)" if head_only else ""),
            unit="step",
            leave=False,
        ) as bar:
            for window in self.train_steps(self.steps, head_only):
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
                left = self.steps * (self.config.training.epochs - epoch) - bar.n
                if length and (line := length.warning(bar.n, left)):
                    with tqdm.external_write_mode():
                        self.echo(line)
        return totals

    def end_epoch(
        self,
        run: RunDir,
        history: pd.DataFrame,
        row: dict,
        writer: tf.summary.SummaryWriter,
        manager: tf.train.CheckpointManager,
    ) -> pd.DataFrame:
        """Record a finished epoch, in an order that survives a crash at any point: history,
        TensorBoard, the models, then the checkpoint and the run's state."""
        epoch = row["epoch"]
        history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
        # History first, checkpoint second: a crash in between leaves a history row more than
        # the checkpoint holds, which the resumed run drops and redoes.
        run.write_history(history)
        with writer.as_default(step=epoch):
            for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
                tf.summary.scalar(key, row[key])
        self._save_models(run, history)
        self.epochs_done.assign(epoch)
        manager.save(checkpoint_number=epoch)
        run.set_state("running", epoch)
        self.echo(
            f"epoch {epoch}/{self.config.training.epochs}: loss {row['loss']:.4f} "
            f"acc {row['accuracy']:.4f} | val_loss {row['val_loss']:.4f} "
            f"val_acc {row['val_accuracy']:.4f} | lr {row['learning_rate']:.3g} | "
            f"{row['seconds']:.0f}s"
        )
        return history

    def decide(self, history: pd.DataFrame) -> bool:
        """The learning-rate and early-stopping decisions after an epoch; True: stop."""
        lowered = _plateau_decision(history, self.config)
        if lowered is not None:
            self.optimizer.learning_rate = lowered
            self.echo(f"validation loss has not improved: learning rate -> {lowered:.3g}")
        if _should_stop(history, self.config):
            patience = self.config.training.early_stopping.patience
            self.echo(f"early stopping: no better val_loss for {patience} epochs")
            return True
        return False

    def fit(self, run: RunDir, start: int) -> pd.DataFrame:
        """Train from epoch ``start`` (what ``restore`` returned) to the config's last epoch."""
        epochs = self.config.training.epochs
        history = run.history().iloc[:start]
        writer = tf.summary.create_file_writer(str(run.path / rundir.LOGS))
        manager = self._manager(run)
        length = timing.RunLength(devices.has_gpu())
        for epoch in range(start, epochs):
            started = time.monotonic()
            # The long-run estimate is judged once, in this session's first epoch.
            train = self.train_epoch(epoch, run, length if epoch == start else None)
            val = self.validate()
            row = {
                "epoch": epoch + 1,
                "loss": train.mean_loss,
                "accuracy": train.accuracy,
                "val_loss": val.mean_loss,
                "val_accuracy": val.accuracy,
                "learning_rate": _current_learning_rate(self.optimizer),
                "seconds": round(time.monotonic() - started, 1),
            }
            history = self.end_epoch(run, history, row, writer, manager)
            if self.decide(history):
                break
        return history


def _damage(path: str) -> str | None:
    """Why the checkpoint at ``path`` cannot be read in full (None if it can): every tensor is
    read once, so a damaged file is found before anything is restored from it."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # truncated or garbled files raise OpError, IndexError and more
        return first_line(err)
    return None


# What decides the variables a checkpoint holds; the other keys may change on --resume.
STRUCTURE = ("model.", "optimizer.", "data.image_size", "training.mixed_precision")


def _differences(before: str, after: str) -> str:
    """The dotted config keys that decide a checkpoint's variables and differ between two
    resolved configs (all differing keys if none of those do)."""
    changed = list(rundir.config_changes(before, after))
    structural = [key for key in changed if key.startswith(STRUCTURE)]
    return ", ".join(structural or changed) or "nothing in the config"


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


def train(
    config: Config,
    data_dir: Path | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
    reuse: bool = False,
) -> Path:
    """Train ``config`` into a run directory and return its path. With ``reuse`` (what
    ``make run`` asks), a finished run of the same config and data is returned untouched.

    Under MultiWorkerMirroredStrategy every worker trains the same replica of the model; the
    chief (worker 0) writes ``run_dir``, worker i its own ``<run_dir>.worker-<i>``, so no two
    processes ever write the same file.
    """
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
    with rundir.for_training(config.name, text, data.identity, run_dir, resume, echo, reuse) as run:
        if reuse and run.created and run.finished:
            metrics = run.metrics()
            echo(
                f"{run.path} has already trained this config on this data "
                f"(best val_acc {metrics.get('best_val_accuracy', float('nan')):.4f} at epoch "
                f"{metrics.get('best_epoch', '?')}); not training again"
            )
            return run.path
        trainer = Trainer(config, data, echo, strategy)
        resumed = run.created
        start = trainer.restore(run, run.config_text()) if resumed else 0
        if resume and start >= config.training.epochs:
            raise UserError(
                f"run {run.path} has trained {start} epochs; --resume trains on only with "
                f"training.epochs above {start}"
            )
        run.start(text, start)
        echo(f"run directory: {run.path}")
        if resumed:
            echo(f"resuming {run.path} after epoch {start} of {config.training.epochs}")
        echo(
            f"devices: {devices.describe(trainer.strategy)}; mixed precision "
            f"{'on' if trainer.mixed else 'off'}, XLA {'on' if trainer.jit else 'off'}"
        )
        history = trainer.fit(run, start)
        if len(history):
            _finish(run, trainer, history)
    return run.path


def _finish(run: RunDir, trainer: Trainer, history: pd.DataFrame) -> None:
    """The figures and the summary of a run that trained to its end."""
    plots.training_curves(history, run.path / "curves.png")
    best = history.loc[history["val_loss"].idxmin()]
    run.write_json(
        rundir.METRICS,
        {
            "epochs": int(history["epoch"].iloc[-1]),
            "best_epoch": int(best["epoch"]),
            "best_val_loss": float(best["val_loss"]),
            "best_val_accuracy": float(best["val_accuracy"]),
            "final": {k: float(v) for k, v in history.iloc[-1].items()},
            "mixed_precision": trainer.mixed,
            "jit_compile": trainer.jit,
            "replicas": trainer.strategy.num_replicas_in_sync,
        },
    )
    run.set_state("finished", int(history["epoch"].iloc[-1]))

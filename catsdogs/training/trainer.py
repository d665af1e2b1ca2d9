"""The trainer: the model, its optimizer and the compiled steps, built under the strategy's
scope; it trains steps and validates, and lays the run's length out (epochs of steps, the
sizes of progressive resizing, the schedule); what a run writes is the run directory's.

A custom step run with ``strategy.run`` over a distributed dataset serves the default strategy,
MirroredStrategy and MultiWorkerMirroredStrategy alike (``model.fit`` under MultiWorker breaks
with TF 2.21 / Keras 3.15, keras#20585). Losses and correct predictions are summed, not
averaged, so replicas and steps just add.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from catsdogs.config import Config
from catsdogs.data import manifests, pipeline
from catsdogs.model import classifier
from catsdogs.optim import factory, judged_weights
from catsdogs.optim.schedules import Schedule
from catsdogs.training import batchnorm, devices
from catsdogs.training.run_length import Length

# Reading a step's results waits for the device to finish it. On a GPU, reading them every few
# steps instead of every step lets the host queue the next steps while the GPU still works on
# these; on a CPU the host is the device, so every step is read (and the bar moves each step).
GPU_SYNC_STEPS = 8


@dataclass(frozen=True)
class Sums:
    """Per-example losses and correct predictions summed over ``count`` examples: what a step,
    an epoch or a validation pass adds up."""

    loss: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    dogs: float = 0.0  # examples predicted dog: a model stuck on one class shows here

    @classmethod
    def read(cls, tensors) -> Sums:
        """A step's result on the host (waits for the device to finish that step)."""
        return cls(*(float(value) for value in tensors))

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.loss + other.loss,
            self.correct + other.correct,
            self.count + other.count,
            self.dogs + other.dogs,
        )

    @property
    def mean_loss(self) -> float:
        return self.loss / self.count

    @property
    def accuracy(self) -> float:
        return self.correct / self.count

    @property
    def dog_share(self) -> float:
        """The share of examples predicted dog."""
        return self.dogs / self.count

    def logs(self, prefix: str = "") -> dict[str, float]:
        """The mean loss, the accuracy and the share predicted dog, as Keras logs name them
        (``prefix``: ``val_`` for validation's)."""
        means = {"loss": self.mean_loss, "accuracy": self.accuracy, "dog_share": self.dog_share}
        return {prefix + name: value for name, value in means.items()}


def _step_sums(labels, probabilities, per_example) -> tuple:
    dog = probabilities > 0.5
    correct = tf.cast(tf.equal(dog, labels > 0.5), tf.float32)
    count = tf.cast(tf.shape(labels)[0], tf.float32)
    dogs = tf.reduce_sum(tf.cast(dog, tf.float32))
    return tf.reduce_sum(per_example), tf.reduce_sum(correct), count, dogs


def _distribute(strategy: tf.distribute.Strategy, data: tf.data.Dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(data.with_options(options))


class Trainer:
    """Builds the data, the model, the optimizer and the compiled steps under the strategy."""

    def __init__(
        self,
        config: Config,
        data: manifests.TrainingData,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        self.config = config
        self.strategy = strategy or devices.strategy()
        # mixed_float16 (a GPU), mixed_bfloat16 (a CPU) or float32; the speedup bfloat16
        # measured where mixed_precision: auto had a CPU to measure.
        self.policy, self.bfloat16_speedup = devices.precision(config.training.mixed_precision)
        self.mixed = self.policy != "float32"
        # None: XLA or not is decided by measuring both (jit_compile auto, no GPU).
        self.jit: bool | None = devices.jit_setting(config.training.jit_compile)
        self.sync_steps = GPU_SYNC_STEPS if devices.has_gpu() else 1
        keras.mixed_precision.set_dtype_policy(self.policy)
        keras.utils.set_random_seed(config.seed)

        batch = config.data.batch_size
        self.pass_steps = max(1, math.ceil(len(data.train) / batch))  # one pass over train.csv
        self.steps = config.training.steps_per_epoch or self.pass_steps
        self.val_batches = math.ceil(len(data.val) / batch)
        self.val_images = len(data.val)
        self.caching = pipeline.choose_caching(data.train, data.val, config.data)
        train = pipeline.dataset(
            data.train, config.data, True, config.seed, repeat=True, cache=self.caching.train
        )
        self.train_batches = iter(_distribute(self.strategy, train))
        val = pipeline.dataset(data.val, config.data, False, config.seed, cache=self.caching.val)
        self.val_data = _distribute(self.strategy, val)

        with self.strategy.scope():
            self.model = classifier.build(config.model, config.data.image_size, config.data.resize)
            self.schedule = factory.learning_rate(
                config.optimizer, self.steps, config.training.epochs
            )
            optimizer = factory.build(config.optimizer, self.schedule)
            if self.policy == "mixed_float16":  # bfloat16 has float32's range: no loss scale
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epochs_done=self.epochs_done
        )
        self.loss = keras.losses.BinaryCrossentropy(reduction=None)  # what is reported
        self.objective = keras.losses.BinaryCrossentropy(  # what the gradient follows
            reduction=None, label_smoothing=config.training.label_smoothing
        )
        self._compiled: dict[tuple[str, bool], Callable] = {}
        # Training images, as validation sees images, on which the BatchNorm statistics of
        # the judged weights are measured (None: the moving averages serve, or no BatchNorm).
        self.batchnorm_images: tf.data.Dataset | None = None
        self._judged_statistics: tuple[int, list] | None = None
        if config.training.batchnorm_statistics == "recompute" and batchnorm.layers(self.model):
            sample = data.train.sample(batchnorm.IMAGES, config.seed)
            self.batchnorm_images = pipeline.dataset(sample, config.data, False, config.seed)
        plan = config.training.plan
        # Progressive resizing: each size of data.ladder and the step it ends at; the rest of
        # the run trains at image_size. Laid out once the run's length is first known (a
        # re-plan that shortens the run shortens its last size only).
        self.ladder: list[tuple[int, int]] = [tuple(rung) for rung in (plan and plan.ladder) or []]
        self.ladder_fixed = bool(plan and plan.ladder)
        recorded = plan.steps if plan else None
        self.total_steps = recorded or self.steps * config.training.epochs
        self._lay_out_ladder(self.total_steps)
        if recorded:  # a run continued as it was planned
            self.set_length(self.steps, recorded)

    def _step_function(self, kind: str, size: int | None = None) -> Callable:
        """The compiled step of ``kind`` (head, all, evaluate) for the current XLA setting and
        a training ``size`` (None: image_size), built on first use: each setting has its own
        functions, each traced once."""
        jit = bool(self.jit)
        size = None if size == self.config.data.image_size else size
        if (kind, jit, size) not in self._compiled:
            head = classifier.head_variables(self.model)
            replica_step = {
                "head": lambda images, labels: self._train_step(images, labels, head, size),
                "all": lambda images, labels: self._train_step(
                    images, labels, self.model.trainable_variables, size
                ),
                "evaluate": self._eval_step,
            }[kind]
            self._compiled[(kind, jit, size)] = self._on_every_replica(replica_step, jit)
        return self._compiled[(kind, jit, size)]

    def _train_step(self, images, labels, variables: list, size: int | None = None) -> tuple:
        """One optimizer step of ``variables`` on this replica's share of a batch, its images
        first made ``size`` pixels square where a rung of the ladder trains smaller."""
        if size is not None:
            images = tf.image.resize(images, [size, size])  # bilinear: XLA compiles it
        with tf.GradientTape() as tape:
            probabilities = self.model(images, training=True)
            per_example = self.loss(labels, probabilities)
            objective = (
                self.objective(labels, probabilities)
                if self.config.training.label_smoothing
                else per_example
            )
            loss = tf.nn.compute_average_loss(objective)  # over the global batch
            scaled = self.optimizer.scale_loss(loss)  # mixed precision's loss scale, else 1
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return _step_sums(labels, probabilities, per_example)

    def _eval_step(self, images, labels) -> tuple:
        probabilities = self.model(images, training=False)
        return _step_sums(labels, probabilities, self.loss(labels, probabilities))

    def _on_every_replica(self, replica_step: Callable, jit: bool) -> Callable:
        """batch -> ``replica_step`` run on every replica (compiled with XLA when ``jit``), its
        sums added across replicas, as one graph."""
        compiled = tf.function(replica_step, jit_compile=jit)

        @tf.function
        def run(batch):
            results = self.strategy.run(compiled, args=batch)
            return [self.strategy.reduce("SUM", value, axis=None) for value in results]

        return run

    @property
    def compute_dtype(self) -> str:
        """The number format the layers compute in (float16, bfloat16 or float32)."""
        return self.policy.removeprefix("mixed_")

    def judged_weights(self) -> contextlib.AbstractContextManager:
        """The weights the run is judged by, in the model for a block: Lookahead's slow
        weights unless the config says the fast ones, with BatchNorm statistics measured for
        them (once per step count: validation and the saves after it share them) unless the
        config keeps the moving ones. Validation and saved models use them."""
        stack = contextlib.ExitStack()
        slow = self.config.training.evaluate_slow_weights
        stack.enter_context(judged_weights(self.optimizer, slow))
        if self.batchnorm_images is not None:
            step = int(keras.ops.convert_to_numpy(self.optimizer.iterations))
            if self._judged_statistics is None or self._judged_statistics[0] != step:
                measured = batchnorm.measure(self.model, self.batchnorm_images)
                self._judged_statistics = (step, measured)
            stack.enter_context(batchnorm.applied(self.model, self._judged_statistics[1]))
        return stack

    def head_only(self, epoch: int) -> bool:
        """Whether ``epoch`` (from 0) trains the head alone; sets the backbone to match (a
        frozen backbone also runs in inference mode: BatchNorm statistics stay put)."""
        head_only = epoch < self.config.model.warmup_epochs
        classifier.backbone_of(self.model).trainable = not head_only
        return head_only

    def traced(self, head_only: bool = False, size: int | None = None) -> bool:
        """Whether the training step for the current XLA setting (and ``size``, None: the next
        step's) has been traced (and compiled) already: the first call of one that has not
        takes seconds to tens of seconds."""
        size = self.size_at(self.step_index()) if size is None else size
        size = None if size == self.config.data.image_size else size
        return ("head" if head_only else "all", bool(self.jit), size) in self._compiled

    def step_index(self) -> int:
        """Optimizer steps taken so far in the run (0 at its start)."""
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    def size_at(self, step: int) -> int:
        """The square size step ``step`` (from 0) trains at: its rung of the ladder, else
        image_size."""
        return next((size for size, end in self.ladder if step < end), self.config.data.image_size)

    def train_steps(
        self, count: int, head_only: bool = False, size: int | None = None
    ) -> Iterator[list[Sums]]:
        """Runs ``count`` optimizer steps on the next training batches, each at the size its
        place in the run gives (``size``: all at that size, to measure it), yielding their
        results ``sync_steps`` at a time (see GPU_SYNC_STEPS)."""
        kind = "head" if head_only else "all"
        first = 0 if size else self.step_index()
        pending = []
        for index in range(count):
            step = self._step_function(kind, size or self.size_at(first + index))
            pending.append(step(next(self.train_batches)))
            if len(pending) == self.sync_steps or index + 1 == count:
                yield [Sums.read(result) for result in pending]
                pending = []

    def timed_steps(
        self,
        count: int,
        head_only: bool = False,
        say: Callable[[str], None] | None = None,
        size: int | None = None,
    ) -> tuple[Sums, float]:
        """``count`` training steps (at ``size``, where given): their sums and the seconds
        they took, device included. Where these steps trace (and compile) the step first,
        ``say`` hears so before and how long it took after: the terminal is not silent for
        those seconds."""
        compiling = say is not None and not self.traced(head_only, size)
        if compiling:
            at = f", {size} px" if size else ""
            say(f"compiling the training step (XLA {'on' if self.jit else 'off'}{at})...")
        started, totals = time.perf_counter(), Sums()
        for window in self.train_steps(count, head_only, size):
            totals = sum(window, totals)
        seconds = time.perf_counter() - started
        if compiling:
            first = "its first step" if count == 1 else f"its first {count} steps"
            say(f"compiled in {seconds:.1f} s (with {first})")
        return totals, seconds

    def validate(self, data: tf.data.Dataset | None = None, weights: list | None = None) -> Sums:
        """One pass over the validation set (or ``data``, batches as the pipeline makes them)
        with the weights the run is judged by, or ``weights``: all of a saved model's (as
        ``get_weights`` lists them), the model's own put back after."""
        batches = self.val_data if data is None else _distribute(self.strategy, data)
        evaluate, totals = self._step_function("evaluate"), Sums()
        with self.judged_weights() if weights is None else self._holding(weights):
            for batch in batches:
                totals += Sums.read(evaluate(batch))
        return totals

    @contextlib.contextmanager
    def _holding(self, weights: list) -> Iterator[None]:
        own = self.model.get_weights()
        self.model.set_weights(weights)
        try:
            yield
        finally:
            self.model.set_weights(own)

    def time_validation(self, batches: int = 3) -> float:
        """Seconds one validation pass takes, timed on ``batches`` batches after a first one
        that traces the step (the weights are left as they are)."""
        evaluate, data = self._step_function("evaluate"), iter(self.val_data)
        taken = [b for b in (next(data, None) for _ in range(batches + 1)) if b is not None]
        Sums.read(evaluate(taken[0]))
        timed = taken[1:] or taken
        started = time.perf_counter()
        for batch in timed:
            Sums.read(evaluate(batch))
        return (time.perf_counter() - started) / len(timed) * self.val_batches

    def time_save(self, folder: Path) -> float:
        """Seconds an epoch's end takes to save: the two models and the checkpoint, estimated
        as three saves of the model into ``folder`` (a scratch folder)."""
        started = time.perf_counter()
        self.model.save(folder / "timing.keras")
        return 3 * (time.perf_counter() - started)

    def set_length(self, steps_per_epoch: int, total_steps: int) -> None:
        """A planned length: epochs of ``steps_per_epoch`` steps, and the schedule's last step
        at ``total_steps`` (its warm-up: the config's warm-up epochs of those steps)."""
        self.steps, self.total_steps = steps_per_epoch, total_steps
        self._lay_out_ladder(total_steps)
        if isinstance(self.schedule, Schedule):
            warmup = round(self.config.optimizer.schedule.warmup_epochs * steps_per_epoch)
            self.schedule.set_length(total_steps, warmup)

    def _lay_out_ladder(self, total_steps: int) -> None:
        """data.ladder's sizes over ``data.ladder_share`` of ``total_steps``, in equal parts
        (unless fixed already)."""
        if not self.ladder_fixed:
            sizes = self.config.data.ladder
            each = self.config.data.ladder_share * total_steps / max(len(sizes), 1)
            self.ladder = [(size, round(each * (i + 1))) for i, size in enumerate(sizes)]

    def epoch_steps(self, epoch: int) -> int:
        """Steps in ``epoch`` (from 0): ``steps``, but where a re-planned run ends earlier."""
        return max(0, min(self.steps, self.total_steps - epoch * self.steps))

    def length(self) -> Length:
        """The run's length as it stands."""
        epochs = self.config.training.epochs
        last = self.epoch_steps(epochs - 1)
        return Length(epochs, self.steps, None if last == self.steps else last)

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule's value at the current step)."""
        rate = self.optimizer.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(self.optimizer.iterations)
        return float(keras.ops.convert_to_numpy(rate))

    @learning_rate.setter
    def learning_rate(self, rate: float) -> None:
        self.optimizer.learning_rate = rate

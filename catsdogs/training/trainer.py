"""The trainer: the model, its optimizer and the compiled steps, built under the strategy's
scope; it trains steps and validates, and knows nothing of run directories or epochs.

A custom step run with ``strategy.run`` over a distributed dataset serves the default strategy,
MirroredStrategy and MultiWorkerMirroredStrategy alike (``model.fit`` under MultiWorker breaks
with TF 2.21 / Keras 3.15, keras#20585). Losses and correct predictions are summed, not
averaged, so replicas and steps just add.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import tensorflow as tf

from catsdogs.config import Config
from catsdogs.data import manifests, pipeline
from catsdogs.model import classifier
from catsdogs.optim import factory, judged_weights
from catsdogs.training import devices

# Reading a step's results waits for the device to finish it. Reading them every few steps
# instead of every step lets the host queue the next steps while a GPU still works on these.
HOST_SYNC_STEPS = 8


@dataclass(frozen=True)
class Sums:
    """Per-example losses and correct predictions summed over ``count`` examples: what a step,
    an epoch or a validation pass adds up."""

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
            self.model = classifier.build(config.model, config.data.image_size, config.data.resize)
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
        head = classifier.head_variables(self.model)
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

    def judged_weights(self) -> contextlib.AbstractContextManager:
        """The weights the run is judged by, in the model for a block: Lookahead's slow
        weights unless the config says the fast ones. Validation and saved models use them."""
        return judged_weights(self.optimizer, self.config.training.evaluate_slow_weights)

    def head_only(self, epoch: int) -> bool:
        """Whether ``epoch`` (from 0) trains the head alone; sets the backbone to match (a
        frozen backbone also runs in inference mode: BatchNorm statistics stay put)."""
        head_only = epoch < self.config.model.warmup_epochs
        classifier.backbone_of(self.model).trainable = not head_only
        return head_only

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

    def validate(self) -> Sums:
        """One pass over the validation set with the weights the run is judged by."""
        totals = Sums()
        with self.judged_weights():
            for batch in self.val_data:
                totals += Sums.read(self.evaluate_batch(batch))
        return totals

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

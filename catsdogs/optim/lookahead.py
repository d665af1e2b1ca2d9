"""Lookahead (Zhang, Lucas, Hinton & Ba, 2019) as a Keras 3 optimizer wrapper.

TensorFlow Addons' Lookahead never supported Keras 3 and Keras ships none, so this is ours.
It follows Algorithm 1 of the paper exactly:

* the slow weights ``phi`` are set to the model's weights at the first training step
  (not at construction time, so weights loaded after ``compile`` are respected);
* every step the inner optimizer updates the fast weights ``theta``;
* after every ``k``-th step: ``phi <- phi + alpha * (theta - phi)`` and ``theta <- phi``;
* the inner optimizer's state (momentum, Adam moments) is left as it is at a sync.

Like Keras' own ``LossScaleOptimizer`` it is a wrapper whose ``apply`` calls the inner
optimizer's ``apply``, and it runs on every Keras 3 backend:

* JAX and PyTorch share one path in
  ``keras.ops``: each Lookahead-specific piece (the first-step copy, the periodic sync) is an
  ``ops.cond`` that *returns* the new values, which are assigned after it. So under JAX, where
  ``ops.cond`` is ``lax.cond`` and assigning a variable inside a traced branch fails, the base
  class's ``stateless_apply`` (Keras' JAX trainer, ``LossScaleOptimizer``) records the
  assignments in its ``StatelessScope`` and returns them; the first-step copy takes the
  trainable values passed in.
* TensorFlow keeps a branch of its own: both pieces run in the cross-replica context of
  ``tf.distribute``, so one code path serves the default strategy, ``MirroredStrategy`` and
  ``MultiWorkerMirroredStrategy``. TensorFlow is imported only on that backend.

A step that a surrounding ``LossScaleOptimizer`` skips for non-finite gradients never reaches
``apply``, so it neither advances the sync counter nor touches the slow weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import keras
from keras import ops
from keras.src.utils import tracking

# Base-optimizer arguments that a wrapper cannot honour itself: they belong on the inner
# optimizer, which does the actual update. Their defaults are accepted for deserialization.
_INNER_ONLY_DEFAULTS = {
    "learning_rate": None,
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _tf_variable(variable):
    """The tf.Variable behind a Keras variable (what ``tf.distribute`` can update)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="catsdogs")
class Lookahead(keras.optimizers.Optimizer):
    """Wraps any Keras optimizer: k fast steps forward, one slow step back.

    Args:
        optimizer: the inner ``keras.optimizers.Optimizer`` that updates the fast weights.
        sync_period: ``k``, the number of inner steps between two synchronisations (>= 1).
        slow_step_size: ``alpha`` in (0, 1], how far the slow weights move toward the fast ones.
        name: the optimizer's name (also the scope of its variables).

    Learning rate, clipping, weight decay, EMA and gradient accumulation are the inner
    optimizer's business; ``learning_rate`` reads and writes through to it so callbacks such as
    ``ReduceLROnPlateau`` work. With gradient accumulation on the inner optimizer, ``k`` counts
    real updates of the fast weights, not micro-batches.
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        sync_period: int = 5,
        slow_step_size: float = 0.5,
        name: str = "lookahead",
        **kwargs,
    ) -> None:
        if isinstance(optimizer, Lookahead) or isinstance(
            getattr(optimizer, "inner_optimizer", None), Lookahead
        ):
            raise ValueError(
                "Lookahead cannot wrap another Lookahead: nest the inner optimizer once."
            )
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "Lookahead wraps a keras.optimizers.Optimizer instance, e.g. "
                f"Lookahead(keras.optimizers.SGD(1e-4, momentum=0.9)); got {optimizer!r}."
            )
        if isinstance(sync_period, bool) or not isinstance(sync_period, int) or sync_period < 1:
            raise ValueError(f"sync_period (k) must be an integer >= 1; got {sync_period!r}.")
        if (
            isinstance(slow_step_size, bool)
            or not isinstance(slow_step_size, (int, float))
            or not 0.0 < slow_step_size <= 1.0
        ):
            raise ValueError(
                f"slow_step_size (alpha) must be a number in (0, 1]; got {slow_step_size!r}."
            )
        for key, default in _INNER_ONLY_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ValueError(
                    f"Lookahead does not take `{key}`: set it on the inner optimizer, "
                    f"e.g. keras.optimizers.SGD(..., {key}=...)."
                )
        if kwargs:
            raise ValueError(f"Lookahead got unknown arguments: {', '.join(sorted(kwargs))}.")

        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer
        self.sync_period = sync_period
        self.slow_step_size = float(slow_step_size)

    @tracking.no_automatic_dependency_tracking
    def build(self, var_list: Sequence[keras.Variable]) -> None:
        """Create one slow copy per trainable variable, then build the inner optimizer."""
        super().build(var_list)
        self._slow_variables = [
            self.add_variable_from_reference(variable, name="slow") for variable in var_list
        ]
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)

    @property
    def variables(self) -> list[keras.Variable]:
        return self._variables + self.inner_optimizer.variables

    @property
    def slow_variables(self) -> list[keras.Variable]:
        """The slow weights, aligned with the trainable variables the optimizer was built on."""
        return list(self._slow_variables)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def _micro_steps_per_update(self) -> int:
        return self.inner_optimizer.gradient_accumulation_steps or 1

    @property
    def iterations(self):
        """Updates of the fast weights so far (micro-batches / accumulation steps)."""
        steps = self._micro_steps_per_update
        return self._iterations if steps == 1 else self._iterations // steps

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def apply(self, grads, trainable_variables=None) -> None:
        """One inner step on the fast weights, then the Lookahead bookkeeping."""
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "Pass `trainable_variables` on the first call, or call "
                    "`optimizer.build(trainable_variables)` first."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
                self.built = True
        if keras.backend.backend() == "tensorflow":
            self._tf_apply(grads, trainable_variables)
        else:
            self._common_apply(grads, trainable_variables)

    @property
    def _sync_period_in_micro_steps(self) -> int:
        return self.sync_period * self._micro_steps_per_update

    def _common_apply(self, grads, trainable_variables) -> None:
        """Every backend but TensorFlow: new values from ``ops.cond``, assigned after it."""
        fast = self._trainable_variables
        first = ops.equal(self._iterations, 0)
        slow_values = ops.cond(
            first,
            lambda: [ops.convert_to_tensor(v) for v in fast],
            lambda: [ops.convert_to_tensor(v) for v in self._slow_variables],
        )
        for slow, value in zip(self._slow_variables, slow_values):
            slow.assign(value)
        # Read back from the slow variables: under PyTorch a tensor read from a fast weight
        # shares its storage, and the inner step below updates that storage in place.
        slow_values = [ops.convert_to_tensor(v) for v in self._slow_variables]

        self.inner_optimizer.apply(grads, trainable_variables)

        step = self._iterations + 1
        self._iterations.assign(step)
        alpha = self.slow_step_size

        def sync():
            moved = [
                s + ops.cast(alpha, s.dtype) * (ops.convert_to_tensor(f) - s)
                for s, f in zip(slow_values, fast)
            ]
            return moved, moved

        def keep():
            return list(slow_values), [ops.convert_to_tensor(f) for f in fast]

        new_slow, new_fast = ops.cond(
            ops.equal(step % self._sync_period_in_micro_steps, 0), sync, keep
        )
        for slow, value in zip(self._slow_variables, new_slow):
            slow.assign(value)
        for variable, value in zip(fast, new_fast):
            variable.assign(value)

    def _tf_apply(self, grads, trainable_variables) -> None:
        """TensorFlow: the Lookahead pieces in the cross-replica context of tf.distribute."""
        import tensorflow as tf

        if tf.distribute.in_cross_replica_context():
            raise ValueError("Lookahead.apply() must be called in a replica context.")

        self._cross_replica(self._start_first_cycle)
        self.inner_optimizer.apply(grads, trainable_variables)
        self._cross_replica(self._count_step_and_sync)

    def _cross_replica(self, fn) -> None:
        """Run ``fn(distribution)`` once for all replicas (a merge call where there is one)."""
        import tensorflow as tf

        tf.__internal__.distribute.interim.maybe_merge_call(fn, self._distribution_strategy)

    def _start_first_cycle(self, distribution) -> None:
        """phi <- theta at the very first step: the weights as they are when training starts."""
        import tensorflow as tf

        fast = [_tf_variable(v) for v in self._trainable_variables]
        slow = [_tf_variable(v) for v in self._slow_variables]

        def copy_fast_into_slow() -> None:
            for slow_var, fast_var in zip(slow, fast):
                distribution.extended.update(
                    slow_var, lambda s, f: s.assign(f), args=(fast_var,), group=False
                )

        tf.cond(tf.equal(self._iterations, 0), copy_fast_into_slow, lambda: None)

    def _count_step_and_sync(self, distribution) -> None:
        """Count the step; after every k-th update: phi += alpha (theta - phi); theta <- phi."""
        import tensorflow as tf

        step = self._iterations + 1
        self._iterations.assign(step)
        fast = [_tf_variable(v) for v in self._trainable_variables]
        slow = [_tf_variable(v) for v in self._slow_variables]
        alpha = self.slow_step_size

        def move_slow(s, f):
            return s.assign_add(tf.cast(alpha, s.dtype) * (f - s))

        def sync() -> None:
            for slow_var, fast_var in zip(slow, fast):
                distribution.extended.update(slow_var, move_slow, args=(fast_var,), group=False)
                distribution.extended.update(
                    fast_var, lambda f, s: f.assign(s), args=(slow_var,), group=False
                )

        tf.cond(tf.equal(step % self._sync_period_in_micro_steps, 0), sync, lambda: None)

    @contextlib.contextmanager
    def slow_weights_applied(self) -> Iterator[None]:
        """Temporarily put the slow weights into the model (evaluation, export); restore after.

        The fast weights are kept on the host meanwhile and the optimizer's own state is not
        touched, so training can go on exactly as before once the block ends. Before the first
        step the slow weights are the model's weights, so nothing is swapped.
        """
        if not self.built or int(ops.convert_to_numpy(self._iterations)) == 0:
            yield
            return
        fast_values = [ops.convert_to_numpy(v) for v in self._trainable_variables]
        for variable, slow in zip(self._trainable_variables, self._slow_variables):
            # A copy, not the slow variable's own buffer: JAX donates the buffers of the
            # model's variables to its compiled steps, and a shared one would be lost.
            variable.assign(ops.copy(slow))
        try:
            yield
        finally:
            for variable, value in zip(self._trainable_variables, fast_values):
                variable.assign(value)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "sync_period": self.sync_period,
            "slow_step_size": self.slow_step_size,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> Lookahead:
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects
        )
        return cls(inner, **config)


def find_lookahead(optimizer: keras.optimizers.Optimizer | None) -> Lookahead | None:
    """The Lookahead inside ``optimizer`` (Keras wraps it in a LossScaleOptimizer), if any."""
    while optimizer is not None:
        if isinstance(optimizer, Lookahead):
            return optimizer
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return None


def judged_weights(
    optimizer: keras.optimizers.Optimizer | None, slow: bool = True
) -> contextlib.AbstractContextManager:
    """The weights a model is judged by (validation, saved models), around a block:
    Lookahead's slow weights, as the paper evaluates them, when ``optimizer`` holds a
    Lookahead and ``slow`` is asked; else the model's weights as they are."""
    lookahead = find_lookahead(optimizer)
    if slow and lookahead is not None:
        return lookahead.slow_weights_applied()
    return contextlib.nullcontext()

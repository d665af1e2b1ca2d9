"""One optimizer step as each Keras backend's own trainer takes it, for tests that step by hand.

TensorFlow and PyTorch update variables in place (``optimizer.apply``). JAX is functional: its
trainer calls ``optimizer.stateless_apply`` inside ``jax.jit`` and writes the returned values
back, which is also the only way a ``LossScaleOptimizer`` step (an ``ops.cond`` around the
inner optimizer's update) can run there.
"""

from __future__ import annotations

import keras


def apply(optimizer: keras.optimizers.Optimizer, grads: list, variables: list) -> None:
    if keras.backend.backend() != "jax":
        optimizer.apply(grads, variables)
        return
    import jax

    if not optimizer.built:
        optimizer.build(variables)

    @jax.jit
    def step(optimizer_values, grad_values, trainable_values):
        return optimizer.stateless_apply(optimizer_values, grad_values, trainable_values)

    new_trainable, new_optimizer = step(
        [v.value for v in optimizer.variables], list(grads), [v.value for v in variables]
    )
    for variable, value in zip(variables, new_trainable):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, new_optimizer):
        variable.assign(value)

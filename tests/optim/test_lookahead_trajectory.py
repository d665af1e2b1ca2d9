"""Lookahead's trajectory against an independent numpy reference (Algorithm 1 of the paper)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from reference_optimizers import NumpyAdam, NumpySGD, lookahead_trajectory, plain_trajectory

from catsdogs.optim import Lookahead

RNG = np.random.default_rng(7)
INITIAL = [RNG.normal(size=(3, 2)), RNG.normal(size=(2,))]
SCALES = [RNG.uniform(0.5, 2.0, size=(3, 2)), RNG.uniform(0.5, 2.0, size=(2,))]
TARGETS = [RNG.normal(size=(3, 2)), RNG.normal(size=(2,))]
STEPS = 23  # > 20 steps, ending mid-cycle for k = 5


def numpy_grads(weights):
    return [d * (w - t) + 0.1 * np.sin(3 * w) for w, d, t in zip(weights, SCALES, TARGETS)]


def run_keras(optimizer, steps: int, initial=INITIAL):
    variables = [keras.Variable(w.astype("float32")) for w in initial]
    for _ in range(steps):
        grads = [
            ops.convert_to_tensor(d.astype("float32")) * (v - t.astype("float32"))
            + 0.1 * ops.sin(3.0 * v)
            for v, d, t in zip(variables, SCALES, TARGETS)
        ]
        optimizer.apply(grads, variables)
    return [v.numpy() for v in variables]


def schedule(step):
    return 0.1 * 0.5 ** (step / 4)


CASES = {
    "sgd_momentum": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        lambda: NumpySGD(0.05, momentum=0.9),
    ),
    "sgd_nesterov": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: NumpySGD(0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (lambda: keras.optimizers.Adam(0.03), lambda: NumpyAdam(0.03)),
    "sgd_lr_schedule": (
        lambda: keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5),
            momentum=0.9,
        ),
        lambda: NumpySGD(schedule, momentum=0.9),
    ),
    "sgd_clipnorm": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, clipnorm=0.3),
        lambda: NumpySGD(0.05, momentum=0.9, clipnorm=0.3),
    ),
    "sgd_global_clipnorm": (
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, global_clipnorm=0.5),
        lambda: NumpySGD(0.05, momentum=0.9, global_clipnorm=0.5),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_numpy_reference(case):
    make_keras, make_numpy = CASES[case]
    optimizer = Lookahead(make_keras(), sync_period=5, slow_step_size=0.5)
    got = run_keras(optimizer, STEPS)
    fast, slow = lookahead_trajectory(INITIAL, numpy_grads, make_numpy(), STEPS, k=5, alpha=0.5)
    for g, f in zip(got, fast):
        np.testing.assert_allclose(g, f, atol=1e-5, rtol=0)
    for s_got, s_ref in zip(optimizer.slow_variables, slow):
        np.testing.assert_allclose(s_got.numpy(), s_ref, atol=1e-5, rtol=0)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == STEPS
    # Mid-cycle, so the fast weights have moved away from the slow ones: the test sees both.
    assert not np.allclose(got[0], optimizer.slow_variables[0].numpy())
    # And Lookahead really changed the path compared with the bare inner optimizer.
    bare = plain_trajectory(INITIAL, numpy_grads, make_numpy(), STEPS)
    assert not np.allclose(fast[0], bare[0], atol=1e-3)


def test_k1_alpha1_reproduces_the_inner_optimizer():
    wrapped = run_keras(Lookahead(keras.optimizers.SGD(0.05, momentum=0.9), 1, 1.0), STEPS)
    bare = run_keras(keras.optimizers.SGD(0.05, momentum=0.9), STEPS)
    for w, b in zip(wrapped, bare):
        np.testing.assert_allclose(w, b, atol=1e-6, rtol=0)


def test_slow_weights_start_from_the_weights_at_the_first_step_not_at_build():
    variables = [keras.Variable(w.astype("float32")) for w in INITIAL]
    optimizer = Lookahead(keras.optimizers.SGD(0.05, momentum=0.9), sync_period=3)
    optimizer.build(variables)
    # e.g. pretrained weights loaded after compile: the slow weights must follow them.
    moved = [w + 1.5 for w in INITIAL]
    for v, w in zip(variables, moved):
        v.assign(w.astype("float32"))
    for _ in range(7):
        grads = [
            ops.convert_to_tensor(d.astype("float32")) * (v - t.astype("float32"))
            + 0.1 * ops.sin(3.0 * v)
            for v, d, t in zip(variables, SCALES, TARGETS)
        ]
        optimizer.apply(grads, variables)
    fast, _ = lookahead_trajectory(moved, numpy_grads, NumpySGD(0.05, momentum=0.9), 7, 3, 0.5)
    for v, f in zip(variables, fast):
        np.testing.assert_allclose(v.numpy(), f, atol=1e-5, rtol=0)


def test_gradient_accumulation_counts_real_updates():
    inner = keras.optimizers.SGD(0.05, momentum=0.9, gradient_accumulation_steps=2)
    optimizer = Lookahead(inner, sync_period=3, slow_step_size=0.5)
    # The fast weights stand still between the two micro-batches of an update, so both see
    # the same gradient and their mean is one plain step: 14 micro-batches = 7 updates.
    got = run_keras(optimizer, 14)
    fast, _ = lookahead_trajectory(INITIAL, numpy_grads, NumpySGD(0.05, momentum=0.9), 7, 3, 0.5)
    assert int(ops.convert_to_numpy(optimizer.iterations)) == 7
    for g, f in zip(got, fast):
        np.testing.assert_allclose(g, f, atol=1e-5, rtol=0)

"""Lookahead inside Keras: fit (with XLA), callbacks, mixed precision, saving and restoring."""

from __future__ import annotations

import backend_steps
import keras
import numpy as np
import pytest
from keras import ops
from reference_optimizers import NumpySGD, lookahead_trajectory

from catsdogs.optim import Lookahead, SlowWeightsEvaluation, find_lookahead

RNG = np.random.default_rng(3)
X = RNG.normal(size=(24, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.3).astype("float32")
BATCH = 8  # 3 steps per epoch


def linear_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])


def small_mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )


def lookahead_sgd(k: int = 4, lr=0.05) -> Lookahead:
    return Lookahead(keras.optimizers.SGD(lr, momentum=0.9), sync_period=k, slow_step_size=0.5)


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def assert_same_weights(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-6) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_follows_the_numpy_reference(jit_compile):
    model = linear_model()
    initial = weights_of(model)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.7)
    model.compile(
        optimizer=Lookahead(keras.optimizers.SGD(schedule, momentum=0.9), sync_period=4),
        loss="mse",
        jit_compile=jit_compile,
    )
    model.fit(X, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)

    batches = iter([(X[i : i + BATCH], Y[i : i + BATCH]) for i in range(0, 24, BATCH)] * 3)

    def mse_grads(weights):
        x, y = next(batches)
        err = x.astype(np.float64) @ weights[0] + weights[1] - y
        return [2.0 / len(x) * x.T @ err, 2.0 / len(x) * err.sum(axis=0)]

    reference = NumpySGD(lambda step: 0.05 * 0.7 ** (step / 3), momentum=0.9)
    fast, _ = lookahead_trajectory(initial, mse_grads, reference, steps=9, k=4, alpha=0.5)
    assert_same_weights(model.get_weights(), fast, atol=1e-5)


def test_learning_rate_reads_and_writes_through_for_reduce_lr_on_plateau():
    model = linear_model()
    optimizer = lookahead_sgd(lr=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    assert float(optimizer.learning_rate) == pytest.approx(0.1)
    optimizer.learning_rate = 0.2
    assert float(optimizer.inner_optimizer.learning_rate) == pytest.approx(0.2)
    # min_delta so large that no epoch counts as an improvement after the first one.
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9
    )
    model.fit(X, Y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[plateau])
    assert float(optimizer.inner_optimizer.learning_rate) == pytest.approx(0.05)
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_mixed_float16_skipped_steps_leave_lookahead_untouched(jit_compile):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    model = small_mlp()
    model.compile(optimizer=lookahead_sgd(k=2), loss="mse", jit_compile=jit_compile)
    model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
    loss_scaler = model.optimizer
    assert isinstance(loss_scaler, keras.optimizers.LossScaleOptimizer)
    lookahead = find_lookahead(loss_scaler)
    # The initial scale 2**15 overflows float16 at first; each overflow halves it and skips
    # the step, and a skipped step must not count for Lookahead.
    skipped = round(np.log2(2.0**15 / float(loss_scaler.dynamic_scale.numpy())))
    assert skipped >= 1
    steps = int(ops.convert_to_numpy(lookahead.iterations))
    assert steps == 3 - skipped

    variables = model.trainable_variables
    before = ([v.numpy() for v in variables], [s.numpy() for s in lookahead.slow_variables])
    backend_steps.apply(loss_scaler, [ops.full(v.shape, np.inf) for v in variables], variables)
    assert int(ops.convert_to_numpy(lookahead.iterations)) == steps
    assert_same_weights([v.numpy() for v in variables], before[0], atol=0)
    assert_same_weights([s.numpy() for s in lookahead.slow_variables], before[1], atol=0)

    # Finite steps up to the next multiple of k = 2 end in a sync: fast == slow.
    for _ in range(2 - steps % 2):
        scale = float(loss_scaler.dynamic_scale.numpy())
        grads = [ops.ones(v.shape) * 0.01 * scale for v in variables]
        backend_steps.apply(loss_scaler, grads, variables)
    assert int(ops.convert_to_numpy(lookahead.iterations)) % 2 == 0
    assert_same_weights(
        [v.numpy() for v in variables], [s.numpy() for s in lookahead.slow_variables], atol=0
    )
    assert not np.allclose(variables[0].numpy(), before[0][0])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_mixed_bfloat16_trains_on_cpu(jit_compile):
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = small_mlp()
    model.compile(optimizer=lookahead_sgd(k=3, lr=0.02), loss="mse", jit_compile=jit_compile)
    history = model.fit(X, Y, batch_size=BATCH, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    lookahead = find_lookahead(model.optimizer)
    assert int(ops.convert_to_numpy(lookahead.iterations)) == 24
    assert all(s.dtype == "float32" for s in lookahead.slow_variables)


def test_config_round_trip_keeps_inner_optimizer_and_hyperparameters():
    inner = keras.optimizers.SGD(3e-4, momentum=0.8, nesterov=True, clipnorm=2.0)
    optimizer = Lookahead(inner, sync_period=7, slow_step_size=0.3, name="la")
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, Lookahead)
    assert (restored.sync_period, restored.slow_step_size, restored.name) == (7, 0.3, "la")
    assert isinstance(restored.inner_optimizer, keras.optimizers.SGD)
    got = restored.inner_optimizer.get_config()
    assert (got["momentum"], got["nesterov"], got["clipnorm"]) == (0.8, True, 2.0)
    assert got["learning_rate"] == pytest.approx(3e-4)
    assert Lookahead.from_config(optimizer.get_config()).get_config() == optimizer.get_config()


def test_config_names_the_wrapped_optimizer_as_keras_wrappers_do():
    optimizer = Lookahead(keras.optimizers.Adam(2e-3), sync_period=6, slow_step_size=0.4)
    config = optimizer.get_config()
    inner = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()).get_config()
    assert "inner_optimizer" in inner and "inner_optimizer" in config and "optimizer" not in config
    assert set(config) == {"name", "inner_optimizer", "sync_period", "slow_step_size"}


def uninterrupted(epochs: int) -> list[np.ndarray]:
    model = small_mlp()
    model.compile(optimizer=lookahead_sgd(k=5), loss="mse")
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
    return weights_of(model)


def test_save_and_load_mid_cycle_continues_exactly(tmp_path):
    model = small_mlp()
    model.compile(optimizer=lookahead_sgd(k=5), loss="mse")
    model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)  # 3 steps: mid-cycle
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    lookahead = find_lookahead(loaded.optimizer)
    assert int(ops.convert_to_numpy(lookahead.iterations)) == 3
    loaded.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(weights_of(loaded), uninterrupted(3))


class CrashAt(keras.callbacks.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.epoch, self.batch, self._current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self._current, batch) == (self.epoch, self.batch):
            raise RuntimeError("simulated crash")


def test_backup_and_restore_resumes_exactly(tmp_path):
    backup = tmp_path / "backup"
    model = small_mlp()
    model.compile(optimizer=lookahead_sgd(k=5), loss="mse")
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(backup), CrashAt(epoch=1, batch=1)],
        )
    # A new process would start from scratch: other initial weights, a fresh optimizer.
    resumed = small_mlp(seed=99)
    resumed.compile(optimizer=lookahead_sgd(k=5), loss="mse")
    resumed.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup)],
    )
    assert_same_weights(weights_of(resumed), uninterrupted(3))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.train.Checkpoint is TensorFlow's"
)
def test_tf_train_checkpoint_resumes_exactly(tmp_path):
    import tensorflow as tf

    model = small_mlp()
    optimizer = lookahead_sgd(k=5)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).save(tmp_path / "ckpt")

    fresh = small_mlp(seed=99)
    fresh_optimizer = lookahead_sgd(k=5)
    fresh.compile(optimizer=fresh_optimizer, loss="mse")
    fresh_optimizer.build(fresh.trainable_variables)
    status = tf.train.Checkpoint(model=fresh, optimizer=fresh_optimizer).restore(path)
    status.assert_existing_objects_matched()
    assert int(ops.convert_to_numpy(fresh_optimizer.iterations)) == 3
    for got, want in zip(fresh_optimizer.slow_variables, optimizer.slow_variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    fresh.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(weights_of(fresh), uninterrupted(3))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sync_period": 0}, ValueError, "sync_period"),
        ({"sync_period": 2.5}, ValueError, "sync_period"),
        ({"slow_step_size": 0.0}, ValueError, "slow_step_size"),
        ({"slow_step_size": 1.5}, ValueError, "slow_step_size"),
        ({"slow_step_size": -0.1}, ValueError, "slow_step_size"),
        ({"clipnorm": 1.0}, ValueError, "inner optimizer"),
        ({"momentum": 0.9}, ValueError, "unknown arguments: momentum"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        Lookahead(keras.optimizers.SGD(0.1), **kwargs)


def test_inner_must_be_a_keras_optimizer_and_not_a_lookahead():
    with pytest.raises(TypeError, match="keras.optimizers.Optimizer"):
        Lookahead("sgd")
    with pytest.raises(ValueError, match="cannot wrap another Lookahead"):
        Lookahead(Lookahead(keras.optimizers.SGD(0.1)))
    with pytest.raises(ValueError, match="cannot wrap another Lookahead"):
        Lookahead(keras.optimizers.LossScaleOptimizer(Lookahead(keras.optimizers.SGD(0.1))))


def test_validation_uses_slow_weights_and_training_keeps_the_fast_ones():
    model = small_mlp()
    optimizer = lookahead_sgd(k=4)
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[SlowWeightsEvaluation()],
    )
    fast = weights_of(model)
    slow_model = small_mlp()
    slow_model.set_weights([s.numpy() for s in optimizer.slow_variables])
    slow_model.compile(loss="mse")
    slow_loss = slow_model.evaluate(X, Y, batch_size=BATCH, verbose=0)
    fast_loss = model.evaluate(X, Y, batch_size=BATCH, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(slow_loss, rel=1e-6)
    assert abs(slow_loss - fast_loss) > 1e-4  # 6 steps, k = 4: the two really differ
    assert_same_weights(weights_of(model), fast, atol=0)  # fast weights put back


def test_export_with_slow_weights(tmp_path):
    model = small_mlp()
    optimizer = lookahead_sgd(k=4)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    fast = weights_of(model)
    with optimizer.slow_weights_applied():
        model.save(tmp_path / "export.keras")
    exported = keras.models.load_model(tmp_path / "export.keras")
    assert_same_weights(exported.get_weights(), [s.numpy() for s in optimizer.slow_variables], 0)
    assert_same_weights(weights_of(model), fast, atol=0)

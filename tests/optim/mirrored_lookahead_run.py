"""Run by test_lookahead_distributed.py in a fresh process: logical devices must be set up
before TensorFlow starts. Trains the same model on one device and under MirroredStrategy on
two logical CPUs with the same global batch, and prints both results as JSON."""

from __future__ import annotations

import json
import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from catsdogs.optim import Lookahead, find_lookahead  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(32, 6)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")


def train(strategy: tf.distribute.Strategy) -> dict:
    with strategy.scope():
        keras.utils.set_random_seed(5)
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
        )
        optimizer = Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), sync_period=3)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            jit_compile=False,
        )
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)  # 8 steps: mid-cycle
    lookahead = find_lookahead(model.optimizer)
    return {
        "weights": [w.tolist() for w in model.get_weights()],
        "slow": [s.numpy().tolist() for s in lookahead.slow_variables],
        "iterations": int(lookahead.iterations.numpy()),
        "replicas": strategy.num_replicas_in_sync,
    }


devices = [d.name for d in tf.config.list_logical_devices("CPU")]
print(
    json.dumps(
        {
            "single": train(tf.distribute.OneDeviceStrategy(devices[0])),
            "mirrored": train(tf.distribute.MirroredStrategy(devices)),
        }
    )
)

"""What the machine offers: the tf.distribute strategy, mixed precision and XLA defaults."""

from __future__ import annotations

import functools
import json
import os
import time

import tensorflow as tf

# On a CPU, mixed precision (bfloat16) is kept where its layer step measures at least this much
# faster than float32: a CPU that computes bfloat16 natively (AVX512_BF16, AMX) gains 1.3-2x,
# one that emulates it loses.
BFLOAT16_GAIN = 1.1


def strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG names a cluster, Mirrored for several GPUs, else one
    device. Create it before any other TensorFlow work (collectives are set up at creation)."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def describe(strategy: tf.distribute.Strategy) -> str:
    """Where training runs, in one line; says so plainly when TensorFlow sees no GPU (on a GPU
    machine that means TensorFlow was installed without its CUDA wheels)."""
    if isinstance(strategy, tf.distribute.OneDeviceStrategy):
        spec = tf.DeviceSpec.from_string(strategy.extended.worker_devices[0])
        where = f"1 replica on /{spec.device_type.lower()}:{spec.device_index}"
    else:
        where = f"{strategy.num_replicas_in_sync} replicas ({type(strategy).__name__})"
    return where if has_gpu() else f"{where} (no GPU visible to TensorFlow)"


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def is_on(setting: str) -> bool:
    """Whether an auto/on/off setting is on: ``auto`` means on where there is a GPU."""
    return has_gpu() if setting == "auto" else setting == "on"


@functools.cache
def bfloat16_speedup(rounds: int = 3) -> float:
    """How much faster a 3x3 convolution's forward and backward pass (a small CNN's typical
    layer, batch 32) runs in bfloat16 than in float32 on this machine's cores, timed in
    alternating rounds after a warm-up (about a second). Measured once per process."""
    images = tf.random.uniform([32, 48, 48, 64])
    kernel = tf.random.uniform([3, 3, 64, 64])

    @tf.function
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            total = tf.reduce_sum(tf.cast(tf.nn.conv2d(x, w, 1, "SAME"), tf.float32))
        return tape.gradient(total, [x, w])

    inputs = {
        "f32": (images, kernel),
        "bf16": (tf.cast(images, "bfloat16"), tf.cast(kernel, "bfloat16")),
    }
    for args in inputs.values():  # traced and warmed up
        [g.numpy() for g in step(*args)]
    seconds = {dtype: 0.0 for dtype in inputs}
    for round_ in range(rounds):
        for dtype in list(inputs)[:: 1 if round_ % 2 == 0 else -1]:
            started = time.perf_counter()
            [g.numpy() for g in step(*inputs[dtype])]
            seconds[dtype] += time.perf_counter() - started
    return seconds["f32"] / seconds["bf16"]


def precision(setting: str) -> tuple[str, float | None]:
    """The Keras dtype policy for an auto/on/off ``mixed_precision``: mixed_float16 on a GPU,
    mixed_bfloat16 on a CPU (auto: where ``bfloat16_speedup`` reaches ``BFLOAT16_GAIN``),
    else float32; and the speedup where it was measured (None elsewhere)."""
    if has_gpu():
        return ("mixed_float16" if is_on(setting) else "float32"), None
    if setting != "auto":
        return ("mixed_bfloat16" if setting == "on" else "float32"), None
    speedup = bfloat16_speedup()
    return ("mixed_bfloat16" if speedup >= BFLOAT16_GAIN else "float32"), speedup


def several_workers() -> bool:
    """Whether this process is one of several workers (TF_CONFIG names a cluster)."""
    return bool(os.environ.get("TF_CONFIG"))


def jit_setting(setting: str) -> bool | None:
    """XLA on or off; None where ``auto`` has no GPU to go by and a measurement decides (XLA
    makes a CPU step faster on some machines and slower on others). Several workers would
    each measure, and could disagree: there ``auto`` without a GPU is off."""
    if setting == "auto" and not has_gpu():
        return False if several_workers() else None
    return is_on(setting)


def worker_index() -> int:
    """This process's index among the workers (0 alone or for the chief)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    if task.get("type") == "chief":
        return 0
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return int(task.get("index", 0)) + (1 if has_chief else 0)

"""What the machine offers: the tf.distribute strategy, mixed precision and XLA defaults."""

from __future__ import annotations

import json
import os

import tensorflow as tf


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

"""What a training step asks of the machine's arithmetic, and what the machine can do.

``step_flops`` counts the floating-point operations of one training step per image from the
step's own TensorFlow graph (forward pass and gradients), not from a formula of the
architecture: every convolution and matrix product in it, two operations per multiply-add.
Elementwise work (BatchNorm, activations, pooling, the optimizer's update) is left out: it is
a few percent of the operations but bound by memory, so it shows as the gap between the
step's rate and ``matmul_rate``, a large float32 matrix product on the same threads (what
the cores can do through TensorFlow).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

# Each op's multiply-adds from the shapes of its inputs and output (static in a traced graph).


def _conv(op: tf.Operation) -> int:  # output [N, H, W, Cout], filter [kh, kw, Cin, Cout]
    return _elements(op.outputs[0]) * _elements(op.inputs[1]) // int(op.inputs[1].shape[-1])


def _conv_input_grad(op: tf.Operation) -> int:  # (sizes, filter, grad [N, Ho, Wo, Cout])
    return _elements(op.inputs[2]) * _elements(op.inputs[1]) // int(op.inputs[1].shape[-1])


def _conv_filter_grad(op: tf.Operation) -> int:  # (input, sizes, grad [N, Ho, Wo, Cout])
    return _elements(op.inputs[2]) * _elements(op.outputs[0]) // int(op.outputs[0].shape[-1])


def _depthwise(op: tf.Operation) -> int:  # output [N, H, W, C*m], filter [kh, kw, C, m]
    kh, kw = op.inputs[1].shape[:2]
    return _elements(op.outputs[0]) * int(kh) * int(kw)


def _depthwise_grad(op: tf.Operation) -> int:  # the output's grad is inputs[2]
    return _elements(op.inputs[2]) * _depthwise_kernel(op)


def _depthwise_kernel(op: tf.Operation) -> int:
    filter_ = op.inputs[1] if op.type.endswith("Input") else op.outputs[0]
    return int(filter_.shape[0]) * int(filter_.shape[1])


def _matmul(op: tf.Operation) -> int:  # [.., m, k] x [.., k, n] -> [.., m, n]
    a = op.inputs[0].shape
    transposed = op.get_attr("transpose_a") if "transpose_a" in op.node_def.attr else False
    transposed = transposed or (op.get_attr("adj_x") if "adj_x" in op.node_def.attr else False)
    return _elements(op.outputs[0]) * int(a[-2] if transposed else a[-1])


MULTIPLY_ADDS = {
    "Conv2D": _conv,
    "Conv2DBackpropInput": _conv_input_grad,
    "Conv2DBackpropFilter": _conv_filter_grad,
    "DepthwiseConv2dNative": _depthwise,
    "DepthwiseConv2dNativeBackpropInput": _depthwise_grad,
    "DepthwiseConv2dNativeBackpropFilter": _depthwise_grad,
    "MatMul": _matmul,
    "BatchMatMulV2": _matmul,
    "BatchMatMulV3": _matmul,
}


def _elements(tensor: tf.Tensor) -> int:
    return math.prod(int(d) for d in tensor.shape)


@dataclass(frozen=True)
class StepFlops:
    """Floating-point operations of a training step, per image."""

    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def _needed(graph: tf.Graph, outputs: list[tf.Tensor]) -> set[str]:
    """The ops that ``outputs`` depend on: what runs (TensorFlow prunes the rest, such as the
    gradient of the images, which nothing asks for)."""
    needed, todo = set(), [tensor.op for tensor in outputs]
    while todo:
        op = todo.pop()
        if op.name not in needed:
            needed.add(op.name)
            todo.extend(tensor.op for tensor in op.inputs)
            todo.extend(op.control_inputs)
    return needed


def count(graph: tf.Graph, outputs: list[tf.Tensor], images: int) -> StepFlops:
    """The operations in the convolutions and matrix products that ``outputs`` of ``graph``
    need, per image of a batch of ``images``: forward, and backward (the ops that the
    gradient tape added)."""
    forward = backward = 0
    needed = _needed(graph, outputs)
    for op in graph.get_operations():
        if op.type in MULTIPLY_ADDS and op.name in needed:
            flops = 2 * MULTIPLY_ADDS[op.type](op)
            if op.name.startswith("gradient_tape/"):
                backward += flops
            else:
                forward += flops
    return StepFlops(forward / images, backward / images)


def step_flops(model: keras.Model, size: int, images: int = 2) -> StepFlops:
    """One training step of ``model`` on ``size`` px images, per image: the forward pass and
    the gradients of every trainable weight, counted from the traced graph."""

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(model(batch, training=True), tf.float32))
        return loss, tape.gradient(loss, model.trainable_variables)

    traced = step.get_concrete_function(tf.TensorSpec([images, size, size, 3], tf.float32))
    return count(traced.graph, traced.outputs, images)


def matrix_product(n: int = 2048, dtype: str = "float32") -> Callable[[], None]:
    """One ``n`` x ``n`` matrix product in ``dtype`` on this process's threads, traced and
    run once already: the limit's unit of work (``2 * n**3`` operations)."""
    matrix = tf.cast(tf.random.uniform([n, n]), dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    product(matrix).numpy()
    return lambda: product(matrix).numpy()


def matmul_rate(n: int = 2048, seconds: float = 0.5, dtype: str = "float32") -> float:
    """Operations a second of ``matrix_product`` over about ``seconds``."""
    product = matrix_product(n, dtype)
    started, done = time.perf_counter(), 0
    while done == 0 or time.perf_counter() - started < seconds:
        product()
        done += 1
    return 2 * n**3 * done / (time.perf_counter() - started)


def share_line(
    flops: StepFlops, images_per_second: float, limit: float, dtype: str = "float32"
) -> str:
    """One line: the step's operations per image, its rate, and its share of ``limit`` (a
    ``dtype`` matrix product's rate)."""
    achieved = flops.total * images_per_second
    return (
        f"{flops.total / 1e9:.2f} GFLOP an image (forward {flops.forward / 1e9:.2f}, backward "
        f"{flops.backward / 1e9:.2f}); {achieved / 1e9:.0f} GFLOP/s, {achieved / limit:.0%} of "
        f"this machine's {dtype} matrix product ({limit / 1e9:.0f} GFLOP/s)"
    )

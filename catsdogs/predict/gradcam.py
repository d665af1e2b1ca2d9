"""Grad-CAM (Selvaraju et al. 2017): where in an image a model found the evidence for what it
decided, as a map over the image it saw.

The choices, and why:

* The feature map is the last 4-D output at or after the network's last convolution, passing
  over pooling layers after it. The last convolution's maps hold the most class-specific
  features that still have a place in the image (the paper's choice); a pooling layer after
  it adds nothing but halves the map's resolution. The layers are searched through nested
  backbones, so one rule finds small_cnn's last ReLU (before its final max-pooling), VGG's
  ``block5_conv4``, ResNet's ``conv5_block3_out`` and EfficientNet's ``top_activation``.
* The score differentiated is the sigmoid unit's logit toward the predicted class: z for a
  dog, -z for a cat. The gradient of P(dog) itself is the logit's times sigma'(z), which
  vanishes for a confident prediction (at P(dog) = 0.9999 the map would be rounding noise);
  and the class the model chose, right or wrong, is the one whose evidence a reader wants.
* Each channel is weighted by its spatially averaged gradient; the map is the ReLU of the
  weighted sum (evidence for the class, not against it), bilinearly upsampled to the image
  the model saw and divided by its maximum, so 1 is the strongest evidence in that image.
  A map with no positive evidence (dead ReLUs, a saturated model) stays all zero rather
  than being stretched into noise; the figure says so.

The model's own graph is called again layer by layer up to the feature map, so the map and
P(dog) come from one forward pass of the model as it predicts (inference mode: dropout off,
BatchNorm's moving statistics). The outer models that catsdogs builds (classifier, and the
wrapper around a Keras application) are chains of layers; the innermost model holding the
feature map may be any graph.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
BATCH = 8  # images per forward and backward pass: a VGG19 at 224 px keeps it well under 1 GB


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model`` in graph order, nested models opened, inputs left out."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            found.append(layer)
    return found


def feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer whose output Grad-CAM weighs: the last 4-D output from the last convolution
    on, pooling passed over."""
    layers = all_layers(model)
    convolutions = [i for i, layer in enumerate(layers) if isinstance(layer, CONVOLUTIONS)]
    if not convolutions:
        raise ValueError(f"model {model.name} has no convolution: Grad-CAM needs a feature map")
    return [
        layer
        for layer in layers[convolutions[-1] :]
        if len(layer.output.shape) == 4 and not isinstance(layer, POOLING)
    ][-1]


def _holds(model: keras.Model, layer: keras.layers.Layer) -> bool:
    return any(inner is layer for inner in all_layers(model))


def _call_through(model: keras.Model, target, x, stop=None):
    """``model``'s layers called on the symbolic ``x`` in order, up to (not including)
    ``stop``: the target layer's output and the last output."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if any(layer is target for layer in layers):  # any graph: Keras cuts it out whole
        end = stop.input if stop is not None else model.output
        return keras.Model(model.inputs[0], [target.output, end])(x)
    features = None
    for layer in layers:
        if layer is stop:
            break
        if isinstance(layer, keras.Model) and _holds(layer, target):
            features, x = _call_through(layer, target, x)
        else:
            x = layer(x)
    return features, x


class GradCam:
    """Grad-CAM maps of one classifier (``classifier.build``'s, ending in one sigmoid unit)."""

    def __init__(self, model: keras.Model) -> None:
        head = model.layers[-1]
        if not (
            isinstance(head, keras.layers.Dense)
            and head.units == 1
            and head.activation is keras.activations.sigmoid
        ):
            raise ValueError(f"model {model.name} does not end in one sigmoid unit")
        self.layer = feature_layer(model)
        inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)
        features, before_head = _call_through(model, self.layer, inputs, stop=head)
        self._model = keras.Model(inputs, [features, before_head])
        self._head = head

    def maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For images (N, H, W, 3) as the model takes them: the maps (N, H, W) in [0, 1] and
        P(dog) of each image."""
        maps, p_dog = [], []
        for start in range(0, len(images), BATCH):
            batch = tf.convert_to_tensor(images[start : start + BATCH], tf.float32)
            heat, probability = self._batch(batch)
            maps.append(heat)
            p_dog.append(probability)
        if not maps:
            return np.zeros((0, *images.shape[1:3]), np.float32), np.zeros(0)
        return np.concatenate(maps), np.concatenate(p_dog)

    def _batch(self, images: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with tf.GradientTape() as tape:
            tape.watch(images)  # records every op after the input, frozen layers included
            features, before_head = self._model(images, training=False)
            logit = tf.matmul(tf.cast(before_head, tf.float32), self._head.kernel)[:, 0]
            if self._head.use_bias:
                logit += self._head.bias[0]
            toward_predicted = tf.where(logit >= 0, logit, -logit)  # P(dog) >= 0.5 is "dog"
        gradients = tf.cast(tape.gradient(toward_predicted, features), tf.float32)
        features = tf.cast(features, tf.float32)
        weights = tf.reduce_mean(gradients, axis=(1, 2))  # (N, C)
        cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))
        cam = tf.image.resize(cam[..., None], tf.shape(images)[1:3], "bilinear")[..., 0]
        cam = cam.numpy()
        peak = cam.max(axis=(1, 2), keepdims=True)
        cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
        return cam, tf.sigmoid(logit).numpy().astype(np.float64)

"""The classifier: a keras.applications backbone, its own preprocessing, and a new head.

Images enter the model in [0, 255] RGB; each backbone's preprocessing is a layer of the model,
so a saved model carries it and prediction cannot get it wrong. The final unit is float32
whatever the mixed-precision policy, so the sigmoid and the loss stay accurate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras

from catsdogs.config import ModelConfig
from catsdogs.errors import UserError


@keras.saving.register_keras_serializable(package="catsdogs")
class CaffePreprocess(keras.layers.Layer):
    """VGG/ResNet50 ("caffe") preprocessing: RGB -> BGR, minus the ImageNet channel means."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, images):
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.cast(keras.ops.array(self.MEAN_BGR), bgr.dtype)


def _small_cnn(config: ModelConfig, input_shape: tuple[int, int, int], weights) -> keras.Model:
    """A compact from-scratch CNN for CPU training (no downloaded weights exist for it)."""
    if weights is not None:
        raise UserError(
            "model.backbone small_cnn has no pretrained weights: set model.weights: none"
        )
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for i, filters in enumerate([config.width * 2**k for k in range(4)]):
        for _ in range(2 if i else 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            # Synchronized: every replica normalizes with the global batch's statistics, so
            # the moving averages are the same on every worker (as the weights are). Momentum
            # 0.9 lets them keep up with a short, fast-moving from-scratch run.
            x = keras.layers.BatchNormalization(synchronized=True, momentum=0.9)(x)
            x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="small_cnn")


def _applications(name: str, caffe: bool, **extra) -> Callable:
    def build(config: ModelConfig, input_shape, weights) -> keras.Model:
        constructor = getattr(keras.applications, name)
        inputs = keras.Input(input_shape)
        backbone = constructor(include_top=False, weights=weights, input_shape=input_shape, **extra)
        x = CaffePreprocess()(inputs) if caffe else inputs
        return keras.Model(inputs, backbone(x), name=backbone.name)

    return build


# One registry (like timm's), keyed by config.BACKBONE_NAMES: what each backbone is and how it
# wants its input.
BACKBONES: dict[str, Callable] = {
    "vgg19": _applications("VGG19", caffe=True),
    "vgg16": _applications("VGG16", caffe=True),
    "resnet50": _applications("ResNet50", caffe=True),
    "efficientnetv2b0": _applications("EfficientNetV2B0", caffe=False, include_preprocessing=True),
    "mobilenetv3small": _applications("MobileNetV3Small", caffe=False, include_preprocessing=True),
    "convnexttiny": _applications("ConvNeXtTiny", caffe=False, include_preprocessing=True),
    "small_cnn": _small_cnn,
}


# Keyed by config.POOLINGS: how the head turns the backbone's feature map into one vector.
POOLING_LAYERS: dict[str, type[keras.layers.Layer]] = {
    "flatten": keras.layers.Flatten,
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}


def _weights_argument(config: ModelConfig) -> str | None:
    if config.weights == "none":
        return None
    if config.weights == "imagenet":
        return "imagenet"
    return str(Path(config.weights).expanduser())


def build(config: ModelConfig, image_size: int) -> keras.Model:
    """Backbone + pooling/flatten -> dense -> dropout -> one sigmoid unit (P(dog))."""
    input_shape = (image_size, image_size, 3)
    weights = _weights_argument(config)
    try:
        backbone = BACKBONES[config.backbone](config, input_shape, weights)
    except UserError:
        raise
    except Exception as err:
        if weights == "imagenet":
            raise UserError(
                f"could not get ImageNet weights for {config.backbone} ({type(err).__name__}); "
                "offline? download the notop .h5 file from keras-applications' releases and set "
                "model.weights: /path/to/file.h5 (or put it in ~/.keras/models/)"
            ) from None
        raise UserError(
            f"could not build {config.backbone} with weights {weights}: {err}"
        ) from None
    backbone.trainable = True
    inputs = keras.Input(input_shape, name="image")
    x = backbone(inputs)
    x = POOLING_LAYERS[config.pooling](name="pool")(x)
    x = keras.layers.Dense(config.dense_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="p_dog")(x)
    return keras.Model(inputs, outputs, name=f"{config.backbone}_catsdogs")


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a model from ``build`` (its first layer after the input)."""
    return model.get_layer(index=1)


def head_variables(model: keras.Model) -> list:
    """The new head's weights: what trains during the head-only warm-up epochs."""
    return [
        v
        for layer in model.layers
        if layer.name.startswith(("head_", "p_dog"))
        for v in layer.trainable_variables
    ]

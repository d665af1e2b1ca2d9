"""One registry of backbones (like timm's), keyed by config.BACKBONE_NAMES: what each one is
and how it wants its input. Each takes images in [0, 255] RGB; its own preprocessing is a layer
of it, so a saved model carries it and prediction cannot get it wrong."""

from __future__ import annotations

from collections.abc import Callable

import keras

from catsdogs.config import ModelConfig
from catsdogs.errors import UserError
from catsdogs.model.layers import CaffePreprocess


def _conv_bn_relu(x, filters: int):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    # Synchronized: every replica normalizes with the global batch's statistics, so the
    # moving averages are the same on every worker (as the weights are). Momentum 0.9 lets
    # them keep up with a short, fast-moving from-scratch run.
    x = keras.layers.BatchNormalization(synchronized=True, momentum=0.9)(x)
    return keras.layers.Activation("relu")(x)


def _from_scratch(name: str, weights) -> None:
    if weights is not None:
        raise UserError(f"model.backbone {name} has no pretrained weights: set model.weights: none")


def _small_cnn(config: ModelConfig, input_shape: tuple[int, int, int], weights) -> keras.Model:
    """A compact from-scratch CNN for CPU training (no downloaded weights exist for it): four
    blocks of 3x3 convolutions, each doubling the width and ending in max-pooling."""
    _from_scratch("small_cnn", weights)
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for i, filters in enumerate([config.width * 2**k for k in range(4)]):
        for _ in range(2 if i else 1):
            x = _conv_bn_relu(x, filters)
        x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="small_cnn")


def _resnet9(config: ModelConfig, input_shape: tuple[int, int, int], weights) -> keras.Model:
    """The ResNet-9 of the DAWNBench CIFAR-10 winners (Page 2018, airbench's ancestor), from
    scratch: a stem convolution, then three stages that double the width and halve the map,
    the first and the last with a residual block of two convolutions beside them."""
    _from_scratch("resnet9", weights)
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = _conv_bn_relu(x, config.width)
    for stage, residual in ((1, True), (2, False), (3, True)):
        x = keras.layers.MaxPooling2D()(_conv_bn_relu(x, config.width * 2**stage))
        if residual:
            block = _conv_bn_relu(
                _conv_bn_relu(x, config.width * 2**stage), config.width * 2**stage
            )
            x = keras.layers.Add()([x, block])
    return keras.Model(inputs, keras.layers.MaxPooling2D()(x), name="resnet9")


def _applications(name: str, caffe: bool, **extra) -> Callable:
    def build(config: ModelConfig, input_shape, weights) -> keras.Model:
        constructor = getattr(keras.applications, name)
        inputs = keras.Input(input_shape)
        backbone = constructor(include_top=False, weights=weights, input_shape=input_shape, **extra)
        x = CaffePreprocess()(inputs) if caffe else inputs
        return keras.Model(inputs, backbone(x), name=backbone.name)

    return build


# Keyed by config.BACKBONE_NAMES.
BACKBONES: dict[str, Callable] = {
    "vgg19": _applications("VGG19", caffe=True),
    "vgg16": _applications("VGG16", caffe=True),
    "resnet50": _applications("ResNet50", caffe=True),
    "efficientnetv2b0": _applications("EfficientNetV2B0", caffe=False, include_preprocessing=True),
    "mobilenetv3small": _applications("MobileNetV3Small", caffe=False, include_preprocessing=True),
    "convnexttiny": _applications("ConvNeXtTiny", caffe=False, include_preprocessing=True),
    "small_cnn": _small_cnn,
    "resnet9": _resnet9,
}

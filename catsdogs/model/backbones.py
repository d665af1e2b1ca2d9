"""One registry of backbones (like timm's), keyed by config.BACKBONE_NAMES: what each one is
and how it wants its input. Each takes images in [0, 255] RGB; its own preprocessing is a layer
of it, so a saved model carries it and prediction cannot get it wrong."""

from __future__ import annotations

from collections.abc import Callable

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


# Keyed by config.BACKBONE_NAMES.
BACKBONES: dict[str, Callable] = {
    "vgg19": _applications("VGG19", caffe=True),
    "vgg16": _applications("VGG16", caffe=True),
    "resnet50": _applications("ResNet50", caffe=True),
    "efficientnetv2b0": _applications("EfficientNetV2B0", caffe=False, include_preprocessing=True),
    "mobilenetv3small": _applications("MobileNetV3Small", caffe=False, include_preprocessing=True),
    "convnexttiny": _applications("ConvNeXtTiny", caffe=False, include_preprocessing=True),
    "small_cnn": _small_cnn,
}

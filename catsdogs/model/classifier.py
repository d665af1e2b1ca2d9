"""The classifier: a backbone from the registry and a new head on it, and what the saved model
tells about its own input.

A model takes RGB images in [0, 255], ``image_size`` pixels square in training, and gives
P(dog) from one float32 sigmoid unit (float32 whatever the mixed-precision policy, so the
sigmoid and the loss stay accurate). Where its head pools (avg, max) it takes any size, so it
may predict at another size than it trained at (random crops show objects larger than a whole
image does; a somewhat larger image at test time matches them, Touvron et al. 2019). How an
image becomes that square (the config's ``data.resize``) and at which size it is predicted are
recorded inside the model by a ``ResizePolicy`` layer, so a ``.keras`` file predicts the same
alone as inside its run.
"""

from __future__ import annotations

from pathlib import Path

import keras

from catsdogs.config import ModelConfig
from catsdogs.errors import UserError
from catsdogs.model.backbones import BACKBONES
from catsdogs.model.layers import ResizePolicy

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


def any_size(config: ModelConfig) -> bool:
    """Whether the model takes images of any size (a pooling head; flatten fixes the size)."""
    return config.pooling != "flatten"


def build(config: ModelConfig, image_size: int, resize: str) -> keras.Model:
    """Backbone + pooling/flatten -> dense -> dropout -> one sigmoid unit (P(dog)), for images
    that the input pipeline made square by the ``resize`` policy, ``image_size`` pixels in
    training (and in prediction, until ``set_predict_size`` says otherwise)."""
    side = None if any_size(config) else image_size
    input_shape = (side, side, 3)
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
    x = ResizePolicy(resize, image_size, name="resize_policy")(inputs)
    x = backbone(x)
    x = POOLING_LAYERS[config.pooling](name="pool")(x)
    x = keras.layers.Dense(config.dense_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="p_dog")(x)
    return keras.Model(inputs, outputs, name=f"{config.backbone}_catsdogs")


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a model from ``build`` (its one nested model)."""
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def head_variables(model: keras.Model) -> list:
    """The new head's weights: what trains during the head-only warm-up epochs."""
    return [
        v
        for layer in model.layers
        if layer.name.startswith(("head_", "p_dog"))
        for v in layer.trainable_variables
    ]


def _policy_layer(model: keras.Model) -> ResizePolicy | None:
    return next((layer for layer in model.layers if isinstance(layer, ResizePolicy)), None)


def input_of(model: keras.Model, where: Path) -> tuple[int, str]:
    """The square size to predict at and the resize policy the model was trained with; a
    model that does not record them (not saved by ``catsdogs train``) is refused, never
    guessed."""
    layer = _policy_layer(model)
    if layer is None or layer.size is None:
        raise UserError(
            f"model {where} does not record how its images were resized (a ResizePolicy layer); "
            "only models saved by `catsdogs train` can be used"
        )
    return int(layer.size), layer.policy


def set_predict_size(model: keras.Model, size: int) -> None:
    """The size ``model`` is to predict at, recorded in it (saved with it)."""
    _policy_layer(model).size = int(size)

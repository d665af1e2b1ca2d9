"""The classifier: a backbone from the registry and a new head on it, and what the saved model
tells about its own input.

A model takes ``image_size`` x ``image_size`` RGB images in [0, 255] and gives P(dog) from one
float32 sigmoid unit (float32 whatever the mixed-precision policy, so the sigmoid and the loss
stay accurate). How an image of any shape becomes that square (the config's ``data.resize``)
is recorded inside the model by a ``ResizePolicy`` layer, so a ``.keras`` file predicts the
same alone as inside its run.
"""

from __future__ import annotations

from pathlib import Path

import keras

from catsdogs.config import RESIZE_POLICIES, ModelConfig
from catsdogs.errors import UserError
from catsdogs.model.backbones import BACKBONES

# Keyed by config.POOLINGS: how the head turns the backbone's feature map into one vector.
POOLING_LAYERS: dict[str, type[keras.layers.Layer]] = {
    "flatten": keras.layers.Flatten,
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}


@keras.saving.register_keras_serializable(package="catsdogs")
class ResizePolicy(keras.layers.Layer):
    """Passes images through unchanged; its config records how the input pipeline resized them
    (one of config.RESIZE_POLICIES), so that prediction resizes the same way."""

    def __init__(self, policy: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if policy not in RESIZE_POLICIES:
            raise ValueError(f"policy must be one of {', '.join(RESIZE_POLICIES)}; got {policy!r}")
        self.policy = policy

    def call(self, images):
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "policy": self.policy}


def _weights_argument(config: ModelConfig) -> str | None:
    if config.weights == "none":
        return None
    if config.weights == "imagenet":
        return "imagenet"
    return str(Path(config.weights).expanduser())


def build(config: ModelConfig, image_size: int, resize: str) -> keras.Model:
    """Backbone + pooling/flatten -> dense -> dropout -> one sigmoid unit (P(dog)), for images
    that the input pipeline made square by the ``resize`` policy."""
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
    x = ResizePolicy(resize, name="resize_policy")(inputs)
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


def input_of(model: keras.Model, where: Path) -> tuple[int, str]:
    """The square size and the resize policy ``model`` was trained on; a model that does not
    record its policy (not saved by ``catsdogs train``) is refused, never guessed."""
    policies = [layer.policy for layer in model.layers if isinstance(layer, ResizePolicy)]
    if not policies:
        raise UserError(
            f"model {where} does not record how its images were resized (a ResizePolicy layer); "
            "only models saved by `catsdogs train` can be used"
        )
    return int(model.input_shape[1]), policies[0]

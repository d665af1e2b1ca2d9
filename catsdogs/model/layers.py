"""The layers of catsdogs' own that a saved model names (``catsdogs>ResizePolicy``,
``catsdogs>CaffePreprocess``), registered with Keras on import. Keras alone, nothing else of
catsdogs at import: ``import catsdogs`` imports this module the moment Keras is imported (a
post-import hook), so that ``keras.saving.load_model`` opens a catsdogs model, and that must
not pull in pydantic or TensorFlow (``catsdogs.optim`` stays free of both)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="catsdogs")
class ResizePolicy(keras.layers.Layer):
    """Passes images through unchanged; its config records how the input pipeline made them
    square (one of config.RESIZE_POLICIES) and the size to predict at."""

    def __init__(self, policy: str, size: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from catsdogs.config import RESIZE_POLICIES  # where a model is built or loaded

        if policy not in RESIZE_POLICIES:
            raise ValueError(f"policy must be one of {', '.join(RESIZE_POLICIES)}; got {policy!r}")
        self.policy, self.size = policy, size

    def call(self, images):
        return images

    def get_config(self) -> dict:
        return {**super().get_config(), "policy": self.policy, "size": self.size}


@keras.saving.register_keras_serializable(package="catsdogs")
class CaffePreprocess(keras.layers.Layer):
    """VGG/ResNet50 ("caffe") preprocessing: RGB -> BGR, minus the ImageNet channel means."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, images):
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.cast(keras.ops.array(self.MEAN_BGR), bgr.dtype)

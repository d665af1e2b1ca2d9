"""catsdogs: an end-to-end Kaggle Dogs vs. Cats trainer around an exact Lookahead optimizer.

In Python (a notebook)::

    import catsdogs
    model = catsdogs.load("runs/cpu-4m")          # a run directory or a .keras file
    model.predict(["cat.jpg", "dogs/"])           # a DataFrame: file, p_dog, label
    model.summary(); model.gradcam("cat.jpg")     # the layers and the run; where it looked
    catsdogs.train("configs/cpu.yaml", time_budget="10m")

Importing catsdogs is light (Keras and TensorFlow load where a model is used), and it teaches
Keras catsdogs' layers the moment Keras is imported, before or after, so that
``keras.saving.load_model(path)`` opens any model catsdogs saved (wrapt's post-import hook:
Keras itself has no plugin registry).
"""

from __future__ import annotations

from typing import Any

import wrapt

__version__ = "0.1.0"
__all__ = ["Model", "load", "train"]


def _register(keras: Any) -> None:
    """Import the module whose classes a saved model names (``catsdogs>ResizePolicy``...):
    importing it registers them with Keras (it needs nothing but Keras)."""
    import catsdogs.model.layers  # noqa: F401


wrapt.register_post_import_hook(_register, "keras")


def __getattr__(name: str) -> Any:
    """``catsdogs.load``, ``train`` and ``Model``, imported on first use (PEP 562)."""
    if name in __all__:
        from catsdogs import api

        return getattr(api, name)
    raise AttributeError(f"module 'catsdogs' has no attribute {name!r}")

"""The model stage: the backbone registry (``backbones``) and the classifier built on it
(``classifier``: the new head, and the resize policy that the saved model carries); ``layers``
holds the layers of our own a saved model names (importing catsdogs registers them).

May import: the foundation modules (``catsdogs.errors``, ``config``). Keras is imported here;
TensorFlow is not needed (the models run on any Keras backend).
"""

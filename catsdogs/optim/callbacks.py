"""Keras callbacks that make Lookahead's slow weights the ones a user judges the model by."""

from __future__ import annotations

import contextlib

import keras

from catsdogs.optim.lookahead import judged_weights


class SlowWeightsEvaluation(keras.callbacks.Callback):
    """Validate with Lookahead's slow weights, as the paper does, and train on with the fast ones.

    During ``fit`` Keras calls ``on_test_begin``/``on_test_end`` around each validation pass:
    the slow weights are swapped in for it and the fast weights put back after, so the
    training trajectory is unchanged. Without a Lookahead optimizer it does nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._swap = contextlib.ExitStack()

    def on_test_begin(self, logs=None) -> None:
        self._swap.enter_context(judged_weights(self.model.optimizer))

    def on_test_end(self, logs=None) -> None:
        self._swap.close()

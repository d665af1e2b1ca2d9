"""BatchNorm statistics measured for the weights in a model, worked by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from catsdogs.training import batchnorm


def model_with_batchnorm() -> keras.Model:
    inputs = keras.Input((2,))
    inner = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization(momentum=0.9)])
    return keras.Model(inputs, keras.layers.Dense(1)(inner(inputs)))


def test_the_statistics_are_the_plain_average_of_the_batches_and_the_model_keeps_its_own():
    model = model_with_batchnorm()
    [norm] = batchnorm.layers(model)  # found inside the nested model
    # Batch 1: mean 1, variance 1; batch 2: mean 5, variance 1 (biased, as BatchNorm's).
    batches = [
        (np.array([[0.0, 0.0], [2.0, 2.0]], "float32"), None),
        (np.array([[4.0, 4.0], [6.0, 6.0]], "float32"), None),
    ]
    mean, variance = batchnorm.measure(model, batches)
    np.testing.assert_allclose(mean, [3.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(variance, [1.0, 1.0], rtol=1e-5)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), [0.0, 0.0])  # initial, kept
    np.testing.assert_array_equal(norm.moving_variance.numpy(), [1.0, 1.0])
    assert norm.momentum == pytest.approx(0.9)
    with batchnorm.applied(model, [mean, variance]):
        np.testing.assert_allclose(norm.moving_mean.numpy(), [3.0, 3.0], rtol=1e-6)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), [0.0, 0.0])

"""The operations of a training step, counted from its graph, against a count by hand."""

from __future__ import annotations

import keras

from catsdogs.training import flops


def two_layers() -> keras.Model:
    """8x8x3 -> conv 3x3 (4 filters, same) -> flatten (256) -> dense 2."""
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(images)
    x = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    return keras.Model(images, x)


def test_a_two_layer_model_counts_as_by_hand():
    counted = flops.step_flops(two_layers(), 8)
    conv = 8 * 8 * 4 * (3 * 3 * 3)  # multiply-adds: each output value sums a 3x3x3 window
    dense = 256 * 2
    assert counted.forward == 2 * (conv + dense)
    # Backward: the conv's kernel gradient (as many as its forward), the dense layer's kernel
    # gradient and its input gradient; not the images' gradient, which nothing needs.
    assert counted.backward == 2 * (conv + 2 * dense)
    assert counted.total == counted.forward + counted.backward


def test_the_count_is_per_image_and_grows_with_the_square_of_the_size():
    images = keras.Input((None, None, 3))
    model = keras.Model(images, keras.layers.Conv2D(8, 3, padding="same")(images))
    small, large = flops.step_flops(model, 16, images=1), flops.step_flops(model, 32, images=4)
    assert small.forward == 2 * 16 * 16 * 8 * 27
    assert large.forward == 4 * small.forward and large.backward == 4 * small.backward


def test_the_share_line_says_the_rate_and_the_share_of_the_limit():
    line = flops.share_line(flops.StepFlops(1e9, 2e9), images_per_second=50, limit=200e9)
    assert line == (
        "3.00 GFLOP an image (forward 1.00, backward 2.00); 150 GFLOP/s, 75% of this machine's "
        "float32 matrix product (200 GFLOP/s)"
    )


def test_the_matrix_product_rate_is_measured():
    rate = flops.matmul_rate(n=256, seconds=0.05)
    assert 1e8 < rate < 1e14  # operations a second of a real product on this CPU

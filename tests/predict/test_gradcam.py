"""Grad-CAM: where a model found its evidence, as a map over the image it saw."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers import tiny_model

from catsdogs.config import ModelConfig
from catsdogs.model import classifier
from catsdogs.predict import predictor
from catsdogs.predict.gradcam import GradCam


def images_seen(loaded: predictor.Loaded, paths) -> np.ndarray:
    return np.stack([predictor.model_input(loaded, p, 1).numpy() for p in paths])


def test_maps_have_the_images_shape_and_vary_on_a_trained_smoke_model(smoke_run):
    run, data = smoke_run
    loaded = predictor.load(run / "best.keras")
    paths = pd.read_csv(data / "val.csv")["path"].tolist()
    images = images_seen(loaded, paths)
    cam = GradCam(loaded.model)
    maps, p_dog = cam.maps(images)
    assert maps.shape == (len(paths), loaded.size, loaded.size) == images.shape[:3]
    assert maps.min() >= 0 and maps.max(axis=(1, 2)) == pytest.approx(1.0)
    assert all(m.std() > 0.05 for m in maps)  # each map picks out places, none is flat
    # small_cnn's last ReLU, not the max-pooling after it (which halves the map).
    backbone = classifier.backbone_of(loaded.model)
    assert isinstance(backbone.layers[-1], keras.layers.MaxPooling2D)
    assert cam.layer is backbone.layers[-2] and isinstance(cam.layer, keras.layers.Activation)
    # The maps come from the model as it predicts: the same P(dog).
    predicted = predictor.p_dog(loaded, paths, tta=False, orientations=[1] * len(paths))
    assert p_dog == pytest.approx(predicted, abs=1e-5)


def by_hand(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Grad-CAM of ``tiny_model``'s conv -> flatten -> dense worked out by the chain rule:
    the logit is sum(A * W) + b over the conv output A (h, w, c), so its gradient is W itself;
    toward the predicted class it is W times the sign of the logit."""
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    features = keras.Model(model.inputs[0], conv.output)(images).numpy()  # (n, h, w, c)
    kernel, bias = (v.numpy() for v in model.layers[-1].weights)
    weights = kernel[:, 0].reshape(features.shape[1:])
    logits = (features * weights).sum(axis=(1, 2, 3)) + bias[0]
    alphas = np.sign(logits)[:, None] * weights.mean(axis=(0, 1))[None, :]  # (n, c)
    cam = np.maximum(np.einsum("nhwc,nc->nhw", features, alphas), 0)
    cam = tf.image.resize(cam[..., None], images.shape[1:3], "bilinear").numpy()[..., 0]
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def test_maps_equal_grad_cam_worked_out_by_hand_toward_either_class(tmp_path):
    model = keras.models.load_model(tiny_model(tmp_path / "m.keras", flip_invariant=False))
    images = 255 * np.random.default_rng(3).integers(0, 2, (5, 32, 32, 3)).astype(np.float32)
    model.layers[-1].bias.assign([8.0])  # every image a dog
    dogs, p_dog = GradCam(model).maps(images)
    assert (p_dog > 0.5).all()
    assert dogs == pytest.approx(by_hand(model, images), abs=1e-5)
    model.layers[-1].bias.assign([-8.0])  # every image a cat: the evidence for a cat
    cats, p_dog = GradCam(model).maps(images)
    assert (p_dog < 0.5).all()
    assert cats == pytest.approx(by_hand(model, images), abs=1e-5)
    assert np.abs(cats - dogs).max(axis=(1, 2)).min() > 0.5  # elsewhere for each image


def test_a_map_without_evidence_is_all_zero_not_an_error(tmp_path):
    model = keras.models.load_model(tiny_model(tmp_path / "m.keras", flip_invariant=False))
    kernel = model.layers[-1].kernel
    kernel.assign(np.zeros(kernel.shape))  # no pixel moves the logit
    maps, p_dog = GradCam(model).maps(np.full((2, 32, 32, 3), 100.0, np.float32))
    assert maps.shape == (2, 32, 32)
    assert np.isfinite(maps).all() and not maps.any()
    assert p_dog == pytest.approx(1 / (1 + np.exp(-model.layers[-1].bias.numpy()[0])))


def test_a_vgg19_backbone_built_without_weights_gives_maps_of_any_input_size():
    model = classifier.build(ModelConfig(backbone="vgg19", weights="none"), 32, "stretch")
    cam = GradCam(model)
    assert cam.layer.name == "block5_conv4"  # its last convolution, not block5_pool
    for size in (32, 48):
        images = np.random.default_rng(size).uniform(0, 255, (2, size, size, 3))
        maps, p_dog = cam.maps(images.astype(np.float32))
        assert maps.shape == (2, size, size)
        assert maps.min() >= 0 and maps.max() <= 1
        assert p_dog == pytest.approx(model(images, training=False).numpy().ravel(), abs=1e-5)


def test_the_tiles_carry_a_colour_bar_and_an_empty_figure_says_so_once(
    smoke_run, tmp_path, monkeypatch
):
    from catsdogs.predict import tiles

    run, data = smoke_run
    drawn = []
    monkeypatch.setattr(tiles.plots, "save", lambda figure, path: drawn.append(figure))
    loaded = predictor.load(run / "best.keras")
    frame = pd.read_csv(data / "val.csv").head(2)
    frame = frame.assign(path=[str(data / p) for p in frame["path"]], orientation=1)
    frame = frame.assign(probability=[0.9, 0.2], loss=[0.1, 1.6])
    tiles.draw(frame, 2, loaded, "two tiles", tmp_path / "t.png", "none")
    [figure] = drawn
    [bar] = [axis for axis in figure.axes if axis.get_ylabel().startswith("Grad-CAM")]
    assert bar.get_ylim() == (0.0, 1.0)  # the map's 0 to 1, in its colours
    tiles.draw(frame.head(0), 0, loaded, "No mistakes", tmp_path / "e.png", "no mistakes")
    texts = [t.get_text() for t in drawn[1].axes[0].texts] + [drawn[1].axes[0].get_title()]
    assert [t for t in texts if t] == ["no mistakes"]
    # Laid out without matplotlib's "not compatible with tight_layout" warning (a probe saw
    # it in `catsdogs report`'s output).
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiles.draw(frame, 2, loaded, "two tiles", tmp_path / "t.png", "none")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"

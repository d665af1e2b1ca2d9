"""Every name a config may use has one owner (catsdogs.config) and one registry entry, and every
entry builds and works: each backbone, pooling, optimizer, schedule and resize policy."""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pytest
import yaml
from helpers import CONFIGS, ROOT
from pydantic import BaseModel, ValidationError

from catsdogs import config as config_lib
from catsdogs.config import Config, ModelConfig, OptimizerConfig, ScheduleConfig
from catsdogs.data import pipeline
from catsdogs.errors import UserError
from catsdogs.model import backbones, classifier
from catsdogs.optim import Lookahead, factory
from catsdogs.optim.schedules import Schedule


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (backbones.BACKBONES, config_lib.BACKBONE_NAMES),
        (classifier.POOLING_LAYERS, config_lib.POOLINGS),
        (factory.OPTIMIZERS, config_lib.OPTIMIZER_NAMES),
        (pipeline.RESIZERS, config_lib.RESIZE_POLICIES),
    ],
    ids=["backbones", "poolings", "optimizers", "resize policies"],
)
def test_each_registry_has_exactly_the_config_names(registry, names):
    assert tuple(registry) == names


@pytest.mark.parametrize(
    ("section", "key", "registry"),
    [
        (ModelConfig, "backbone", backbones.BACKBONES),
        (ModelConfig, "pooling", classifier.POOLING_LAYERS),
        (OptimizerConfig, "name", factory.OPTIMIZERS),
        (config_lib.DataConfig, "resize", pipeline.RESIZERS),
    ],
    ids=["backbones", "poolings", "optimizers", "resize policies"],
)
def test_a_config_takes_every_name_its_registry_builds_and_refuses_others(section, key, registry):
    for name in registry:
        assert getattr(section.model_validate({key: name}), key) == name
    with pytest.raises(ValidationError) as refused:
        section.model_validate({key: "nonesuch"})
    assert all(repr(name) in str(refused.value) for name in registry)


def test_a_config_takes_every_schedule_shape_and_the_schedule_refuses_others():
    # The schedule's shapes are the config's names: each validates and builds; the schedule
    # itself refuses a shape it does not draw.
    for name in config_lib.SCHEDULE_NAMES:
        assert ScheduleConfig.model_validate({"name": name}).name == name
        assert Schedule(0.1, 10, shape=name).shape == name
    with pytest.raises(ValidationError):
        ScheduleConfig.model_validate({"name": "nonesuch"})
    with pytest.raises(ValueError, match="shape must be one of constant, cosine, linear"):
        Schedule(0.1, 10, shape="nonesuch")


# What each backbone is inside keras.applications (small_cnn and resnet9 are ours).
KERAS_NAMES = {
    "vgg19": "vgg19",
    "vgg16": "vgg16",
    "resnet50": "resnet50",
    "efficientnetv2b0": "efficientnetv2-b0",
    "mobilenetv3small": "MobileNetV3Small",
    "convnexttiny": "convnext_tiny",
    "small_cnn": "small_cnn",
    "resnet9": "resnet9",
}


@pytest.mark.parametrize("backbone", config_lib.BACKBONE_NAMES)
def test_every_backbone_builds_and_predicts(backbone):
    # At the smallest size the config allows it (a probe: VGG19 at 16 px was a traceback).
    size = config_lib.MIN_IMAGE_SIZES[backbone]
    config = ModelConfig(backbone=backbone, weights="none", dense_units=8, width=4)
    model = classifier.build(config, image_size=size, resize="stretch")
    assert classifier.backbone_of(model).name == KERAS_NAMES[backbone]
    assert classifier.backbone_of(model).output.shape[1:3] in ((1, 1), (None, None))
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    p_dog = model.predict(images, verbose=0)
    assert p_dog.shape == (2, 1) and p_dog.dtype == np.float32
    assert np.all((p_dog > 0) & (p_dog < 1))
    # The head: the dense layer's kernel and 8 biases, then the sigmoid unit's 8 weights and bias.
    head = [tuple(v.shape) for v in classifier.head_variables(model)]
    assert head[1:] == [(8,), (8, 1), (1,)] and head[0][1] == 8


@pytest.mark.parametrize("pooling", config_lib.POOLINGS)
def test_every_pooling_gives_the_head_its_vector(pooling):
    config = ModelConfig(backbone="small_cnn", weights="none", pooling=pooling, width=4)
    model = classifier.build(config, image_size=32, resize="stretch")
    # small_cnn at 32 px ends in 2x2 maps of 8 * width = 32 channels.
    features = 32 * (4 if pooling == "flatten" else 1)
    assert model.get_layer("pool").output.shape == (None, features)


# Each optimizer's first step on a weight of 1.0 with gradient 0.5, worked out by hand: SGD moves
# lr * g; Adam (bias-corrected) lr * sign(g); AdamW also decays lr * wd * w; RMSprop (rho 0.9,
# momentum m) moves lr * g / sqrt(0.1 * g^2) = lr / sqrt(0.1).
LR, GRAD = 0.01, 0.5
FIRST_STEP = {
    "sgd": LR * GRAD,
    "adam": LR,
    "adamw": LR + LR * 0.004 * 1.0,
    "rmsprop": LR / math.sqrt(0.1),
}
INNER = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
}


@pytest.mark.parametrize("lookahead", [False, True], ids=["plain", "lookahead"])
@pytest.mark.parametrize("name", config_lib.OPTIMIZER_NAMES)
def test_every_optimizer_builds_and_takes_its_first_step(name, lookahead):
    config = OptimizerConfig(name=name, learning_rate=LR, lookahead={"enabled": lookahead})
    optimizer = factory.build(config, factory.learning_rate(config, 10, 1))
    inner = optimizer.inner_optimizer if lookahead else optimizer
    assert type(optimizer) is (Lookahead if lookahead else INNER[name])
    assert type(inner) is INNER[name]
    weight = keras.Variable(np.ones(3, "float32"))
    optimizer.build([weight])
    optimizer.apply([keras.ops.full((3,), GRAD)], [weight])
    # Lookahead's first slow sync is after k = 5 steps: its first step is the inner one's.
    np.testing.assert_allclose(weight.numpy(), 1.0 - FIRST_STEP[name], rtol=1e-4)


def _rates(config: OptimizerConfig, steps: list[int]) -> list[float]:
    rate = factory.learning_rate(config, steps_per_epoch=10, epochs=4)  # 40 steps
    if isinstance(rate, float):
        return [rate] * len(steps)
    return [float(rate(step)) for step in steps]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # steps:                           0     10    25    40
        ({"name": "constant"}, [0.1, 0.1, 0.1, 0.1]),
        ({"name": "constant", "warmup_epochs": 1}, [0.0, 0.1, 0.1, 0.1]),
        # cosine over 40 steps from 0.1 to 0.02: at step s, 0.02 + 0.04 * (1 + cos(pi s / 40))
        (
            {"name": "cosine", "min_learning_rate": 0.02},
            [
                0.1,
                0.02 + 0.04 * (1 + math.cos(math.pi / 4)),
                0.02 + 0.04 * (1 + math.cos(math.pi * 25 / 40)),
                0.02,
            ],
        ),
        # warm-up 10 steps to 0.1, then cosine over the 30 left: at step s, cos(pi (s - 10) / 30)
        (
            {"name": "cosine", "warmup_epochs": 1, "min_learning_rate": 0.02},
            [0.0, 0.1, 0.02 + 0.04 * (1 + math.cos(math.pi / 2)), 0.02],
        ),
        # linear from 0.1 to 0.02 over 40 steps: 0.1 - 0.08 * s / 40
        ({"name": "linear", "min_learning_rate": 0.02}, [0.1, 0.08, 0.05, 0.02]),
        # warm-up 10 steps, then linear over the 30 left: 0.1 - 0.08 * (s - 10) / 30
        ({"name": "linear", "warmup_epochs": 1, "min_learning_rate": 0.02}, [0.0, 0.1, 0.06, 0.02]),
    ],
    ids=["constant", "constant+warmup", "cosine", "cosine+warmup", "linear", "linear+warmup"],
)
def test_every_schedule_with_and_without_warmup(schedule, expected):
    config = OptimizerConfig(learning_rate=0.1, schedule=schedule)
    np.testing.assert_allclose(_rates(config, [0, 10, 25, 40]), expected, atol=1e-6)


def _readme_config() -> dict:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Config format") :]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def _leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def _schema_keys(section: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in section.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys |= _schema_keys(kind, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_readme_config_block_is_the_reference_config_and_names_every_key():
    block = _readme_config()
    documented = Config.model_validate(block)  # every key exists, every value is valid
    reference = config_lib.load(CONFIGS / "vgg19_lookahead.yaml")
    assert documented == reference
    # Every key but those train fills in (data.identity and training.plan, explained there).
    assert _leaf_keys(block) == _schema_keys(Config) - {"data.identity", "training.plan"}


def test_every_schema_field_has_a_description():
    def undescribed(section: type[BaseModel], prefix: str = "") -> list[str]:
        missing = []
        for name, field in section.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                missing += undescribed(kind, f"{prefix}{name}.")
            elif not field.description:
                missing.append(prefix + name)
        return missing

    assert undescribed(Config) == []


def test_resnet9_adds_each_residual_block_to_its_stage_and_ends_in_maps_of_8_widths():
    config = ModelConfig(backbone="resnet9", weights="none", dense_units=8, width=4)
    backbone = classifier.backbone_of(classifier.build(config, image_size=32, resize="stretch"))
    adds = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Add)]
    # Stages 1 and 3 (8 and 32 channels) carry a block of two convolutions.
    assert [layer.output.shape[-1] for layer in adds] == [8, 32]
    convolutions = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 8  # stem, three stages, two blocks of two: ResNet-9 less its head
    assert tuple(backbone(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 2, 2, 32)
    with pytest.raises(UserError, match="resnet9 has no pretrained weights"):
        classifier.build(
            ModelConfig(backbone="resnet9", weights="imagenet"), image_size=32, resize="stretch"
        )

"""Configs: one clear line for every mistake, dotted overrides, the shipped configs build."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import get_args

import keras
import pytest
from helpers import CONFIGS, SMOKE, cli
from imagefactory import jpeg_bytes
from pydantic import BaseModel

from catsdogs.config import Config, load
from catsdogs.errors import UserError
from catsdogs.model.classifier import build as build_model
from catsdogs.optim import Lookahead, factory


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "optimizer:\n  learnig_rate: 0.1\n",
            [],
            "unknown key 'optimizer.learnig_rate' (did you mean 'optimizer.learning_rate'?)",
        ),
        (
            "",
            ["training.epoch=3"],
            "unknown key 'training.epoch' (did you mean 'training.epochs'?)",
        ),
        ("", ["training.colour=3"], "unknown key 'training.colour' (a typo?)"),
        ("", ["optimizer.lookahead.k=3"], "unknown key 'optimizer.lookahead.k' (a typo?)"),
        (
            "",
            ["optimizer.lookahead.sync_periods=3"],
            "(did you mean 'optimizer.lookahead.sync_period'?)",
        ),
        ("data:\n  image_size: big\n", [], "data.image_size: Input should be a valid integer"),
        ("data:\n  image_size: 8\n", [], "data.image_size: Input should be greater than"),
        ("model:\n  weights: /no/such.h5\n", [], "neither imagenet, none nor an existing file"),
        ("model:\n  backbone: alexnet\n", [], "model.backbone: Input should be"),
        ("optimizer: [1, 2\n", [], "is not valid YAML"),
        ("- a\n- b\n", [], "top level must be a mapping"),
        (
            "",
            ["optimizer.lookahed.enabled=false"],
            "unknown key 'optimizer.lookahed' (did you mean 'optimizer.lookahead'?)",
        ),
        ("", ["optimizer.learning_rate"], "expected key=value"),
        ("", ["data.crop_area=[0.9, 0.2]"], "data.crop_area: must be [low, high]"),
        ("", ["data.ladder=[96, 64]"], "data.ladder: must be sizes between 16 and 1024 in"),
        ("", ["data.ladder=[64, 64]"], "data.ladder: must be sizes between 16 and 1024 in"),
        ("", ["data.ladder=[8]"], "data.ladder: must be sizes between 16 and 1024 in"),
        (
            "",
            ["data.image_size=96", "data.ladder=[64, 96]"],
            "data.ladder: every size must be below data.image_size",
        ),
        (
            "model: {pooling: flatten}\n",
            ["data.ladder=[64]"],
            "data.ladder: a flatten head takes only data.image_size",
        ),
        ("", ["data.ladder_share=1"], "data.ladder_share: Input should be less than 1"),
        (
            "optimizer: {schedule: {name: cosine}}\n",
            ["training.reduce_lr_on_plateau.enabled=true"],
            "reduce_lr_on_plateau needs optimizer.schedule.name: constant",
        ),
    ],
)
def test_mistakes_are_one_clear_line(tmp_path, text, overrides, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load(path, overrides)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(path) in str(caught.value) or "--set" in str(caught.value)


def test_missing_config_file_through_the_cli(tmp_path):
    done = cli("train", "--config", tmp_path / "nope.yaml")
    assert done.exit_code == 1
    assert done.output.strip() == f"error: config file {tmp_path / 'nope.yaml'} does not exist"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (jpeg_bytes(), "is not UTF-8 text (byte 1 is 0xff)"),
        ("name: a\n".encode("utf-16"), "is not UTF-8 text (byte 1 is 0xff)"),
        (b"name: a\x00b\n", "is not YAML text (character 8 is U+0000, which YAML does not allow)"),
    ],
    ids=["a JPEG", "UTF-16", "a NUL byte"],
)
def test_a_binary_or_non_utf8_config_is_one_error_line(tmp_path, data, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    done = cli("train", "--config", path)
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    assert (
        done.output.strip()
        == f"error: config file {path} {message}: a binary file? give a YAML file"
    )


def test_overrides_apply_with_types(tmp_path):
    config = load(
        write(tmp_path, "name: x\n"),
        [
            "optimizer.learning_rate=1e-3",
            "data.image_size=128",
            "optimizer.lookahead.enabled=false",
        ],
    )
    assert config.optimizer.learning_rate == pytest.approx(1e-3)
    assert config.data.image_size == 128 and config.optimizer.lookahead.enabled is False
    assert config.name == "x"
    assert load(write(tmp_path, "seed: 1\n")).name == "c"  # the file's name by default


def test_a_name_taken_from_the_file_s_name_is_blamed_on_the_file(tmp_path):
    # A probe: `--config "my smoke.yaml"` (no name: key) said "name: String should match
    # pattern '^[A-Za-z0-9_.-]+$'" of a key the file does not have.
    path = tmp_path / "my smoke.yaml"
    path.write_text("seed: 1\n")
    with pytest.raises(UserError) as refused:
        load(path)
    assert str(refused.value) == (
        f"{path}: the config has no name: key, so its run is named after the file, 'my smoke', "
        "which holds other characters than letters, digits, '_', '.' and '-': add a name: key"
    )
    with pytest.raises(UserError, match=r"\(with --set\): name: is longer than 100 characters"):
        load(path, ["name=" + "x" * 101])
    # A probe: `--set name=` said the empty name "holds other characters".
    with pytest.raises(UserError, match=r"\(with --set\): name: is empty$"):
        load(path, ["name="])


def test_null_leaves_a_key_out_where_the_key_cannot_be_null(tmp_path):
    """``--set training.epochs=null`` (or ``epochs:`` in the file) means left out: with a
    time budget the plan decides the epochs (no ceiling); a key that may be null stays null."""
    budgeted = write(tmp_path, "training: {epochs: 3, time_budget: 10m}\n")
    assert load(budgeted).training.most_epochs == 3
    config = load(budgeted, ["training.epochs=null"])
    assert config.training.most_epochs is None and config.training.epochs == 10
    in_file = load(write(tmp_path, "training:\n  epochs:\n  time_budget: 10m\n"))
    assert in_file.training.most_epochs is None
    assert load(budgeted, ["training.time_budget=null"]).training.time_budget is None


def test_reference_config_is_the_reference_run():
    config = load(CONFIGS / "vgg19_lookahead.yaml", ["model.weights=none"])
    assert (config.model.backbone, config.data.image_size) == ("vgg19", 224)
    optimizer = factory.build(config.optimizer, factory.learning_rate(config.optimizer, 10, 1))
    assert isinstance(optimizer, Lookahead)
    assert (optimizer.sync_period, optimizer.slow_step_size) == (5, 0.5)
    inner = optimizer.inner_optimizer
    assert isinstance(inner, keras.optimizers.SGD)
    assert float(inner.learning_rate) == pytest.approx(1e-4) and inner.momentum == 0.9
    model = build_model(config.model, config.data.image_size, config.data.resize)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1)
    assert all(layer.trainable for layer in model.layers)
    assert len(model.trainable_variables) == 32 + 4  # VGG19's 16 convs + the new head
    sgd = load(CONFIGS / "vgg19_sgd.yaml", ["model.weights=none"])
    assert not isinstance(
        factory.build(sgd.optimizer, factory.learning_rate(sgd.optimizer, 10, 1)), Lookahead
    )
    assert sgd.model == config.model and sgd.data == config.data


@pytest.mark.parametrize("name", ["smoke", "cpu", "vgg19_sgd"])
def test_every_shipped_config_loads(name):
    config = load(CONFIGS / f"{name}.yaml", ["model.weights=none"])
    assert config.name == name


def _numeric_fields(model: type[BaseModel], prefix: str = ""):
    """(dotted name, annotation, field info) of every int or float field, nested sections too."""
    for name, field in model.model_fields.items():
        optional = isinstance(field.annotation, types.UnionType)
        kinds = set(get_args(field.annotation)) - {type(None)} if optional else {field.annotation}
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _numeric_fields(field.annotation, f"{prefix}{name}.")
        elif kinds in ({int}, {float}):
            yield f"{prefix}{name}", kinds.pop(), field


def test_every_numeric_field_has_its_range():
    # Every number is bounded by the schema, so `--set seed=-1` is one config error, not a
    # crash deep inside numpy.
    fields = list(_numeric_fields(Config))
    assert {"seed", "data.batch_size", "optimizer.lookahead.sync_period"} <= {n for n, *_ in fields}
    for name, kind, field in fields:
        bounds = {type(m).__name__ for m in field.metadata}
        assert bounds & {"Ge", "Gt"}, f"{name} has no lower bound"
        if kind is int:
            assert bounds & {"Le", "Lt"}, f"{name} has no upper bound"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=-1", "seed: Input should be greater than or equal to 0"),
        ("seed=4294967296", "seed: Input should be less than or equal to 4294967295"),
        ("optimizer.learning_rate=.inf", "optimizer.learning_rate: Input should be a finite"),
        ("optimizer.clipnorm=.nan", "optimizer.clipnorm: Input should be a finite number"),
        ("data.batch_size=1000000", "data.batch_size: Input should be less than or equal"),
        ("optimizer.schedule.min_learning_rate=1", "min_learning_rate is above"),
        ("data.identity=abc", "data.identity: String should match pattern"),
        ("training.epochs=true", "training.epochs: must be a number, not true or false"),
        ("model.warmup_epochs=3", "model.warmup_epochs (3) is longer than training.epochs (2)"),
        ("optimizer.schedule.warmup_epochs=3", "warmup_epochs (3) is longer than training.epochs"),
    ],
)
def test_out_of_range_values_are_one_line(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load(SMOKE, [override])


def test_a_key_given_twice_and_a_config_that_is_no_file_are_one_line_each(tmp_path):
    # A probe: duplicate keys were last-wins in silence; --config /dev/null "did not exist".
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: a\nmodel:\n  backbone: small_cnn\n  weights: none\nname: b\n")
    with pytest.raises(
        UserError, match=r"twice.yaml: line 5 gives 'name' again \(first on line 1\)"
    ):
        load(twice)
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  width: 8\n  width: 16\n")
    with pytest.raises(UserError, match="line 3 gives 'width' again"):
        load(nested)
    with pytest.raises(UserError, match="config file /dev/null is not a file"):
        load(Path("/dev/null"))


def test_a_size_too_small_for_the_backbone_is_one_config_error():
    # A probe: VGG19 at 16 px ended in a Keras traceback ("Negative dimension size") and left
    # a run folder behind.
    vgg = ["model.backbone=vgg19", "model.weights=none"]
    with pytest.raises(UserError) as refused:
        load(SMOKE, [*vgg, "data.image_size=16"])
    assert str(refused.value).endswith(
        "data.image_size: vgg19 takes images of at least 32 px (it halves them until one pixel "
        "is left); the smallest size here is 16"
    )
    with pytest.raises(UserError, match="the smallest size here is 24"):
        load(SMOKE, [*vgg, "data.image_size=64", "data.ladder=[24,48]"])
    assert load(SMOKE, [*vgg, "data.image_size=32"]).data.image_size == 32
    assert load(SMOKE, ["data.image_size=16"]).data.image_size == 16  # small_cnn: 4 halvings

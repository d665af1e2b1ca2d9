"""Training configs: YAML files checked against one schema, with dotted overrides.

Every mistake a user can make in a config (an unknown or misspelt key, a wrong type, a value
out of range, a missing file) becomes one line naming the file and the key.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from catsdogs import durations
from catsdogs.errors import UserError
from catsdogs.paths import PREPARED

# The names each registry must know, owned here because configs are read before TensorFlow
# and Keras load; model.BACKBONES, optim.factory.OPTIMIZERS and pipeline.RESIZERS are keyed by
# exactly these (a test checks each registry against its list).
# Each backbone's smallest image: 2 to the power of the times it halves the image (its last
# map one pixel), checked against every size a config trains or predicts at.
MIN_IMAGE_SIZES = {
    "vgg19": 32,
    "vgg16": 32,
    "resnet50": 32,
    "efficientnetv2b0": 32,
    "mobilenetv3small": 32,
    "convnexttiny": 32,
    "small_cnn": 16,
    "resnet9": 16,
}
BACKBONE_NAMES = tuple(MIN_IMAGE_SIZES)
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop")
RESIZE_POLICIES = ("stretch", "center-crop", "pad")
SCHEDULE_NAMES = ("constant", "cosine", "linear")
POOLINGS = ("flatten", "avg", "max")
ADAMW_WEIGHT_DECAY = 0.004  # adamw's decay where weight_decay is null (Keras' default)
SWITCHES = ("auto", "on", "off")  # auto: decided for the machine (see each field)

# A run directory's name is <name>-<timestamp>, and a worker's .worker-<i> beside it; the files
# written in it take temporary names a little longer: 100 characters leave room in a file
# system's 255 a name.
NAME_LENGTH = 100
MAX_SEED = 2**32 - 1  # numpy's and Keras' seeds are unsigned 32-bit
MAX_EPOCHS = 100_000


class StrictSection(BaseModel):
    """A config section: unknown keys are typos, NaN and infinity never a meaningful setting."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: object, info: ValidationInfo) -> object:
        """pydantic reads true as 1: for a number, true/false is a mistake, not a value."""
        kinds = set(get_args(cls.model_fields[info.field_name].annotation)) or {
            cls.model_fields[info.field_name].annotation
        }
        if isinstance(value, bool) and kinds & {int, float} and bool not in kinds:
            raise ValueError("must be a number, not true or false")
        return value


class DataConfig(StrictSection):
    """Where the manifests are and how the input pipeline turns their images into batches."""

    dir: Path = Field(PREPARED, description="prepare's manifests (train.csv, val.csv)")
    identity: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{16}$",
        description="set by train in a run's config.yaml: the hash of train.csv and val.csv; "
        "a config that names one trains only on that data",
    )
    image_size: int = Field(224, ge=16, le=1024, description="square side, pixels")
    batch_size: int = Field(32, ge=1, le=65_536, description="global batch, split across replicas")
    resize: Literal[RESIZE_POLICIES] = Field(  # type: ignore[valid-type]
        "stretch", description=" | ".join(RESIZE_POLICIES)
    )
    augment: bool = Field(
        True, description="random resized crop + flip + brightness/contrast (+ rotation)"
    )
    crop_area: tuple[float, float] = Field(
        (0.6, 1.0), description="share of the image a random crop keeps: [low, high]"
    )
    max_rotation_degrees: float = Field(
        0.0, ge=0, le=45, description="off by default: it halves CPU throughput at 224 px"
    )
    brightness: float = Field(0.1, ge=0, le=1, description="max change, as a share of 255")
    contrast: float = Field(0.1, ge=0, le=1, description="max relative change")
    ladder: list[int] = Field(
        [],
        description="progressive resizing: smaller sizes trained first, ascending, each below "
        "image_size, the last ones at image_size (a pooling head); []: image_size throughout",
    )
    ladder_share: float = Field(
        0.5, gt=0, lt=1, description="the share of the run's steps on the ladder, split evenly"
    )
    sizes: Literal["auto", "fixed"] = Field(
        "fixed",
        description="auto: with a time budget, the plan chooses image_size and ladder for the "
        "steps the budget allows on this machine (catsdogs/training/recipes.py), unless --set "
        "gives either; fixed: as set",
    )
    predict_size: int | Literal["auto"] = Field(
        "auto",
        description="the square size prediction resizes to. auto: chosen at the end of "
        "training on the validation set among 1, 7/6 and 4/3 of image_size (the lowest loss; "
        "with a flatten head, image_size)",
    )
    cache: Literal[SWITCHES] = Field(  # type: ignore[valid-type]
        "auto",
        description="keep decoded images in memory, at the size training needs: auto while "
        "they fit in half the available memory, on always, off never",
    )

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_switch(cls, value: object) -> object:
        return switch(value)

    @field_validator("predict_size")
    @classmethod
    def _predict_size(cls, value: int | str) -> int | str:
        if value != "auto" and not 16 <= value <= 1024:
            raise ValueError("must be auto or a size between 16 and 1024")
        return value

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, value: list[int]) -> list[int]:
        if any(not 16 <= size <= 1024 for size in value) or value != sorted(set(value)):
            raise ValueError("must be sizes between 16 and 1024 in ascending order, each once")
        return value

    @field_validator("crop_area")
    @classmethod
    def _area(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high <= 1:
            raise ValueError("must be [low, high] with 0 < low <= high <= 1")
        return value


class ModelConfig(StrictSection):
    """The backbone and the new head on it: pooling -> dense -> dropout -> one sigmoid unit."""

    backbone: Literal[BACKBONE_NAMES] = Field(  # type: ignore[valid-type]
        "vgg19", description=" | ".join(BACKBONE_NAMES) + " (small_cnn, resnet9: from scratch)"
    )
    weights: str = Field("imagenet", description="imagenet | none | a local weights file")
    pooling: Literal[POOLINGS] = Field("avg", description=" | ".join(POOLINGS))  # type: ignore[valid-type]
    dense_units: int = Field(256, ge=1, le=65_536, description="units of the head's dense layer")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout after the head's dense layer")
    warmup_epochs: int = Field(
        0, ge=0, le=MAX_EPOCHS, description="head-only epochs before every layer trains"
    )
    width: int = Field(
        32, ge=4, le=1024, description="small_cnn, resnet9: filters in the first block"
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: str) -> str:
        if value not in ("imagenet", "none") and not Path(value).expanduser().is_file():
            raise ValueError(f"is neither imagenet, none nor an existing file: {value!r}")
        return value


class LookaheadConfig(StrictSection):
    """Lookahead around the optimizer: every k steps, slow += alpha * (fast - slow)."""

    enabled: bool = Field(True, description="wrap the optimizer in Lookahead")
    sync_period: int = Field(5, ge=1, le=1_000_000, description="k: fast steps per slow update")
    slow_step_size: float = Field(0.5, gt=0, le=1, description="alpha: the slow weights' step")


class ScheduleConfig(StrictSection):
    """The learning rate over optimizer steps."""

    name: Literal[SCHEDULE_NAMES] = Field(  # type: ignore[valid-type]
        "constant",
        description=" | ".join(SCHEDULE_NAMES)
        + " (cosine and linear decay to the minimum at the last step)",
    )
    warmup_epochs: float = Field(
        0.0, ge=0, le=MAX_EPOCHS, description="linear warm-up from 0, in epochs"
    )
    min_learning_rate: float = Field(0.0, ge=0, description="where cosine ends")


class OptimizerConfig(StrictSection):
    """The inner optimizer, its schedule, and Lookahead around it."""

    name: Literal[OPTIMIZER_NAMES] = Field(  # type: ignore[valid-type]
        "sgd", description=" | ".join(OPTIMIZER_NAMES)
    )
    learning_rate: float = Field(1e-4, gt=0, description="peak learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd, rmsprop")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum")
    weight_decay: float | None = Field(
        None,
        ge=0,
        le=1,
        description=f"decoupled weight decay (adamw: {ADAMW_WEIGHT_DECAY} when null)",
    )
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient to this norm")
    schedule: ScheduleConfig = ScheduleConfig()
    lookahead: LookaheadConfig = LookaheadConfig()


class PlateauConfig(StrictSection):
    """Keras' ReduceLROnPlateau on val_loss (with a constant schedule only)."""

    enabled: bool = Field(False, description="lower the learning rate on a plateau")
    patience: int = Field(2, ge=0, le=MAX_EPOCHS, description="epochs without a better val_loss")
    factor: float = Field(0.5, gt=0, lt=1, description="learning rate *= factor")
    min_learning_rate: float = Field(1e-7, ge=0, description="never lower than this")


class EarlyStoppingConfig(StrictSection):
    """Keras' EarlyStopping on val_loss."""

    enabled: bool = Field(False, description="stop when val_loss stops improving")
    patience: int = Field(3, ge=0, le=MAX_EPOCHS, description="epochs without a better val_loss")


class MeasuredPlan(StrictSection):
    """What `catsdogs train` decided by measurement when a run started: written into the run's
    config.yaml (never by hand), with the values it replaced, so that the run continues as it
    began and its config.yaml trains the same without a budget."""

    asked: dict[str, Any] = Field(
        description="the config's own values of the keys the plan decided (epochs, "
        "steps_per_epoch, jit_compile); null: left out of the config"
    )
    steps: int | None = Field(None, ge=1, description="optimizer steps the time budget allows")
    seconds_per_step: float | None = Field(None, ge=0, description="measured at the start")
    seconds_per_validation: float | None = Field(None, ge=0, description="one validation pass")
    seconds_per_save: float | None = Field(None, ge=0, description="the models and checkpoint")
    start_up_seconds: float | None = Field(None, ge=0, description="before the first plan")
    steps_per_second: dict[str, float] | None = Field(
        None, description="XLA on and off, measured side by side (jit_compile: auto on a CPU)"
    )
    bfloat16_speedup: float | None = Field(
        None, description="a bfloat16 layer step against float32 (mixed_precision: auto, a CPU)"
    )
    ladder: list[tuple[int, int]] | None = Field(
        None, description="progressive resizing: each smaller size and the step it ends at"
    )
    sizes: dict[str, float] | None = Field(
        None, description="data.sizes auto: each recipe's passes over the training images"
    )
    step_gflop: float | None = Field(
        None, description="a training step's operations per image at image_size, counted"
    )
    matmul_gflops: float | None = Field(
        None, description="this machine's matrix product rate in the step's precision"
    )
    replanned: list[str] = Field([], description="when and why the plan was shortened")


class TrainingConfig(StrictSection):
    """How long to train and on what numerics."""

    epochs: int = Field(
        10,
        ge=1,
        le=MAX_EPOCHS,
        description="epochs of steps_per_epoch steps each; with time_budget, the most (left "
        "out or null: as many as the budget allows)",
    )
    steps_per_epoch: int | None = Field(
        None,
        ge=1,
        le=10**9,
        description="default: one pass over train.csv; with time_budget, planned (given: fixed)",
    )
    time_budget: str | None = Field(
        None,
        description="train for this long, start to exit (30m, 1h30m, 90s): the steps and "
        "epochs are planned from the speed measured at the start; null: train `epochs`",
    )
    mixed_precision: Literal[SWITCHES] = Field(  # type: ignore[valid-type]
        "auto",
        description="on: mixed_float16 with a GPU, mixed_bfloat16 on a CPU. auto: on with a "
        "GPU; on a CPU, on where a bfloat16 layer step measures faster than float32 at the start",
    )
    jit_compile: Literal[SWITCHES] = Field(  # type: ignore[valid-type]
        "auto",
        description="XLA. auto: on with a GPU; without one, a few steps each way at the start "
        "decide (the faster is kept)",
    )
    evaluate_slow_weights: bool = Field(
        True, description="validate and save Lookahead's slow weights (else the fast ones)"
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="the training loss's targets pulled toward 0.5 by this share (Szegedy et "
        "al. 2016); the losses reported are the plain log loss",
    )
    batchnorm_statistics: Literal["recompute", "moving"] = Field(
        "recompute",
        description="BatchNorm statistics of the weights a run is judged by (validation, saved "
        "models): measured for them on 512 training images as validation sees images "
        "(recompute), or the moving averages training kept (moving)",
    )
    plan: MeasuredPlan | None = Field(
        None, description="set by train in a run's config.yaml: what it decided by measurement"
    )

    @field_validator("mixed_precision", "jit_compile", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        return switch(value)

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if value is not None:
            durations.parse(value)
        return value if value is None else str(value)

    @property
    def budget_seconds(self) -> int | None:
        """The time budget in seconds (None: none)."""
        return None if self.time_budget is None else durations.parse(self.time_budget)

    @property
    def planned_by_budget(self) -> bool:
        """A budget that has still to plan this config's epochs (no steps recorded yet)."""
        return self.time_budget is not None and (self.plan is None or self.plan.steps is None)

    @property
    def most_epochs(self) -> int | None:
        """With a budget: the epochs the config itself gives, a ceiling (None: left out)."""
        return self.epochs if "epochs" in self.model_fields_set else None

    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    reduce_lr_on_plateau: PlateauConfig = PlateauConfig()


def switch(value: object) -> object:
    """YAML reads a bare on/off as true/false: take those as "on"/"off"."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class Config(StrictSection):
    """A whole training run: what `catsdogs train --config` reads."""

    # The dotted keys the command line set (--set, --time-budget): the user's own choice,
    # which no automatic choice overrides.
    _overridden: frozenset[str] = PrivateAttr(default_factory=frozenset)

    name: str = Field(
        "run",
        pattern=r"^[A-Za-z0-9_.-]+$",
        min_length=1,
        max_length=NAME_LENGTH,
        description="run directories are runs/<name>-<timestamp>",
    )
    seed: int = Field(
        42, ge=0, le=MAX_SEED, description="data order, augmentation and initialization"
    )
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        size = self.data.predict_size
        if self.data.ladder and self.model.pooling == "flatten":
            raise ValueError(
                "data.ladder: a flatten head takes only data.image_size; pool (avg, max) to "
                "train at several sizes"
            )
        if self.data.ladder and self.data.ladder[-1] >= self.data.image_size:
            raise ValueError("data.ladder: every size must be below data.image_size")
        fixed = [size] if isinstance(size, int) else []
        smallest = min([self.data.image_size, *self.data.ladder, *fixed])
        least = MIN_IMAGE_SIZES[self.model.backbone]
        if smallest < least:
            raise ValueError(
                f"data.image_size: {self.model.backbone} takes images of at least {least} px "
                f"(it halves them until one pixel is left); the smallest size here is {smallest}"
            )
        if self.model.pooling == "flatten" and size not in ("auto", self.data.image_size):
            raise ValueError(
                "data.predict_size: a flatten head takes only data.image_size; pool (avg, max) "
                "to predict at another size"
            )
        if (
            self.training.reduce_lr_on_plateau.enabled
            and self.optimizer.schedule.name != "constant"
        ):
            raise ValueError(
                "training.reduce_lr_on_plateau needs optimizer.schedule.name: constant"
            )
        if self.optimizer.schedule.min_learning_rate > self.optimizer.learning_rate:
            raise ValueError(
                "optimizer.schedule.min_learning_rate is above optimizer.learning_rate"
            )
        if self.training.planned_by_budget:
            return self  # the warm-ups are checked against the epochs the budget plans
        epochs = self.training.epochs
        if self.model.warmup_epochs > epochs:  # equal: a head-only run (a linear probe)
            raise ValueError(
                f"model.warmup_epochs ({self.model.warmup_epochs}) is longer than "
                f"training.epochs ({epochs})"
            )
        if self.optimizer.schedule.warmup_epochs > epochs:
            raise ValueError(
                f"optimizer.schedule.warmup_epochs ({self.optimizer.schedule.warmup_epochs:g}) "
                f"is longer than training.epochs ({epochs})"
            )
        return self


def _set(tree: dict, dotted: str, value: object, origin: str) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise UserError(f"{origin}: {'.'.join(keys[: keys.index(key) + 1])} is not a section")
        node = child
    node[keys[-1]] = value


def _leave_out_nulls(tree: dict, section: type[BaseModel]) -> None:
    """Removes, in place, the keys set to null (``--set training.epochs=null``, ``epochs:``)
    whose value cannot be null: null there means left out, so the schema's default or, with a
    time budget, the plan decides."""
    for key in list(tree):
        field = section.model_fields.get(str(key))
        if field is None:
            continue  # unknown keys: the schema names them
        kinds = [field.annotation, *get_args(field.annotation)]
        if tree[key] is None and type(None) not in kinds and field.annotation is not Any:
            del tree[key]
        elif isinstance(tree[key], dict):
            inner = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
            if inner:
                _leave_out_nulls(tree[key], inner[0])


def parse_override(text: str) -> tuple[str, object]:
    """``optimizer.learning_rate=1e-3`` -> ("optimizer.learning_rate", 0.001)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {text!r}: expected key=value, e.g. optimizer.learning_rate=1e-3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def closest_key(loc: tuple) -> str | None:
    """The valid dotted key nearest to the unknown one at ``loc`` (``training.epoch`` ->
    ``training.epochs``), where one is close enough to be the one meant."""
    section: type[BaseModel] = Config
    for part in loc[:-1]:
        field = section.model_fields.get(str(part))
        kinds = [field.annotation, *get_args(field.annotation)] if field else []
        sections = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if not sections:
            return None
        section = sections[0]
    match = difflib.get_close_matches(str(loc[-1]), list(section.model_fields), n=1, cutoff=0.6)
    return ".".join([*map(str, loc[:-1]), match[0]]) if match else None


# What a config's name (the run's folder) breaks, said in words rather than as a pattern.
NAME_RULES = {
    "string_pattern_mismatch": "holds other characters than letters, digits, '_', '.' and '-'",
    "string_too_long": f"is longer than {NAME_LENGTH} characters",
    "string_too_short": "is empty",
}


def _describe(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        meant = closest_key(first["loc"])
        hint = f"did you mean {meant!r}?" if meant else "a typo?"
        return f"{origin}: unknown key {where!r} ({hint})"
    message = first["msg"].removeprefix("Value error, ")
    if where == "name" and kind in NAME_RULES:
        message = NAME_RULES[kind]
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{origin}: {where + ': ' if where else ''}{message}{more}"


class DuplicateKey(yaml.YAMLError):
    """A mapping that gives one key twice (YAML's loaders keep the last in silence)."""


class _UniqueKeys(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise DuplicateKey(
                    f"line {key_node.start_mark.line + 1} gives {key!r} again (first on line "
                    f"{seen[key]}): give each key once"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def yaml_mapping(text: str):
    """YAML text read as safe_load reads it, but a key given twice in one mapping is an error
    (``DuplicateKey``: its line and the first's), not last-wins in silence."""
    return yaml.load(text, Loader=_UniqueKeys)


def load_with_budget(
    path: Path, overrides: Sequence[str], time_budget: str | None, option: str
) -> Config:
    """``load`` with a time budget given beside the file (`--time-budget`, the API's
    ``time_budget``): a bad one is an error of that ``option``, not of the file's
    training.time_budget."""
    if time_budget is None:
        return load(path, list(overrides))
    try:
        durations.parse(time_budget)
    except ValueError as err:
        raise UserError(f"{option} {err}") from None
    return load(path, [*overrides, f"training.time_budget={time_budget}"])


def load(path: Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config; any problem is one UserError line."""
    if path.is_dir():
        raise UserError(f"config file {path} is a folder; give a YAML file")
    if path.exists() and not path.is_file():
        raise UserError(f"config file {path} is not a file (a device or a pipe); give a YAML file")
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"config file {path} is not UTF-8 text (byte {err.start + 1} is "
            f"{err.object[err.start]:#04x}): a binary file? give a YAML file"
        ) from None
    except OSError as err:
        raise UserError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        tree = yaml_mapping(text) or {}
    except DuplicateKey as err:
        raise UserError(f"{path}: {err}") from None
    except yaml.reader.ReaderError as err:  # characters YAML does not allow: NUL, controls
        raise UserError(
            f"config file {path} is not YAML text (character {err.position + 1} is "
            f"U+{err.character:04X}, which YAML does not allow): a binary file? give a YAML file"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}:{line} is not valid YAML") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections")
    if not tree and not overrides:  # all defaults: VGG19 and its weights' download, not meant
        raise UserError(
            f"config file {path} is empty: start from one of configs/ (cpu.yaml for a CPU)"
        )
    named = "name" in tree
    tree.setdefault("name", path.stem)
    for text in overrides:
        key, value = parse_override(text)
        _set(tree, key, value, f"--set {text}")
        named = named or key == "name"
    _leave_out_nulls(tree, Config)
    try:
        config = Config.model_validate(tree)
    except ValidationError as err:
        origin = f"{path}" + (" (with --set)" if overrides else "")
        first = err.errors()[0]
        if not named and first["loc"] == ("name",) and first["type"] in NAME_RULES:
            raise UserError(
                f"{origin}: the config has no name: key, so its run is named after the file, "
                f"{path.stem!r}, which {NAME_RULES[first['type']]}: add a name: key"
            ) from None
        raise UserError(_describe(err, origin)) from None
    config._overridden = frozenset(parse_override(text)[0] for text in overrides)
    return config


def overridden(config: Config) -> frozenset[str]:
    """The dotted keys the command line set for ``config`` (none for a config built in code)."""
    return config._overridden


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to values: ``{"data": {"image_size": 96}}`` -> ``{"data.image_size": 96}``."""
    found: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(flat(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def config_changes(before: str, after: str) -> dict[str, tuple[object, object]]:
    """The dotted keys whose values differ between two resolved config texts: old, new."""
    old, new = flat(yaml.safe_load(before) or {}), flat(yaml.safe_load(after) or {})
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return {k: (old.get(k), new.get(k)) for k in keys}


def asked_text(text: str) -> str:
    """A resolved config's text as it was asked for: the values that a recorded plan decided
    put back to the config's own (a training key, or a dotted one of another section) and the
    plan left out, so that a run's config.yaml compares equal to the config of the command that
    started it."""
    tree = yaml.safe_load(text) or {}
    training = tree.get("training") or {}
    plan = training.get("plan")
    if not isinstance(plan, dict):
        return text
    for key, value in (plan.get("asked") or {}).items():
        section, _, name = key.rpartition(".")  # "data.image_size", or a training key
        if value is None and not section:  # left out of the config: the schema's default
            value = TrainingConfig.model_fields[name].default
        (tree.setdefault(section, {}) if section else training)[name] = value
    training["plan"] = None
    return yaml.safe_dump(tree, sort_keys=False)


def dump(config: Config) -> str:
    """The resolved config as YAML, as saved in the run directory."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

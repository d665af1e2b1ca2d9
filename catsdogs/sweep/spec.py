"""Sweep files: which training runs a sweep is made of, checked like a training config.

A sweep file names a base training config, overrides for every trial (``set``), and either a
``grid`` (every combination, for every seed) or a ``search`` space (``trials`` runs chosen by a
sampler, each with the first seed): a ``design.Grid`` or a ``design.Search``. Every dotted key must
be a key of the training config and every value valid for it: the values are checked by
loading the base config with them, and the typed values (``1e-4`` read by YAML as a string
becomes the float it means) are what the sweep uses from then on; a grid's values equal once
typed (``0.01`` and ``1e-2``) are one value. A sweep's name is its folder's and its study's,
so it is a plain folder name.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from catsdogs.config import MAX_SEED, Config, DuplicateKey, load, yaml_mapping
from catsdogs.errors import UserError
from catsdogs.sweep.design import MAX_POINTS, Design, Grid, Point, Range, Search, yaml_text
from catsdogs.training.rundir import VAL_ACCURACY, VAL_LOSS

METRICS = {VAL_ACCURACY: "maximize", VAL_LOSS: "minimize"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RangeField(_Strict):
    """A number between ``low`` and ``high`` (on a log scale with ``log``)."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> RangeField:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class ChoicesField(_Strict):
    choices: list[Any] = Field(min_length=1)


class HeartbeatField(_Strict):
    """How a trial shows it is alive to workers on other machines (Optuna's heartbeat): its
    worker records a beat every ``interval`` seconds, and a running trial without one for
    ``grace_period`` seconds is failed by the next worker that looks and run again."""

    interval: int = Field(30, ge=1, le=3600)
    grace_period: int = Field(120, ge=2, le=86_400)

    @model_validator(mode="after")
    def _longer(self) -> HeartbeatField:
        if self.grace_period <= self.interval:
            raise ValueError("grace_period must be longer than interval")
        return self


NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


class SweepFile(_Strict):
    name: str
    base: Path
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] | None = None
    search: dict[str, RangeField | ChoicesField] | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    trials: int | None = Field(None, ge=1, le=100_000)
    pruner: Literal["median"] | None = None
    seeds: list[int] = Field([0], min_length=1)
    metric: Literal[VAL_ACCURACY, VAL_LOSS] = VAL_ACCURACY
    x: str | None = None
    compare: str | None = None  # a grid key with two values: sweep.md compares them, paired
    arm_set: dict[Any, dict[str, Any]] | None = None  # overrides for each value of compare
    heartbeat: HeartbeatField = HeartbeatField()

    @field_validator("name")
    @classmethod
    def _plain(cls, name: str) -> str:
        if not NAME.fullmatch(name):
            raise ValueError(
                "must be a plain folder name: letters, digits, '_', '-' and '.', not "
                "starting with '.', at most 100 characters"
            )
        return name

    @field_validator("grid", "search")
    @classmethod
    def _something(cls, swept: dict[str, Any] | None) -> dict[str, Any] | None:
        if swept == {}:
            raise ValueError("no key to sweep: give at least one")
        return swept

    @model_validator(mode="after")
    def _one_mode(self) -> SweepFile:
        if (self.grid is None) == (self.search is None):
            raise ValueError("give either grid or search (one of them)")
        if self.search is not None and self.trials is None:
            raise ValueError("search needs trials: N")
        if self.grid is not None and (self.trials is not None or self.pruner is not None):
            raise ValueError("trials and pruner go with search, not grid")
        if len(set(self.seeds)) != len(self.seeds) or not all(
            0 <= s <= MAX_SEED for s in self.seeds
        ):
            raise ValueError(f"seeds must be distinct integers in [0, {MAX_SEED}]")
        return self


@dataclass
class Sweep:
    """A checked sweep file: what to train (``design``) and how to judge it."""

    path: Path
    spec: SweepFile
    base: Path
    text: str
    set: dict[str, Any]  # overrides for every trial, typed
    design: Design
    arm_set: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # by repr(arm)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def metric(self) -> str:
        return self.spec.metric

    @property
    def direction(self) -> str:
        return METRICS[self.spec.metric]

    def arm_overrides(self, point: Point) -> dict[str, Any]:
        """The overrides of the compared key's value at ``point`` (``arm_set``), typed."""
        if self.spec.compare is None:
            return {}
        return dict(self.arm_set.get(repr(dict(point.values)[self.spec.compare]), {}))

    @property
    def arms(self) -> tuple[Any, Any] | None:
        """The two values of the compared key, typed, as the grid lists them."""
        if self.spec.compare is None:
            return None
        first, second = self.design.values[self.spec.compare]
        return first, second

    @property
    def x(self) -> str | None:
        """The figure's x axis: the key the file names, else the first numeric swept key."""
        return self.spec.x or next(iter(self.design.numeric_keys), None)

    def overrides(self, point: Point) -> list[str]:
        """``--set`` values that make the base config into this point's config."""
        fixed = {**self.set, **self.arm_overrides(point), **dict(point.values), "seed": point.seed}
        return [f"{key}={yaml_text(value)}" for key, value in fixed.items()]

    def config(self, point: Point) -> Config:
        return load(self.base, self.overrides(point))

    def base_config(self) -> Config:
        """The base config with the sweep's ``set`` applied (what every trial shares)."""
        return load(self.base, [f"{key}={yaml_text(value)}" for key, value in self.set.items()])

    def command(self, point: Point, data: Path, run_dir: Path) -> list[str]:
        """The ``catsdogs train`` arguments that run this point alone, as the sweep does."""
        sets = [arg for value in self.overrides(point) for arg in ("--set", value)]
        return [
            "train",
            "--config",
            str(self.base),
            *sets,
            "--data",
            str(data),
            "--run-dir",
            str(run_dir),
        ]


def shell_line(arguments: list[str]) -> str:
    return "catsdogs " + " ".join(shlex.quote(a) for a in arguments)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown key {where!r} (a typo?)"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def _typed(base: Path, overrides: dict[str, Any], origin: str) -> dict[str, Any]:
    """Each value as the training config holds it, or one error naming the key."""
    try:
        config = load(base, [f"{k}={yaml_text(v)}" for k, v in overrides.items()])
    except UserError as err:
        reason = str(err).split(": ", 1)[-1]
        raise UserError(f"{origin}: {reason}") from None
    tree = config.model_dump(mode="json")
    typed = {}
    for key in overrides:
        node: Any = tree
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise UserError(f"{origin}: {key!r} is not a training config key")
            node = node[part]
        if isinstance(node, dict):
            raise UserError(f"{origin}: {key!r} is a section, not a value")
        typed[key] = node
    return typed


def _unique(values: list[Any]) -> list[Any]:
    """Typed values in their order, each once: ``0.01`` and ``1e-2`` are one value."""
    unique: dict[str, Any] = {}
    for value in values:
        unique.setdefault(yaml_text(value), value)
    return list(unique.values())


def _grid(spec: SweepFile, base: Path, fixed: dict[str, Any], path: Path) -> Grid:
    """Each key's values typed, those equal once typed kept once (``0.01`` and ``1e-2``);
    at most ``MAX_POINTS`` trials, and every point with a run name of its own."""
    for key, listed in spec.grid.items():
        if not listed:
            raise UserError(f"{path}: grid.{key} has no values")
    count = math.prod(len(listed) for listed in spec.grid.values()) * len(spec.seeds)
    if count > MAX_POINTS:
        raise UserError(
            f"{path}: the grid lists {count:,} trials (combinations x seeds); at most "
            f"{MAX_POINTS:,} are allowed (a search samples a large space)"
        )
    values = {
        key: _unique([_typed(base, {**fixed, key: v}, f"{path}: grid")[key] for v in listed])
        for key, listed in spec.grid.items()
    }
    grid = Grid(values, spec.seeds)
    seen: dict[str, Point] = {}
    for point in grid.points():
        other = seen.setdefault(point.key, point)
        if other != point:
            raise UserError(
                f"{path}: grid points {dict(other.values)} and {dict(point.values)} have one "
                f"run name ({point.key}): make the values differ in letters or digits"
            )
    return grid


def _search(spec: SweepFile, base: Path, fixed: dict[str, Any], path: Path) -> Search:
    space: dict[str, Range | list[Any]] = {}
    for key, field in spec.search.items():
        samples = field.choices if isinstance(field, ChoicesField) else [field.low, field.high]
        typed = [_typed(base, {**fixed, key: v}, f"{path}: search")[key] for v in samples]
        if isinstance(field, ChoicesField):
            space[key] = _unique(typed)
        else:
            integer = all(isinstance(v, int) and not isinstance(v, bool) for v in typed)
            space[key] = Range(field.low, field.high, field.log, integer)
    search = Search(space, spec.trials, spec.seeds[0], spec.sampler, spec.pruner == "median")
    if search.size is not None and search.size < search.trials:
        raise UserError(
            f"{path}: the search space holds {search.size} points, fewer than trials: "
            f"{search.trials} (no point is run twice)"
        )
    return search


def read(path: Path) -> Sweep:
    """Read and check a sweep file; any problem is one error naming the file and the key."""
    if path.exists() and not path.is_file():
        raise UserError(f"sweep file {path} is not a file (a folder, a device or a pipe)")
    if not path.is_file():
        raise UserError(f"sweep file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml_mapping(text)
    except DuplicateKey as err:
        raise UserError(f"{path}: {err}") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UserError(f"{path}: is not valid YAML") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: the top level must be a mapping")
    try:
        spec = SweepFile.model_validate(tree)
    except ValidationError as err:
        raise UserError(f"{path}: {_describe(err)}") from None
    base = (path.parent / spec.base).resolve()
    if not base.is_file():
        raise UserError(f"{path}: base {spec.base} does not exist (it is read from {base})")
    swept = list(spec.grid or spec.search)
    if "seed" in swept or "seed" in spec.set:
        raise UserError(f"{path}: the seed is given by seeds: [...], not by set, grid or search")
    both = [key for key in swept if key in spec.set]
    if both:
        mode = "grid" if spec.grid is not None else "search"
        raise UserError(f"{path}: {both[0]} is in both set and {mode}: give it in one of them")
    fixed = _typed(base, spec.set, f"{path}: set")
    design = (
        _grid(spec, base, fixed, path)
        if spec.grid is not None
        else _search(spec, base, fixed, path)
    )
    if spec.x is not None and spec.x not in swept:
        raise UserError(f"{path}: x {spec.x!r} is not a swept key")
    arms = design.values.get(spec.compare, []) if isinstance(design, Grid) else []
    if spec.compare is not None and len(arms) != 2:
        raise UserError(
            f"{path}: compare {spec.compare!r} must be a grid key with two values (the arms)"
        )
    return Sweep(path, spec, base, text, fixed, design, _arm_set(spec, base, fixed, design, path))


def _arm_set(
    spec: SweepFile, base: Path, fixed: dict[str, Any], design: Design, path: Path
) -> dict[str, dict[str, Any]]:
    """``arm_set`` checked and typed: one entry for each arm, keys that no grid key or seed
    already sets (each arm at its own learning rate, say)."""
    if spec.arm_set is None:
        return {}
    if spec.compare is None:
        raise UserError(f"{path}: arm_set goes with compare: KEY (it sets each arm apart)")
    arms = design.values[spec.compare]
    if sorted(map(repr, spec.arm_set)) != sorted(map(repr, arms)):
        raise UserError(
            f"{path}: arm_set must give each value of {spec.compare} once: "
            f"{', '.join(yaml_text(a) for a in arms)}"
        )
    given = {repr(value): overrides for value, overrides in spec.arm_set.items()}
    typed = {}
    for arm in arms:
        overrides = given[repr(arm)]
        clash = [key for key in overrides if key in design.values or key == "seed"]
        if clash:
            raise UserError(f"{path}: arm_set sets {clash[0]}, which the grid or seeds set")
        values = _typed(base, {**fixed, **overrides}, f"{path}: arm_set")
        typed[repr(arm)] = {key: values[key] for key in overrides}
    return typed

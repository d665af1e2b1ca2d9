"""Sweep files: which training runs a sweep is made of, checked like a training config.

A sweep file names a base training config, overrides for every trial (``set``), and either a
``grid`` (every combination, for every seed) or a ``search`` space (``trials`` runs chosen by a
sampler, each with the first seed). Every dotted key must be a key of the training config and
every value valid for it: the values are checked by loading the base config with them, and the
typed values (``1e-4`` read by YAML as a string becomes the float it means) are what the sweep
uses from then on.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catsdogs.config import MAX_SEED, Config, load
from catsdogs.errors import UserError

METRICS = {"val_accuracy": "maximize", "val_loss": "minimize"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Range(_Strict):
    """A number between ``low`` and ``high`` (on a log scale with ``log``)."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class Choices(_Strict):
    choices: list[Any] = Field(min_length=1)


class SweepFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base: Path
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] | None = None
    search: dict[str, Range | Choices] | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    trials: int | None = Field(None, ge=1, le=100_000)
    pruner: Literal["median"] | None = None
    seeds: list[int] = Field([0], min_length=1)
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    x: str | None = None

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


@dataclass(frozen=True)
class Point:
    """One training run of the sweep: the swept values and the seed."""

    values: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def key(self) -> str:
        """A name for the run directory, from the values and the seed (not a trial number)."""
        parts = [f"{_short(k)}-{_text(v)}" for k, v in self.values] + [f"seed-{self.seed}"]
        return re.sub(r"[^A-Za-z0-9_.=-]", "_", "_".join(parts))


def _short(key: str) -> str:
    """``optimizer.lookahead.enabled`` -> ``lookahead.enabled``: enough to tell keys apart."""
    return ".".join(key.split(".")[-2:])


def _text(value: Any) -> str:
    """A value as YAML reads it back: ``true``, ``0.003``, ``[0.5, 1.0]``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("...\n").strip()


@dataclass
class Sweep:
    """A checked sweep file: what to train and how to judge it."""

    path: Path
    spec: SweepFile
    base: Path
    text: str
    grid: dict[str, list[Any]]
    integers: set[str]  # search keys whose config field is an integer

    @property
    def keys(self) -> list[str]:
        return list(self.grid or self.spec.search or {})

    @property
    def direction(self) -> str:
        return METRICS[self.spec.metric]

    @property
    def x(self) -> str | None:
        """The figure's x axis: the key the file names, else the first numeric swept key."""
        if self.spec.x:
            return self.spec.x
        for key in self.keys:
            values = self.grid.get(key) if self.grid else None
            numeric = (
                isinstance(self.spec.search.get(key), Range)
                if self.spec.search
                else all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            )
            if numeric:
                return key
        return None

    def points(self) -> list[Point]:
        """Every combination of the grid, for every seed, in a fixed order."""
        combos = itertools.product(*self.grid.values())
        return [
            Point(tuple(zip(self.grid, combo)), seed)
            for combo in combos
            for seed in self.spec.seeds
        ]

    def point_of(self, params: dict[str, Any]) -> Point:
        """The point an Optuna trial's parameters name (see ``param``)."""
        values = []
        for key in self.keys:
            space = (self.spec.search or {}).get(key)
            choices = self.grid.get(key) or (space.choices if isinstance(space, Choices) else None)
            value = params[key]
            if choices is not None:
                value = next(v for v in choices if param(v) == value)
            values.append((key, value))
        return Point(tuple(values), params.get("seed", self.spec.seeds[0]))

    def overrides(self, point: Point) -> list[str]:
        """``--set`` values that make the base config into this point's config."""
        fixed = {**self.spec.set, **dict(point.values), "seed": point.seed}
        return [f"{key}={_text(value)}" for key, value in fixed.items()]

    def config(self, point: Point) -> Config:
        return load(self.base, self.overrides(point))

    def base_config(self) -> Config:
        """The base config with the sweep's ``set`` applied (what every trial shares)."""
        return load(self.base, [f"{key}={_text(value)}" for key, value in self.spec.set.items()])

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


def param(value: Any) -> Any:
    """A config value as an Optuna parameter: numbers, strings and booleans as they are,
    anything else (a list such as ``crop_area``) as its YAML text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else _text(value)


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
        config = load(base, [f"{k}={_text(v)}" for k, v in overrides.items()])
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


def read(path: Path) -> Sweep:
    """Read and check a sweep file; any problem is one error naming the file and the key."""
    if not path.is_file():
        raise UserError(f"sweep file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml.safe_load(text)
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
    spec.set = _typed(base, spec.set, f"{path}: set")
    grid = {}
    for key, values in (spec.grid or {}).items():
        if not values:
            raise UserError(f"{path}: grid.{key} has no values")
        grid[key] = [_typed(base, {**spec.set, key: v}, f"{path}: grid")[key] for v in values]
    integers = set()
    for key, space in (spec.search or {}).items():
        samples = space.choices if isinstance(space, Choices) else [space.low, space.high]
        typed = [_typed(base, {**spec.set, key: v}, f"{path}: search")[key] for v in samples]
        if isinstance(space, Choices):
            space.choices = typed
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in typed):
            integers.add(key)
    if spec.x is not None and spec.x not in swept:
        raise UserError(f"{path}: x {spec.x!r} is not a swept key")
    return Sweep(path, spec, base, text, grid, integers)

"""What a sweep runs, as one of two plans that answer the engine's questions each in its way.

A ``Grid`` runs every combination of its values for every seed: each point is queued once,
its run directory is named by the point, and of two trials of one point (two commands started
at once) the lower trial number runs. A ``Search`` lets a sampler choose ``trials`` points in a
space, each with the first seed: a trial cut off is queued again with its sampled values, and
its run directory is named by its trial number.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from catsdogs.sweep import storage


def yaml_text(value: Any) -> str:
    """A value as YAML reads it back: ``true``, ``0.003``, ``[0.5, 1.0]``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("...\n").strip()


def param(value: Any) -> Any:
    """A config value as an Optuna parameter: numbers, strings and booleans as they are,
    anything else (a list such as ``crop_area``) as its YAML text."""
    return (
        value if value is None or isinstance(value, (bool, int, float, str)) else yaml_text(value)
    )


def _short(key: str) -> str:
    """``optimizer.lookahead.enabled`` -> ``lookahead.enabled``: enough to tell keys apart."""
    return ".".join(key.split(".")[-2:])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Point:
    """One training run of the sweep: the swept values and the seed."""

    values: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def key(self) -> str:
        """A name for the run directory, from the values and the seed (not a trial number)."""
        parts = [f"{_short(k)}-{yaml_text(v)}" for k, v in self.values] + [f"seed-{self.seed}"]
        return re.sub(r"[^A-Za-z0-9_.=-]", "_", "_".join(parts))


@dataclass(frozen=True)
class Grid:
    """Every combination of ``values``, for every seed."""

    values: dict[str, list[Any]]
    seeds: list[int]
    kind: Literal["grid"] = "grid"

    @property
    def keys(self) -> list[str]:
        return list(self.values)

    @property
    def numeric_keys(self) -> list[str]:
        return [k for k, vs in self.values.items() if all(_is_number(v) for v in vs)]

    @property
    def total(self) -> int:
        return len(self.points())

    def points(self) -> list[Point]:
        """Every combination, for every seed, in a fixed order."""
        combos = itertools.product(*self.values.values())
        return [Point(tuple(zip(self.values, c)), s) for c in combos for s in self.seeds]

    def distributions(self) -> dict[str, BaseDistribution]:
        grid = {k: CategoricalDistribution([param(v) for v in vs]) for k, vs in self.values.items()}
        return {**grid, "seed": CategoricalDistribution(self.seeds)}

    def params(self, point: Point) -> dict[str, Any]:
        """The Optuna parameters of ``point`` (``point_of`` reads them back)."""
        return {**{k: param(v) for k, v in point.values}, "seed": point.seed}

    def point_of(self, params: dict[str, Any]) -> Point:
        values = [
            (k, next(v for v in vs if param(v) == params[k])) for k, vs in self.values.items()
        ]
        return Point(tuple(values), params["seed"])

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)  # draws nothing: points are queued

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.NopPruner()

    def queue(self, study: optuna.Study) -> int:
        """Queue every point that no live trial holds; returns how many were queued."""
        live = {storage.point_key(t) for t in storage.counted(study, storage.LIVE)}
        missing = [point for point in self.points() if point.key not in live]
        for point in missing:
            study.enqueue_trial(self.params(point), user_attrs={"point": point.key})
        return len(missing)

    def has_work(self, study: optuna.Study) -> bool:
        return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def refusal(self, study: optuna.Study, trial: optuna.Trial, point: Point) -> str | None:
        """Why ``trial`` must step aside: its point is done, or running in a trial with a
        lower number (None: it runs)."""
        for other in storage.counted(study, (TrialState.RUNNING, *storage.DONE)):
            if other.number == trial.number or storage.point_key(other) != point.key:
                continue
            if other.state in storage.DONE or other.number < trial.number:
                return f"point {point.key} is trial {other.number}'s"
        return None

    def run_name(self, trial: optuna.Trial, point: Point) -> str:
        return point.key


@dataclass(frozen=True)
class Range:
    """A number between ``low`` and ``high`` (on a log scale with ``log``); ``integer`` where
    the config field is an integer."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Search:
    """``trials`` points chosen by a sampler in ``space``, each with ``seed``."""

    space: dict[str, Range | list[Any]]  # a range, or the choices
    trials: int
    seed: int
    method: Literal["tpe", "random"] = "tpe"
    median_pruner: bool = False
    kind: Literal["search"] = "search"

    @property
    def keys(self) -> list[str]:
        return list(self.space)

    @property
    def numeric_keys(self) -> list[str]:
        return [k for k, space in self.space.items() if isinstance(space, Range)]

    @property
    def total(self) -> int:
        return self.trials

    def distributions(self) -> dict[str, BaseDistribution]:
        out: dict[str, BaseDistribution] = {}
        for key, space in self.space.items():
            if not isinstance(space, Range):
                out[key] = CategoricalDistribution([param(v) for v in space])
            elif space.integer:
                out[key] = IntDistribution(int(space.low), int(space.high), log=space.log)
            else:
                out[key] = FloatDistribution(space.low, space.high, log=space.log)
        return out

    def point_of(self, params: dict[str, Any]) -> Point:
        values = []
        for key, space in self.space.items():
            value = params[key]
            if not isinstance(space, Range):
                value = next(v for v in space if param(v) == value)
            values.append((key, value))
        return Point(tuple(values), self.seed)

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.method == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.MedianPruner() if self.median_pruner else optuna.pruners.NopPruner()

    def queue(self, study: optuna.Study) -> int:
        """Queue each trial that was cut off (failed) again with its values, once."""
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("run_dir") for t in trials if t.state in storage.LIVE}
        added = 0
        for trial in trials:
            run_dir = trial.user_attrs.get("run_dir")
            failed = trial.state == TrialState.FAIL and not storage.excluded(trial)
            if failed and run_dir not in retried:
                attrs = {"point": storage.point_key(trial), "run_dir": run_dir}
                study.enqueue_trial(trial.params, user_attrs=attrs)
                retried.add(run_dir)
                added += 1
        return added

    def has_work(self, study: optuna.Study) -> bool:
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return bool(waiting) or len(storage.counted(study, storage.LIVE)) < self.trials

    def refusal(self, study: optuna.Study, trial: optuna.Trial, point: Point) -> str | None:
        """Why a newly sampled ``trial`` must step aside: the study already has its trials
        (a retried one, which has its run directory, always runs)."""
        if "run_dir" in trial.user_attrs:
            return None
        before = [t for t in storage.counted(study, storage.LIVE) if t.number < trial.number]
        return (
            f"the study already has its {self.trials} trials"
            if len(before) >= self.trials
            else None
        )

    def run_name(self, trial: optuna.Trial, point: Point) -> str:
        return f"trial-{trial.number:04d}"


Plan = Grid | Search

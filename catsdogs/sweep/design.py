"""What a sweep runs (its design): one of two kinds that answer the engine's questions.

A ``Grid`` runs every combination of its values for every seed: each point is queued once,
its run directory is named by the point (a long name shortened by a hash of its tail), and of
two trials of one point (two commands started at once) the lower trial number runs. A
``Search`` lets a sampler choose ``trials`` points in a space, each with the first seed: a
trial cut off is queued again with its sampled values, its run directory is named by its trial
number, and a point drawn again (by the sampler, or by two workers at once) steps aside, so
no point runs twice. A trial queued again keeps the run directory it recorded, in both.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
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

MAX_POINTS = 10_000  # a grid's trials (combinations x seeds); more is refused
MAX_RUN_NAME = 100  # bytes of a run folder's name; a longer one keeps a hash of its tail


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

    @property
    def folder(self) -> str:
        """The run directory's name: the key, or where it is longer than ``MAX_RUN_NAME``
        bytes its head and a hash of the whole key (file systems refuse names over 255)."""
        if len(self.key) <= MAX_RUN_NAME:
            return self.key
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:16]
        return f"{self.key[: MAX_RUN_NAME - len(digest) - 1]}-{digest}"


def _recorded_runs(study: optuna.Study) -> dict[str, str]:
    """The run directory each point's latest trial recorded (a point queued again continues
    it, even where the design would name it otherwise now)."""
    recorded = {}
    for trial in study.get_trials(deepcopy=False):
        if not storage.excluded(trial) and "run_dir" in trial.user_attrs:
            recorded[storage.point_key(trial)] = trial.user_attrs["run_dir"]
    return recorded


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
        """Queue every point that no live trial holds, with the run directory an earlier
        trial of it recorded; returns how many were queued."""
        live = {storage.point_key(t) for t in storage.counted(study, storage.LIVE)}
        missing = [point for point in self.points() if point.key not in live]
        recorded = _recorded_runs(study) if missing else {}
        for point in missing:
            attrs = {"point": point.key}
            if point.key in recorded:
                attrs["run_dir"] = recorded[point.key]
            study.enqueue_trial(self.params(point), user_attrs=attrs)
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

    def stepped_aside(self, study: optuna.Study) -> None:
        """Nothing to make up for: every point is in the queue once already."""

    def run_name(self, trial: optuna.Trial, point: Point) -> str:
        return point.folder


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

    @property
    def size(self) -> int | None:
        """How many points the space holds; None where a range of floats makes it endless."""
        sizes = []
        for space in self.space.values():
            if not isinstance(space, Range):
                sizes.append(len(space))
            elif space.integer:
                sizes.append(int(space.high) - int(space.low) + 1)
            else:
                return None
        return math.prod(sizes)

    def points(self) -> list[Point]:
        """Every point of a space that ``size`` counts (a finite one)."""
        axes = [
            space if not isinstance(space, Range) else range(int(space.low), int(space.high) + 1)
            for space in self.space.values()
        ]
        return [Point(tuple(zip(self.space, c)), self.seed) for c in itertools.product(*axes)]

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

    def _key(self, trial: optuna.trial.FrozenTrial) -> str | None:
        """The point a trial holds: recorded, or read from its values once all are stored."""
        if storage.point_key(trial) is not None:
            return storage.point_key(trial)
        if set(self.space) <= set(trial.params):
            return self.point_of(trial.params).key
        return None

    def refusal(self, study: optuna.Study, trial: optuna.Trial, point: Point) -> str | None:
        """Why a newly sampled ``trial`` must step aside: the study already has its trials,
        or its point is another trial's (done, queued, or running with a lower number). A
        retried one, which has its run directory, always runs."""
        if "run_dir" in trial.user_attrs:
            return None
        live = storage.counted(study, storage.LIVE)
        if sum(1 for t in live if t.number < trial.number) >= self.trials:
            return f"the study already has its {self.trials} trials"
        for other in live:
            if other.number == trial.number or self._key(other) != point.key:
                continue
            if other.state != TrialState.RUNNING or other.number < trial.number:
                return f"point {point.key} is trial {other.number}'s"
        return None

    def stepped_aside(self, study: optuna.Study) -> None:
        """After a trial stepped aside, while the study lacks trials: in a space of at most
        ``MAX_POINTS`` points, queue one not run yet (a sampler such as TPE may keep drawing
        the best point it has seen, and the study would never end); a larger or endless
        space just draws again."""
        size = self.size
        live = storage.counted(study, storage.LIVE)
        if size is None or size > MAX_POINTS or len(live) >= self.trials:
            return  # endless or large: draw again; or the study has all its trials
        taken = {self._key(t) for t in live}
        left = [point for point in self.points() if point.key not in taken]
        if left:
            drawn = len(study.get_trials(deepcopy=False))
            point = random.Random(self.seed + drawn).choice(left)
            study.enqueue_trial(
                {k: param(v) for k, v in point.values}, user_attrs={"point": point.key}
            )

    def run_name(self, trial: optuna.Trial, point: Point) -> str:
        return f"trial-{trial.number:04d}"


Design = Grid | Search

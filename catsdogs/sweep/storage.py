"""The study in its storage, and what its trials record.

Optuna keeps the study (SQLite in the sweep folder by default, any RDB URL to share it between
machines). Each trial records in its user attributes the point it runs (``point``), its run
directory (``run_dir``), where it runs (``host``, ``process``) and, once judged, its results;
a trial that stepped aside for another of the same point is marked ``excluded`` and left out
of every count and table.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from catsdogs.errors import UserError

LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').absolute()}"


def open_study(
    storage_url: str,
    name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    sweep_text: str,
    sweep_file: str,
    create: bool = True,
) -> optuna.Study:
    """The study ``name`` in its storage, made on first use (``create``); refused if another
    sweep file made it (the trials of one study must mean one thing)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"connect_args": {"timeout": 60}} if storage_url.startswith("sqlite") else {}
    try:
        storage = optuna.storages.RDBStorage(storage_url, engine_kwargs=kwargs)
    except Exception as err:  # SQLAlchemy raises many kinds for a bad URL or server
        raise UserError(f"--storage {storage_url}: {type(err).__name__}: {err}") from None
    if not create and name not in optuna.get_all_study_names(storage):
        raise UserError(f"no study {name!r} in {storage_url} yet: nothing to sum up")
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    recorded = study.user_attrs.get("sweep_file")
    if recorded is None:
        study.set_user_attr("sweep_file", sweep_text)
    elif recorded != sweep_text:
        raise UserError(
            f"the study {name!r} in {storage_url} was made from another version of "
            f"{sweep_file}; pass another --out (or --storage) for the new one"
        )
    return study


def excluded(trial: FrozenTrial) -> bool:
    return "excluded" in trial.user_attrs


def point_key(trial: FrozenTrial) -> str | None:
    return trial.user_attrs.get("point")


def counted(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """The trials in ``states``, those that stepped aside left out."""
    return [t for t in study.get_trials(deepcopy=False, states=states) if not excluded(t)]


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that are done (complete or pruned)."""
    return counted(study, DONE)


def running(study: optuna.Study) -> int:
    """Trials some process is running now (here or on another machine)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def step_aside(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """End ``trial`` without running it, left out of every count and table."""
    trial.set_user_attr("excluded", reason)
    study.tell(trial, state=TrialState.FAIL)

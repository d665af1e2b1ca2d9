"""Which run a `catsdogs train` trains into: a new one, the unfinished run of the same config and
data (the same command after a crash), the one ``--run-dir`` names, the newest with
``--resume``, or, with ``--reuse-finished``, a finished run of the same config and data that
is then not trained again. The run is locked before it is returned; a run never continues
on other data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from catsdogs import files, outputs
from catsdogs.config import asked_text, config_changes
from catsdogs.errors import UserError
from catsdogs.paths import RUNS
from catsdogs.training.rundir import CHECKPOINTS, CONFIG, LOGS, RunDir, is_run


def _without_data(text: str) -> dict:
    tree = yaml.safe_load(text) or {}
    tree.get("data", {}).pop("dir", None)
    tree.get("data", {}).pop("identity", None)
    return tree


def _same_data(run: RunDir, identity: str, what: str) -> None:
    folder, recorded = run.data_record()
    if recorded != identity:
        trained_on = f"{folder} (identity {recorded})" if recorded else "data it did not record"
        raise UserError(
            f"{what} {run.path} was trained on {trained_on}; a run never continues on other "
            "data: pass that --data, or choose another --run-dir"
        )


@contextlib.contextmanager
def for_training(
    name: str,
    config_text: str,
    identity: str,
    run_dir: Path | None,
    resume: bool,
    echo: Callable[[str], None],
    reuse: bool = False,
) -> Iterator[RunDir]:
    """The run to train: an existing one, locked, or a new one that ``start`` creates. With
    ``reuse``, a finished run of the same resolved config (so the same data) is the answer."""
    run = _choose(name, config_text, identity, run_dir, resume, echo, reuse)
    try:
        yield run
    finally:
        run.unlock()


def _choose(
    name: str,
    config_text: str,
    identity: str,
    run_dir: Path | None,
    resume: bool,
    echo: Callable[[str], None],
    reuse: bool,
) -> RunDir:
    if run_dir is not None:
        outputs.check_folder(run_dir, "--run-dir")
        if run_dir.exists() and any(run_dir.iterdir()):
            if not is_run(run_dir):
                raise UserError(f"--run-dir {run_dir} exists and is not a run directory")
            run = RunDir(run_dir)
            if reuse and run.finished and not _same(run, config_text):
                raise UserError(
                    f"--run-dir {run_dir} holds a run of another config ("
                    f"{_changes(asked_text(run.config_text()), config_text)}); choose another "
                    "--run-dir (make run: RUN_DIR=...)"
                )
            return _continue(run, identity, resume, "--run-dir", reuse)
        return RunDir(run_dir, exists=False)
    outputs.check_folder(RUNS, "the runs folder")
    candidates = sorted(
        (p for p in RUNS.glob(f"{name}-*") if is_run(p)), key=lambda p: p.stat().st_mtime
    )
    if resume:
        if not candidates:
            raise UserError(f"--resume: no run of {name!r} under {RUNS}/ to resume")
        return _continue(RunDir(candidates[-1]), identity, resume, "--resume: run")
    for path in reversed(candidates):
        run = RunDir(path)
        if run.finished:
            if reuse and _same(run, config_text):
                return _continue(run, identity, resume, "run", reuse=True)
            continue
        if _same(run, config_text):
            return _continue(run, identity, resume, "run")
        if _without_data(asked_text(run.config_text())) == _without_data(config_text):
            echo(f"note: the unfinished run {path} trained on other data; starting a new run")
            break
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return RunDir(RUNS / f"{name}-{stamp}", exists=False, numbered=True)


def _changes(before: str, after: str, most: int = 3) -> str:
    """``seed 42 (now 7); ...``: the first few config keys whose values differ."""
    changes = config_changes(before, after)
    shown = [f"{k} {old} (now {new})" for k, (old, new) in list(changes.items())[:most]]
    return "; ".join(shown + ([f"{len(changes) - most} more"] if len(changes) > most else []))


def _same(run: RunDir, config_text: str) -> bool:
    """Whether ``run`` was started by the config ``config_text`` (a plan it made aside)."""
    if not (run.path / CONFIG).is_file():
        return False
    return asked_text(run.config_text()) == asked_text(config_text)


def _continue(run: RunDir, identity: str, resume: bool, what: str, reuse: bool = False) -> RunDir:
    """``run``, locked, to train on; with ``reuse`` a finished one is returned as it is."""
    _same_data(run, identity, what)
    for folder in (run.path, run.path / CHECKPOINTS, run.path / LOGS):
        outputs.check_folder(folder, "run folder")
    run.lock()
    if reuse and run.finished:
        return run
    if not resume and run.finished:
        run.unlock()
        raise UserError(
            f"{what} {run.path} holds a finished run; pass --resume to train it further "
            "(more epochs) or choose another --run-dir"
        )
    files.remove_stale_temporaries(run.path)
    run.settle_best()
    return run

"""The run directory: where a training run keeps everything, and how a run is found again.

``runs/<name>-<timestamp>/`` holds the resolved ``config.yaml``, ``state.json`` (running,
finished or failed, and the epochs done), ``history.csv``, ``metrics.json``, ``best.keras``,
``last.keras``, ``curves.png``, TensorBoard ``logs/`` and the resumable ``checkpoints/``.
A new run never writes into an old one; running the same command again after a crash finds
the unfinished run with the same config and continues it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from catsdogs import atomic
from catsdogs.errors import UserError

RUNS = Path("runs")


@dataclass
class RunDir:
    path: Path
    resumed: bool

    @property
    def state(self) -> dict:
        file = self.path / "state.json"
        return json.loads(file.read_text()) if file.exists() else {}

    def set_state(self, status: str, epochs_done: int, message: str = "") -> None:
        state = {"status": status, "epochs_done": epochs_done, "message": message}
        atomic.write_text(self.path / "state.json", json.dumps(state, indent=2) + "\n")

    def history(self) -> pd.DataFrame:
        file = self.path / "history.csv"
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    def write_history(self, history: pd.DataFrame) -> None:
        atomic.write_text(self.path / "history.csv", history.to_csv(index=False))

    def write_json(self, name: str, data: dict) -> None:
        atomic.write_text(self.path / name, json.dumps(data, indent=2) + "\n")


def _is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def _unfinished(path: Path) -> bool:
    state = path / "state.json"
    return not state.exists() or json.loads(state.read_text()).get("status") != "finished"


def open_run(name: str, config_text: str, run_dir: Path | None, resume: bool) -> RunDir:
    """The run directory to use: a new one, or the one to resume (see the module's doc)."""
    if run_dir is not None:
        if run_dir.exists() and any(run_dir.iterdir()):
            if not _is_run(run_dir):
                raise UserError(f"--run-dir {run_dir} exists and is not a run directory")
            if not resume and not _unfinished(run_dir):
                raise UserError(
                    f"--run-dir {run_dir} holds a finished run; pass --resume to train it "
                    "further (more epochs) or choose another --run-dir"
                )
            return _reopen(run_dir, config_text)
        return _create(run_dir, config_text)
    candidates = sorted(
        (p for p in RUNS.glob(f"{name}-*") if _is_run(p)), key=lambda p: p.stat().st_mtime
    )
    if resume:
        if not candidates:
            raise UserError(f"--resume: no run of {name!r} under {RUNS}/ to resume")
        return _reopen(candidates[-1], config_text)
    for path in reversed(candidates):
        if _unfinished(path) and (path / "config.yaml").read_text() == config_text:
            return _reopen(path, config_text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RUNS / f"{name}-{stamp}"
    suffix = 1
    while path.exists():
        path, suffix = RUNS / f"{name}-{stamp}-{suffix}", suffix + 1
    return _create(path, config_text)


def _create(path: Path, config_text: str) -> RunDir:
    path.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path / "config.yaml", config_text)
    run = RunDir(path, resumed=False)
    run.set_state("running", 0)
    return run


def _reopen(path: Path, config_text: str) -> RunDir:
    if (path / "config.yaml").read_text() != config_text:
        os.replace(path / "config.yaml", path / "config.previous.yaml")
        atomic.write_text(path / "config.yaml", config_text)
    return RunDir(path, resumed=True)

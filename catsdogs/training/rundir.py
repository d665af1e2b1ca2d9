"""The run directory: the only module that knows a run's files, its lock, its config and data,
and what its history means (the best epoch and the scores a run is summed up by).

``runs/<name>-<timestamp>/`` holds the resolved ``config.yaml`` (with the absolute path and
the identity of the data it trains on), ``config.previous-N.yaml`` (every earlier config the
run was trained under), ``state.json`` (running, finished or failed, and the epochs done),
``history.csv`` (one row an epoch), ``metrics.json`` (the summary of a finished run),
``best.keras`` (the best epoch's model), ``last.keras``, ``curves.png``, TensorBoard ``logs/``,
the resumable ``checkpoints/`` and ``.lock``; ``catsdogs evaluate`` and ``report`` add
``eval-<manifest>-<hash>[-tta].json`` (one a manifest and TTA setting), ``report.md`` and its
figures.

The best epoch is the one with the lowest validation loss (the first of equals): best.keras
holds its weights, early stopping and the plateau rule count from it, and every
``best_val_*`` number anywhere (metrics.json, a sweep's trials.csv) is read at it.

Rules that keep a run whole:
* a new run directory appears complete (config and state written in a temporary folder,
  then renamed into place), so a ``kill -9`` at any instant leaves no half-made run;
* an epoch's end is written checkpoint first and history.csv after the models
  (``hooks.record_epoch``); history.csv is what a run continues from, so a write that fails
  (a full disk) or a kill at any instant leaves a run the same command continues; a new best
  model waits as ``best.pending.keras`` until history.csv records its epoch, so best.keras
  never holds an epoch that history.csv (and every score read from it) does not;
* a process that trains a run holds an OS lock on it (``flock``, released by the kernel when
  the process dies), so two processes never train one run;
* a finished run is never written into, except with ``--resume``; a run never continues on
  other data; running the same command again after a crash finds the unfinished run with
  the same config and data and continues it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from catsdogs import files
from catsdogs.data import manifests
from catsdogs.errors import UserError

CONFIG = "config.yaml"
STATE = "state.json"
HISTORY = "history.csv"
# history.csv's columns, one row an epoch (the epoch from 1; the others as Keras' logs name
# them); the validation scores by name, since what reads a run reads them.
VAL_LOSS, VAL_ACCURACY, VAL_DOG_SHARE = "val_loss", "val_accuracy", "val_dog_share"
COLUMNS = (
    "epoch",
    "loss",
    "accuracy",
    VAL_LOSS,
    VAL_ACCURACY,
    "learning_rate",
    "seconds",
    VAL_DOG_SHARE,
)
METRICS = "metrics.json"
BEST, LAST = "best.keras", "last.keras"
BEST_PENDING = "best.pending.keras"  # a new best model until history.csv records its epoch
CURVES = "curves.png"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
LOCK = ".lock"
EVAL_PREFIX = "eval-"  # evaluate's and report's scores, beside the model: see eval_path
REPORT = "report.md"
ROC, CONFUSION, MISTAKES, CORRECT = "roc.png", "confusion.png", "mistakes.png", "correct.png"


def best_position(history: pd.DataFrame) -> int:
    """The row of the best epoch: the lowest validation loss, the first of equals. An epoch
    whose validation loss is NaN is never the best (np.argmin would pick the first NaN, and
    best.keras would take that epoch's model); when every epoch's is NaN, the first."""
    losses = history[VAL_LOSS].to_numpy(dtype=float)
    return int(np.argmin(np.where(np.isnan(losses), np.inf, losses)))


@dataclass(frozen=True)
class Summary:
    """What a run's history says, by the one definition of its best epoch."""

    epochs: int  # epochs trained
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float  # at the best epoch, not the highest of any epoch
    final: dict[str, float]  # the last epoch's row of history.csv
    seconds: float  # the epochs' own time, summed (start-up not counted)

    @classmethod
    def of(cls, history: pd.DataFrame) -> Summary | None:
        """The summary of ``history`` (None before its first epoch)."""
        if history.empty:
            return None
        best = history.iloc[best_position(history)]
        return cls(
            epochs=int(history["epoch"].iloc[-1]),
            best_epoch=int(best["epoch"]),
            best_val_loss=float(best[VAL_LOSS]),
            best_val_accuracy=float(best[VAL_ACCURACY]),
            final={key: float(value) for key, value in history.iloc[-1].items()},
            seconds=float(history["seconds"].sum()),
        )


def eval_path(model: Path, data: Path, tta: bool) -> Path:
    """Where the scores of ``model`` on the manifest ``data`` are written: beside the model (in
    its run, if it has one), named by the data's content and the TTA setting, so scores on
    other data, or other scores of the same data, never overwrite each other."""
    digest = manifests.file_sha256(data)[:8]
    return model.parent / f"{EVAL_PREFIX}{data.stem}-{digest}{'-tta' if tta else ''}.json"


class RunDir:
    """One run directory; ``exists`` is False until a new run's folder is made."""

    def __init__(self, path: Path, exists: bool = True, numbered: bool = False) -> None:
        self.path = path
        self.exists = exists
        self.numbered = numbered  # a timestamped name: another free name will do as well
        self._lock: int | None = None

    # --- reading ----------------------------------------------------------------------------

    def config_text(self) -> str:
        return (self.path / CONFIG).read_text(encoding="utf-8")

    def config(self) -> dict:
        """The resolved config the run trains under, as a plain mapping."""
        try:
            tree = yaml.safe_load(self.config_text())
        except (OSError, yaml.YAMLError) as err:
            raise UserError(f"{self.path / CONFIG} cannot be read ({err})") from None
        if not isinstance(tree, dict):
            raise UserError(f"{self.path / CONFIG} is not a config")
        return tree

    def data_record(self) -> tuple[Path | None, str | None]:
        """The folder of the data the run trains on and that data's identity, if recorded."""
        data = self.config().get("data") or {}
        folder = data.get("dir")
        return (Path(folder) if folder else None), data.get("identity")

    def _json(self, name: str) -> dict:
        file = self.path / name
        try:
            return json.loads(file.read_text()) if file.exists() else {}
        except ValueError:
            raise UserError(f"{file} is damaged (not JSON); fix or delete it") from None

    @property
    def state(self) -> dict:
        return self._json(STATE)

    @property
    def finished(self) -> bool:
        return self.state.get("status") == "finished"

    def history(self) -> pd.DataFrame:
        file = self.path / HISTORY
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    def summary(self) -> Summary | None:
        """The run's summary from its history as it is now (None before its first epoch)."""
        return Summary.of(self.history())

    def metrics(self) -> dict:
        """metrics.json: the summary and how the run ran ({} until it finishes)."""
        return self._json(METRICS)

    def evaluation(self, data: Path, tta: bool) -> dict:
        """The scores `catsdogs evaluate` wrote for the run's best model on ``data`` with or
        without TTA ({} if none)."""
        return self._json(eval_path(self.path / BEST, data, tta).name)

    def best_model(self) -> Path:
        path = self.path / BEST
        if not path.is_file():
            raise UserError(f"{self.path} holds no {BEST} yet (no epoch has finished)")
        return path

    # --- writing ----------------------------------------------------------------------------

    def set_state(self, status: str, epochs_done: int, message: str = "") -> None:
        state = {"status": status, "epochs_done": epochs_done, "message": message}
        self.write_json(STATE, state)

    def fail(self, message: str) -> None:
        """Mark the run failed with ``message`` after the epochs history.csv records (those the
        same command continues from). Where state.json cannot be written (the full disk that
        ended the run) it stays "running": the next run reads that the same way, and the lock
        died with the process that held it."""
        with contextlib.suppress(OSError, UserError, ValueError):
            self.set_state("failed", len(self.history()), message)

    def stop(self, message: str) -> None:
        """Mark the run "stopped" (asked to: the same command continues it) after the epochs
        history.csv records, where state.json can be written."""
        with contextlib.suppress(OSError, UserError, ValueError):
            self.set_state("stopped", len(self.history()), message)

    def write_config(self, text: str) -> None:
        """The config the run goes on with (a time budget's plan, shortened)."""
        files.write_text(self.path / CONFIG, text)

    def write_history(self, history: pd.DataFrame) -> None:
        files.write_text(self.path / HISTORY, history.to_csv(index=False))

    def write_json(self, name: str, data: dict) -> None:
        files.write_text(self.path / name, json.dumps(data, indent=2) + "\n")

    def write_metrics(self, summary: Summary, **facts: object) -> None:
        """metrics.json of a finished run: its summary and ``facts`` about how it ran."""
        self.write_json(METRICS, {**asdict(summary), **facts})

    def save_model(self, name: str, model) -> None:
        files.write_with(self.path / name, model.save)

    def settle_best(self) -> None:
        """Put a pending best model in place once history.csv records its epoch, else drop it.

        The pending model is written before history.csv, so one older than history.csv was
        recorded there (history.csv was written after it: the process ended before the
        rename); one that is not older belongs to an epoch that history.csv does not hold
        (the process ended between the two writes), which the run trains again."""
        pending, history = self.path / BEST_PENDING, self.path / HISTORY
        if not pending.exists():
            return
        if history.exists() and pending.stat().st_mtime_ns < history.stat().st_mtime_ns:
            files.rename(pending, self.path / BEST)
        else:
            pending.unlink()

    # --- training: lock, create, continue ---------------------------------------------------

    def lock(self, folder: Path | None = None) -> None:
        """Take the run's lock or fail naming the process that holds it."""
        folder = folder or self.path
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, files.file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise UserError(
                    f"run {self.path} is being trained by process {holder}; wait for it to "
                    "end, or choose another --run-dir"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def start(self, config_text: str, epochs_done: int = 0) -> None:
        """Make a new run's folder, whole, or record the config an existing run goes on with
        (after ``epochs_done`` epochs)."""
        if self.exists:
            self._keep_earlier_config(config_text)
            self.set_state("running", epochs_done)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.remove_stale_temporaries(self.path.parent)
        tmp = files.temporary_name(self.path)
        tmp.mkdir()
        try:
            files.write_text(tmp / CONFIG, config_text)
            files.write_text(tmp / STATE, json.dumps(_RUNNING, indent=2) + "\n")
            self.lock(tmp)  # the lock is on the open file, so it moves with the folder
            self.path = _rename_into_place(tmp, self.path, self.numbered)
        except BaseException:
            self.unlock()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.exists = True

    def _keep_earlier_config(self, config_text: str) -> None:
        """A run continued under another config keeps the earlier one as previous-N."""
        if self.config_text() == config_text:
            return
        number = 1 + sum(1 for _ in self.path.glob("config.previous-*.yaml"))
        files.write_text(self.path / f"config.previous-{number}.yaml", self.config_text())
        files.write_text(self.path / CONFIG, config_text)


_RUNNING = {"status": "running", "epochs_done": 0, "message": ""}


def _rename_into_place(tmp: Path, path: Path, numbered: bool) -> Path:
    """Rename ``tmp`` to ``path`` (an empty folder there is replaced); a timestamped name that
    another process took just now becomes the next free ``path-N``."""
    candidate, suffix = path, 1
    while True:
        try:
            os.rename(tmp, candidate)
            return candidate
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            if not numbered:
                raise UserError(f"--run-dir {path} was filled by another process") from None
        candidate, suffix = path.with_name(f"{path.name}-{suffix}"), suffix + 1


_WRITTEN = (STATE, HISTORY, BEST)  # what training writes beside a run's config


def is_run(path: Path) -> bool:
    """A run directory: its config and what training wrote (``start`` makes the config and
    the state at once; a folder that merely holds a config.yaml of the user's is none)."""
    return (path / CONFIG).is_file() and any((path / name).exists() for name in _WRITTEN)


def run_around(path: Path) -> Path | None:
    """The run directory ``path`` lies in (None: none)."""
    return next((f for f in path.absolute().parents if is_run(f)), None)


def run_of(model: Path) -> RunDir | None:
    """The run a model file belongs to (None for a .keras file outside a run)."""
    return RunDir(model.parent) if is_run(model.parent) else None


def open_run(path: Path) -> RunDir:
    """An existing run directory, or one clear error."""
    if not path.is_dir():
        raise UserError(f"{path} is not a run directory (it does not exist)")
    if not is_run(path):
        raise UserError(
            f"{path} is not a run directory (no {CONFIG} with {', '.join(_WRITTEN[:-1])} or "
            f"{_WRITTEN[-1]} beside it)"
        )
    return RunDir(path)

"""The run directory: the only module that knows a run's layout, lock, config and data.

``runs/<name>-<timestamp>/`` holds the resolved ``config.yaml`` (with the absolute path and
the identity of the data it trains on), ``config.previous-N.yaml`` (every earlier config the
run was trained under), ``state.json`` (running, finished or failed, and the epochs done),
``history.csv``, ``metrics.json``, ``best.keras``, ``last.keras``, ``curves.png``,
TensorBoard ``logs/``, the resumable ``checkpoints/`` and ``.lock``.

Rules that keep a run whole:
* a new run directory appears complete (config and state written in a temporary folder,
  then renamed into place), so a ``kill -9`` at any instant leaves no half-made run;
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import yaml

from catsdogs import files
from catsdogs.errors import UserError

RUNS = Path("runs")
CONFIG = "config.yaml"
STATE = "state.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
BEST, LAST = "best.keras", "last.keras"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
LOCK = ".lock"


class RunDir:
    """One run directory; ``created`` is False until a new run's folder exists."""

    def __init__(self, path: Path, created: bool = True, numbered: bool = False) -> None:
        self.path = path
        self.created = created
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

    def metrics(self) -> dict:
        """The summary a finished run wrote (best epoch and scores); empty before that."""
        return self._json(METRICS)

    def history(self) -> pd.DataFrame:
        file = self.path / HISTORY
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    def best_model(self) -> Path:
        path = self.path / BEST
        if not path.is_file():
            raise UserError(f"{self.path} holds no {BEST} yet (no epoch has finished)")
        return path

    # --- writing ----------------------------------------------------------------------------

    def set_state(self, status: str, epochs_done: int, message: str = "") -> None:
        state = {"status": status, "epochs_done": epochs_done, "message": message}
        self.write_json(STATE, state)

    def write_history(self, history: pd.DataFrame) -> None:
        files.write_text(self.path / HISTORY, history.to_csv(index=False))

    def write_json(self, name: str, data: dict) -> None:
        files.write_text(self.path / name, json.dumps(data, indent=2) + "\n")

    def save_model(self, name: str, model) -> None:
        files.write_with(self.path / name, model.save)

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
        if self.created:
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
        self.created = True

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


def _is_run(path: Path) -> bool:
    return (path / CONFIG).is_file()


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
        files.check_folder(run_dir, "--run-dir")
        if run_dir.exists() and any(run_dir.iterdir()):
            if not _is_run(run_dir):
                raise UserError(f"--run-dir {run_dir} exists and is not a run directory")
            run = RunDir(run_dir)
            if reuse and run.finished and not _same(run, config_text):
                raise UserError(
                    f"--run-dir {run_dir} holds a run of another config ("
                    f"{_changes(run.config_text(), config_text)}); choose another --run-dir "
                    "(make run: RUN_DIR=...)"
                )
            return _continue(run, identity, resume, "--run-dir", reuse)
        return RunDir(run_dir, created=False)
    files.check_folder(RUNS, "the runs folder")
    candidates = sorted(
        (p for p in RUNS.glob(f"{name}-*") if _is_run(p)), key=lambda p: p.stat().st_mtime
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
        if run.config_text() == config_text:
            return _continue(run, identity, resume, "run")
        if _without_data(run.config_text()) == _without_data(config_text):
            echo(f"note: the unfinished run {path} trained on other data; starting a new run")
            break
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return RunDir(RUNS / f"{name}-{stamp}", created=False, numbered=True)


def config_changes(before: str, after: str) -> dict[str, tuple[object, object]]:
    """The dotted keys whose values differ between two resolved config texts: old, new."""

    def flat(tree: object, prefix: str = "") -> dict:
        if not isinstance(tree, dict):
            return {prefix.rstrip("."): tree}
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{prefix}{key}.").items()}

    old, new = flat(yaml.safe_load(before)), flat(yaml.safe_load(after))
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return {k: (old.get(k), new.get(k)) for k in keys}


def _changes(before: str, after: str, most: int = 3) -> str:
    """``seed 42 (now 7); ...``: the first few config keys whose values differ."""
    changes = config_changes(before, after)
    shown = [f"{k} {old} (now {new})" for k, (old, new) in list(changes.items())[:most]]
    return "; ".join(shown + ([f"{len(changes) - most} more"] if len(changes) > most else []))


def _same(run: RunDir, config_text: str) -> bool:
    return (run.path / CONFIG).is_file() and run.config_text() == config_text


def _continue(run: RunDir, identity: str, resume: bool, what: str, reuse: bool = False) -> RunDir:
    """``run``, locked, to train on; with ``reuse`` a finished one is returned as it is."""
    _same_data(run, identity, what)
    for folder in (run.path, run.path / CHECKPOINTS, run.path / LOGS):
        files.check_folder(folder, "run folder")
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
    return run


# --- finding runs and models (predict, evaluate, report) ------------------------------------


def find_model(path: Path | None) -> Path:
    """A .keras file; a run directory means its best.keras; nothing means the newest run's."""
    if path is None:
        models = sorted(RUNS.glob(f"*/{BEST}"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise UserError(f"no trained model under {RUNS}/: train one, or pass --model")
        return models[-1]
    if _is_run(path):
        return RunDir(path).best_model()
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise UserError(f"model {path} does not exist")
    return path


def default_test(model: Path | None) -> Path:
    """The test manifest of the data that ``model``'s run trained on, where it has one; else
    prepare's default ``data/processed/test.csv``."""
    fallback = Path("data/processed/test.csv")
    try:
        run = run_of(find_model(model))
    except UserError:
        return fallback  # predict says what is wrong with the model itself
    folder = run.data_record()[0] if run else None
    return folder / "test.csv" if folder and (folder / "test.csv").is_file() else fallback


def run_of(model: Path) -> RunDir | None:
    """The run a model file belongs to (None for a .keras file outside a run)."""
    return RunDir(model.parent) if _is_run(model.parent) else None


def open_run(path: Path) -> RunDir:
    """An existing run directory, or one clear error."""
    if not path.is_dir():
        raise UserError(f"{path} is not a run directory (it does not exist)")
    if not _is_run(path):
        raise UserError(f"{path} is not a run directory (no {CONFIG})")
    return RunDir(path)

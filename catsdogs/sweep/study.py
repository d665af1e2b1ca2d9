"""The sweep's engine: an Optuna study in a storage, workers that take its trials one at a time,
and every trial one ``catsdogs train`` process in its own run directory.

Optuna keeps the study (SQLite in the sweep folder by default, any RDB URL to share it between
machines). A grid's points are put in the study's queue, each once; a worker pops a trial from
the queue (an atomic update in the storage, so two workers never pop the same trial) and runs
it. What a queue alone cannot rule out, the same point queued twice by two commands started at
once, is settled when a trial starts: of two trials of one point, the lower trial number runs
and the other steps aside (marked ``excluded``, left out of every table).

Each trial records its host and its process (pid and start time); running the same command
again finds a trial that was running in a process that no longer exists at once (Optuna's
heartbeat would only notice after a grace period), marks it failed and queues its point again,
and the retry continues the same run directory, since that is named by the point. A trial's
``train`` process is killed by the kernel when its worker dies, so no orphan holds a run's lock.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from catsdogs import rundir
from catsdogs.errors import UserError
from catsdogs.sweep import results
from catsdogs.sweep.spec import Choices, Point, Sweep, param, shell_line
from catsdogs.timing import duration

POLL_SECONDS = 1.0
LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class Settings:
    sweep: Sweep
    data: Path
    out: Path
    storage: str
    jobs: int = 1
    worker: int | None = None  # set in a worker process that --jobs started
    echo: Callable[[str], None] = print


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').absolute()}"


def open_study(settings: Settings, create: bool = True) -> optuna.Study:
    """The sweep's study in its storage, made on first use (``create``); refused if another
    sweep file made it (the trials of one study must mean one thing)."""
    sweep = settings.sweep
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"connect_args": {"timeout": 60}} if settings.storage.startswith("sqlite") else {}
    try:
        storage = optuna.storages.RDBStorage(settings.storage, engine_kwargs=kwargs)
    except Exception as err:  # SQLAlchemy raises many kinds for a bad URL or server
        raise UserError(f"--storage {settings.storage}: {type(err).__name__}: {err}") from None
    # Reproducible with one worker; several workers must not all draw the same points.
    seed = sweep.spec.seeds[0] + (settings.worker or 0)
    if sweep.spec.search is not None and sweep.spec.sampler == "tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    else:  # a grid draws nothing: its points come from the queue
        sampler = optuna.samplers.RandomSampler(seed=seed)
    pruner = optuna.pruners.MedianPruner() if sweep.spec.pruner else optuna.pruners.NopPruner()
    if not create and sweep.spec.name not in optuna.get_all_study_names(storage):
        raise UserError(
            f"no study {sweep.spec.name!r} in {settings.storage} yet: nothing to sum up"
        )
    study = optuna.create_study(
        storage=storage,
        study_name=sweep.spec.name,
        direction=sweep.direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    recorded = study.user_attrs.get("sweep_file")
    if recorded is None:
        study.set_user_attr("sweep_file", sweep.text)
    elif recorded != sweep.text:
        raise UserError(
            f"the study {sweep.spec.name!r} in {settings.storage} was made from another version "
            f"of {sweep.path.name}; pass another --out (or --storage) for the new one"
        )
    return study


# --- points and Optuna parameters -----------------------------------------------------------


def distributions(sweep: Sweep) -> dict[str, BaseDistribution]:
    if sweep.spec.search is None:
        grid = {
            key: CategoricalDistribution([param(v) for v in vs]) for key, vs in sweep.grid.items()
        }
        return {**grid, "seed": CategoricalDistribution(sweep.spec.seeds)}
    out: dict[str, BaseDistribution] = {}
    for key, space in sweep.spec.search.items():
        if isinstance(space, Choices):
            out[key] = CategoricalDistribution([param(v) for v in space.choices])
        elif key in sweep.integers:
            out[key] = IntDistribution(int(space.low), int(space.high), log=space.log)
        else:
            out[key] = FloatDistribution(space.low, space.high, log=space.log)
    return out


def grid_params(point: Point) -> dict[str, Any]:
    return {**{k: param(v) for k, v in point.values}, "seed": point.seed}


# --- processes ------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (with the pid, it names one process for good)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19]


def this_process() -> str:
    return f"{os.getpid()}:{_start_time(os.getpid())}"


def alive(process: str) -> bool:
    pid, _, started = process.partition(":")
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started in ("None", "") or _start_time(int(pid)) == started


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` for a child of this process: the kernel kills the child when this
    process dies (Linux; elsewhere a no-op). A parent that dies between the fork and the
    child's prctl never signals it (the child is already an orphan), so the child checks
    that its parent is still the one that forked it and otherwise dies at once. libc is
    looked up here, in the parent, so the child between fork and exec does only the call."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    parent, prctl = os.getpid(), ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


# --- the queue ------------------------------------------------------------------------------


def _excluded(trial: FrozenTrial) -> bool:
    return "excluded" in trial.user_attrs


def _point_key(trial: FrozenTrial) -> str | None:
    return trial.user_attrs.get("point")


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that are done (complete or pruned), duplicates left out."""
    return [t for t in study.get_trials(deepcopy=False, states=DONE) if not _excluded(t)]


def reap(study: optuna.Study, echo: Callable[[str], None]) -> int:
    """Fail the trials of this host whose process is gone; they are queued again."""
    host, count = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") == host and "process" in attrs and not alive(attrs["process"]):
            study.tell(trial.number, state=TrialState.FAIL)
            echo(f"trial {trial.number} ({attrs.get('point')}) was cut off; it is tried again")
            count += 1
    return count


def queue(study: optuna.Study, sweep: Sweep) -> int:
    """Put every grid point (or, for a search, every cut-off trial) in the queue once."""
    trials = study.get_trials(deepcopy=False)
    live = {_point_key(t) for t in trials if t.state in LIVE and not _excluded(t)}
    added = 0
    if sweep.spec.search is None:
        for point in sweep.points():
            if point.key not in live:
                study.enqueue_trial(grid_params(point), user_attrs={"point": point.key})
                added += 1
        return added
    retried = {t.user_attrs.get("run_dir") for t in trials if t.state in LIVE}
    for trial in trials:
        run_dir = trial.user_attrs.get("run_dir")
        if trial.state == TrialState.FAIL and not _excluded(trial) and run_dir not in retried:
            attrs = {"point": _point_key(trial), "run_dir": run_dir}
            study.enqueue_trial(trial.params, user_attrs=attrs)
            retried.add(run_dir)
            added += 1
    return added


def _ahead_of(study: optuna.Study, trial: optuna.Trial, key: str) -> FrozenTrial | None:
    """A trial of the same point that is done, or running with a lower number."""
    for other in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, *DONE)):
        if other.number == trial.number or _excluded(other) or _point_key(other) != key:
            continue
        if other.state in DONE or other.number < trial.number:
            return other
    return None


def _over_budget(study: optuna.Study, trial: optuna.Trial, budget: int) -> bool:
    before = [
        t
        for t in study.get_trials(deepcopy=False, states=LIVE)
        if t.number < trial.number and not _excluded(t)
    ]
    return len(before) >= budget


def _step_aside(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr("excluded", reason)
    study.tell(trial, state=TrialState.FAIL)


# --- one trial ------------------------------------------------------------------------------


@dataclass
class Outcome:
    state: TrialState
    value: float | None
    attrs: dict[str, Any]


def _results(run: Path, metric: str, direction: str) -> dict[str, Any] | None:
    history = rundir.RunDir(run).history()
    if history.empty:
        return None
    best = history[metric].idxmax() if direction == "maximize" else history[metric].idxmin()
    return {
        "best_val_loss": float(history["val_loss"].min()),
        "best_val_accuracy": float(history["val_accuracy"].max()),
        "best_epoch": int(history["epoch"][best]),
        "epochs": int(history["epoch"].iloc[-1]),
        "seconds": float(history["seconds"].sum()),
        "value": float(history[metric][best]),
    }


def _train(
    settings: Settings, trial: optuna.Trial, run: Path, arguments: list[str]
) -> tuple[int, bool]:
    """Run ``catsdogs train`` for the trial, reporting each epoch's metric to the study as it
    comes (the pruner judges on them); returns the exit code and whether it was pruned."""
    sweep = settings.sweep
    log = None
    if settings.jobs > 1:  # several trains at once: their bars would garble the terminal
        (settings.out / "logs").mkdir(parents=True, exist_ok=True)
        log = open(settings.out / "logs" / f"{run.name}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "catsdogs", *arguments],
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        preexec_fn=die_with_parent(),
    )
    reported, pruned = 0, False
    try:
        while True:
            ended = process.poll() is not None
            for _, row in rundir.RunDir(run).history().iloc[reported:].iterrows():
                trial.report(float(row[sweep.spec.metric]), int(row["epoch"]))
                reported += 1
            if ended:
                break
            if reported and trial.should_prune():
                pruned = True
                process.terminate()
                process.wait()
                break
            time.sleep(POLL_SECONDS)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        if log:
            log.close()
    return process.returncode, pruned


def run_trial(settings: Settings, trial: optuna.Trial, point: Point) -> Outcome:
    """Train the trial's point (continuing its run directory if it has one) and judge it."""
    sweep = settings.sweep
    name = trial.user_attrs.get("run_dir") or (
        point.key if sweep.spec.search is None else f"trial-{trial.number:04d}"
    )
    run = settings.out / "runs" / name
    arguments = sweep.command(point, settings.data, run)
    for key, value in {
        "point": point.key,
        "run_dir": name,
        "host": socket.gethostname(),
        "process": this_process(),
        "command": shell_line(arguments),
    }.items():
        trial.set_user_attr(key, value)
    if run.is_dir() and rundir.RunDir(run).finished:
        code, pruned = 0, False  # it trained to its end before its worker was cut off
    else:
        code, pruned = _train(settings, trial, run, arguments)
    found = _results(run, sweep.spec.metric, sweep.direction)
    state_of_run = rundir.RunDir(run).state if (run / rundir.STATE).is_file() else {}
    message = state_of_run.get("message", "")
    attrs = dict(found or {})
    value = attrs.pop("value", None)
    if pruned:
        return Outcome(TrialState.PRUNED, None, attrs)
    if code == 0 and found:
        return Outcome(TrialState.COMPLETE, value, attrs)
    if "diverged" in message and found:
        return Outcome(TrialState.COMPLETE, value, {**attrs, "diverged": True})
    reason = message or f"catsdogs train exited with {code}"
    return Outcome(
        TrialState.FAIL, None, {**attrs, "error": reason, "diverged": "diverged" in message}
    )


# --- workers --------------------------------------------------------------------------------


def running(study: optuna.Study) -> int:
    """Trials some process is running now (here or on another machine)."""
    return sum(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))


def _progress(
    study: optuna.Study,
    sweep: Sweep,
    number: int,
    point: Point,
    outcome: Outcome,
    seconds: float,
    jobs: int,
    durations: list[float],
) -> str:
    """``trial 7/30: lookahead on, learning_rate 0.03, seed 1 -> val_acc 0.861 (3m12s);
    23 left, ~1h10m``."""
    total = len(sweep.points()) if sweep.spec.search is None else sweep.spec.trials
    done = finished(study)
    # This trial's place among the finished ones: two workers that finish together get
    # their own numbers.
    mine = next((t.datetime_complete for t in done if t.number == number), None)
    place = sum(1 for t in done if t.datetime_complete <= mine) if mine else None
    left = max(0, total - len(done))
    what = ", ".join(results.label(k, v) for k, v in point.values) + f", seed {point.seed}"
    if outcome.state == TrialState.COMPLETE:
        result = f"{results.short_metric(sweep.spec.metric)} {outcome.value:.3f}"
        result += " (diverged)" if outcome.attrs.get("diverged") else ""
    else:
        result = outcome.state.name.lower()
        if "error" in outcome.attrs:
            result += f": {outcome.attrs['error']}"
    eta = ""
    if left and durations:
        eta = f", ~{duration(sum(durations) / len(durations) * left / jobs)}"
    took = duration(seconds)
    head = f"trial {place}/{total}" if place else f"trial #{number} (not counted)"
    return f"{head}: {what} -> {result} ({took}); {left} left{eta}"


def work(settings: Settings, study: optuna.Study) -> None:
    """Take trials until the study has nothing left for this worker."""
    sweep = settings.sweep
    spaces = distributions(sweep)
    durations: list[float] = []
    while True:
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if sweep.spec.search is None and not waiting:
            return
        if sweep.spec.search is not None and not waiting:
            used = sum(1 for t in study.get_trials(deepcopy=False, states=LIVE) if not _excluded(t))
            if used >= sweep.spec.trials:
                return
        trial = study.ask(fixed_distributions=spaces)
        point = sweep.point_of(trial.params)
        if sweep.spec.search is None:
            ahead = _ahead_of(study, trial, point.key)
            if ahead is not None:
                _step_aside(study, trial, f"point {point.key} is trial {ahead.number}'s")
                continue
        elif "run_dir" not in trial.user_attrs and _over_budget(study, trial, sweep.spec.trials):
            _step_aside(study, trial, f"the study already has its {sweep.spec.trials} trials")
            return
        started = time.monotonic()
        try:
            outcome = run_trial(settings, trial, point)
        except BaseException:
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            raise
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, outcome.value, state=outcome.state)
        seconds = time.monotonic() - started
        durations.append(seconds)
        results.write(study, sweep, settings.out)
        line = _progress(
            study, sweep, trial.number, point, outcome, seconds, settings.jobs, durations
        )
        settings.echo(line)


def _gpus() -> int:
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def worker_environment(index: int, jobs: int) -> dict[str, str]:
    """Worker ``index`` of ``jobs``: its own GPU where there are GPUs, else its share of the
    cores for TensorFlow's thread pools."""
    env = dict(os.environ)
    gpus = _gpus()
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    else:
        share = str(max(1, (os.cpu_count() or 1) // jobs))
        env.update(TF_NUM_INTRAOP_THREADS=share, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=share)
    return env


def start_workers(settings: Settings, arguments: list[str]) -> None:
    """``--jobs N``: N worker processes on the same storage; each takes trials until none
    are left. They die with this process."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "catsdogs", "sweep", *arguments, "--worker", str(index)],
            env=worker_environment(index, settings.jobs),
            preexec_fn=die_with_parent(),
        )
        for index in range(settings.jobs)
    ]
    try:
        codes = [process.wait() for process in processes]
    except BaseException:
        for process in processes:
            process.kill()
        raise
    if any(codes):
        raise UserError(f"a sweep worker failed (exit codes {codes}); run the same command again")

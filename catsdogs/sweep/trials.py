"""The sweep's trials: workers take them from the study one at a time, and each is one
`catsdogs train` process in its own run directory, judged by that run's summary.

A worker pops a trial from the queue (an atomic update in the storage, so two workers never
pop the same trial); the design decides whether it runs or steps aside (see ``design``). Each
epoch's metric is reported to the study as the run writes it, so a pruner can stop a trial.
While a trial runs its worker records Optuna's heartbeat; a worker with nothing left to take
waits while trials record one elsewhere, and takes up any whose heartbeat stops for the grace
period (its machine died). A trial whose loss went non-finite is a result, not a failure:
complete, marked ``diverged``, with the epochs it finished (maybe none), never run again.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from catsdogs import durations, process
from catsdogs.data import manifests
from catsdogs.sweep import processes, results, storage
from catsdogs.sweep.design import Point
from catsdogs.sweep.spec import Sweep, shell_line
from catsdogs.training import NEXT_VARIABLE
from catsdogs.training.rundir import STATE, VAL_ACCURACY, VAL_LOSS, RunDir

POLL_SECONDS = 1.0
WAIT_SECONDS = 10  # at most, between looks at trials running elsewhere


@dataclass
class Settings:
    sweep: Sweep
    data: Path
    out: Path
    storage: str
    jobs: int = 1
    worker: int | None = None  # set in a worker process that --jobs started
    echo: Callable[[str], None] = print


def open_study(settings: Settings, create: bool = True) -> optuna.Study:
    """The sweep's study: reproducible with one worker from start to end; several workers
    never all draw the same points (each samples from its own seed), nor does a restarted
    one draw the points it drew before (its seed moves on by the trials drawn so far)."""
    sweep, heartbeat = settings.sweep, settings.sweep.spec.heartbeat

    def sampler_for(drawn: int) -> optuna.samplers.BaseSampler:
        return sweep.design.sampler((sweep.spec.seeds[0] + (settings.worker or 0) + drawn) % 2**32)

    def take_up(study: optuna.Study, trial: FrozenTrial) -> None:
        storage.retry(study, trial)
        settings.echo(
            f"trial {trial.number} ({trial.user_attrs.get('point')}) on "
            f"{trial.user_attrs.get('host', 'another machine')} recorded no heartbeat for "
            f"{heartbeat.grace_period} s: taken for lost, it is tried again"
        )

    return storage.open_study(
        settings.storage,
        sweep.name,
        sweep.direction,
        sampler_for,
        sweep.design.pruner(),
        sweep.text,
        sweep.path.name,
        (heartbeat.interval, heartbeat.grace_period),
        take_up,
        create,
    )


@dataclass
class Outcome:
    state: TrialState
    value: float | None
    attrs: dict[str, Any]


def _results(run: RunDir, metric: str) -> dict[str, Any] | None:
    """What trials.csv records of a run, by the run's own summary (its best epoch is the
    lowest validation loss); ``value`` is the sweep's metric at that epoch."""
    summary = run.summary()
    if summary is None:
        return None
    return {
        "best_val_loss": summary.best_val_loss,
        "best_val_accuracy": summary.best_val_accuracy,
        "best_epoch": summary.best_epoch,
        "final_val_loss": summary.final[VAL_LOSS],
        "final_val_accuracy": summary.final[VAL_ACCURACY],
        "epochs": summary.epochs,
        "seconds": summary.seconds,
        "value": summary.best_val_loss if metric == VAL_LOSS else summary.best_val_accuracy,
    }


def _train(
    settings: Settings, trial: optuna.Trial, run: RunDir, arguments: list[str]
) -> tuple[int, bool]:
    """Run ``catsdogs train`` for the trial, reporting each epoch's metric to the study as it
    comes (the pruner judges on them); returns the exit code and whether it was pruned."""
    metric = settings.sweep.metric
    log = None
    if settings.jobs > 1:  # several trains at once: their bars would garble the terminal
        (settings.out / "logs").mkdir(parents=True, exist_ok=True)
        log = open(settings.out / "logs" / f"{run.path.name}.log", "ab")  # noqa: SIM115
    child = processes.catsdogs(
        arguments,
        env={**os.environ, NEXT_VARIABLE: "0"},  # the sweep gives its own next: block
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
    )
    reported, pruned = 0, False
    try:
        while True:
            ended = child.poll() is not None
            for _, row in run.history().iloc[reported:].iterrows():
                try:
                    trial.report(float(row[metric]), int(row["epoch"]))
                except optuna.exceptions.UpdateFinishedTrialError:
                    # Another worker ended this trial (two workers took the same queued
                    # point): the train finishes here unreported, and ``work`` leaves its
                    # result out.
                    reported = len(run.history())
                    break
                reported += 1
            if ended:
                break
            if reported and trial.should_prune():
                pruned = True
                child.terminate()
                child.wait()
                break
            time.sleep(POLL_SECONDS)
    except BaseException:
        child.kill()
        child.wait()
        raise
    finally:
        if log:
            log.close()
    return child.returncode, pruned


def _test_scores(settings: Settings, run: RunDir) -> dict[str, Any]:
    """The run's best model scored on the data's labelled test split (a split that chooses
    neither epochs nor points), by `catsdogs evaluate` in its own process, without TTA (as
    every study so far was scored); nothing where the data has no such split. A run scored
    before (the trial was cut off after) is not scored again."""
    test = manifests.labelled_test(settings.data)
    summary = run.summary()
    if test is None or summary is None:
        return {}
    scored = run.evaluation(test, tta=False)
    if scored.get("epoch") != summary.best_epoch:
        arguments = ["evaluate", "--model", str(run.path), "--data", str(test), "--no-tta"]
        child = processes.catsdogs(arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = child.communicate()[0].decode(errors="replace").strip()
        if child.returncode != 0:
            return {"test_error": output.splitlines()[-1] if output else f"exit {child.returncode}"}
        scored = run.evaluation(test, tta=False)
    return {"test_accuracy": scored["accuracy"], "test_log_loss": scored["log_loss"]}


def run_trial(settings: Settings, trial: optuna.Trial, point: Point) -> Outcome:
    """Train the trial's point (continuing its run directory if it has one) and judge it."""
    sweep = settings.sweep
    name = trial.user_attrs.get("run_dir") or sweep.design.run_name(trial, point)
    run = RunDir(settings.out / "runs" / name)
    arguments = sweep.command(point, settings.data, run.path)
    for key, value in {
        "point": point.key,
        "run_dir": name,
        "host": processes.host(),
        "process": process.this_process(),
        "heartbeat": sweep.spec.heartbeat.interval,
        "command": shell_line(arguments),
    }.items():
        trial.set_user_attr(key, value)
    if run.path.is_dir() and run.finished:
        code, pruned = 0, False  # it trained to its end before its worker was cut off
    else:
        code, pruned = _train(settings, trial, run, arguments)
    found = _results(run, sweep.metric)
    message = run.state.get("message", "") if (run.path / STATE).is_file() else ""
    attrs = dict(found or {})
    value = attrs.pop("value", None)
    if pruned:
        return Outcome(TrialState.PRUNED, None, attrs)
    if code == 0 and found:
        return Outcome(TrialState.COMPLETE, value, {**attrs, **_test_scores(settings, run)})
    if "diverged" in message:  # train stopped at a non-finite loss (training/loop.py)
        if not found:  # not one epoch finished: the worst value there is, no best values
            value = -math.inf if sweep.direction == "maximize" else math.inf
        attrs = {"epochs": 0, **attrs, "diverged": True, "error": message}
        return Outcome(TrialState.COMPLETE, value, {**attrs, **_test_scores(settings, run)})
    reason = message or f"catsdogs train exited with {code}"
    return Outcome(TrialState.FAIL, None, {**attrs, "error": reason})


def _progress(
    study: optuna.Study,
    sweep: Sweep,
    number: int,
    point: Point,
    outcome: Outcome,
    seconds: float,
    jobs: int,
    took_each: list[float],
) -> str:
    """``trial 7/30: lookahead on, learning_rate 0.03, seed 1 -> val_acc 0.861 (3m12s);
    23 left, ~1h10m``."""
    total = sweep.design.total
    done = storage.finished(study)
    # This trial's place among the finished ones: two workers that finish together get
    # their own numbers.
    mine = next((t.datetime_complete for t in done if t.number == number), None)
    place = sum(1 for t in done if t.datetime_complete <= mine) if mine else None
    left = max(0, total - len(done))
    what = ", ".join(results.label(k, v) for k, v in point.values) + f", seed {point.seed}"
    if outcome.state == TrialState.COMPLETE and not math.isfinite(outcome.value):
        result = "diverged in its first epoch (no epoch to judge)"
    elif outcome.state == TrialState.COMPLETE:
        result = f"{results.short_metric(sweep.metric)} {outcome.value:.3f}"
        if "test_accuracy" in outcome.attrs:
            result += f", test_acc {outcome.attrs['test_accuracy']:.3f}"
        elif "test_error" in outcome.attrs:
            result += f" (not scored on test: {outcome.attrs['test_error']})"
        result += " (diverged)" if outcome.attrs.get("diverged") else ""
    else:
        result = outcome.state.name.lower()
        if "error" in outcome.attrs:
            result += f": {outcome.attrs['error']}"
    eta = ""
    if left and took_each:
        eta = f", ~{durations.text(sum(took_each) / len(took_each) * left / jobs)}"
    took = durations.text(seconds)
    head = f"trial {place}/{total}" if place else f"trial #{number} (not counted)"
    return f"{head}: {what} -> {result} ({took}); {left} left{eta}"


def _wait(settings: Settings, study: optuna.Study, said: bool) -> bool:
    """Whether trials are running elsewhere with a heartbeat (then wait a little: one may
    be taken up here); says so once."""
    others = storage.beating(study)
    if not others:
        return False
    if not said:
        heartbeat = settings.sweep.spec.heartbeat
        settings.echo(
            f"waiting for {len(others)} trial(s) running elsewhere: one that records no "
            f"heartbeat for {heartbeat.grace_period} s is taken up here"
        )
    time.sleep(min(settings.sweep.spec.heartbeat.interval, WAIT_SECONDS))
    return True


def work(settings: Settings, study: optuna.Study) -> None:
    """Take trials until the study has nothing left for this worker and no trial runs
    elsewhere that it might have to take up."""
    sweep, design = settings.sweep, settings.sweep.design
    spaces = design.distributions()
    took_each: list[float] = []
    waited = False
    while True:
        processes.reap(study, settings.echo)
        storage.fail_stale(study)
        if not design.has_work(study):
            if _wait(settings, study, waited):
                waited = True
                continue
            return
        waited = False
        trial = study.ask(fixed_distributions=spaces)
        point = design.point_of(trial.params)
        refusal = design.refusal(study, trial, point)
        if refusal is not None:
            storage.step_aside(study, trial, refusal)
            design.stepped_aside(study)
            continue
        started = time.monotonic()
        try:
            with storage.beat(study, trial, sweep.spec.heartbeat.interval):
                outcome = run_trial(settings, trial, point)
        except BaseException:
            if storage.state(study, trial) == TrialState.RUNNING:
                trial.set_user_attr("error", "interrupted")
                study.tell(trial, state=TrialState.FAIL)
            raise
        if storage.state(study, trial) != TrialState.RUNNING:
            settings.echo(
                f"trial {trial.number} ({point.key}) was taken up by another worker while it "
                f"ran here (no heartbeat recorded for {sweep.spec.heartbeat.grace_period} s); "
                "its result here is left out"
            )
            continue
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, outcome.value, state=outcome.state)
        seconds = time.monotonic() - started
        took_each.append(seconds)
        results.write(study, sweep, settings.out)
        line = _progress(
            study, sweep, trial.number, point, outcome, seconds, settings.jobs, took_each
        )
        settings.echo(line)

"""`catsdogs sweep`: sweep files checked like configs, every grid point trained exactly once
(several workers, a kill -9, a re-run), and tables that say what the trials say."""

from __future__ import annotations

import fcntl
import json
import re
import shlex
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import CONFIGS, PNG, SMOKE, cli, module_command, real_data

from catsdogs import durations
from catsdogs.config import dump, load
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.sweep import results, spec, storage, trials
from catsdogs.training import rundir
from catsdogs.training.train import with_data

SWEEP = f"""\
name: tiny
base: {SMOKE}
set: {{training.epochs: 1, training.steps_per_epoch: 1, data.batch_size: 4}}
grid:
  optimizer.lookahead.enabled: [true, false]
  optimizer.learning_rate: [1e-2, 0.1]
seeds: [0]
"""


ARMS = """\
arm_set:
  true: {optimizer.momentum: 0.5}
  false: {optimizer.momentum: 0.8}
compare: optimizer.lookahead.enabled
"""


def sweep_file(folder: Path, text: str = SWEEP) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.yaml").write_text(text)
    return folder / "sweep.yaml"


def read_outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("trials.csv", "summary.csv", "sweep.md")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SWEEP + "colour: red\n", "unknown key 'colour'"),
        (SWEEP.replace("optimizer.learning_rate:", "optimizer.learnig_rate:"), "learnig_rate"),
        (SWEEP.replace("[1e-2, 0.1]", "[fast, 0.1]"), "optimizer.learning_rate: Input should"),
        (SWEEP.replace("[1e-2, 0.1]", "[-1, 0.1]"), "greater than 0"),
        (SWEEP.replace("training.epochs: 1", "training: 1"), "training is not a section"),
        (SWEEP + "search: {optimizer.momentum: {low: 0.5, high: 0.9}}\n", "either grid or search"),
        (SWEEP.replace("seeds: [0]", "seeds: [0, 0]"), "seeds must be distinct"),
        (SWEEP + "x: seed\n", "x 'seed' is not a swept key"),
        (SWEEP.replace(str(SMOKE), "nowhere.yaml"), "base nowhere.yaml does not exist"),
        (SWEEP + "trials: 3\n", "trials and pruner go with search"),
        (SWEEP + ARMS.replace("false:", "nope:"), "arm_set must give each value"),
        (SWEEP + ARMS.replace("momentum", "learning_rate"), "arm_set sets optimizer.learning_rate"),
        (SWEEP + ARMS.replace("0.5}", "-1}"), "arm_set: optimizer.momentum"),
        (SWEEP + "compare: seed\n", "compare 'seed' must be a grid key"),
        (SWEEP + "arm_set: {true: {optimizer.momentum: 0.5}}\n", "arm_set goes with compare"),
        ("grid: [1, 2\n", "is not valid YAML"),
        # A name is a plain folder name: '..' wrote the study outside runs/sweeps/.
        (SWEEP.replace("name: tiny", "name: '..'"), "name: must be a plain folder name"),
        (SWEEP.replace("name: tiny", "name: a/b"), "name: must be a plain folder name"),
        (SWEEP.replace("name: tiny", "name: .hidden"), "name: must be a plain folder name"),
        (SWEEP.replace("name: tiny", f"name: {'n' * 101}"), "name: must be a plain folder name"),
        # Nothing to sweep, or a key in two places: tracebacks or silence before.
        (SWEEP.split("grid:")[0] + "grid: {}\nseeds: [0]\n", "grid: no key to sweep"),
        (SWEEP.split("grid:")[0] + "search: {}\ntrials: 2\n", "search: no key to sweep"),
        (SWEEP.replace("[1e-2, 0.1]", "[]"), "grid.optimizer.learning_rate has no values"),
        (
            SWEEP.replace("training.epochs: 1,", "training.epochs: 1, optimizer.learning_rate: 1,"),
            "optimizer.learning_rate is in both set and grid: give it in one of them",
        ),
        (
            SWEEP.split("grid:")[0].replace("data.batch_size: 4", "model.pooling: avg")
            + "search: {model.pooling: {choices: [avg, max]}}\ntrials: 2\n",
            "model.pooling is in both set and search",
        ),
        (
            SWEEP.split("grid:")[0]
            + "search: {model.pooling: {choices: [avg, max, avg]}}\ntrials: 3\n",
            "the search space holds 2 points, fewer than trials: 3",
        ),
    ],
)
def test_a_bad_sweep_file_is_one_error_line(tmp_path, text, message):
    path = sweep_file(tmp_path, text)
    done = cli("sweep", path, "--out", tmp_path / "out")
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    [line] = done.output.strip().splitlines()
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert not (tmp_path / "out").exists()


def test_values_are_checked_with_their_real_types(tmp_path):
    checked = spec.read(sweep_file(tmp_path))
    grid = checked.design
    assert grid.values["optimizer.learning_rate"] == [0.01, 0.1]  # YAML's "1e-2" is a float
    assert [p.key for p in grid.points()][:2] == [
        "lookahead.enabled-true_optimizer.learning_rate-0.01_seed-0",
        "lookahead.enabled-true_optimizer.learning_rate-0.1_seed-0",
    ]
    assert checked.x == "optimizer.learning_rate"


def test_each_arm_takes_its_own_overrides(tmp_path):
    checked = spec.read(sweep_file(tmp_path, SWEEP + ARMS))
    assert checked.arms == (True, False)
    for point in checked.design.points():
        config = checked.config(point)
        arm = config.optimizer.lookahead.enabled
        assert config.optimizer.momentum == (0.5 if arm else 0.8)
        assert config.optimizer.learning_rate == dict(point.values)["optimizer.learning_rate"]
    assert checked.base_config().optimizer.momentum == 0.9  # what every trial shares: none


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.yaml")), ids=str)
def test_every_shipped_sweep_file_resolves_each_point_to_a_valid_config(path):
    checked = spec.read(path)
    points = checked.design.points()
    combinations = np.prod([len(values) for values in checked.design.values.values()])
    assert len({p.key for p in points}) == combinations * len(checked.spec.seeds)
    for point in points:
        config = checked.config(point)
        assert config.seed == point.seed
        assert (
            config.optimizer.lookahead.enabled == dict(point.values)["optimizer.lookahead.enabled"]
        )
        # the learning rate: the grid's, or each arm's own (arm_set)
        rate = {**checked.arm_overrides(point), **dict(point.values)}["optimizer.learning_rate"]
        assert config.optimizer.learning_rate == rate
        assert (
            config.optimizer.lookahead.sync_period,
            config.optimizer.lookahead.slow_step_size,
        ) == (
            5,
            0.5,
        )


def test_one_point_queued_twice_runs_once(tmp_path):
    # Two commands started at once may queue a point twice; of two trials of one point the
    # lower number runs and the other steps aside, even when both were popped together.
    grid = spec.read(sweep_file(tmp_path)).design
    the_study = optuna.create_study(direction="maximize")
    point = grid.points()[0]
    for _ in range(2):
        the_study.enqueue_trial(grid.params(point), user_attrs={"point": point.key})
    first, second = (the_study.ask(grid.distributions()) for _ in range(2))
    assert grid.point_of(first.params) == grid.point_of(second.params) == point
    assert grid.refusal(the_study, first, point) is None
    assert grid.refusal(the_study, second, point) == f"point {point.key} is trial {first.number}'s"
    storage.step_aside(the_study, second, "duplicate")
    the_study.tell(first, 0.5)
    assert [t.number for t in storage.finished(the_study)] == [first.number]
    assert grid.queue(the_study) == 3  # the other three points of the 2 x 2 grid, once each
    assert grid.queue(the_study) == 0


def test_a_trial_another_worker_ended_lets_its_train_finish_unreported(tmp_path, monkeypatch):
    # Two workers took the same queued point; the other one's train failed and it told the
    # study so. This worker's train goes on to its end; its epochs are not reported to a
    # finished trial (Optuna refuses: UpdateFinishedTrialError ended the whole sweep).
    the_study = optuna.create_study(direction="minimize")
    trial = the_study.ask()
    the_study.tell(trial, state=optuna.trial.TrialState.FAIL)
    run = rundir.RunDir(tmp_path / "run")
    run.path.mkdir()
    pd.DataFrame({"epoch": [1, 2], "val_loss": [0.7, 0.6]}).to_csv(
        run.path / rundir.HISTORY, index=False
    )

    class Ended:  # a train that has finished, exit 0
        returncode = 0

        def poll(self) -> int:
            return 0

        def kill(self) -> None:
            pass

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(trials.processes, "catsdogs", lambda arguments, **streams: Ended())
    settings = types.SimpleNamespace(
        sweep=types.SimpleNamespace(metric="val_loss"), jobs=1, out=tmp_path
    )
    assert trials._train(settings, trial, run, []) == (0, False)
    assert storage.state(the_study, trial) == optuna.trial.TrialState.FAIL


def test_summary_pools_seeds_with_the_sample_std(tmp_path):
    checked = spec.read(sweep_file(tmp_path, SWEEP.replace("seeds: [0]", "seeds: [0, 1, 2]")))
    trials = pd.DataFrame(
        {
            "state": ["complete"] * 5 + ["fail"],
            "optimizer.lookahead.enabled": [True, True, True, False, False, False],
            "optimizer.learning_rate": [0.01] * 6,
            "best_val_accuracy": [0.6, 0.7, 0.8, 0.5, 0.9, 0.1],
            "best_val_loss": [0.6, 0.5, 0.4, 0.7, 0.3, 9.0],
            "test_accuracy": [0.55, 0.65, np.nan, 0.5, 0.8, 0.9],  # one run not scored
            "diverged": [False, False, False, True, False, False],
        }
    )
    summary = results.summary_frame(trials, checked)
    assert summary["n"].tolist() == [3, 2]
    np.testing.assert_allclose(summary["test_accuracy_mean"], [0.6, 0.65])
    np.testing.assert_allclose(summary["test_accuracy_std"], [np.sqrt(0.005), np.sqrt(0.045)])
    np.testing.assert_allclose(summary["val_accuracy_mean"], [0.7, 0.7])
    np.testing.assert_allclose(summary["val_accuracy_std"], [0.1, np.sqrt(0.08)])
    np.testing.assert_allclose(summary["val_loss_mean"], [0.5, 0.5])
    assert summary["diverged"].tolist() == [0, 1]


def test_the_best_line_counts_seeds_as_a_whole_number(tmp_path):
    # A grid of numbers only made the best row all floats: "(n=1.0)".
    text = SWEEP.replace("  optimizer.lookahead.enabled: [true, false]\n", "")
    checked = spec.read(sweep_file(tmp_path, text))
    trials = pd.DataFrame(
        {
            "state": ["complete", "complete"],
            "seed": [0, 0],
            "optimizer.learning_rate": [0.01, 0.1],
            "best_val_accuracy": [0.6, 0.7],
            "best_val_loss": [0.6, 0.5],
            "diverged": [False, False],
        }
    ).reindex(columns=["state", "seed", "optimizer.learning_rate", *results.RESULTS, "diverged"])
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.6, 0.6], [0.7, 0.5]]
    summary = results.summary_frame(trials, checked)
    text = results.markdown(summary, trials, checked, 0.0, None)
    assert "Best combination: learning_rate 0.1: val_accuracy 0.7000 (n=1); one seed" in text


def seeded_summary(tmp_path, accuracies: dict[float, list[float]]):
    """The summary of a sweep over learning rates with these accuracies per seed."""
    text = SWEEP.replace("  optimizer.lookahead.enabled: [true, false]\n", "")
    checked = spec.read(sweep_file(tmp_path, text.replace("seeds: [0]", "seeds: [0, 1, 2]")))
    rows = [
        {"state": "complete", "seed": seed, "optimizer.learning_rate": rate}
        | {"best_val_accuracy": value, "best_val_loss": 1 - value, "diverged": False}
        for rate, values in accuracies.items()
        for seed, value in enumerate(values)
    ]
    trials = pd.DataFrame(rows).reindex(
        columns=["state", "seed", "optimizer.learning_rate", *results.RESULTS, "diverged"]
    )
    return checked, results.summary_frame(trials, checked)


def test_a_best_is_named_only_outside_the_seeds_noise(tmp_path):
    # 0.01: mean 0.8, se 0.1 / sqrt(3) = 0.0577; 0.1: mean 0.6, se 0.0577: bars apart.
    checked, summary = seeded_summary(tmp_path, {0.01: [0.7, 0.8, 0.9], 0.1: [0.5, 0.6, 0.7]})
    np.testing.assert_allclose(summary["val_accuracy_se"], [0.1 / np.sqrt(3)] * 2)
    assert results.best_line(summary, checked) == (
        "Best combination: learning_rate 0.01: val_accuracy 0.8000 +- 0.0577 (n=3) "
        "(+- one standard error)."
    )
    # 0.1 at 0.7 is within 0.0577 + 0.0577 of 0.8: no winner, both named, the higher first.
    checked, summary = seeded_summary(tmp_path, {0.01: [0.7, 0.8, 0.9], 0.1: [0.6, 0.7, 0.8]})
    line = results.best_line(summary, checked)
    assert line.startswith("No best combination: 2 are within one another's noise")
    assert line.index("learning_rate 0.01") < line.index("learning_rate 0.1:")
    # Every seed at chance in both: a tie, not a best.
    checked, summary = seeded_summary(tmp_path, {0.01: [0.5] * 3, 0.1: [0.5] * 3})
    assert results.best_line(summary, checked).startswith("No best combination: 2 are")


def test_a_grid_sweep_trains_every_point_once_and_tells_what_they_did(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data", labelled_test=4)
    path, out = sweep_file(tmp_path), tmp_path / "out"
    done = cli("sweep", path, "--data", data, "--out", out)
    assert done.exit_code == 0, done.output
    trials = pd.read_csv(out / "trials.csv")
    assert trials["state"].tolist() == ["complete"] * 4
    # One line per trial, in grid order, with the value trials.csv holds (to 3 decimals).
    progress = re.findall(
        r"trial (\d)/4: lookahead (on|off), learning_rate (\S+), seed 0 -> "
        r"val_acc ([\d.]+), test_acc ([\d.]+) \(",
        done.output,
    )
    assert [(int(n), arm, rate) for n, arm, rate, _, _ in progress] == [
        (1, "on", "0.01"),
        (2, "on", "0.1"),
        (3, "off", "0.01"),
        (4, "off", "0.1"),
    ]
    shown = {(arm == "on", float(rate)): float(value) for _, arm, rate, value, _ in progress}
    arms, rates = trials["optimizer.lookahead.enabled"], trials["optimizer.learning_rate"]
    recorded = {
        (bool(arm), float(rate)): value
        for arm, rate, value in zip(arms, rates, trials["best_val_accuracy"])
    }
    assert shown == pytest.approx(recorded, abs=5e-4)
    assert sorted(zip(arms, rates)) == [(False, 0.01), (False, 0.1), (True, 0.01), (True, 0.1)]
    # One next: block, the sweep's: the run of the best trial where sweep.md names a best;
    # else no run to report and predict with (a probe: it named one beside "No best").
    best_run = out / "runs" / trials.loc[trials["best_val_accuracy"].idxmax(), "run_dir"]
    assert done.output.count("next:") == 1
    named_best = "\nBest combination: " in (out / "sweep.md").read_text()
    suggested = f"  catsdogs report {best_run}  # the trial of the highest val_accuracy"
    assert (suggested in done.output) == named_best
    assert ("it names no best combination" in done.output) != named_best
    for row in trials.itertuples():  # the best epoch is the lowest val_loss, as in the run
        history = pd.read_csv(out / "runs" / row.run_dir / "history.csv")
        best = history.loc[history["val_loss"].idxmin()]
        assert row.best_epoch == best["epoch"]
        assert row.best_val_accuracy == pytest.approx(best["val_accuracy"])
        assert row.best_val_loss == pytest.approx(history["val_loss"].min())
        summary = json.loads((out / "runs" / row.run_dir / "metrics.json").read_text())
        assert (summary["best_epoch"], summary["best_val_accuracy"]) == pytest.approx(
            (row.best_epoch, row.best_val_accuracy)
        )
        assert (row.final_val_loss, row.final_val_accuracy) == pytest.approx(
            tuple(history[["val_loss", "val_accuracy"]].iloc[-1])
        )
        # Scored once more, on the data's test split, at the best epoch, without TTA.
        best = out / "runs" / row.run_dir / "best.keras"
        scored = json.loads(rundir.eval_path(best, data / "test.csv", False).read_text())
        assert (scored["data"], scored["epoch"], scored["tta"], scored["count"]) == (
            str(data / "test.csv"),
            row.best_epoch,
            False,
            4,
        )
        assert (row.test_accuracy, row.test_log_loss) == pytest.approx(
            (scored["accuracy"], scored["log_loss"])
        )
    tested = {(arm == "on", float(rate)): float(value) for _, arm, rate, _, value in progress}
    recorded_test = dict(zip(zip(arms.astype(bool), rates.astype(float)), trials["test_accuracy"]))
    assert tested == pytest.approx(recorded_test, abs=5e-4)
    summary = pd.read_csv(out / "summary.csv")
    assert summary["n"].tolist() == [1] * 4
    for row in summary.itertuples():
        same = trials[
            (trials["optimizer.lookahead.enabled"] == row[1])
            & (trials["optimizer.learning_rate"] == row[2])
        ]
        assert row.val_accuracy_mean == pytest.approx(same["best_val_accuracy"].mean())
        assert np.isnan(row.val_accuracy_std)  # one seed: no spread to tell
    assert (out / "sweep.png").read_bytes()[:8] == PNG
    # The best combination named is one with the highest mean, and that mean is shown.
    best = summary["val_accuracy_mean"].max()
    winners = {
        f"lookahead {'on' if row[1] else 'off'}, learning_rate {row[2]:g}"
        for row in summary.itertuples()
        if row.val_accuracy_mean == best
    }
    text = (out / "sweep.md").read_text()
    [line] = [x for x in text.splitlines() if x.startswith(("Best ", "No best "))]
    if line.startswith("Best "):
        named, value = re.fullmatch(
            r"Best combination: (.+): val_accuracy (\S+) \(n=1\); one seed: no standard "
            r"error\.",
            line,
        ).groups()
        assert named in winners and float(value) == pytest.approx(best, abs=5e-5)
    elif "ended weak" in line:  # a few steps on the mini data: at chance (said first)...
        assert line.startswith("No best combination: even the best one's runs ended weak")
        assert "## Warnings\n\n- trial " in text
    else:  # ...or equal values
        assert len(winners) > 1
        assert line.startswith(f"No best combination: {len(winners)} tie (one seed)")

    # A trial's command reproduces its resolved config exactly, from the pinned base.
    row = trials.iloc[2]
    words = shlex.split(row.command)
    assert words[:2] == ["catsdogs", "train"]
    assert words[words.index("--config") + 1] == str(out / "base.yaml")
    sets = [value for flag, value in zip(words, words[1:]) if flag == "--set"]
    config = load(Path(words[words.index("--config") + 1]), sets)
    data_dir = Path(words[words.index("--data") + 1])
    from_command = with_data(config, manifests.read_training_data(data_dir, echo=lambda _: None))
    assert dump(from_command) == (out / "runs" / row.run_dir / "config.yaml").read_text()

    # Again: nothing to do. --summary-only rebuilds the same files from the study alone.
    before = read_outputs(out)
    again = cli("sweep", path, "--data", data, "--out", out)
    assert again.exit_code == 0 and "4 trials, 4 done" in again.output
    for name in ("trials.csv", "summary.csv", "sweep.md", "sweep.png"):
        (out / name).unlink()
    rebuilt = cli("sweep", path, "--out", out, "--summary-only")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert read_outputs(out) == before


ORPHANED_CHILD = """
import os, sys, time
from pathlib import Path
from catsdogs.sweep.processes import die_with_parent
arm = die_with_parent()
me = os.getpid()
if os.fork() == 0:
    while os.getppid() == me:  # the parent dies while its child starts, before prctl
        time.sleep(0.01)
    Path(sys.argv[1] + ".armed").touch()
    arm()
    Path(sys.argv[1]).write_text("outlived its parent")
os._exit(0)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_whose_parent_died_before_it_was_armed_dies_too(tmp_path):
    """A sweep killed with -9 just as a worker started its next train left that train running
    (a clean-clone run, 2026-11-26): it raced the retried trial for the run directory."""
    marker = tmp_path / "survivor"
    subprocess.run([sys.executable, "-c", ORPHANED_CHILD, str(marker)], check=True, timeout=60)
    deadline = time.monotonic() + 60
    while not marker.with_suffix(".armed").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.with_suffix(".armed").exists(), "the orphan never reached its prctl"
    time.sleep(3)
    assert not marker.exists()


def _lock_is_free(run: Path) -> bool:
    with open(run / rundir.LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def test_two_workers_then_kill_9_then_the_same_command_finishes_each_point_once(
    shared_data, tmp_path
):
    data = real_data(shared_data, tmp_path / "data")
    path, out = (
        sweep_file(tmp_path, SWEEP),
        tmp_path / "out",
    )
    command = module_command("sweep", path, "--data", data, "--out", out, "--jobs", 2)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        trials = out / "trials.csv"
        if trials.exists() and (pd.read_csv(trials)["state"] == "complete").sum() >= 1:
            break
        time.sleep(0.2)
    assert first.poll() is None, "the sweep ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    # The kernel kills the workers, then their trains; a train of a few GiB takes a moment to
    # exit on a loaded machine (its lock goes with it), so wait up to 20 s, not a fixed 1 s.
    runs = [p for p in (out / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    deadline = time.monotonic() + 20
    while not all(_lock_is_free(run) for run in runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_lock_is_free(run) for run in runs), "an orphan train still holds a run"

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    complete = trials[trials["state"] == "complete"]
    assert sorted(complete["run_dir"]) == [
        f"lookahead.enabled-{arm}_optimizer.learning_rate-{rate}_seed-0"
        for arm in ("false", "true")
        for rate in ("0.01", "0.1")
    ]
    assert len(complete) == 4  # each point once: no duplicate, none lost
    # A killed trial's "fail" row is not kept beside its run again; counts read as counts.
    assert set(trials["state"]) == {"complete"}
    assert trials["epochs"].dtype == np.int64 and trials["best_epoch"].dtype == np.int64
    statuses = {
        json.loads((out / "runs" / r / "state.json").read_text())["status"]
        for r in complete["run_dir"]
    }
    assert statuses == {"finished"}
    # With --jobs 2 each train writes its own log, which ends with the run it finished.
    for run_dir in complete["run_dir"]:
        log = (out / "logs" / f"{run_dir}.log").read_text()
        assert f"done: {out / 'runs' / run_dir}" in log.splitlines(), run_dir


SEARCH = f"""\
name: tune
base: {SMOKE}
set: {{training.epochs: 2, training.steps_per_epoch: 1, data.batch_size: 4}}
search:
  optimizer.learning_rate: {{low: 1e-3, high: 0.3, log: true}}
  optimizer.lookahead.sync_period: {{low: 2, high: 6}}
  model.pooling: {{choices: [avg, max]}}
sampler: random
trials: 2
pruner: median
seeds: [7]
metric: val_loss
"""


def test_a_search_runs_its_trials_within_the_space_and_reports_each_epoch(shared_data, tmp_path):
    data = real_data(shared_data, tmp_path / "data")
    path, out = sweep_file(tmp_path, SEARCH), tmp_path / "out"
    done = cli("sweep", path, "--data", data, "--out", out)
    assert done.exit_code == 0, done.output
    trials = pd.read_csv(out / "trials.csv")
    assert trials["state"].tolist() == ["complete", "complete"]
    assert trials["run_dir"].tolist() == ["trial-0000", "trial-0001"]
    assert trials["optimizer.learning_rate"].between(1e-3, 0.3).all()
    assert set(trials["optimizer.lookahead.sync_period"]) <= set(range(2, 7))
    assert set(trials["model.pooling"]) <= {"avg", "max"} and set(trials["seed"]) == {7}
    the_study = optuna.load_study(study_name="tune", storage=storage.default_storage(out))
    for trial in the_study.trials:  # each epoch's val_loss, as the pruner saw it
        history = pd.read_csv(out / "runs" / trial.user_attrs["run_dir"] / "history.csv")
        assert trial.intermediate_values == dict(zip(history["epoch"], history["val_loss"]))
        assert trial.value == pytest.approx(history["val_loss"].min())
        config = load(out / "runs" / trial.user_attrs["run_dir"] / "config.yaml")
        trained = {
            "optimizer.learning_rate": config.optimizer.learning_rate,
            "optimizer.lookahead.sync_period": config.optimizer.lookahead.sync_period,
            "model.pooling": config.model.pooling,
        }
        assert trained == pytest.approx(trial.params)  # the run trained what was sampled
        row = trials.set_index("run_dir").loc[trial.user_attrs["run_dir"]]
        assert row[list(trained)].to_dict() == pytest.approx(trained)  # and trials.csv says so


def test_summary_only_without_a_study_is_one_error_line(tmp_path):
    path = sweep_file(tmp_path)
    done = cli("sweep", path, "--out", tmp_path / "out", "--summary-only")
    assert done.exit_code == 1
    assert done.output.strip() == f"error: no study in {tmp_path / 'out'} yet: nothing to sum up"
    assert not (tmp_path / "out").exists()


def test_labels_read_as_words_whatever_the_number_type():
    # pandas hands numpy values to the figure's legend: they must read like Python's.
    for value, text in ((True, "lookahead on"), (np.bool_(False), "lookahead off")):
        assert results.label("optimizer.lookahead.enabled", value) == text
    assert results.label("optimizer.learning_rate", np.float64(0.003)) == "learning_rate 0.003"
    assert durations.text(3732) == "1h02m" and durations.text(192) == "3m12s"


def test_a_sweep_whose_trials_fail_says_so_and_exits_1(shared_data, tmp_path):
    # A batch larger than the 8 training images: every trial's train refuses and exits 1.
    text = f"""\
name: failing
base: {SMOKE}
set: {{training.epochs: 1, data.batch_size: 64}}
grid:
  optimizer.learning_rate: [0.01, 0.1]
seeds: [0]
"""
    data = real_data(shared_data, tmp_path / "data")
    path, out = sweep_file(tmp_path, text), tmp_path / "out"
    done = cli("sweep", path, "--data", data, "--out", out)
    assert done.exit_code == 1, done.output
    progress = [line for line in done.output.splitlines() if line.startswith("trial ")]
    assert len(progress) == 2
    assert all("(not counted)" in line and "-> fail" in line for line in progress)
    assert done.output.strip().splitlines()[-1] == (
        f"error: 2 of 2 trials did not finish (see {out / 'trials.csv'}); the same command "
        "retries them"
    )
    assert pd.read_csv(out / "trials.csv")["state"].tolist() == ["fail", "fail"]


def test_a_trial_is_scored_at_its_runs_best_epoch_the_lowest_val_loss(tmp_path):
    # The highest accuracy (epoch 1) is not at the lowest loss (epoch 3): best_val_accuracy
    # means the accuracy of the epoch best.keras holds, in trials.csv as in metrics.json.
    (tmp_path / "r").mkdir()
    pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "val_loss": [0.60, 0.55, 0.50, 0.50],
            "val_accuracy": [0.80, 0.70, 0.75, 0.78],
            "seconds": [10.0, 11.0, 12.0, 13.0],
        }
    ).to_csv(tmp_path / "r" / "history.csv", index=False)
    run = rundir.RunDir(tmp_path / "r")
    for metric, value in (("val_accuracy", 0.75), ("val_loss", 0.50)):
        assert trials._results(run, metric) == {
            "best_val_loss": 0.50,
            "best_val_accuracy": 0.75,
            "best_epoch": 3,
            "final_val_loss": 0.50,
            "final_val_accuracy": 0.78,
            "epochs": 4,
            "seconds": 46.0,
            "value": value,
        }


def test_a_trial_another_worker_is_still_starting_is_left_out_of_the_tables(tmp_path):
    # Optuna stores a popped trial's values one by one: another worker writing the tables
    # in between sees a running trial with some values missing (a KeyError, 2026-11-30).
    checked = spec.read(sweep_file(tmp_path))
    the_study = optuna.create_study(direction="maximize")
    half = the_study.ask()  # running, with one value of the three stored
    half.suggest_categorical("seed", [0])
    whole = the_study.ask(checked.design.distributions())
    frame = results.trials_frame(the_study, checked)
    assert frame["trial"].tolist() == [whole.number]


def test_a_grid_of_switches_is_drawn_as_points_with_their_seeds(tmp_path):
    # Was an empty figure: "no numeric swept key".
    from catsdogs import plots

    text = SWEEP.replace("  optimizer.learning_rate: [1e-2, 0.1]\n", "")
    checked = spec.read(sweep_file(tmp_path, text.replace("seeds: [0]", "seeds: [0, 1]")))
    assert checked.x is None
    trials = pd.DataFrame(
        {
            "state": ["complete"] * 4,
            "seed": [0, 1, 0, 1],
            "optimizer.lookahead.enabled": [True, True, False, False],
            "best_val_accuracy": [0.8, 0.7, 0.6, 0.5],
            "best_val_loss": [0.4, 0.5, 0.6, 0.7],
            "diverged": [False] * 4,
        }
    )
    for column in results.RESULTS:
        trials[column] = trials.get(column, np.nan)
    summary = results.summary_frame(trials, checked)
    figure, axis = plots.figure()
    results._draw_categories(axis, summary, trials, checked)
    assert [t.get_text() for t in axis.get_xticklabels()] == ["lookahead on", "lookahead off"]
    points = sorted((x, round(y, 6)) for line in axis.get_lines() for x, y in line.get_xydata())
    assert (0, 0.75) in points and (1, 0.55) in points  # the means
    assert {(0, 0.8), (0, 0.7), (1, 0.6), (1, 0.5)} <= set(points)  # each seed
    results.figure(summary, trials, checked, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:8] == PNG


def one_seed_trials(tmp_path, rates: list[float]):
    """A sweep over learning rates, one seed, and its two finished trials (scores to set)."""
    text = SWEEP.replace("  optimizer.lookahead.enabled: [true, false]\n", "")
    checked = spec.read(sweep_file(tmp_path, text))
    trials = pd.DataFrame(
        {"trial": [0, 1], "state": ["complete"] * 2, "seed": [0, 0]}
        | {"optimizer.learning_rate": rates, "diverged": [False, False]}
    )
    columns = ["trial", "state", "seed", "optimizer.learning_rate", *results.RESULTS, "diverged"]
    return checked, trials.reindex(columns=columns)


def test_one_seed_ties_and_a_best_that_ended_weak_name_no_best(tmp_path, monkeypatch):
    # A probe: 4 trials at 0.5000 (one seed) named a "Best combination".
    checked, trials = one_seed_trials(tmp_path, [0.01, 0.1])
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.5, 0.69], [0.5, 0.69]]
    summary = results.summary_frame(trials, checked)
    assert results.best_line(summary, checked).startswith("No best combination: 2 tie (one seed)")
    # Apart, but the better one's run ended at chance: no best either, and sweep.md says why.
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.5, 0.69], [0.55, 0.68]]
    summary = results.summary_frame(trials, checked)
    assert results.best_line(summary, checked).startswith("Best combination: learning_rate 0.1")
    weak = {1: "val_acc 0.550 is within chance on 100 images"}
    text = results.markdown(summary, trials, checked, 0.0, None, weak)
    assert "No best combination: even the best one's runs ended weak" in text
    assert (
        "## Warnings\n\n- trial 1 (learning_rate 0.1, seed 0): a weak model: val_acc 0.550 is "
        "within chance on 100 images" in text
    )
    # The command's next: block follows sweep.md (a probe: it named "the trial of the highest
    # val_accuracy" for report and predict beside "No best combination").
    trials["run_dir"] = ["a", "b"]
    monkeypatch.setattr(results, "trials_frame", lambda study, sweep: trials)
    monkeypatch.setattr(results, "weak_trials", lambda trials, out: weak)
    assert results.best_run(None, checked, tmp_path) is None
    weak = {}
    assert results.best_run(None, checked, tmp_path) == tmp_path / "runs" / "b"
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.5, 0.69], [0.5, 0.69]]
    assert results.best_run(None, checked, tmp_path) is None  # a tie


def test_one_seed_within_the_validation_images_noise_is_a_tie_told_apart_in_its_labels(tmp_path):
    # A probe: one seed, 0.7475 against 0.75 (one image of 400) named a best, and the labels
    # printed both values of the swept key (0.1 and 0.1000001) as "0.1".
    checked, trials = one_seed_trials(tmp_path, [0.1, 0.1000001])
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.7475, 0.52], [0.75, 0.51]]
    summary = results.summary_frame(trials, checked)
    # sqrt(0.75 * 0.25 / 400) = 0.0217: one image (0.0025) is well within it.
    assert results.best_line(summary, checked, val_n=400) == (
        "No best combination: 2 tie (one seed; within one standard error of an accuracy on "
        "400 validation images, +- 0.0217): learning_rate 0.1000001: val_accuracy 0.7500 (n=1); "
        "learning_rate 0.1: val_accuracy 0.7475 (n=1)."
    )
    # sweep.md's table too (a probe: two rows of "| 0.1 |").
    text = results.markdown(summary, trials, checked, 0.0, None, val_n=400)
    assert "| 0.1 | 1 |" in text and "| 0.1000001 | 1 |" in text
    # 40 images apart (0.1 of 400) is beyond it: a best, named with its own digits.
    trials[["best_val_accuracy", "best_val_loss"]] = [[0.65, 0.6], [0.75, 0.51]]
    summary = results.summary_frame(trials, checked)
    assert results.best_line(summary, checked, val_n=400).startswith(
        "Best combination: learning_rate 0.1000001: val_accuracy 0.7500 (n=1); one seed"
    )


def test_an_accuracy_axis_spans_at_least_twenty_images():
    import matplotlib

    matplotlib.use("Agg")
    from catsdogs import plots

    figure, axis = plots.figure()
    axis.plot([0, 1], [0.4975, 0.5])  # one image of 400 apart: matplotlib zooms to it
    plots.at_least(axis, plots.IMAGES_SPANNED / 400)
    low, high = axis.get_ylim()
    assert high - low == pytest.approx(0.05) and low < 0.4975 and high > 0.5
    plots.at_least(axis, 0.01)  # already wider: left as it is
    assert axis.get_ylim() == (low, high)


def test_a_sweep_file_giving_a_key_twice_or_that_is_no_file_is_one_line(tmp_path):
    # A probe: a sweep file with `grid:` twice ran only the second grid, in silence.
    twice = sweep_file(tmp_path, SWEEP + "grid:\n  optimizer.learning_rate: [0.5]\n")
    with pytest.raises(UserError, match=r"gives 'grid' again \(first on line"):
        spec.read(twice)
    with pytest.raises(UserError, match="sweep file /dev/null is not a file"):
        spec.read(Path("/dev/null"))

"""A result is never lost nor repeated: a trial that diverges is complete (diverged, counted,
never run again), and a search restarted after a kill never draws a point it has run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import SMOKE, cli, real_data
from optuna.trial import TrialState

from catsdogs.sweep import spec, storage, trials

DIVERGING = f"""\
name: diverging
base: {SMOKE}
set: {{training.epochs: 1, data.batch_size: 4}}
grid:
  optimizer.learning_rate: [1.0e+12]
seeds: [0]
"""

SEARCH = f"""\
name: tune
base: {SMOKE}
set: {{training.epochs: 1, training.steps_per_epoch: 1, data.batch_size: 4}}
search:
  optimizer.learning_rate: {{low: 1e-3, high: 0.3, log: true}}
  model.pooling: {{choices: [avg, max]}}
sampler: SAMPLER
trials: 6
seeds: [7]
"""


def sweep_file(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.yaml").write_text(text)
    return folder / "sweep.yaml"


def test_a_trial_that_diverges_in_its_first_epoch_is_a_result_counted_once(shared_data, tmp_path):
    # Was: exit 1 ("the same command retries them") on every rerun, a failed row each time,
    # and summary.csv empty with 0 diverged.
    data = real_data(shared_data, tmp_path / "data")
    path, out = sweep_file(tmp_path, DIVERGING), tmp_path / "out"
    done = cli("sweep", path, "--data", data, "--out", out)
    assert done.exit_code == 0, done.output
    assert (
        "trial 1/1: learning_rate 1e+12, seed 0 -> diverged in its first epoch (no epoch to judge)"
    ) in done.output
    [row] = pd.read_csv(out / "trials.csv").to_dict("records")
    assert (row["state"], row["diverged"], row["epochs"]) == ("complete", True, 0)
    assert all(np.isnan(row[k]) for k in ("best_val_accuracy", "best_val_loss", "best_epoch"))
    [summary] = pd.read_csv(out / "summary.csv").to_dict("records")
    assert (summary["n"], summary["diverged"]) == (1, 1)
    assert np.isnan(summary["val_accuracy_mean"])
    text = (out / "sweep.md").read_text()
    assert "No best combination: every finished trial diverged in its first epoch." in text
    # In the study: complete, at the worst value a maximized metric can have.
    [trial] = optuna.load_study(study_name="diverging", storage=storage.default_storage(out)).trials
    assert trial.state == TrialState.COMPLETE and trial.value == -math.inf
    assert trial.user_attrs["diverged"] is True
    again = cli("sweep", path, "--data", data, "--out", out)
    assert again.exit_code == 0, again.output
    assert "sweep diverging: 1 trials, 1 done" in again.output and "trial 1" not in again.output
    study = optuna.load_study(study_name="diverging", storage=storage.default_storage(out))
    assert len(study.trials) == 1  # never run again


def test_the_summary_pools_what_a_diverged_trial_has(tmp_path):
    # Three seeds of one point, one diverged in its first epoch: n counts it, the mean and
    # its standard error use the two values there are.
    from catsdogs.sweep import results

    text = DIVERGING.replace("seeds: [0]", "seeds: [0, 1, 2]").replace("[1.0e+12]", "[0.1]")
    checked = spec.read(sweep_file(tmp_path, text))
    frame = pd.DataFrame(
        {
            "state": ["complete"] * 3,
            "seed": [0, 1, 2],
            "optimizer.learning_rate": [0.1] * 3,
            "best_val_accuracy": [0.6, 0.8, np.nan],
            "best_val_loss": [0.6, 0.4, np.nan],
            "diverged": [False, False, True],
        }
    ).reindex(columns=["state", "seed", "optimizer.learning_rate", *results.RESULTS, "diverged"])
    [row] = results.summary_frame(frame, checked).to_dict("records")
    assert (row["n"], row["diverged"]) == (3, 1)
    assert row["val_accuracy_mean"] == pytest.approx(0.7)
    assert row["val_accuracy_se"] == pytest.approx(np.std([0.6, 0.8], ddof=1) / np.sqrt(2))


def _draw(settings: trials.Settings, count: int) -> list[str]:
    """``count`` trials as a worker takes them (without training: each judged at once)."""
    study = trials.open_study(settings)
    plan = settings.sweep.design
    keys = []
    for _ in range(count):
        trial = study.ask(plan.distributions())
        point = plan.point_of(trial.params)
        assert plan.refusal(study, trial, point) is None
        trial.set_user_attr("point", point.key)
        study.tell(trial, 0.5)
        keys.append(point.key)
    return keys


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_restarted_search_never_draws_a_point_it_has_run(tmp_path, sampler):
    # Was: a search killed and started again drew its first points again (its sampler
    # started over from the same seed).
    checked = spec.read(sweep_file(tmp_path, SEARCH.replace("SAMPLER", sampler)))
    out = tmp_path / "out"
    out.mkdir()
    settings = trials.Settings(checked, tmp_path, out, storage.default_storage(out))
    before = _draw(settings, 2)
    after = _draw(settings, 2)  # a new process: a new sampler
    assert len(set(before + after)) == 4
    # One worker from start to end draws the same points each time (reproducible).
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    settings = trials.Settings(checked, tmp_path, fresh, storage.default_storage(fresh))
    assert _draw(settings, 2) == before


def test_a_search_of_few_points_runs_each_once_though_its_sampler_repeats(tmp_path):
    # TPE keeps proposing the best point it has seen: a repeat steps aside, and an unrun
    # point is queued in its place, so the study still ends, each point once.
    text = SEARCH.replace("SAMPLER", "tpe").replace("trials: 6", "trials: 4")
    text = text.replace(
        "optimizer.learning_rate: {low: 1e-3, high: 0.3, log: true}",
        "optimizer.lookahead.sync_period: {low: 2, high: 3}",
    )
    plan = spec.read(sweep_file(tmp_path, text)).design
    assert plan.size == 4
    study = optuna.create_study(sampler=plan.sampler(0), direction="maximize")
    for _ in range(200):
        if not plan.has_work(study):
            break
        trial = study.ask(plan.distributions())
        point = plan.point_of(trial.params)
        refusal = plan.refusal(study, trial, point)
        if refusal is not None:
            storage.step_aside(study, trial, refusal)
            plan.stepped_aside(study)
            continue
        trial.set_user_attr("point", point.key)
        study.tell(trial, 1.0 if dict(point.values)["model.pooling"] == "avg" else 0.0)
    done = sorted(t.user_attrs["point"] for t in storage.finished(study))
    assert done == sorted(p.key for p in plan.points())

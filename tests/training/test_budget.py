"""Training for a stated time: the plan as a pure function of what was measured, the schedule
that ends at the planned step, runs that end within their budget (also when the machine slows
down), continue their plan, decide XLA by measuring and cache only what fits."""

from __future__ import annotations

import json
import os
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from helpers import SMOKE, cli, module_command, real_data
from tqdm import tqdm

from catsdogs import progress
from catsdogs.config import DataConfig, MeasuredPlan, load
from catsdogs.data import manifests, pipeline
from catsdogs.optim.schedules import Schedule
from catsdogs.training import budget, hooks
from catsdogs.training.run_length import BudgetTooShort, Costs, Length, longest, mean_step, shorten

COSTS = Costs(step=1.0, validation=10.0, save=5.0, finish=5.0)


def test_a_plan_of_under_one_pass_is_said_to_end_weak_with_the_budget_a_pass_needs():
    # A probe: the budget "give at least" suggested planned 0.9 passes and the run ended weak
    # with nothing said at plan time.
    costs = Costs(step=0.5, validation=4.0, save=1.0, finish=5.0)
    said = budget.under_one_pass(90, 100, costs, used=40.0, budget=120)
    # 40 s of start-up + 100 steps at 0.5 s + 5 s of an epoch's end + 5 s to finish + 2.4 s
    # of margin = 102.4 s, and a tenth more: 113 s.
    assert said == (
        "warning: this budget allows under one pass over the training images here (90 of 100 "
        "steps): the model will be weak; one pass needs a budget of about 1m53s"
    )
    assert budget.under_one_pass(100, 100, costs, used=40.0, budget=120) is None


def test_an_80_column_terminal_still_shows_the_time_left():
    # A probe: at 80 columns the bar's line ended "... loss=0.2367, acc=0.905" and its time
    # left was cut off.
    values = hooks.bar_values({"loss": 0.23671, "accuracy": 0.90512}, 1878.0)
    line = tqdm.format_meter(
        1220,
        5340,
        90.0,
        ncols=80,
        prefix="epoch 17/20",
        postfix=", ".join(f"{key}={value}" for key, value in values.items()),
        bar_format=progress._TERMINAL,
        unit="step",
    )
    assert len(line) == 80 and "left=31m18s, loss=0.23" in line
    assert hooks.bar_values({"loss": 0.5, "accuracy": 0.5}, None) == {
        "loss": "0.5000",
        "acc": "0.500",
    }


# --- the plan, worked out by hand --------------------------------------------------------------


def test_the_plan_fills_the_time_in_epochs_of_about_one_pass():
    # 995 s after finishing; 15 s an epoch beyond its steps, so at most floor(5% of 995 / 15)
    # = 3 epochs for validation and saves; with 3: floor(995 - 45) = 950 steps, 316 each.
    assert longest(1000, COSTS, pass_steps=200) == Length(3, 316)
    assert Length(3, 316).seconds(COSTS) == 948 + 45 + 5 <= 1000
    # Where validation costs nothing much, at least 4 epochs; about a pass each beyond that.
    cheap = Costs(step=1.0, validation=0.5, save=0.5, finish=5.0)
    assert longest(1000, cheap, pass_steps=500) == Length(4, (995 - 4) // 4)
    assert longest(1000, cheap, pass_steps=100) == Length(10, (995 - 10) // 10)


def test_a_small_training_set_still_gets_epochs_to_choose_from():
    # 10 steps a pass: 5% of the time (3 epochs) would make epochs of 31 passes each; epochs
    # longer than 2 passes may take up to 25%: floor(0.25 * 995 / 15) = 16 epochs (of the 48
    # that two passes each would need), floor((995 - 16 * 15) / 16) = 47 steps each.
    assert longest(1000, COSTS, pass_steps=10) == Length(16, 47)
    assert Length(16, 47).seconds(COSTS) <= 1000
    # The config's own epochs stay the ceiling.
    assert longest(1000, COSTS, pass_steps=10, most_epochs=5).epochs == 5


def test_the_config_s_own_epochs_are_a_ceiling_and_its_steps_per_epoch_are_kept():
    # epochs: 2 given: 2 epochs, each one pass (200 steps) since more would fit: ends early.
    assert longest(1000, COSTS, pass_steps=200, most_epochs=2) == Length(2, 200)
    # steps_per_epoch: 100 given: as many epochs of 100 steps as fit: floor(995 / 115) = 8.
    assert longest(1000, COSTS, pass_steps=200, steps_per_epoch=100) == Length(8, 100)
    assert longest(1000, COSTS, pass_steps=200, most_epochs=5, steps_per_epoch=100) == Length(
        5, 100
    )


def test_steps_taken_to_measure_belong_to_the_first_epoch():
    # 20 steps done; 100 s left: 95 after finishing, 80 after one epoch's 15: 20 + 80 steps.
    assert longest(100, COSTS, pass_steps=1000, done=20) == Length(1, 100)
    assert Length(1, 100).seconds(COSTS, done=20) == 80 + 15 + 5


def test_a_budget_that_cannot_fit_one_epoch_says_the_least_that_works():
    with pytest.raises(BudgetTooShort) as refused:
        longest(10, COSTS, pass_steps=200, used=8.0)
    # 8 s of start-up, then a step, the validation, the saves and the finish: 21 s; a tenth
    # more (a probe's "give at least 1m36s" was refused again under load) and 2 s: 34 s.
    assert str(refused.value).endswith("give at least 34s (those and a tenth more)")
    assert "start-up took 8s" in str(refused.value)
    # The numbers it names add up to the least it asks for, however far the budget overran
    # (a probe: "start-up took 27s, and one epoch needs 3.5s more ... give at least 42s").
    with pytest.raises(BudgetTooShort) as refused:
        longest(-15, COSTS, pass_steps=200, used=27.0)
    assert "start-up took 27s, and one epoch needs 21.0s more" in str(refused.value)
    assert str(refused.value).endswith("give at least 55s (those and a tenth more)")


def test_a_slower_machine_ends_the_last_epoch_early_then_drops_epochs():
    planned = Length(4, 100)  # in epoch 2 (index 1), 150 steps done
    assert shorten(planned, 400, COSTS, done=150, epoch=1) is None  # 250 + 45 + 5 fit
    # 250 s left: with 4 epochs, 250 - 3 * 15 - 5 = 200 steps more: the last epoch has 50.
    assert shorten(planned, 250, COSTS, done=150, epoch=1) == Length(4, 100, last_epoch_steps=50)
    assert Length(4, 100, 50).seconds(COSTS, done=150, epochs_done=1) == 250
    # 130 s left: 4 epochs leave 80 steps (230: epoch 4 would have none); 3 epochs 95 (245).
    assert shorten(planned, 130, COSTS, done=150, epoch=1) == Length(3, 100, last_epoch_steps=45)
    # 40 s left: not even epoch 2 can end: 20 more steps after the 150, so its 70th is last.
    assert shorten(planned, 40, COSTS, done=150, epoch=1) == Length(2, 100, last_epoch_steps=70)
    assert Length(2, 100, last_epoch_steps=70).steps == 170


# --- the schedule --------------------------------------------------------------------------


def test_the_schedule_reaches_its_end_at_the_planned_step_also_in_a_compiled_step():
    schedule = Schedule(0.1, total_steps=40, warmup_steps=10, shape="cosine", end=0.02)
    rate = tf.function(lambda step: schedule(step), jit_compile=True)
    assert float(rate(5)) == pytest.approx(0.05)  # warming up: 0.1 * 5 / 10
    assert float(rate(40)) == pytest.approx(0.02) and float(rate(39)) > 0.02
    schedule.set_length(20, warmup_steps=4)  # a new plan: the compiled step sees it
    assert float(rate(2)) == pytest.approx(0.05)
    assert float(rate(20)) == pytest.approx(0.02) and float(rate(19)) > 0.02
    assert float(rate(12)) == pytest.approx(0.02 + 0.04 * (1 + np.cos(np.pi * 8 / 16)))


# --- whole runs ------------------------------------------------------------------------------

BUDGET_CONFIG = """\
name: budget
seed: 42
data: {image_size: 32, batch_size: 4}
model: {backbone: small_cnn, weights: none, width: 8, dense_units: 16, dropout: 0.1}
optimizer:
  name: sgd
  learning_rate: 0.02
  momentum: 0.9
  schedule: {name: cosine, warmup_epochs: 0.5}
  lookahead: {enabled: true, sync_period: 3, slow_step_size: 0.5}
training: {time_budget: 30s, jit_compile: "off", mixed_precision: "off"}
"""


@pytest.fixture
def budgeted(tmp_path) -> Path:
    (tmp_path / "budget.yaml").write_text(BUDGET_CONFIG)
    return tmp_path / "budget.yaml"


def the_run(folder: Path) -> Path:
    [run] = [p for p in (folder / "runs").iterdir() if p.is_dir()]
    return run


def test_a_budgeted_run_ends_within_its_budget_start_to_exit_and_records_its_plan(
    shared_data, tmp_path, budgeted
):
    data = real_data(shared_data, tmp_path / "data", train=16, val=8)
    started = time.monotonic()
    done = subprocess.run(
        module_command("train", "--config", budgeted, "--data", data),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CATSDOGS_PROGRESS_SECONDS": "1"},  # a log's progress line a second
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert took <= 30, f"{took:.1f}s for a 30s budget"
    run = the_run(tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())["training"]
    recorded = config["plan"]
    # The config leaves its epochs out: the plan records that (not the schema's default).
    assert recorded["asked"] == {"epochs": None, "steps_per_epoch": None}
    epochs, per_epoch = config["epochs"], config["steps_per_epoch"]
    if recorded["replanned"]:  # the pace changed: epochs dropped or added, the last one cut
        assert (epochs - 1) * per_epoch < recorded["steps"] <= epochs * per_epoch
        said = [
            line.split(": ", 1)[1]
            for line in done.stdout.splitlines()
            if "its plan" in line or "its time budget: after" in line
        ]
        assert set(said) <= set(recorded["replanned"])  # each line said is one recorded
    else:
        assert recorded["steps"] == epochs * per_epoch
        assert f"time budget 30s: {epochs} epochs of {per_epoch} steps" in done.stdout
    assert recorded["seconds_per_step"] > 0 and recorded["start_up_seconds"] > 0
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(1, epochs + 1))
    # The cosine ends (at 0) exactly at the last planned step, not before.
    assert history["learning_rate"].iloc[-1] == 0.0 and (history["learning_rate"][:-1] > 0).all()
    [last] = [line for line in done.stdout.splitlines() if line.startswith("done: ")]
    assert last.startswith(f"done: runs/{run.name}; used ") and "of the 30s time budget" in last
    # Not a terminal: plain progress lines (no carriage returns) that show the time left.
    assert "left=" in done.stderr and "\r" not in done.stderr


def test_a_run_that_slows_down_re_plans_and_still_ends_within_its_budget(
    shared_data, tmp_path, budgeted, monkeypatch
):
    from catsdogs.training.trainer import Trainer

    data = real_data(shared_data, tmp_path / "data", train=16, val=8)
    timed_steps = Trainer.timed_steps

    def slowed(self, count, head_only=False, say=None, size=None):  # planned: 0.1 s a step more
        sums, seconds = timed_steps(self, count, head_only, say, size)
        if self.config.training.plan is not None:
            time.sleep(0.1 * count)
            seconds += 0.1 * count
        return sums, seconds

    monkeypatch.setattr(Trainer, "timed_steps", slowed)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    done = cli("train", "--config", budgeted, "--data", data, "--time-budget", "40s")
    took = time.monotonic() - started
    assert done.exit_code == 0, done.output
    assert took <= 40, f"{took:.1f}s for a 40s budget"
    assert "the run would overrun its time budget: after " in done.output
    run = the_run(tmp_path)
    training = yaml.safe_load((run / "config.yaml").read_text())["training"]
    assert training["plan"]["replanned"], "the shorter plan is recorded in the run"
    history = pd.read_csv(run / "history.csv")
    assert len(history) == training["epochs"]  # the shortened plan, to its last epoch
    assert history["learning_rate"].iloc[-1] == 0.0


def test_the_same_command_after_a_crash_continues_the_plan_exactly(
    shared_data, tmp_path, budgeted, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data", train=16, val=8)
    monkeypatch.chdir(tmp_path)
    text = BUDGET_CONFIG.replace("time_budget: 30s", "time_budget: 40s")
    # At most 12 epochs of 6 steps: without a ceiling the plan fills the 40 s with ~99 epochs,
    # which the continued run then trains (two minutes of CI for nothing this test checks).
    budgeted.write_text(text.replace("training: {", "training: {epochs: 12, steps_per_epoch: 6, "))
    from catsdogs import files

    write_text = files.write_text

    def killed_after_epoch_1(path, text):  # the state written after epoch 1's checkpoint
        write_text(path, text)
        if path.name == "state.json" and '"epochs_done": 1' in text:
            raise KeyboardInterrupt

    with monkeypatch.context() as crash:
        crash.setattr(files, "write_text", killed_after_epoch_1)
        first = cli("train", "--config", budgeted, "--data", data)
    assert first.exit_code == 130, first.output
    run = the_run(tmp_path)
    planned = (run / "config.yaml").read_text()
    again = cli("train", "--config", budgeted, "--data", data)
    assert again.exit_code == 0, again.output
    assert "time budget" not in again.output.split("run directory")[0]  # not planned again
    assert f"resuming runs/{run.name} after epoch 1 of" in again.output
    assert (run / "config.yaml").read_text() == planned
    training = yaml.safe_load(planned)["training"]
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(1, training["epochs"] + 1))
    assert history["learning_rate"].iloc[-1] == 0.0
    # Without its budget and its plan, the run's config.yaml trains the same schedule.
    from catsdogs.training.trainer import Trainer

    bare = yaml.safe_load(planned)
    bare["training"].update(time_budget=None, plan=None)
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(bare))
    trainer = Trainer(load(tmp_path / "bare.yaml"), manifests.read_training_data(data))
    steps = training["steps_per_epoch"] * history["epoch"].to_numpy()
    rates = [float(trainer.schedule(step)) for step in steps]
    np.testing.assert_allclose(rates, history["learning_rate"], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "0 has no unit: write it as 30m, 1h30m or 90s (units h, m, s)"),
        ("0s", "'0s' is no time at all: give a positive duration, e.g. 30m"),
        ("-5m", "'-5m' is not a duration: write it as 30m, 1h30m or 90s"),
        ("abc", "'abc' is not a duration: write it as 30m, 1h30m or 90s"),
        ("5", "5 has no unit: write it as 30m, 1h30m or 90s"),
        # A probe: 5M was taken as 5 minutes, 99999999999h accepted.
        ("5M", "'5M': write the units in lowercase, as 30m, 1h30m or 90s"),
        ("99999999999h", "'99999999999h' is over a month (744h): give at most that"),
        # A probe: shell text was told to write its units in lowercase.
        ("5m; touch X", "'5m; touch X' is not a duration: write it as 30m"),
        # A probe: an Arabic-Indic digit (Python's \d and int() take it) was 3 minutes.
        ("\u0663m", "'\u0663m' is not a duration: write it as 30m"),
    ],
)
def test_a_bad_budget_is_one_error_line_and_nothing_is_written(
    tmp_path, monkeypatch, value, message
):
    monkeypatch.chdir(tmp_path)
    done = cli("train", "--config", SMOKE, "--time-budget", value)
    assert done.exit_code == 1
    [line] = done.output.strip().splitlines()
    # The option's own error (a probe: it was labelled as the config file's time_budget).
    assert line.startswith("error: --time-budget ") and message in line, line
    assert "training.time_budget" not in line and str(SMOKE) not in line, line
    assert list(tmp_path.iterdir()) == []


def test_a_budget_shorter_than_start_up_and_one_epoch_names_the_least_that_works(
    shared_data, tmp_path, budgeted, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data", train=16, val=8)
    monkeypatch.chdir(tmp_path)
    done = cli("train", "--config", budgeted, "--data", data, "--time-budget", "1s")
    assert done.exit_code == 1
    last = done.output.strip().splitlines()[-1]
    assert last.startswith("error: the time budget is too short for this run here: start-up took")
    assert ", give at least " in last or "; give at least " in last
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --- XLA by measurement, and the cache ---------------------------------------------------------


@pytest.mark.parametrize("faster", ["on", "off"])
def test_jit_auto_keeps_the_faster_of_two_measured_ways(monkeypatch, faster):
    lines = []
    trainer = types.SimpleNamespace(
        jit=None,
        bfloat16_speedup=None,
        config=load(SMOKE, ["training.jit_compile=auto"]),
        head_only=lambda epoch: False,
    )

    def measure(trainer_, head_only, start, most, echo):  # 0.5 s a step the faster way, 1 s else
        start.done += 9
        return 0.5 if ("on" if trainer_.jit else "off") == faster else 1.0

    monkeypatch.setattr(budget, "_measure_steps", measure)
    first = budget.begin(trainer, budget.Clock(), lines.append)
    assert trainer.jit == (faster == "on") and first.done == 18 and first.costs is None
    slower = "off" if faster == "on" else "on"
    assert lines == [
        f"XLA {faster}: 2.00 steps/s, against 1.00 with XLA {slower} (jit_compile: auto, "
        "measured on this machine)"
    ]
    training = trainer.config.training
    assert training.jit_compile == faster
    assert training.plan.asked == {"jit_compile": "auto"}
    assert training.plan.steps_per_second == {faster: 2.0, slower: 1.0}


def test_the_cache_keeps_images_at_the_size_training_needs_while_they_fit(tmp_path):
    def manifest(sizes):
        return manifests.Manifest(tmp_path / "m.csv", ["a", "b"], [0, 1], None, "", sizes)

    config = DataConfig(image_size=128, crop_area=(0.5, 1.0), cache="auto")
    train, val = manifest([(400, 300), (100, 50)]), manifest([(10, 10), (20, 20)])
    # Short side 182 (128 / sqrt(0.5), rounded up), never enlarged: 182 x 243 and 50 x 100.
    assert pipeline.cache_bytes(train, config, training=True) == (182 * 243 + 50 * 100) * 3
    assert pipeline.cache_bytes(val, config, training=False) == 2 * 128 * 128 * 3 * 4
    train_bytes, val_bytes = 147_678, 393_216
    both = pipeline.choose_caching(train, val, config, available=2 * (train_bytes + val_bytes))
    assert (both.train, both.val) == (True, True)
    only_train = pipeline.choose_caching(train, val, config, available=2 * train_bytes + 10)
    assert (only_train.train, only_train.val) == (True, False)
    none = pipeline.choose_caching(train, val, config, available=1000)
    assert (none.train, none.val) == (False, False) and none.reason.startswith("no images")
    forced = pipeline.choose_caching(train, val, config.model_copy(update={"cache": "on"}), 1)
    assert (forced.train, forced.val) == (True, True)


def test_a_run_whose_images_do_not_fit_in_memory_trains_without_the_cache(
    shared_data, tmp_path, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data")
    monkeypatch.setattr(pipeline, "available_memory", lambda: 1000)
    done = cli("train", "--config", SMOKE, "--data", data, "--run-dir", tmp_path / "r")
    assert done.exit_code == 0, done.output
    assert "in memory: no images, decoded (" in done.output
    assert len(pd.read_csv(tmp_path / "r" / "history.csv")) == 2
    assert json.loads((tmp_path / "r" / "state.json").read_text())["status"] == "finished"


def test_with_a_budget_a_configs_own_epochs_are_the_most_and_its_warm_up_waits_for_the_plan(
    tmp_path,
):
    (tmp_path / "a.yaml").write_text(BUDGET_CONFIG)
    assert load(tmp_path / "a.yaml").training.most_epochs is None  # as many as fit
    capped = BUDGET_CONFIG.replace("training: {", "training: {epochs: 3, ")
    (tmp_path / "b.yaml").write_text(capped)
    assert load(tmp_path / "b.yaml").training.most_epochs == 3
    # With a budget, warm-up epochs are checked against the epochs it plans (when it plans);
    # without one, against training.epochs at once.
    assert load(tmp_path / "a.yaml", ["model.warmup_epochs=20"]).model.warmup_epochs == 20
    with pytest.raises(Exception, match="longer than training.epochs"):
        load(tmp_path / "a.yaml", ["model.warmup_epochs=20", "training.time_budget=null"])


def test_several_workers_are_refused_a_budget_each_would_plan_its_own(
    tmp_path, budgeted, monkeypatch
):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {}}')
    monkeypatch.chdir(tmp_path)
    done = cli("train", "--config", budgeted, "--run-dir", tmp_path / "r")
    assert done.exit_code == 1
    assert done.output.strip() == (
        "error: training.time_budget plans a run from this machine's speed; several workers "
        "would each plan their own: give training.epochs instead"
    )
    assert not (tmp_path / "r").exists()


# --- progressive resizing: each size's steps at their own cost ---------------------------------

LADDER = Costs(step=1.0, validation=10.0, save=5.0, finish=5.0, ladder=((100, 0.25), (200, 0.5)))


def test_a_ladder_s_steps_cost_what_their_size_costs():
    assert LADDER.steps_seconds(0, 300) == 100 * 0.25 + 100 * 0.5 + 100 * 1.0
    assert LADDER.steps_seconds(150, 250) == 50 * 0.5 + 50 * 1.0
    assert LADDER.steps_seconds(250, 250) == 0
    assert LADDER.steps_within(0, 75) == 200  # the two cheaper sizes, exactly
    assert LADDER.steps_within(50, 30) == 50 + 35  # 12.5 s at 0.25, then 17.5 s at 0.5
    assert LADDER.steps_within(250, 10.5) == 10 and LADDER.steps_within(0, -1) == 0
    assert LADDER.plus(0.25) == Costs(1.25, 10.0, 5.0, 5.0, ((100, 0.5), (200, 0.75)))


def test_a_ladder_s_mean_step_weighs_each_size_by_its_share_of_the_steps():
    seconds = {64: 0.2, 80: 0.3, 96: 0.5}.get
    assert mean_step(seconds, [64, 80], 96, 0.5) == pytest.approx(0.25 * 0.2 + 0.25 * 0.3 + 0.25)
    assert mean_step(seconds, [64], 96, 0.6) == pytest.approx(0.6 * 0.2 + 0.4 * 0.5)
    assert mean_step(seconds, [], 96, 0.5) == 0.5


def test_a_slower_machine_shortens_the_last_size_of_a_ladder():
    planned = Length(3, 100)  # in epoch 2 (index 1), 150 steps done: 125 s of steps left
    assert shorten(planned, 160, LADDER, done=150, epoch=1) is None  # 125 + 2 * 15 + 5
    # 120 s left: 85 for steps after two epochs' ends and the finish: 50 steps at 0.5 (25 s),
    # then 60 at 1.0: the last epoch has 60 steps.
    assert shorten(planned, 120, LADDER, done=150, epoch=1) == Length(3, 100, last_epoch_steps=60)


def test_the_watch_judges_each_window_against_what_its_size_cost_at_the_start():
    config = load(SMOKE, ["training.time_budget=260s"])
    record = config.training.model_copy(update={"plan": MeasuredPlan(asked={}, steps=300)})
    lengths = []
    trainer = types.SimpleNamespace(
        length=lambda: Length(3, 100),
        config=config.model_copy(update={"training": record}),
        set_length=lambda per_epoch, total: lengths.append((per_epoch, total)),
    )

    def watch_after(seconds_a_step: float) -> str | None:
        clock = budget.Clock(started=time.monotonic() - 20)  # start-up took 20 s
        watch = budget.Watch(trainer, clock, 260, budget.Start(done=0, costs=LADDER))
        said = [watch.after_steps(seconds_a_step, 1, step + 1, 0) for step in range(60)]
        return next((line for line in said if line), None)

    # The first size's steps at their measured 0.25 s (the watch judges from 13 s of steps,
    # the 52nd on): the rest takes 12 + 150 s of steps, 45 s of epochs' ends and 5 s to
    # finish, within the 240 s left.
    assert watch_after(0.25) is None and lengths == []
    # Twice as slow as measured, 0.25 s a step more: every size's steps are taken to be so
    # (237 s of steps left), so the run is shortened (judged after 13 s of steps, the 26th).
    assert "the run would overrun its time budget: after 26 steps" in watch_after(0.5)
    assert lengths and lengths[-1][1] < 300


class PlannedTrainer:
    """What the watch sees of a trainer: its length, as set_length leaves it."""

    def __init__(self, config, length: Length) -> None:
        self.config, self.current = config, length

    def length(self) -> Length:
        return self.current

    def set_length(self, per_epoch: int, total: int) -> None:
        epochs = -(-total // per_epoch)
        last = total - (epochs - 1) * per_epoch
        self.current = Length(epochs, per_epoch, None if last == per_epoch else last)


def watched() -> tuple[PlannedTrainer, budget.Clock, budget.Watch]:
    """A 300-step plan of 3 epochs in a 260 s budget, 20 s of it gone, and its watch."""
    config = load(SMOKE, ["training.time_budget=260s"])
    record = config.training.model_copy(update={"plan": MeasuredPlan(asked={}, steps=300)})
    trainer = PlannedTrainer(config.model_copy(update={"training": record}), Length(3, 100))
    clock = budget.Clock(started=time.monotonic() - 20)
    return trainer, clock, budget.Watch(trainer, clock, 260, budget.Start(done=0, costs=LADDER))


def test_the_usage_line_s_parts_add_up_to_the_time_used():
    # A probe: "used 57m14s ...: training steps 50m51s, validation 4m19s, saving 15s" (the
    # start-up and the end were nowhere).
    trainer, clock, watch = watched()  # 20 s of start-up
    for _ in range(100):
        clock.started -= 1.0
        watch.after_steps(1.0, 1, 1, 0)
    clock.started -= 15
    watch.after_epoch(10.0, 5.0, 100, 0)
    clock.started -= 7  # the end: the size to predict at, the figure
    assert watch.usage() == (
        "used 2m22s of the 4m20s time budget: start-up 20s, training steps 1m40s, "
        "validation 10s, saving 5s, finishing 7s (38% of it training)"
    )


def test_steps_taken_back_by_a_slow_stretch_come_back_up_to_the_first_plan():
    trainer, clock, watch = watched()
    said, done = [], 0
    for seconds_a_step, steps in ((0.5, 30), (0.25, 60)):  # a slow stretch, then as measured
        for _ in range(steps):
            clock.started -= seconds_a_step  # the window's time passes
            done += 1
            said.append(watch.after_steps(seconds_a_step, 1, done, 0))
    shortened = [line for line in said[:30] if line]
    assert shortened and all("would overrun" in line for line in shortened)
    given_back = [line for line in said[30:] if line and "ahead of its plan" in line]
    assert given_back, said
    assert 243 < trainer.current.steps <= 300  # more than the slow stretch left, at most 300
    assert trainer.config.training.plan.steps == trainer.current.steps


def test_a_plan_shortened_by_less_than_the_give_back_share_still_returns_to_the_first_plan():
    # A 1-hour run on one core was shortened 4% by its first size's slower steps and, its
    # first plan within 5%, never got those steps back: it ended 5.6 minutes early.
    trainer, clock, watch = watched()
    trainer.current = Length(3, 100, last_epoch_steps=90)  # shortened by 10 steps (3%)
    said, done = [], 0
    for _ in range(60):  # as measured
        clock.started -= 0.25
        done += 1
        said.append(watch.after_steps(0.25, 1, done, 0))
    given_back = [line for line in said if line]
    assert len(given_back) == 1 and "ahead of its plan" in given_back[0], said
    assert trainer.current == Length(3, 100)


def run_faster_than_measured(trainer, clock, watch, steps: int) -> list[str]:
    """``steps`` steps, each 0.125 s faster than the start measured at its size; what the
    watch said."""
    said = []
    for done in range(1, steps + 1):
        seconds = LADDER.steps_seconds(done - 1, done) - 0.125
        clock.started -= seconds
        said.append(watch.after_steps(seconds, 1, done, (done - 1) // 100))
    return [line for line in said if line]


def test_a_run_faster_than_its_start_measured_grows_beyond_the_first_plan_in_epochs_as_long():
    # A 1-hour run measured its steps at 0.37 s while the first pass filled the cache, ran
    # them at 0.28 s, and ended 13 minutes early: the watch gave steps back only up to the
    # start's plan.
    trainer, clock, watch = watched()
    said = run_faster_than_measured(trainer, clock, watch, 150)
    assert said and all("ahead of its plan" in line for line in said), said
    grown = trainer.current
    assert grown.steps > 300 and grown.steps_per_epoch == 100 and grown.epochs > 3
    assert trainer.config.training.plan.steps == grown.steps
    assert trainer.config.training.epochs == grown.epochs
    # Within the budget at the faster pace, with the twice the margin left.
    faster = LADDER.plus(-0.125)
    rest = grown.seconds(faster, 150, 1)
    assert rest <= watch.left() - 2 * budget.margin(260) + 1e-9
    # ...and it takes what the time allows: one step more would not fit (a short last epoch
    # or one more epoch).
    assert rest > watch.left() - 2 * budget.margin(260) - faster.step - faster.per_epoch


def test_a_config_s_own_epochs_stay_the_ceiling_of_a_run_that_grows():
    trainer, clock, watch = watched()
    trainer.config.training.plan.asked["epochs"] = 3  # the config's own: 3 epochs
    watch = budget.Watch(trainer, clock, 260, budget.Start(done=0, costs=LADDER))
    assert run_faster_than_measured(trainer, clock, watch, 150) == []
    assert trainer.current == Length(3, 100)


def test_a_re_plan_is_said_at_most_once_an_epoch_and_only_when_it_changes_the_plan_3_percent():
    # A 37-step epoch said "the run would overrun its time budget" six times.
    from catsdogs.training.hooks import Budget

    plans = iter([295, 280, 270, 275, 260, 255])  # each window's re-plan, in steps
    trainer = PlannedTrainer(load(SMOKE, []), Length(3, 100))
    watch = types.SimpleNamespace(trainer=trainer)

    def after_steps(seconds, steps, done, epoch):
        trainer.set_length(100, next(plans))
        return f"re-planned to {trainer.current.steps}"

    watch.after_steps = after_steps
    written, said = [], []
    run = types.SimpleNamespace(write_config=written.append)
    hook = Budget(watch, run, said.append)
    for epoch, windows in ((0, 3), (1, 2), (2, 1)):
        hook.on_epoch_begin(epoch, {})
        for _ in range(windows):
            hook.on_train_batch_end(1, {"seconds": 1.0, "steps": 1, "step": 1})
    assert len(written) == 6  # every re-plan recorded in config.yaml
    # 295: under 3% of 300; 280 said; 270: epoch 0 said already; 275: under 3% of 280; 260
    # said; 255: under 3% of 260.
    assert said == ["re-planned to 280", "re-planned to 260"]
    # A re-plan that drops an epoch is said whatever else was said that epoch (a probe read
    # "epoch 1/3" then "epoch 2/2" with the re-plan between them only in config.yaml).
    plans = iter([280, 198])
    trainer.current = Length(3, 100)
    hook, said[:] = Budget(watch, run, said.append), []
    hook.on_epoch_begin(0, {})
    for _ in range(2):
        hook.on_train_batch_end(1, {"seconds": 1.0, "steps": 1, "step": 1})
    assert said == ["re-planned to 280", "re-planned to 198"]


class Measured(Exception):
    """Raised by a fake measurement: what begin decided before it is the test's subject."""


def a_trainer(*overrides: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        jit=None, bfloat16_speedup=None, config=load(SMOKE, list(overrides)), head_only=bool
    )


def test_a_budget_under_ten_minutes_keeps_xla_off_without_measuring_it(monkeypatch):
    # Start-up took 54 s and 1m35s of 4- and 3-minute budgets, mostly measuring XLA.
    calls = []

    def measure(trainer, head_only, start, most, echo, size=None):
        calls.append(trainer.jit)
        raise Measured

    monkeypatch.setattr(budget, "_measure_steps", measure)
    trainer = a_trainer("training.jit_compile=auto", "training.time_budget=5m")
    lines = []
    with pytest.raises(Measured):
        budget.begin(trainer, budget.Clock(), lines.append)
    assert calls == [False] and trainer.jit is False  # the step measured once, without XLA
    assert lines == [
        "XLA off: measuring it would compile the step twice, too much of a 5m00s budget "
        "(jit_compile: auto measures it from 10m00s)"
    ]
    trainer = a_trainer("training.jit_compile=auto", "training.time_budget=10m")
    calls.clear()
    with pytest.raises(Measured):
        budget.begin(trainer, budget.Clock(), lines.append)
    assert calls == [False]  # from 10 minutes: measured, XLA off first, then on


def test_start_up_stops_once_the_budget_is_gone_and_names_one_that_leaves_room():
    # A 50 s budget beside two busy processes ran 99.6 s before "too short".
    trainer = a_trainer("training.jit_compile=off", "training.time_budget=50s")
    clock = budget.Clock(started=time.monotonic() - 60)  # a minute gone already
    with pytest.raises(BudgetTooShort) as refused:
        budget.begin(trainer, clock, print)
    message = str(refused.value)
    assert message.startswith("the time budget is too short for this run here: start-up took")
    assert "of its 50s before measuring the machine; give at least 2m3" in message
    assert message.endswith("(that start-up twice over, and 30s)")


def test_resuming_a_budgeted_run_under_another_config_says_what_changed(tmp_path):
    # A probe: `--resume --time-budget 5m` of a finished run said it "went on under another
    # config", naming nothing.
    from catsdogs.config import dump
    from catsdogs.errors import UserError
    from catsdogs.training.rundir import RunDir
    from catsdogs.training.train import _continued

    (tmp_path / "config.yaml").write_text(dump(load(SMOKE, ["training.time_budget=2m"])))
    again = load(SMOKE, ["training.time_budget=5m"])
    with pytest.raises(
        UserError,
        match=r"planned under another config \(this one changes "
        r"training.time_budget\); a time budget plans only a new run",
    ):
        _continued(RunDir(tmp_path), again, dump(again))

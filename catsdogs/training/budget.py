"""A run measured on the machine it trains on: the first steps decide XLA on or off (where
``jit_compile: auto`` has no GPU to go by) and, with a time budget, what the budget allows;
then a watch keeps the run within its budget as it goes.

The budget covers the whole `catsdogs train` command, from the process's start to its exit.
The first steps are real training steps (they count in the first epoch); validation is timed
on a few batches and an epoch's saves by saving the model once. The plan leaves a margin for
the unforeseen; after every window of steps the watch projects the end at the recent pace and
shortens the plan when the run would overrun, and lengthens it when the pace leaves time for
more (a slow stretch passed, a start measured on a busy machine).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from catsdogs import durations
from catsdogs.config import Config, MeasuredPlan
from catsdogs.errors import UserError
from catsdogs.training import flops, predict_size, run_length
from catsdogs.training.trainer import Sums, Trainer

FINISH_SECONDS = 3.0  # after the last epoch: summary, figure, exit (and the predict size)
MEASURE_SECONDS = 2.0  # the least a measurement of steps takes (at least one window)
PACE_SHARE = 0.05  # the recent pace: over the last 5% of the budget (at least PACE_SECONDS)
PACE_SECONDS = 5.0
LENGTHEN_SHARE = 0.05  # a run grows only where at least 5% more steps fit
# Measuring XLA compiles the step a second time (10-30 s on 2 cores, each size of a ladder
# again): a budget under this keeps XLA off (jit_compile: auto; on a CPU it was 0.43-1.38x).
XLA_LEAST_BUDGET = 600.0


def margin(budget: float) -> float:
    """Time the plan leaves unused for the unforeseen: 2% of the budget, at least 2 s."""
    return max(2.0, 0.02 * budget)


@dataclass
class Clock:
    """Seconds since the command started (``started``: a ``time.monotonic`` reading)."""

    started: float = field(default_factory=time.monotonic)

    def used(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Start:
    """Where this process's training starts: the ``epoch`` (from 0; what the checkpoint holds)
    and what the first steps, which measured the machine, left in it: the steps they took,
    their sums and the seconds they took (tracing and compiling not counted), and, with a
    budget, the costs they measured."""

    epoch: int = 0
    done: int = 0
    sums: Sums = field(default_factory=Sums)
    seconds: float = 0.0
    costs: run_length.Costs | None = None


def _measure_steps(
    trainer: Trainer,
    head_only: bool,
    start: Start,
    most: int,
    echo: Callable[[str], None],
    size: int | None = None,
) -> float:
    """One step to trace (and compile), then windows of steps until ``MEASURE_SECONDS``
    have passed or ``most`` steps are taken, added to ``start``; returns the seconds a step
    takes (the traced one's, where it is the only one). ``size``: every step at that size
    (a rung of the ladder measured), else each at its place's."""
    sums, seconds = trainer.timed_steps(1, head_only, echo, size)
    steps, timed = 1, 0
    while steps < most and (timed == 0 or seconds < MEASURE_SECONDS):
        count = min(trainer.sync_steps, most - steps)
        window, took = trainer.timed_steps(count, head_only, size=size)
        if timed == 0:
            seconds = 0.0  # the traced step's time was compiling, not training
        sums, steps, timed, seconds = sums + window, steps + count, timed + count, seconds + took
    start.sums, start.done = start.sums + sums, start.done + steps
    start.seconds += seconds if timed else 0.0
    return seconds / max(timed, 1)


def within(clock: Clock, budget: float, next_part: str) -> None:
    """Stop start-up where the budget is gone before ``next_part`` (a busy machine can take
    longer to start than a short budget lasts), naming a budget that leaves room to train."""
    used = clock.used()
    if used >= budget - margin(budget):
        least = math.ceil(2 * used + 30)  # start-up again, and as long again to train
        raise run_length.BudgetTooShort(
            f"the time budget is too short for this run here: start-up took "
            f"{durations.text(used)} of its {durations.text(budget)} before {next_part}; "
            f"give at least {durations.text(least)} (that start-up twice over, and 30s)"
        )


def _with(config: Config, **training) -> Config:
    return config.model_copy(update={"training": config.training.model_copy(update=training)})


def begin(trainer: Trainer, clock: Clock, echo: Callable[[str], None], epoch: int = 0) -> Start:
    """Decide XLA by measurement where asked, and plan a budgeted run, with steps of
    ``epoch`` (the first this process trains); the decisions go into ``trainer.config`` (its
    ``training.plan`` records them and the values they replaced)."""
    config = trainer.config
    training = config.training
    budget = training.budget_seconds if training.planned_by_budget else None
    start = Start(epoch)
    if trainer.jit is not None and budget is None and trainer.bfloat16_speedup is None:
        return start  # nothing to measure
    if budget is not None:
        within(clock, budget, "measuring the machine")
    head_only = trainer.head_only(epoch)
    asked: dict = {}
    record: dict = {}
    if trainer.bfloat16_speedup is not None:
        chosen = "on" if trainer.mixed else "off"
        echo(
            f"mixed precision {chosen}: a bfloat16 layer step runs {trainer.bfloat16_speedup:.2f}x "
            f"as fast as float32 here (mixed_precision: auto, measured on this machine)"
        )
        asked["mixed_precision"] = training.mixed_precision
        record["bfloat16_speedup"] = round(trainer.bfloat16_speedup, 3)
        config = _with(config, mixed_precision=chosen)
    # The measuring steps are the first epoch's: never more than it has.
    most = training.steps_per_epoch or (10**9 if budget else trainer.steps)
    if trainer.jit is None and budget is not None and budget < XLA_LEAST_BUDGET:
        trainer.jit = False
        echo(
            f"XLA off: measuring it would compile the step twice, too much of a "
            f"{durations.text(budget)} budget (jit_compile: auto measures it from "
            f"{durations.text(XLA_LEAST_BUDGET)})"
        )
        asked["jit_compile"] = training.jit_compile
        config = _with(config, jit_compile="off")
    if trainer.jit is None:
        rates = {}
        for jit in (False, True):
            trainer.jit = jit
            share = max(1, most // 2 if not jit else most - start.done)
            rates["on" if jit else "off"] = 1 / _measure_steps(
                trainer, head_only, start, share, echo
            )
        trainer.jit = rates["on"] > rates["off"]
        chosen, other = ("on", "off") if trainer.jit else ("off", "on")
        step_seconds = 1 / rates[chosen]
        echo(
            f"XLA {chosen}: {rates[chosen]:.2f} steps/s, against {rates[other]:.2f} with XLA "
            f"{other} (jit_compile: auto, measured on this machine)"
        )
        asked["jit_compile"] = training.jit_compile
        record["steps_per_second"] = {k: round(v, 4) for k, v in rates.items()}
        config = _with(config, jit_compile=chosen)
    elif budget is not None:
        step_seconds = _measure_steps(trainer, head_only, start, most, echo)
    if budget is not None:
        # Each size of the ladder costs its own: a few steps at each (they train too).
        first = trainer.size_at(trainer.step_index())
        per_size = {first: step_seconds}
        for size in [*config.data.ladder, config.data.image_size]:
            if size not in per_size:
                within(clock, budget, "measuring each size's step")
                per_size[size] = _measure_steps(trainer, head_only, start, most, echo, size)
        within(clock, budget, "timing validation and saving")
        echo(arithmetic(trainer, per_size[config.data.image_size], record))
        with tempfile.TemporaryDirectory(prefix="catsdogs-timing-") as scratch:
            start.costs = run_length.Costs(
                step=per_size[config.data.image_size],
                validation=trainer.time_validation(),
                save=trainer.time_save(Path(scratch)),
                finish=FINISH_SECONDS,
            )
        choosing = start.costs.validation * predict_size.extra_validations(config)
        start.costs = dataclasses.replace(start.costs, finish=FINISH_SECONDS + choosing)
        data = config.data
        mean = run_length.mean_step(per_size.get, data.ladder, data.image_size, data.ladder_share)
        planned = run_length.longest(
            budget - clock.used() - margin(budget),
            dataclasses.replace(start.costs, step=mean),
            trainer.pass_steps,
            start.done,
            training.most_epochs,
            training.steps_per_epoch,
            used=clock.used(),
        )
        if planned.epochs < config.model.warmup_epochs:
            raise UserError(
                f"the time budget allows {planned.epochs} epoch(s) here, fewer than "
                f"model.warmup_epochs ({config.model.warmup_epochs}): give a longer budget"
            )
        trainer.set_length(planned.steps_per_epoch, planned.steps)
        trainer.ladder_fixed = True
        start.costs = dataclasses.replace(
            start.costs, ladder=tuple((end, per_size[size]) for size, end in trainer.ladder)
        )
        asked.update(epochs=training.most_epochs, steps_per_epoch=training.steps_per_epoch)
        if trainer.ladder:
            record["ladder"] = trainer.ladder
        record.update(
            steps=planned.steps,
            seconds_per_step=round(mean, 4),
            seconds_per_validation=round(start.costs.validation, 2),
            seconds_per_save=round(start.costs.save, 2),
            start_up_seconds=round(clock.used(), 1),
        )
        config = _with(config, epochs=planned.epochs, steps_per_epoch=planned.steps_per_epoch)
        sizes = " then ".join(
            f"{size} px for {end - begin} steps ({per_size[size]:.2f}s a step)"
            for (size, end), begin in zip(trainer.ladder, [0] + [e for _, e in trainer.ladder])
        )
        if sizes:
            final = planned.steps - trainer.ladder[-1][1]
            echo(
                f"progressive resizing: {sizes}, then {config.data.image_size} px for {final} "
                f"steps ({per_size[config.data.image_size]:.2f}s a step)"
            )
        echo(
            f"time budget {training.time_budget}: {planned.epochs} epochs of "
            f"{planned.steps_per_epoch} steps ({planned.steps / trainer.pass_steps:.1f} passes "
            f"over the training images) at {mean:.2f}s a step, validation "
            f"{start.costs.validation:.1f}s and saving {start.costs.save:.1f}s an epoch; "
            f"start-up took {durations.text(clock.used())}"
        )
        short = under_one_pass(
            planned.steps,
            trainer.pass_steps,
            dataclasses.replace(start.costs, step=mean),
            clock.used(),
            budget,
        )
        if short:
            echo(short)
    earlier = training.plan  # what was decided before the trainer was built (data.sizes)
    if earlier is not None:
        asked = {**earlier.asked, **asked}
        record = {**earlier.model_dump(exclude={"asked"}, exclude_defaults=True), **record}
    trainer.config = _with(config, plan=MeasuredPlan(asked=asked, **record))
    return start


def under_one_pass(
    steps: int, pass_steps: int, costs: run_length.Costs, used: float, budget: float
) -> str | None:
    """A warning where the plan's ``steps`` are under one pass (``pass_steps``): the model
    will end weak; with the budget one pass needs here at these ``costs`` (start-up ``used``
    again, a tenth more for its variation). None where the plan makes a pass."""
    if steps >= pass_steps:
        return None
    needs = used + run_length.Length(1, pass_steps).seconds(costs) + margin(budget)
    return (
        f"warning: this budget allows under one pass over the training images here ({steps} "
        f"of {pass_steps} steps): the model will be weak; one pass needs a budget of about "
        f"{durations.text(math.ceil(needs * 1.1))}"
    )


def arithmetic(trainer: Trainer, step_seconds: float, record: dict) -> str:
    """One line: the operations of a training step at the final size, the rate the step
    measured at ``step_seconds`` reaches, and its share of what this machine's cores do on
    a matrix product in the step's own precision (both go into ``record``)."""
    size = trainer.config.data.image_size
    counted = flops.step_flops(trainer.model, size)
    dtype = trainer.compute_dtype
    limit = flops.matmul_rate(dtype=dtype)
    record.update(step_gflop=round(counted.total / 1e9, 4), matmul_gflops=round(limit / 1e9, 1))
    images_per_second = trainer.config.data.batch_size / step_seconds
    return f"the step at {size} px: " + flops.share_line(counted, images_per_second, limit, dtype)


class Watch:
    """Keeps a budgeted run within its budget, and counts where the time went."""

    def __init__(self, trainer: Trainer, clock: Clock, budget: float, start: Start) -> None:
        self.trainer, self.clock, self.budget, self.costs = trainer, clock, budget, start.costs
        self.measured = start.costs  # the steps' costs as the start measured them
        # Each window's seconds, the seconds the start's measurements expected of it, and
        # its steps.
        self.recent: deque[tuple[float, float, int]] = deque()
        self.horizon = max(PACE_SECONDS, PACE_SHARE * budget)
        self.first = trainer.length()  # the start's plan
        self.most_epochs = trainer.config.training.plan.asked.get("epochs")  # the config's own
        self.spent = {"training steps": start.seconds, "validation": 0.0, "saving": 0.0}
        self.start_up = clock.used() - start.seconds  # the measuring steps count as training

    def left(self) -> float:
        return self.budget - self.clock.used()

    def after_steps(self, seconds: float, steps: int, done: int, epoch: int) -> str | None:
        """After a window of ``steps`` that took ``seconds``, ``done`` steps into the run and in
        ``epoch`` (from 0): a line saying how the plan was shortened, where it had to be."""
        self.spent["training steps"] += seconds
        self.recent.append((seconds, self.measured.steps_seconds(done - steps, done), steps))
        while sum(s for s, _, _ in self.recent) - self.recent[0][0] >= self.horizon:
            self.recent.popleft()  # the pace over the last ``horizon`` seconds of steps
        if sum(s for s, _, _ in self.recent) < self.horizon:
            return None  # too few steps yet to tell a slower machine from noise
        return self._check(done, epoch)

    def after_epoch(self, validation: float, save: float, done: int, epoch: int) -> str | None:
        """After ``epoch``'s validation and saves, with their times: as ``after_steps``."""
        self.spent["validation"] += validation
        self.spent["saving"] += save
        self.costs = dataclasses.replace(
            self.costs,
            validation=max(self.costs.validation, validation),
            save=max(self.costs.save, save),
        )
        return self._check(done, epoch + 1)

    def _check(self, done: int, epoch: int) -> str | None:
        trainer = self.trainer
        now = trainer.length()
        if epoch >= now.epochs:
            return None
        if self.recent:
            # The recent pace as seconds a step beyond what the start measured at each step's
            # size: what a loop adds to every step (a fixed cost) is exact whatever the size,
            # and a slower machine is caught again at each size it reaches.
            seconds, expected, steps = (sum(column) for column in zip(*self.recent))
            pace = self.measured.plus((seconds - expected) / steps)
            self.costs = dataclasses.replace(self.costs, step=pace.step, ladder=pace.ladder)
        # Re-planned when the margin is half gone, to leave twice the margin: a pace that keeps
        # drifting is answered by a few re-plans, not one every few steps.
        room = margin(self.budget)
        if run_length.shorten(now, self.left() - room / 2, self.costs, done, epoch) is not None:
            shorter = run_length.shorten(now, self.left() - 2 * room, self.costs, done, epoch)
            return "the run would overrun its time budget: " + self._replan(shorter, now, done)
        # On plan. Where the pace now allows at least 5% more steps (a slow stretch passed, the
        # start measured its steps while the first pass filled the cache, other work on the
        # machine ended), the run grows, leaving the same twice the margin: in more epochs of
        # the same steps, the schedule stretched to the new end, never beyond the config's own
        # epochs. A shortened plan returns to the start's plan where it fits, even under 5%.
        longer = self._longest(now, self.left() - 2 * room, done, epoch)
        if longer.steps >= now.steps * (1 + LENGTHEN_SHARE):
            return "the run is ahead of its plan: " + self._replan(longer, now, done)
        if now.steps < self.first.steps <= longer.steps:
            return "the run is ahead of its plan: " + self._replan(self.first, now, done)
        return None

    def _longest(
        self, now: run_length.Length, left: float, done: int, epoch: int
    ) -> run_length.Length:
        """The longest run of ``now``'s epoch length that fits in ``left`` seconds at the
        recent pace, ``done`` steps into the run and in ``epoch`` (from 0)."""
        per_epoch = now.steps_per_epoch
        steps = done + self.costs.steps_within(done, left)  # as if epochs' ends cost nothing
        epochs = max(now.epochs, -(-steps // per_epoch))
        if self.most_epochs is not None:
            epochs = min(epochs, max(self.most_epochs, now.epochs))
        ceiling = run_length.Length(epochs, per_epoch)
        return run_length.shorten(ceiling, left, self.costs, done, epoch) or ceiling

    def _replan(self, new: run_length.Length, now: run_length.Length, done: int) -> str:
        """The run's length set to ``new`` (recorded in its config), and the line saying so."""
        note = (
            f"after {done} steps, at {self.costs.step:.2f}s a step: {new.steps} steps in "
            f"{new.epochs} epochs (was {now.steps} in {now.epochs})"
        )
        trainer = self.trainer
        record = trainer.config.training.plan
        record = record.model_copy(
            update={"steps": new.steps, "replanned": [*record.replanned, note]}
        )
        trainer.config = _with(trainer.config, epochs=new.epochs, plan=record)
        trainer.set_length(new.steps_per_epoch, new.steps)
        return note

    def usage(self) -> str:
        """One line: how much of the budget was used, and where the time went."""
        used = self.clock.used()
        finishing = used - self.start_up - sum(self.spent.values())
        parts = ", ".join(
            f"{name} {durations.text(seconds)}"
            for name, seconds in [
                ("start-up", self.start_up),
                *self.spent.items(),
                ("finishing", max(finishing, 0)),
            ]
        )
        share = self.spent["training steps"] / self.budget
        return (
            f"used {durations.text(used)} of the {durations.text(self.budget)} time budget: "
            f"{parts} ({share:.0%} of it training)"
        )

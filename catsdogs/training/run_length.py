"""How many steps a time budget allows: a pure function of what was measured.

A run is ``epochs`` epochs of ``steps_per_epoch`` optimizer steps (the last one may be shorter
after a re-plan), each followed by a validation pass and the saves; after the last epoch the
run is summed up and the process exits. The plan takes as many steps as fit in the time left,
in whole epochs: about one pass over the training data each, validated at least ``MIN_EPOCHS``
times where that costs no more than ``OVERHEAD_SHARE`` of the time (up to ``LONG_EPOCH_SHARE``
where epochs would otherwise be many passes long), never more than the
config's own ``epochs`` where it gives them. When the machine slows down, the last epoch ends
early, and epochs are dropped only where that is not enough (``shorten``); when it speeds up,
the run takes more epochs of the same length.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from catsdogs import durations
from catsdogs.errors import UserError

MIN_EPOCHS = 4  # validations a budgeted run gets at least, where they cost little
OVERHEAD_SHARE = 0.05  # most of the time that validation and saves may take
# Where that share leaves epochs of more than LONG_EPOCH_PASSES passes (a small training set:
# validation and saves cost as much as many passes), validations may take up to
# LONG_EPOCH_SHARE, so that the run still has epochs to choose the best of and to stop early.
LONG_EPOCH_PASSES = 2.0
LONG_EPOCH_SHARE = 0.25


class BudgetTooShort(UserError):
    """The time budget cannot fit start-up, one step and one epoch's validation."""


@dataclass(frozen=True)
class Costs:
    """Seconds measured (or estimated) on this machine for each part of a run."""

    step: float  # one optimizer step (at the final size, where a ladder trains smaller first)
    validation: float  # one validation pass
    save: float  # an epoch's end: the models, the checkpoint, the history
    finish: float  # after the last epoch: the summary, the figure, the exit
    # Progressive resizing: (the step it ends at, seconds a step) of each smaller size first.
    ladder: tuple[tuple[int, float], ...] = ()

    @property
    def per_epoch(self) -> float:
        """What an epoch costs beyond its steps."""
        return self.validation + self.save

    def steps_seconds(self, first: int, last: int) -> float:
        """What steps ``first`` to ``last`` (excluded, from 0) take."""
        total, begin = 0.0, first
        for end, seconds in self.ladder:
            if begin < min(end, last):
                total += (min(end, last) - begin) * seconds
                begin = min(end, last)
        return total + max(last - begin, 0) * self.step

    def steps_within(self, first: int, seconds: float) -> int:
        """How many steps from ``first`` (from 0) fit in ``seconds`` (none where it is
        negative)."""
        count, begin = 0, first
        for end, cost in self.ladder:
            if begin < end:
                fits = min(end - begin, max(math.floor(seconds / cost), 0))
                count, seconds, begin = count + fits, seconds - fits * cost, begin + fits
                if begin < end:
                    return count
        return count + max(math.floor(seconds / self.step), 0)

    def plus(self, extra: float) -> Costs:
        """Every step ``extra`` seconds slower (faster where negative; validation and saves as
        they are)."""
        ladder = tuple((end, max(seconds + extra, 1e-6)) for end, seconds in self.ladder)
        return dataclasses.replace(self, step=max(self.step + extra, 1e-6), ladder=ladder)


@dataclass(frozen=True)
class Length:
    epochs: int
    steps_per_epoch: int
    last_epoch_steps: int | None = None  # set when a re-plan ended an epoch early

    @property
    def steps(self) -> int:
        last = self.steps_per_epoch if self.last_epoch_steps is None else self.last_epoch_steps
        return (self.epochs - 1) * self.steps_per_epoch + last

    def epoch_steps(self, epoch: int) -> int:
        """Steps in ``epoch`` (from 0)."""
        if epoch == self.epochs - 1 and self.last_epoch_steps is not None:
            return self.last_epoch_steps
        return self.steps_per_epoch

    def seconds(self, costs: Costs, done: int = 0, epochs_done: int = 0) -> float:
        """The time the rest of the plan takes after ``done`` steps and ``epochs_done``
        finished epochs."""
        rest = costs.steps_seconds(done, self.steps) + (self.epochs - epochs_done) * costs.per_epoch
        return rest + costs.finish


def mean_step(
    seconds_at: Callable[[int], float], ladder: Sequence[int], size: int, share: float
) -> float:
    """Seconds a step takes on average over a run that trains ``share`` of its steps on the
    ``ladder``'s sizes (in equal parts) and the rest at ``size``; the same however many steps
    the plan takes."""
    each = share / len(ladder) if ladder else 0.0
    rest = 1 - each * len(ladder)
    return sum(each * seconds_at(rung) for rung in ladder) + rest * seconds_at(size)


def _too_short(left: float, costs: Costs, done: int, used: float) -> BudgetTooShort:
    need = (0 if done else costs.step) + costs.per_epoch + costs.finish
    # The two the message names, a tenth more (start-up varies with the load: a probe's
    # suggestion was refused again), and the least margin.
    least = math.ceil((used + need) * 1.1 + 2)
    return BudgetTooShort(
        f"the time budget is too short for this run here: start-up took {durations.text(used)}, "
        f"and one epoch needs {need:.1f}s more (a step {costs.step:.2f}s, validation "
        f"{costs.validation:.1f}s, saving {costs.save:.1f}s, finishing {costs.finish:.1f}s); "
        f"give at least {durations.text(least)} (those and a tenth more)"
    )


def longest(
    left: float,
    costs: Costs,
    pass_steps: int,
    done: int = 0,
    most_epochs: int | None = None,
    steps_per_epoch: int | None = None,
    used: float = 0.0,
) -> Length:
    """The most steps that fit in ``left`` seconds, ``done`` of them taken already (they
    belong to the first epoch). ``pass_steps``: one pass over the training data.
    ``most_epochs`` and ``steps_per_epoch``: the config's own, where it gives them; ``used``:
    the seconds already spent, for the message when even one epoch does not fit."""
    available = left - costs.finish

    def capacity(epochs: int) -> int:  # steps that fit with this many epochs
        return done + math.floor((available - epochs * costs.per_epoch) / costs.step)

    if steps_per_epoch is not None:
        fits = math.floor(
            (available + done * costs.step) / (steps_per_epoch * costs.step + costs.per_epoch)
        )
        epochs = min(fits, most_epochs or fits)
        if epochs < 1:
            raise _too_short(left, costs, done, used)
        return Length(epochs, steps_per_epoch)
    if capacity(1) < max(done, 1):
        raise _too_short(left, costs, done, used)

    def within(share: float) -> int:  # epochs whose validation and saves take this share
        return math.floor(share * available / costs.per_epoch) if costs.per_epoch > 0 else 10**6

    passes = capacity(1) / pass_steps
    epochs = min(
        max(round(passes), min(MIN_EPOCHS, within(OVERHEAD_SHARE))), within(OVERHEAD_SHARE)
    )
    if capacity(max(epochs, 1)) / max(epochs, 1) > LONG_EPOCH_PASSES * pass_steps:
        epochs = max(epochs, min(math.ceil(passes / LONG_EPOCH_PASSES), within(LONG_EPOCH_SHARE)))
    epochs = max(1, min(epochs, most_epochs or epochs))
    while epochs > 1 and capacity(epochs) // epochs < max(done, 1):
        epochs -= 1  # each epoch at least as long as the steps already taken
    steps = capacity(epochs) // epochs
    if most_epochs is not None and epochs == most_epochs:
        steps = min(steps, pass_steps)  # the config's epochs, of one pass each, fit: no more
    return Length(epochs, max(steps, done, 1))


def shorten(current: Length, left: float, costs: Costs, done: int, epoch: int) -> Length | None:
    """A shorter plan when ``current`` no longer fits in ``left`` seconds at ``costs`` (None:
    it still fits), ``done`` steps into the run and in ``epoch`` (from 0): the most steps that
    fit, by ending the last epoch early, and by dropping epochs only where even that is not
    enough (each dropped epoch saves its validation and saves)."""
    if current.seconds(costs, done, epoch) <= left:
        return None
    k = current.steps_per_epoch
    for epochs in range(current.epochs, epoch, -1):
        room = costs.steps_within(done, left - (epochs - epoch) * costs.per_epoch - costs.finish)
        steps = min(epochs * k, done + room, current.steps)
        if steps > (epochs - 1) * k:
            last = steps - (epochs - 1) * k
            return Length(epochs, k, None if last == k else last)
    return Length(epoch + 1, k, max(done - epoch * k, 1))

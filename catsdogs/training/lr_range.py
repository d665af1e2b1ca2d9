"""The arithmetic of the learning-rate range test (Smith 2017, as fastai's ``lr_find``): the
rising rates, the smoothed loss, when to stop, and which rate to suggest.

Pure (no TensorFlow): ``run`` takes the training step as a function of the learning rate, so
the rules are tested on made-up loss curves; ``lr_find`` runs real steps through it.

The smoothed loss is an exponential moving average with bias correction (fastai's, beta 0.98),
so it lags the raw loss (by ``beta / (1 - beta)`` = 49 steps on a steady trend): what the
raw loss does at one rate, the smoothed curve shows at higher rates. The suggestion reads the
smoothed curve, as fastai's does, and takes the lower of its two readings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from catsdogs.errors import UserError

# The command's defaults: fastai's range, over twice fastai's 100 steps (a model trained from
# scratch learns almost nothing in 100: the curve stays flat, docs in README.md).
START, END, STEPS = 1e-7, 10.0, 200
BETA = 0.98  # the moving average's weight on the past (fastai's)
DIVERGED = 4.0  # the test stops once the smoothed loss exceeds this multiple of its minimum
FEWEST = 3  # steps a suggestion needs
MOST = 10_000  # 50x the default: more resolves nothing more, and takes hours on a CPU
WEAK = 0.1  # a smoothed loss that fell less than this share of itself says little
# Binary cross-entropy of answering 0.5 for every image: the best guess that ignores the
# images where cats and dogs are equally many (prepare's splits are stratified).
GUESS = math.log(2)


def rates(start: float, end: float, steps: int) -> list[float]:
    """``steps`` learning rates rising exponentially from ``start`` to ``end`` (both
    included): evenly spaced on a log scale, each step's rate a fixed multiple of the last."""
    if not (math.isfinite(start) and start > 0):
        raise UserError(f"--start-lr must be a number above 0; got {start:g}")
    if not (math.isfinite(end) and end > start):
        raise UserError(f"--end-lr must be above --start-lr ({start:g}); got {end:g}")
    if steps < FEWEST:
        raise UserError(f"--steps must be at least {FEWEST}; got {steps}")
    if steps > MOST:
        raise UserError(f"--steps must be at most {MOST:,}; got {steps:,}")
    ratio = end / start
    return [start * ratio ** (index / (steps - 1)) for index in range(steps)]


@dataclass
class Curve:
    """What the test saw, step by step: the rate, the loss of that step's batch and the
    smoothed loss; ``stopped`` says why it ended before the last rate (None: it ran them all)."""

    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped: str | None = None

    def __len__(self) -> int:
        return len(self.rates)


def run(
    learning_rates: Sequence[float],
    step: Callable[[float], float],
    beta: float = BETA,
    diverged: float = DIVERGED,
) -> Curve:
    """Call ``step(rate)`` (one training step at that rate; its loss) for each rate in turn,
    until the smoothed loss exceeds ``diverged`` times its minimum so far (that step is kept)
    or a loss is not finite (that step is not)."""
    curve, average = Curve(), 0.0
    for rate in learning_rates:
        loss = step(rate)
        if not math.isfinite(loss):
            curve.stopped = f"the loss became {loss} at learning rate {rate:.1e}"
            break
        average = beta * average + (1 - beta) * loss
        smoothed = average / (1 - beta ** (len(curve) + 1))  # bias correction
        curve.rates.append(rate)
        curve.losses.append(loss)
        curve.smoothed.append(smoothed)
        if smoothed > diverged * min(curve.smoothed):
            curve.stopped = (
                f"the smoothed loss passed {diverged:g}x its minimum at learning rate {rate:.1e}"
            )
            break
    return curve


@dataclass(frozen=True)
class Suggestion:
    """Two readings of a curve: ``steepest``, where the smoothed loss falls fastest before
    its minimum (None where it never falls), and ``minimum``, a tenth of ``lowest``,
    the rate at the smoothed loss's minimum. The suggested rate is the lower of the two: both
    read a curve that lags the raw loss toward higher rates, and a rate too high diverges
    where one too low only trains slower. ``fall``: how far the smoothed loss fell, as a share
    of where it started (after the steps ``suggest`` skips)."""

    steepest: float | None
    minimum: float
    lowest: float
    fall: float
    least: float  # the smoothed loss at its minimum
    first_read: float  # the lowest rate the readings look at (after the skipped steps)

    @property
    def rate(self) -> float:
        return self.minimum if self.steepest is None else min(self.steepest, self.minimum)

    @property
    def rule(self) -> str:
        """Which reading gave the suggested rate."""
        return "steepest descent" if self.rate == self.steepest else "minimum/10"

    def unsound(self) -> str | None:
        """Why the curve cannot show a rate (None: it can): the model learned nothing beyond a
        guess, the loss fell too little to show where it falls fastest, or the reading lands
        among the first steps' rates, which the curve does not read."""
        if self.least >= GUESS:
            return (
                f"the smoothed loss never went below {GUESS:.3f} (ln 2, the loss of answering "
                "0.5 for every image): in these steps the model learned nothing about the images"
            )
        if self.fall < WEAK:
            return f"the smoothed loss fell only {self.fall:.0%} from where it started"
        if self.rate < self.first_read:
            return (
                f"the reading ({self.rule}: {self.rate:.1e}) lies below {self.first_read:.1e}, "
                "among the first steps' rates, which the curve does not read"
            )
        return None

    def line(self) -> str:
        """The line the command ends with: the suggestion, or why there is none."""
        if why := self.unsound():
            return (
                f"no suggested learning rate: {why}; try more --steps, another range "
                "(--start-lr, --end-lr) or a pretrained backbone, and keep the config's "
                "optimizer.learning_rate meanwhile"
            )
        if self.steepest is None:
            why = "minimum/10; the smoothed loss never fell, so it has no steepest descent"
        elif self.rule == "minimum/10":
            why = f"minimum/10, below the steepest descent: {self.steepest:.1e}"
        else:
            why = f"steepest descent, below minimum/10: {self.minimum:.1e}"
        return (
            f"suggested learning rate: {self.rate:.1e} ({why}); set it with "
            f"--set optimizer.learning_rate={self.rate:.1e}"
        )


def skipped(steps: int, beta: float = BETA) -> int:
    """The first steps a suggestion ignores: while the bias-corrected average still rests on
    less than half its full weight (34 steps at beta 0.98) it is the mean of a few noisy
    batches, and moves most, whatever the rate; at least a tenth, at most a third."""
    warming = math.ceil(math.log(0.5) / math.log(beta)) - 1
    return min(max(steps // 10, warming), steps // 3)


def suggest(curve: Curve, beta: float = BETA) -> Suggestion:
    """The steepest descent of the smoothed loss, measured over half a decade of rates (a
    single step's slope is noise) and read at the rate where that half-decade begins (as
    fastai reads a slope at its lower end), and a tenth of the rate at the minimum; both
    after the ``skipped`` steps."""
    if len(curve) < FEWEST:
        why = f": {curve.stopped}" if curve.stopped else ""
        raise UserError(
            f"the range test ended after {len(curve)} step(s){why}; too few to suggest a rate "
            "(lower --start-lr or give more --steps)"
        )
    first = skipped(len(curve), beta)
    rates, smoothed = curve.rates[first:], curve.smoothed[first:]
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    steepest = None
    if lowest:
        per_decade = 1 / math.log10(curve.rates[1] / curve.rates[0])
        width = min(max(1, round(per_decade / 2)), lowest)
        drops = {
            i: (smoothed[i + width] - smoothed[i]) / math.log(rates[i + width] / rates[i])
            for i in range(lowest - width + 1)
        }
        fastest = min(drops, key=drops.__getitem__)
        steepest = rates[fastest] if drops[fastest] < 0 else None
    return Suggestion(
        steepest=steepest,
        minimum=rates[lowest] / 10,
        lowest=rates[lowest],
        fall=1 - smoothed[lowest] / smoothed[0],
        least=smoothed[lowest],
        first_read=rates[0],
    )

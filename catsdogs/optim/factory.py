"""One registry of optimizer names (like timm's factory): config in, Keras optimizer out."""

from __future__ import annotations

from collections.abc import Callable

import keras

from catsdogs.config import ADAMW_WEIGHT_DECAY, OptimizerConfig
from catsdogs.optim.lookahead import Lookahead
from catsdogs.optim.schedules import Schedule


def _common(config: OptimizerConfig) -> dict:
    return {"clipnorm": config.clipnorm}


# Keyed by config.OPTIMIZER_NAMES.
OPTIMIZERS: dict[str, Callable[[OptimizerConfig, object], keras.optimizers.Optimizer]] = {
    "sgd": lambda c, lr: keras.optimizers.SGD(
        lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay, **_common(c)
    ),
    "adam": lambda c, lr: keras.optimizers.Adam(lr, weight_decay=c.weight_decay, **_common(c)),
    "adamw": lambda c, lr: keras.optimizers.AdamW(
        lr,
        weight_decay=ADAMW_WEIGHT_DECAY if c.weight_decay is None else c.weight_decay,
        **_common(c),
    ),
    "rmsprop": lambda c, lr: keras.optimizers.RMSprop(
        lr, momentum=c.momentum, weight_decay=c.weight_decay, **_common(c)
    ),
}


def learning_rate(config: OptimizerConfig, steps_per_epoch: int, epochs: int):
    """A float where the rate never changes; else a ``Schedule`` over ``steps_per_epoch`` x
    ``epochs`` steps: optional linear warm-up, then constant, cosine or linear decay to
    ``min_learning_rate`` at the last step. Its length can be set again (a time budget)."""
    schedule = config.schedule
    warmup = round(schedule.warmup_epochs * steps_per_epoch)
    if schedule.name == "constant" and warmup == 0:
        return config.learning_rate
    total = max(steps_per_epoch * epochs, warmup + 1)
    end = config.learning_rate if schedule.name == "constant" else schedule.min_learning_rate
    return Schedule(config.learning_rate, total, warmup, schedule.name, end)


def build(config: OptimizerConfig, rate) -> keras.optimizers.Optimizer:
    """The named optimizer at learning rate ``rate`` (from ``learning_rate``), wrapped in
    Lookahead when the config enables it."""
    inner = OPTIMIZERS[config.name](config, rate)
    if not config.lookahead.enabled:
        return inner
    return Lookahead(
        inner,
        sync_period=config.lookahead.sync_period,
        slow_step_size=config.lookahead.slow_step_size,
    )

"""One registry of optimizer names (like timm's factory): config in, Keras optimizer out."""

from __future__ import annotations

from collections.abc import Callable

import keras

from catsdogs.config import ADAMW_WEIGHT_DECAY, OptimizerConfig
from catsdogs.optim.lookahead import Lookahead


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
    """A float, or a schedule over optimizer steps: optional linear warm-up, then constant or
    cosine decay to ``min_learning_rate`` at the last step."""
    schedule = config.schedule
    warmup = round(schedule.warmup_epochs * steps_per_epoch)
    total = max(steps_per_epoch * epochs, warmup + 1)
    if schedule.name == "constant" and warmup == 0:
        return config.learning_rate
    alpha = (
        1.0 if schedule.name == "constant" else schedule.min_learning_rate / config.learning_rate
    )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=total - warmup,
        alpha=alpha,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def build(config: OptimizerConfig, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """The named optimizer, wrapped in Lookahead when the config enables it."""
    inner = OPTIMIZERS[config.name](config, learning_rate(config, steps_per_epoch, epochs))
    if not config.lookahead.enabled:
        return inner
    return Lookahead(
        inner,
        sync_period=config.lookahead.sync_period,
        slow_step_size=config.lookahead.slow_step_size,
    )

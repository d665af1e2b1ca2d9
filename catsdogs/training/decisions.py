"""The learning-rate and stopping decisions after an epoch: Keras' ReduceLROnPlateau and
EarlyStopping, worked out from history.csv alone, so that they survive a restart."""

from __future__ import annotations

import pandas as pd

from catsdogs.config import Config
from catsdogs.training.rundir import best_position


def epochs_since_best(history: pd.DataFrame) -> int:
    """Epochs since the best epoch (0: the last epoch is the best)."""
    return len(history) - 1 - best_position(history)


def plateau(history: pd.DataFrame, config: Config) -> float | None:
    """A lower learning rate once val_loss has not improved for `patience` epochs, counted
    since the best epoch and since the last change (Keras' ReduceLROnPlateau); else None."""
    rule = config.training.reduce_lr_on_plateau
    if not rule.enabled or history.empty:
        return None
    rates = history["learning_rate"].to_numpy()
    with_this_rate = len(rates) - 1 - int((rates != rates[-1]).nonzero()[0].max(initial=-1))
    if min(epochs_since_best(history), with_this_rate) < rule.patience:
        return None
    lowered = max(rates[-1] * rule.factor, rule.min_learning_rate)
    return lowered if lowered < rates[-1] else None


def should_stop(history: pd.DataFrame, config: Config) -> bool:
    """Keras' EarlyStopping: `patience` epochs without a better val_loss."""
    rule = config.training.early_stopping
    return rule.enabled and not history.empty and epochs_since_best(history) >= rule.patience

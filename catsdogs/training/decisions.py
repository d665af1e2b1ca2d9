"""The decisions after an epoch: Keras' ReduceLROnPlateau and EarlyStopping, and whether to
warn that the run is not learning, worked out from history.csv alone, so that they survive a
restart."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from catsdogs.config import Config
from catsdogs.data import manifests
from catsdogs.training.rundir import CONFIG, VAL_ACCURACY, VAL_DOG_SHARE, RunDir, best_position

CHANCE_EPOCHS = 2  # epochs in a row at chance before a run is said not to learn


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


def at_chance(history: pd.DataFrame, val_images: int) -> str | None:
    """A warning when validation has been at chance for the last ``CHANCE_EPOCHS`` epochs (and
    was not before them: said once per stretch): every image predicted one class, or the
    accuracy within two standard errors of a coin's (0.5 +- 1/sqrt(n)). Else None."""
    if len(history) < CHANCE_EPOCHS or val_images < 1:
        return None
    band = 0.5 + 1 / val_images**0.5
    share = history[VAL_DOG_SHARE] if VAL_DOG_SHARE in history else None

    def stuck(position: int) -> bool:
        one_class = share is not None and share.iloc[position] in (0.0, 1.0)
        return one_class or history[VAL_ACCURACY].iloc[position] <= band

    last = range(len(history) - CHANCE_EPOCHS, len(history))
    if not all(stuck(i) for i in last) or (len(history) > CHANCE_EPOCHS and stuck(last[0] - 1)):
        return None
    accuracies = ", ".join(f"{history[VAL_ACCURACY].iloc[i]:.3f}" for i in last)
    one = share.iloc[-1] if share is not None else None
    predicted = {0.0: "; every image predicted cat", 1.0: "; every image predicted dog"}
    return (
        f"warning: validation has been at chance for {CHANCE_EPOCHS} epochs (val_acc "
        f"{accuracies} on {val_images} images{predicted.get(one, '')}): the model is not "
        "learning; try another optimizer.learning_rate (catsdogs lr-find suggests one) or "
        "check the labels"
    )


def weak(
    best: Mapping[str, float],
    val_images: int,
    passes: float | None,
    steps: int | None = None,
    sync_period: int | None = None,
) -> str | None:
    """Why a finished run's model should not become a submission without a word, from its
    best epoch's row of history.csv: validation within chance (0.5 +- 2 standard errors of
    a coin on ``val_images``), every validation image one class, or under one pass over its
    training images (``passes``; None: not recorded). None: none of these."""
    reasons = []
    accuracy = best[VAL_ACCURACY]
    if val_images > 0 and accuracy <= 0.5 + 1 / math.sqrt(val_images):
        reasons.append(f"val_acc {accuracy:.3f} is within chance on {val_images} images")
    share = best.get(VAL_DOG_SHARE)
    if share in (0.0, 1.0):
        reasons.append(f"it calls every validation image a {'dog' if share else 'cat'}")
    if passes is not None and passes < 1:
        seen = f"{passes:.2f} times" if passes >= 0.01 else "under 1% of them"
        reasons.append(f"it saw its training images {seen} (under one pass)")
    if steps is not None and sync_period is not None and steps < sync_period:
        reasons.append(
            f"its {steps} steps are fewer than Lookahead's k = {sync_period}: the slow weights "
            "it is judged by never moved from their start"
        )
    return "; ".join(reasons) or None


def _val_images(run: RunDir) -> int:
    """The rows of the run's val.csv, where metrics.json does not record them (a run stopped
    before its end writes none); 0 where the data is gone."""
    folder = run.data_record()[0] if (run.path / CONFIG).is_file() else None
    try:
        return len(pd.read_csv(folder / manifests.VAL, usecols=["path"])) if folder else 0
    except (OSError, ValueError):
        return 0


def weakness(run: RunDir) -> str | None:
    """``weak`` for a run: its best epoch, as recorded (None before an epoch); a run stopped
    before its end is judged on what it recorded."""
    history = run.history()
    if history.empty:
        return None
    metrics = run.metrics()
    best = history.iloc[best_position(history)].to_dict()
    config = run.config() if (run.path / CONFIG).is_file() else {}
    lookahead = (config.get("optimizer") or {}).get("lookahead") or {}
    judged_slow = lookahead.get("enabled") and (config.get("training") or {}).get(
        "evaluate_slow_weights", True
    )
    return weak(
        best,
        int(metrics.get("val_images", 0)) or _val_images(run),
        metrics.get("passes"),
        metrics.get("steps"),
        lookahead.get("sync_period") if judged_slow else None,
    )


WEAK_ADVICE = (
    "`make run` does not submit it without FORCE=1 (which also prepares the data again), and "
    "`catsdogs predict` writes only the run's own submission.csv (--force writes --out too)"
)

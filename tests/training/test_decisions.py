"""ReduceLROnPlateau, EarlyStopping and the not-learning warning, decided from history.csv (so
they survive a restart)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import SMOKE

from catsdogs.config import load
from catsdogs.training import long_run
from catsdogs.training.decisions import at_chance, epochs_since_best, plateau, should_stop
from catsdogs.training.rundir import best_position


def history(val_losses: list[float], rates: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"val_loss": val_losses, "learning_rate": rates})


@pytest.fixture
def config():
    return load(
        SMOKE,
        [
            "training.reduce_lr_on_plateau.enabled=true",
            "training.reduce_lr_on_plateau.patience=2",
            "training.reduce_lr_on_plateau.factor=0.5",
            "training.early_stopping.enabled=true",
            "training.early_stopping.patience=3",
        ],
    )


def test_an_epoch_with_a_nan_validation_loss_is_never_the_best(config):
    # np.argmin picked the first NaN: best.keras took that epoch's model, and the plateau and
    # early-stopping counts started again from it.
    nan = float("nan")
    assert best_position(history([0.6, 0.4, nan], [1.0] * 3)) == 1
    assert epochs_since_best(history([0.6, 0.4, nan], [1.0] * 3)) == 1
    assert best_position(history([nan, 0.5, 0.7], [1.0] * 3)) == 1
    assert best_position(history([nan, nan], [1.0] * 2)) == 0
    assert should_stop(history([0.9, 0.8, nan, nan, nan], [1.0] * 5), config)
    assert plateau(history([0.9, 0.8, nan, nan], [1.0] * 4), config) == 0.5


def test_plateau_waits_patience_epochs_after_the_best(config):
    assert plateau(history([0.9, 0.8], [1.0, 1.0]), config) is None
    assert plateau(history([0.9, 0.8, 0.85], [1.0] * 3), config) is None
    assert plateau(history([0.9, 0.8, 0.85, 0.82], [1.0] * 4), config) == 0.5


def test_plateau_waits_again_after_a_reduction(config):
    # Lowered after epoch 4; epoch 5 ran at 0.5 without improving: one epoch is not enough.
    assert plateau(history([0.9, 0.8, 0.85, 0.82, 0.83], [1, 1, 1, 1, 0.5]), config) is None
    assert (
        plateau(history([0.9, 0.8, 0.85, 0.82, 0.83, 0.84], [1, 1, 1, 1, 0.5, 0.5]), config) == 0.25
    )


def test_plateau_respects_the_floor_and_the_switch(config):
    floor = load(
        SMOKE,
        [
            "training.reduce_lr_on_plateau.enabled=true",
            "training.reduce_lr_on_plateau.min_learning_rate=0.8",
        ],
    )
    assert plateau(history([0.5, 0.6, 0.7], [0.8] * 3), floor) is None
    off = load(SMOKE)
    assert plateau(history([0.5, 0.6, 0.7, 0.8], [1.0] * 4), off) is None


def test_early_stopping_after_patience_epochs_without_improvement(config):
    assert not should_stop(history([0.9, 0.8, 0.81, 0.82], [1.0] * 4), config)
    assert should_stop(history([0.9, 0.8, 0.81, 0.82, 0.83], [1.0] * 5), config)
    assert not should_stop(history([0.9, 0.8, 0.81, 0.82, 0.7], [1.0] * 5), config)
    assert not should_stop(history([0.9, 0.8, 0.81, 0.82, 0.83], [1.0] * 5), load(SMOKE))


def test_a_run_over_two_hours_without_a_gpu_gets_one_warning_with_its_estimate():
    # The VGG19 reference on 2 CPU cores: ~10 s per step of 32 images, 10 epochs of 625 steps.
    warning = long_run.warning(10.0, 6250, gpu=False)
    assert warning.startswith("warning: at 10.00 s per step this run needs about 17h21m more")
    assert "configs/cpu.yaml" in warning
    assert long_run.warning(10.0, 6250, gpu=True) is None
    assert long_run.warning(1.0, 7200, gpu=False) is None  # exactly two hours: fine
    assert long_run.warning(1.0, 7201, gpu=False).startswith(
        "warning: at 1.00 s per step this run needs about 2h00m more"
    )


def scores(accuracies: list[float], dog_shares: list[float] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"val_accuracy": accuracies})
    if dog_shares is not None:
        frame["val_dog_share"] = dog_shares
    return frame


def test_a_run_predicting_one_class_is_said_not_to_learn():
    warning = at_chance(scores([0.5, 0.5], [1.0, 1.0]), 400)
    assert warning == (
        "warning: validation has been at chance for 2 epochs (val_acc 0.500, 0.500 on 400 "
        "images; every image predicted dog): the model is not learning; try another "
        "optimizer.learning_rate (catsdogs lr-find suggests one) or check the labels"
    )
    # One class is at chance whatever the accuracy (an unbalanced validation set).
    assert "every image predicted cat" in at_chance(scores([0.7, 0.7], [0.0, 0.0]), 400)


def test_chance_is_within_two_standard_errors_of_a_coin():
    # n = 400: a coin's accuracy has standard error 0.025, so the band ends at 0.55.
    assert at_chance(scores([0.54, 0.55], [0.4, 0.6]), 400) is not None
    assert at_chance(scores([0.54, 0.56], [0.4, 0.6]), 400) is None
    # Larger validation sets narrow the band: 0.54 is no longer chance on 10,000 images.
    assert at_chance(scores([0.54, 0.54], [0.4, 0.6]), 10_000) is None
    # Histories written before the share was recorded are judged by accuracy alone.
    assert "predicted" not in at_chance(scores([0.5, 0.51]), 400)


def test_the_warning_is_said_once_a_stretch_and_not_for_one_epoch():
    assert at_chance(scores([0.5], [1.0]), 400) is None
    assert at_chance(scores([0.5, 0.5, 0.5], [1.0, 1.0, 1.0]), 400) is None  # said at epoch 2
    assert at_chance(scores([0.5, 0.9, 0.5, 0.5], [1.0, 0.5, 1.0, 1.0]), 400) is not None
    assert at_chance(scores([0.5, 0.9], [1.0, 0.5]), 400) is None

"""curves.png: the run's history, its best epoch marked as the run directory defines it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers import PNG

from catsdogs.training import curves
from catsdogs.training.rundir import Summary


def history(val_loss, learning_rate=None) -> pd.DataFrame:
    count = len(val_loss)
    return pd.DataFrame(
        {
            "epoch": np.arange(1, count + 1),
            "loss": np.linspace(0.7, 0.3, count),
            "accuracy": np.linspace(0.5, 0.9, count),
            "val_loss": val_loss,
            "val_accuracy": np.linspace(0.55, 0.85, count),
            "learning_rate": learning_rate if learning_rate is not None else [0.01] * count,
            "seconds": [3.0] * count,
        }
    )


def best_marks(figure) -> list[tuple]:
    """Per panel: the x of its vertical best-epoch line, and the star's point (if any)."""
    marks = []
    for axis in figure.axes:
        vertical = [line for line in axis.lines if line.get_label() == "_best"]
        stars = [line for line in axis.lines if line.get_marker() == "*"]
        star = (stars[0].get_xdata()[0], stars[0].get_ydata()[0]) if stars else None
        marks.append((vertical[0].get_xdata()[0], star))
    return marks


def test_the_marked_epoch_is_the_runs_best_the_first_of_equal_losses():
    made_up = history([0.6, 0.4, 0.5, 0.4, 0.45])  # epochs 2 and 4 tie
    assert Summary.of(made_up).best_epoch == 2
    figure = curves.figure(made_up)
    try:
        (loss_x, loss_star), (acc_x, acc_star), (rate_x, rate_star) = best_marks(figure)
        assert loss_x == acc_x == rate_x == 2
        assert loss_star == (2, 0.4) and rate_star is None
        assert acc_star == (2, pytest.approx(made_up["val_accuracy"][1]))  # at it, not the top
        labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
        assert "best epoch 2: val_loss 0.4000" in labels
    finally:
        plt.close(figure)


@pytest.mark.parametrize(
    ("rates", "scale"),
    [([0.01, 0.01, 0.01], "linear"), ([0.01, 0.005, 0.0011], "linear")]
    + [([0.01, 0.001, 0.0009], "log"), ([0.0, 0.01, 0.001], "linear")],
)
def test_the_learning_rate_is_on_a_log_axis_when_it_spans_more_than_tenfold(rates, scale):
    figure = curves.figure(history([0.5, 0.4, 0.45], rates))
    try:
        panel = figure.axes[2]
        assert panel.get_yscale() == scale
        assert list(panel.lines[0].get_ydata()) == rates
        if scale == "linear":
            assert panel.get_ylim()[0] == 0  # a rate is read from zero
    finally:
        plt.close(figure)


@pytest.mark.parametrize("epochs", [1, 100])
def test_one_epoch_and_a_hundred_are_drawn(tmp_path, epochs):
    rng = np.random.default_rng(epochs)
    made_up = history(rng.uniform(0.3, 0.7, epochs), np.geomspace(0.1, 0.001, epochs))
    figure = curves.figure(made_up)
    try:
        train = figure.axes[0].lines[0]
        # A point per epoch where there are few; a plain line where there are many.
        assert train.get_marker() == ("o" if epochs == 1 else "None")
        assert Summary.of(made_up).best_epoch == best_marks(figure)[0][0]
    finally:
        plt.close(figure)
    curves.draw(made_up, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG


def test_the_rate_panel_draws_every_step_s_rate_as_tensorboard_logged_it(tmp_path):
    # A probe: the panel drew each epoch's last rate (1e-05) while the schedule ran
    # 5e-4 -> 2e-3 -> 3e-5 step by step.
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path / "logs"))
    logged = {step: 2e-3 * min(step / 20, 1) * (1 - step / 100) + 1e-5 for step in range(5, 100)}
    with writer.as_default():
        for step, rate in logged.items():
            tf.summary.scalar("step/learning_rate", rate, step=step)
    writer.close()
    steps, rates = curves.step_rates(tmp_path / "logs")
    assert steps == list(logged) and rates == pytest.approx(list(logged.values()), rel=1e-6)
    figure = curves.figure(history([0.5, 0.4]), (steps, rates))
    try:
        panel = figure.axes[2]
        assert list(panel.lines[0].get_xdata()) == steps and panel.get_xlabel() == "optimizer step"
        assert panel.get_title() == "learning rate (each step)"
    finally:
        plt.close(figure)
    assert curves.step_rates(tmp_path / "nowhere") == ([], [])


def test_one_epoch_reads_as_points_with_their_values_and_the_legend_below_them():
    figure = curves.figure(history([0.5]))
    try:
        loss = figure.axes[0]
        written = sorted(text.get_text() for text in loss.texts)
        assert written == ["0.5000", "0.7000"]  # validation and training loss, beside each
        legend = loss.get_legend()
        assert legend.get_bbox_to_anchor().y0 < loss.get_window_extent().y0  # under the panel
    finally:
        plt.close(figure)
    # Its learning rate, one logged step: a point, not an invisible line, on whole steps (a
    # probe: an empty panel with ticks 0.96-1.04).
    figure = curves.figure(history([0.5]), ([1], [0.02]))
    try:
        [line] = figure.axes[2].get_lines()
        assert line.get_marker() == "o"
        ticks = figure.axes[2].get_xticks()
        assert all(float(t).is_integer() for t in ticks)
    finally:
        plt.close(figure)

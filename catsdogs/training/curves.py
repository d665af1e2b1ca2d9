"""curves.png: loss and accuracy per epoch, train against validation, and the learning rate;
the best epoch (the run directory's one definition) marked in every panel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from catsdogs import plots
from catsdogs.training.rundir import best_position

MARKED = 30  # epochs up to which each one is drawn as a point; more read better as a line
LOG_SPAN = 10  # a learning rate spanning more than this factor is drawn on a log axis


def figure(history: pd.DataFrame) -> Figure:
    """The figure of ``history`` (history.csv's rows, at least one)."""
    figure, axes = plots.figure(1, 3, figsize=(15, 4.2))
    epochs = history["epoch"]
    style = "o-" if len(history) <= MARKED else "-"
    best = history.iloc[best_position(history)]
    at = int(best["epoch"])
    for axis, metric in zip(axes[:2], ("loss", "accuracy")):
        axis.plot(epochs, history[metric], style, label="train")
        axis.plot(epochs, history[f"val_{metric}"], style, label="validation")
        axis.plot(
            at,
            best[f"val_{metric}"],
            "*",
            markersize=15,
            color="black",
            zorder=1.9,  # under the validation point, which shows through it
            label=f"best epoch {at}: val_{metric} {best[f'val_{metric}']:.4f}",
        )
        axis.set_title(metric)
    rate = history["learning_rate"]
    axes[2].plot(epochs, rate, style, color="tab:green", label="learning rate")
    if rate.min() > 0 and rate.max() / rate.min() > LOG_SPAN:
        axes[2].set_yscale("log")
    else:  # from zero, so a constant rate reads as one and a warm-up as rising from nothing
        axes[2].set_ylim(bottom=0, top=1.1 * rate.max() if rate.max() > 0 else 1)
    axes[2].set_title("learning rate (at each epoch's end)")
    for axis in axes:
        axis.axvline(at, color="grey", linestyle=":", label="_best")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if len(history) <= MARKED:
            axis.set_xlim(epochs.iloc[0] - 0.5, epochs.iloc[-1] + 0.5)
        axis.grid(alpha=0.3)
    for axis in axes[:2]:
        axis.legend(fontsize=9)
    return figure


def draw(history: pd.DataFrame, path: Path) -> None:
    """Write the curves of ``history`` (history.csv's rows) to ``path``."""
    plots.save(figure(history), path)

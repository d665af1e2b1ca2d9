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
FEW = 2  # epochs up to which each point's value is written beside it


def step_rates(logs: Path) -> tuple[list[int], list[float]]:
    """Each logged window's step and learning rate, from the run's TensorBoard events
    (``RUN/logs``; empty where there are none)."""
    if not logs.is_dir():
        return [], []
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(logs), size_guidance={"tensors": 0})
    events.Reload()
    if "step/learning_rate" not in events.Tags().get("tensors", []):
        return [], []
    found = {
        e.step: float(tensor_util.make_ndarray(e.tensor_proto))
        for e in events.Tensors("step/learning_rate")
    }
    steps = sorted(found)  # a continued run logs again the steps it trains again: the last
    return steps, [found[step] for step in steps]


def figure(history: pd.DataFrame, rates: tuple[list[int], list[float]] = ([], [])) -> Figure:
    """The figure of ``history`` (history.csv's rows, at least one) and the learning rate of
    each step (``rates``: steps and rates, TensorBoard's; else each epoch's last)."""
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
        if len(history) <= FEW:  # a point or two: their values written beside them
            for column in (metric, f"val_{metric}"):
                for x, y in zip(epochs, history[column]):
                    axis.annotate(f"{y:.4f}", (x, y), xytext=(6, 0), textcoords="offset points")
    steps, each = rates
    rate = pd.Series(each if steps else history["learning_rate"], dtype=float)
    if steps:
        marked = "o-" if len(steps) <= MARKED else "-"  # a line of one point draws nothing
        axes[2].plot(steps, rate, marked, color="tab:green", label="learning rate")
        axes[2].set_title("learning rate (each step)")
        axes[2].set_xlabel("optimizer step")
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    else:
        axes[2].plot(epochs, rate, style, color="tab:green", label="learning rate")
        axes[2].set_title("learning rate (at each epoch's end)")
    if rate.min() > 0 and rate.max() / rate.min() > LOG_SPAN:
        axes[2].set_yscale("log")
    else:  # from zero, so a constant rate reads as one and a warm-up as rising from nothing
        axes[2].set_ylim(bottom=0, top=1.1 * rate.max() if rate.max() > 0 else 1)
    for axis in axes if not steps else axes[:2]:
        axis.axvline(at, color="grey", linestyle=":", label="_best")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if len(history) <= MARKED:
            axis.set_xlim(epochs.iloc[0] - 0.5, epochs.iloc[-1] + 0.5)
    for axis in axes:
        axis.grid(alpha=0.3)
    for axis in axes[:2]:
        if len(history) <= FEW:  # below the panel: over a point or two it would hide them
            axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
        else:
            axis.legend(fontsize=9)
    return figure


def draw(history: pd.DataFrame, path: Path, logs: Path | None = None) -> None:
    """Write the curves of ``history`` (history.csv's rows) to ``path``, the learning rate of
    each step from the TensorBoard events in ``logs`` where there are some."""
    plots.save(figure(history, step_rates(logs) if logs else ([], [])), path)

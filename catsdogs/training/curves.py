"""curves.png: loss and accuracy per epoch, train against validation, the best epoch marked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from catsdogs import plots
from catsdogs.training.rundir import best_position


def draw(history: pd.DataFrame, path: Path) -> None:
    """Write the curves of ``history`` (history.csv's rows) to ``path``."""
    figure, axes = plots.figure(1, 2, figsize=(10, 4))
    best = history["epoch"].iloc[best_position(history)]
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(history["epoch"], history[metric], "o-", label="train")
        axis.plot(history["epoch"], history[f"val_{metric}"], "o-", label="validation")
        axis.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    plots.save(figure, path)

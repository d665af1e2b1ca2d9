"""Figures a person can judge a run by (written as PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from catsdogs import files  # noqa: E402


def training_curves(history: pd.DataFrame, path: Path) -> None:
    """Loss and accuracy per epoch, train against validation."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(history["epoch"], history[metric], "o-", label="train")
        axis.plot(history["epoch"], history[f"val_{metric}"], "o-", label="validation")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    save(figure, path)


def save(figure, path: Path) -> None:
    """Lay out, write as PNG (whole or not at all) and release the figure."""
    figure.tight_layout()
    try:
        files.write_with(path, lambda tmp: figure.savefig(tmp, dpi=100))
    finally:
        plt.close(figure)

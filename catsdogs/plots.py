"""Figures written as PNG files (no display needed): a new figure, and its one way to disk."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from catsdogs import files, outputs  # noqa: E402


def figure(rows: int = 1, columns: int = 1, **options):
    """A new figure and its axes (``plt.subplots``), drawn off screen."""
    return plt.subplots(rows, columns, **options)


def _lay_out(figure) -> None:
    """tight_layout, unless the figure has its own layout engine (``layout="constrained"``:
    a colour bar beside a grid of axes, which tight_layout cannot place)."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()


def save(figure, path: Path, kind: str = "figure") -> None:
    """Lay out, write as PNG (whole or not at all, marked as a figure of ``kind``:
    outputs.drawn_as) and release the figure."""
    _lay_out(figure)
    mark = {"Software": outputs.figure_mark(kind)}
    try:
        files.write_with(path, lambda tmp: figure.savefig(tmp, dpi=100, metadata=mark))
    finally:
        plt.close(figure)


def png_bytes(figure, dpi: int = 80) -> bytes:
    """Lay out, render as PNG in memory (for TensorBoard) and release the figure."""
    _lay_out(figure)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return buffer.getvalue()


IMAGES_SPANNED = 20  # an accuracy axis spans at least this many images' worth


def at_least(axis, span: float) -> None:
    """Widen ``axis``'s y range about its middle to at least ``span`` (a difference smaller
    than the data can show, drawn over the whole height, reads as a trend)."""
    low, high = axis.get_ylim()
    if high - low < span:
        middle = (low + high) / 2
        axis.set_ylim(middle - span / 2, middle + span / 2)

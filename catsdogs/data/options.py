"""What `catsdogs prepare` is asked to do, with every default written once: the command line
shows these defaults and prepare uses them. Light on purpose (no pandas, no TensorFlow): the
command line reads it at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catsdogs import paths
from catsdogs.data.extract import Limits
from catsdogs.data.sources import COMPETITIONS


@dataclass(frozen=True)
class Options:
    """prepare's options (see ``catsdogs prepare --help`` for each one's meaning)."""

    source: str = "auto"  # auto | kaggle | petimages | a path
    competition: str = COMPETITIONS[0]
    out: Path = paths.PREPARED
    raw_dir: Path = paths.RAW
    val_fraction: float = 0.1
    test_fraction: float = 0.1  # only where the source has no test set (PetImages)
    seed: int = 42
    workers: int | None = None  # None: every core
    force: bool = False
    exclude: Path | None = None
    limits: Limits = Limits()

"""From validated images to the manifests' rows: duplicates, exclusions, a stratified split.

Everything here is a pure function of its inputs (sorted paths, a seed), so the same inputs
give byte-identical files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from catsdogs.data.validate import ImageCheck
from catsdogs.errors import UserError

META = ["width", "height", "mode", "format", "sha256", "orientation"]


@dataclass
class Labelled:
    check: ImageCheck
    label: int


@dataclass
class Splits:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    rejected: list[tuple[Path, str, str]] = field(default_factory=list)
    overlaps: list[tuple[str, str]] = field(default_factory=list)  # (train path, test path)


def read_exclusions(path: Path | None) -> set[str]:
    """File names (``dog.5604.jpg``) or paths, one a line; ``#`` starts a comment."""
    if path is None:
        return set()
    if not path.is_file():
        raise UserError(f"exclusion list {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"exclusion list {path} is not UTF-8 text (byte {err.start + 1}): give one file "
            "name or path a line"
        ) from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {line for line in lines if line}


def _row(check: ImageCheck, **extra) -> dict:
    return {"path": str(check.path), **extra, **{key: getattr(check, key) for key in META}}


def deduplicate(train: list[Labelled]) -> tuple[list[Labelled], list[tuple[Path, str, str]]]:
    """Keep each distinct image once (the first by path); reject copies with a reason.

    Copies that disagree on the label are all rejected: there is no way to tell which is right.
    """
    groups: dict[str, list[Labelled]] = defaultdict(list)
    for item in train:
        groups[item.check.sha256].append(item)
    kept, rejected = [], []
    for items in groups.values():
        first = items[0]
        if len({item.label for item in items}) > 1:
            names = ", ".join(item.check.path.name for item in items)
            rejected += [(i.check.path, "conflicting-duplicate", names) for i in items]
            continue
        kept.append(first)
        rejected += [
            (i.check.path, "duplicate", f"same bytes as {first.check.path}") for i in items[1:]
        ]
    kept.sort(key=lambda item: str(item.check.path))
    return kept, rejected


def unique_test_ids(
    test: list[tuple[ImageCheck, int]],
) -> tuple[list[tuple[ImageCheck, int]], list[tuple[Path, str, str]]]:
    """One image per test id. ``5.jpg`` and ``05.jpg``, or ``test1/5.jpg`` and the same file
    extracted from ``test1.zip``, claim one id: the one named exactly ``<id>.<ext>`` (else the
    first by path) is kept, the others are rejected with the reason."""

    def preference(item: tuple[ImageCheck, int]) -> tuple[bool, str]:
        check, test_id = item
        return check.path.stem != str(test_id), str(check.path)

    kept: dict[int, tuple[ImageCheck, int]] = {}
    rejected = []
    for item in sorted(test, key=preference):
        check, test_id = item
        if test_id in kept:
            detail = f"id {test_id} is {kept[test_id][0].path}"
            rejected.append((check.path, "duplicate-test-id", detail))
        else:
            kept[test_id] = item
    return sorted(kept.values(), key=lambda item: item[1]), rejected


def _labelled_frame(items: list[Labelled]) -> pd.DataFrame:
    rows = [_row(i.check, label=i.label) for i in sorted(items, key=lambda i: str(i.check.path))]
    return pd.DataFrame(rows, columns=["path", "label", *META])


def _held_out(count: int, fraction: float, option: str) -> int:
    """How many of ``count`` images a stratified split by ``fraction`` holds out, as
    scikit-learn counts them (the fraction rounded up); fails, naming ``option``, where either
    side would have fewer than 2 images (one of each class)."""
    held = math.ceil(fraction * count)
    if held < 2 or count - held < 2:
        raise UserError(
            f"{option} {fraction} splits {count} images into {count - held} and {held}; each "
            "side needs at least 2 (one of each class): choose a fraction nearer 0.5"
        )
    return held


def check_sizes(
    cats: int, dogs: int, val_fraction: float, test_fraction: float, held_out_test: bool
) -> None:
    """Fail now, in one line, if ``cats`` and ``dogs`` labelled images (at most: validation
    may reject some) cannot be split as asked: a test split by ``test_fraction`` where
    ``held_out_test``, then the validation split of the rest."""
    if min(cats, dogs) < 2:
        raise UserError(
            f"need at least 2 images of each class to make a stratified split; found {cats} "
            f"cats and {dogs} dogs"
        )
    count = cats + dogs
    if held_out_test:
        count -= _held_out(count, test_fraction, "--test-fraction")
    _held_out(count, val_fraction, "--val-fraction")


def _stratified(
    items: list[Labelled], fraction: float, seed: int, option: str
) -> tuple[list, list]:
    labels = [item.label for item in items]
    if min(labels.count(0), labels.count(1)) < 2:
        raise UserError("need at least 2 images of each class to make a stratified split")
    _held_out(len(items), fraction, option)
    try:
        return train_test_split(items, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as err:
        raise UserError(
            f"cannot split {len(items)} images with fraction {fraction}: {err}"
        ) from None


def split(
    train: list[Labelled],
    test: list[tuple[ImageCheck, int]],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> Splits:
    """Stratified train/val split; without a test set (PetImages) a labelled test split too."""
    train, rejected = deduplicate(train)
    if not train:
        raise UserError("no usable labelled training images were found")
    if test:
        test_rows = [_row(check, id=test_id) for check, test_id in sorted(test, key=lambda t: t[1])]
    else:
        train, held_out = _stratified(train, test_fraction, seed, "--test-fraction")
        held_out.sort(key=lambda item: str(item.check.path))
        test_rows = [
            _row(item.check, id=number, label=item.label)
            for number, item in enumerate(held_out, start=1)
        ]
    fit, val = _stratified(train, val_fraction, seed, "--val-fraction")
    test_columns = ["path", "id", *(["label"] if not test else []), *META]
    test_frame = pd.DataFrame(test_rows, columns=test_columns)
    by_sha = {row["sha256"]: row["path"] for row in test_rows}
    overlaps = sorted(
        (str(item.check.path), by_sha[item.check.sha256])
        for item in train
        if item.check.sha256 in by_sha
    )
    return Splits(_labelled_frame(fit), _labelled_frame(val), test_frame, rejected, overlaps)

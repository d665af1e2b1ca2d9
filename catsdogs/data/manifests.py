"""Manifests, the CSV files between prepare and everything after it: their one writer and reader.

prepare writes a set of manifests into a folder and ``prepare.json`` last, which records the
sha256 of each manifest; while it writes, ``prepare.json`` says the set is incomplete. A
reader refuses a manifest that does not match the ``prepare.json`` beside it (an interrupted
prepare, a hand edit), so train and validation can never come from two different splits. A
manifest with no ``prepare.json`` beside it (made by hand, e.g. for ``evaluate``) is accepted
with one line saying so.

Every reader checks every row before any slow work: the columns, at least one row, labels
exactly 0 or 1, test ids made of ASCII digits and unique, each image present, and unchanged
since prepare hashed it (its ``sha256`` column) or, without one, recognisable as an image.
A problem is one error naming the line and the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image

from catsdogs import files, progress
from catsdogs.data.validate import read_orientation, validate
from catsdogs.errors import UserError
from catsdogs.printing import and_more

RECORD = "prepare.json"
TRAIN, VAL, TEST, REJECTED = "train.csv", "val.csv", "test.csv", "rejected.csv"
SET = (TRAIN, VAL, TEST, REJECTED, RECORD)  # what prepare writes into its --out
REQUIRED = {"labelled": ("path", "label"), "test": ("path", "id")}
ORIENTATION = "orientation"  # the column of each image's EXIF orientation (see Manifest)
READ_BYTES = 1 << 20
RERUN = "run `catsdogs prepare --force` again"


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: absolute image paths, and labels (0 cat, 1 dog) or test ids."""

    path: Path
    paths: list[str]
    labels: list[int] | None
    ids: list[int] | None
    sha256: str  # of the manifest file itself
    recorded_sizes: list[tuple[int, int]] | None = None  # width, height, as stored
    # Each image's EXIF orientation (1-8, 1: show as stored): the pipeline turns it upright.
    orientations: list[int] | None = None  # None: all as stored
    hashes: list[str] | None = None  # each image's SHA-256 as prepare recorded it, else None

    def image_hashes(self) -> list[str]:
        """The SHA-256 of each image, in order: as recorded, else hashed from the files."""
        return self.hashes or [file_sha256(Path(image)) for image in self.paths]

    def orientation_list(self) -> list[int]:
        """Each image's EXIF orientation (1 where none is known)."""
        return self.orientations if self.orientations is not None else [1] * len(self)

    def __len__(self) -> int:
        return len(self.paths)

    def sample(self, count: int, seed: int) -> Manifest:
        """``count`` of its images drawn at random (all of them, reordered, if fewer)."""
        order = np.random.default_rng(seed).permutation(len(self))[:count].tolist()
        return dataclasses.replace(
            self,
            paths=[self.paths[i] for i in order],
            labels=None if self.labels is None else [self.labels[i] for i in order],
            ids=None if self.ids is None else [self.ids[i] for i in order],
            recorded_sizes=None
            if self.recorded_sizes is None
            else [self.recorded_sizes[i] for i in order],
            orientations=None
            if self.orientations is None
            else [self.orientations[i] for i in order],
            hashes=None if self.hashes is None else [self.hashes[i] for i in order],
        )

    def sizes(self) -> list[tuple[int, int]]:
        """Each image's width and height: as prepare recorded them, else from the files'
        headers (Pillow reads no pixels for it)."""
        if self.recorded_sizes is not None:
            return self.recorded_sizes
        sizes = []
        for path in self.paths:
            with Image.open(path) as image:
                sizes.append(image.size)
        return sizes


@dataclass(frozen=True)
class TrainingData:
    """train.csv and val.csv of one folder, and the identity a run records for them."""

    folder: Path
    train: Manifest
    val: Manifest

    @property
    def identity(self) -> str:
        return _identity(self.train.sha256, self.val.sha256)

    def images(self) -> Iterator[tuple[str, str]]:
        """Every image of train.csv and val.csv, with what it is, for
        ``outputs.check_not_input``."""
        for manifest in (self.train, self.val):
            for image in manifest.paths:
                yield image, f"an image of {manifest.path.name}"


def _identity(train_sha256: str, val_sha256: str) -> str:
    """A short hash of the two manifests' hashes: the same data, the same identity (and not
    prepare.json's, which also holds timings)."""
    text = f"{TRAIN} {train_sha256}\n{VAL} {val_sha256}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(folder: Path) -> str | None:
    """The identity of the training data in ``folder`` now (None without both manifests)."""
    train, val = folder / TRAIN, folder / VAL
    if not (train.is_file() and val.is_file()):
        return None
    return _identity(file_sha256(train), file_sha256(val))


def set_files(folder: Path) -> list[tuple[Path, str]]:
    """The files of the prepared set in ``folder`` (those prepare writes), each with what it
    is: what no command may write over (``outputs.check_not_input``)."""
    return [(folder / name, f"the manifest {name} of {folder}") for name in SET]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def image_hashes(path: Path) -> list[str]:
    """The SHA-256 of each image a manifest lists, in its order: its ``sha256`` column where
    every row has one (prepare writes it), else hashed from the files themselves."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return _hashes(frame) or [file_sha256(Path(image)) for image in _absolute(path, frame)]


def _hashes(frame: pd.DataFrame) -> list[str] | None:
    """The ``sha256`` column, where every row has one (prepare writes it), else None."""
    column = frame["sha256"].astype(str).str.strip() if "sha256" in frame else None
    if column is None or not (column.str.len() == 64).all():
        return None
    return column.str.lower().tolist()


# --- writing (prepare) --------------------------------------------------------------------


def write_set(folder: Path, frames: dict[str, pd.DataFrame], summary: dict) -> dict:
    """Write each manifest, then ``prepare.json`` with their hashes; returns that record.

    ``prepare.json`` first says the set is incomplete, so a set interrupted at any point is
    refused by every reader until prepare finishes it.
    """
    files.write_text(folder / RECORD, json.dumps({"complete": False}, indent=2) + "\n")
    hashes = {}
    for name, frame in frames.items():
        text = frame.to_csv(index=False, lineterminator="\n")
        files.write_text(folder / name, text)
        hashes[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    record = {"complete": True, **summary, "manifests": hashes}
    files.write_text(folder / RECORD, json.dumps(record, indent=2) + "\n")
    return record


def read_record(folder: Path) -> dict | None:
    """``prepare.json`` of ``folder``, None if there is none; damaged is an error."""
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is damaged (not JSON): {RERUN}") from None
    hashes = record.get("manifests", {}) if isinstance(record, dict) else None
    if (
        not isinstance(record.get("complete") if isinstance(record, dict) else None, bool)
        or not isinstance(hashes, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in hashes.items())
    ):
        raise UserError(f"{path} is damaged (not what prepare writes): {RERUN}")
    return record


def set_problem(folder: Path) -> str | None:
    """Why the set in ``folder`` is not prepare's complete output (None if it is)."""
    record = read_record(folder)
    if record is None:
        return f"{folder / RECORD} does not exist"
    if not record["complete"] or "manifests" not in record:
        return f"{folder / RECORD} says prepare did not finish"
    for name, recorded in record["manifests"].items():
        path = folder / name
        if not path.is_file() or file_sha256(path) != recorded:
            return f"{path} does not match {RECORD} (prepare was interrupted, or it was edited)"
    return None


# --- reading (train, evaluate, report, predict) -------------------------------------------


def _verify_against_record(path: Path, digest: str, echo: Callable[[str], None]) -> None:
    record = read_record(path.parent)
    if record is None:
        echo(f"note: {path.parent} has no {RECORD}: its manifests are checked, not verified")
        return
    if not record["complete"]:
        raise UserError(f"prepare did not finish writing {path.parent}: {RERUN}")
    recorded = record.get("manifests", {})
    if path.name not in recorded:
        echo(f"note: {path.parent / RECORD} does not list {path.name}: using it unverified")
    elif recorded[path.name] != digest:
        raise UserError(
            f"{path} does not match {path.parent / RECORD} (prepare was interrupted, or the "
            f"file was edited after it): {RERUN}"
        )


def _parse(path: Path, kind: str) -> pd.DataFrame:
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a manifest CSV")
    if not path.is_file():
        raise UserError(f"manifest {path} does not exist: run `catsdogs prepare` first")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        reason = "empty" if isinstance(err, pd.errors.EmptyDataError) else "not CSV text"
        raise UserError(f"{path} is not a manifest CSV ({reason})") from None
    missing = [column for column in REQUIRED[kind] if column not in frame.columns]
    if kind == "labelled" and missing == ["label"] and "id" in frame.columns:
        raise UserError(
            f"{path} holds unlabelled images (path,id: a set to predict, not to score): "
            "give a manifest with labels (val.csv, or the test.csv prepare splits from "
            "labelled images)"
        )
    if missing:
        raise UserError(
            f"{path} has no {', '.join(repr(m) for m in missing)} column "
            f"(a manifest starts with {','.join(REQUIRED[kind])}; prepare writes them)"
        )
    if frame.empty:
        raise UserError(f"{path} has a header but no rows: {RERUN}, or fill it")
    return frame


def _line(index: int) -> int:
    return index + 2  # the header is line 1


def _first_bad(path: Path, mask: pd.Series, describe: Callable[[int], str]) -> None:
    bad = mask[mask].index
    if len(bad):
        more = and_more([f"line {_line(index)}" for index in bad[1:]])
        raise UserError(f"{path} line {_line(bad[0])}: {describe(bad[0])}{more}")


def _labels(path: Path, frame: pd.DataFrame) -> list[int]:
    text = frame["label"].str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    _first_bad(
        path,
        ~numbers.isin([0, 1]),
        lambda i: f"label {frame['label'][i]!r} is not 0 (cat) or 1 (dog)",
    )
    return numbers.astype(int).tolist()


def _ids(path: Path, frame: pd.DataFrame) -> list[int]:
    text = frame["id"].str.strip()
    ascii_digits = text.str.fullmatch(r"[0-9]{1,18}")  # a 64-bit integer, as Kaggle's are
    _first_bad(
        path, ~ascii_digits, lambda i: f"id {frame['id'][i]!r} is not a test id (digits 0-9)"
    )
    ids = text.astype(int)
    first = {}
    for index, value in ids.items():
        if value in first:
            raise UserError(
                f"{path} line {_line(index)}: id {value} appears twice (also line "
                f"{_line(first[value])})"
            )
        first[value] = index
    return ids.tolist()


def _absolute(path: Path, frame: pd.DataFrame) -> list[str]:
    _first_bad(path, frame["path"].str.strip() == "", lambda i: "the path is empty")
    base = path.parent.absolute()
    return [str(p if os.path.isabs(p) else base / p) for p in frame["path"]]


def _changed(image: str, sha256: str) -> bool | None:
    """Whether ``image`` is no longer the file prepare hashed (None: it is gone)."""
    try:
        return file_sha256(Path(image)) != sha256
    except FileNotFoundError:
        return None


def _check_images(path: Path, images: list[str], frame: pd.DataFrame) -> dict[int, int]:
    """Every image present; unchanged since prepare hashed it or, for rows without a hash
    (a hand-made manifest), decodable by Pillow and TensorFlow as prepare checks them.
    Returns the EXIF orientation of each row so checked (by its index)."""
    missing = pd.Series([not os.path.isfile(p) for p in images], index=frame.index)
    _first_bad(
        path,
        missing,
        lambda i: f"image {images[i]} does not exist (the data moved?): {RERUN}",
    )
    hashes = frame["sha256"].str.strip() if "sha256" in frame else pd.Series("", frame.index)
    hashed = hashes[hashes != ""].index
    with (
        ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool,
        progress.bar(
            total=len(hashed), desc="checking images", unit="img", delay=1.0, leave=False
        ) as bar,
    ):
        changed = pd.Series(False, frame.index)
        checks = pool.map(_changed, [images[i] for i in hashed], hashes[hashed], chunksize=64)
        for index, result in zip(hashed, checks):
            changed[index] = result is not False
            bar.update(1)
    _first_bad(
        path,
        changed,
        lambda i: (
            f"image {images[i]} changed since prepare checked it (its sha256 differs): " + RERUN
        ),
    )
    unhashed = hashes[hashes == ""].index
    if not len(unhashed):
        return {}
    verdicts = validate([Path(images[i]) for i in unhashed], os.cpu_count() or 1)
    bad = pd.Series(False, frame.index)
    reasons = {}
    for index, verdict in zip(unhashed, verdicts):
        bad[index] = not verdict.ok
        reasons[index] = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
    _first_bad(path, bad, lambda i: f"image {images[i]} cannot be used ({reasons[i]})")
    return {index: verdict.orientation for index, verdict in zip(unhashed, verdicts)}


def _orientations(
    path: Path, images: list[str], frame: pd.DataFrame, checked: dict[int, int]
) -> list[int]:
    """Each image's EXIF orientation: the ``orientation`` column prepare writes (1-8), else
    as the images' checks found it, else read from the files' headers (a set prepared before
    prepare recorded it)."""
    if ORIENTATION in frame:
        text = frame[ORIENTATION].str.strip()
        _first_bad(
            path,
            ~text.isin([str(n) for n in range(1, 9)]),
            lambda i: f"orientation {frame[ORIENTATION][i]!r} is not an EXIF orientation (1-8)",
        )
        return text.astype(int).tolist()
    unread = [i for i in range(len(images)) if i not in checked]
    with progress.bar(
        total=len(unread), desc="reading orientations", unit="img", delay=1.0, leave=False
    ) as bar:
        for index in unread:
            checked[index] = read_orientation(images[index])
            bar.update(1)
    return [checked[i] for i in range(len(images))]


def labelled_test(folder: Path) -> Path | None:
    """``folder``'s test manifest where it holds labels (prepare split it from labelled
    images), so models can be scored on it; None where there is none or it is unlabelled."""
    path = folder / TEST
    try:
        columns = pd.read_csv(path, nrows=0).columns
    except (OSError, ValueError):
        return None
    return path if "label" in columns else None


def counts(folder: Path) -> dict[str, int]:
    """The rows (images) of each manifest in ``folder`` (train, val, test; those there), read
    without checking the images: the sizes a report states."""
    found = {}
    for name in (TRAIN, VAL, TEST):
        try:
            found[name] = len(pd.read_csv(folder / name, usecols=["path"]))
        except (OSError, ValueError):
            continue  # absent, or not a manifest: nothing to count
    return found


def read(
    path: Path,
    kind: Literal["labelled", "test"],
    echo: Callable[[str], None] = print,
) -> Manifest:
    """Read and check a manifest; ``labelled`` needs path,label and ``test`` path,id."""
    frame = _parse(path, kind)
    digest = file_sha256(path)
    _verify_against_record(path, digest, echo)
    frame = frame.reset_index(drop=True)
    images = _absolute(path, frame)
    labels = _labels(path, frame) if "label" in frame else None
    ids = _ids(path, frame) if kind == "test" else None
    checked = _check_images(path, images, frame)
    orientations = _orientations(path, images, frame, checked)
    sizes, hashes = _recorded_sizes(frame), _hashes(frame)
    return Manifest(path, images, labels, ids, digest, sizes, orientations, hashes)


def _recorded_sizes(frame: pd.DataFrame) -> list[tuple[int, int]] | None:
    """The width and height columns prepare writes, where every row has them."""
    if not {"width", "height"} <= set(frame.columns):
        return None
    width = pd.to_numeric(frame["width"], errors="coerce")
    height = pd.to_numeric(frame["height"], errors="coerce")
    if width.isna().any() or height.isna().any() or (width < 1).any() or (height < 1).any():
        return None
    return list(zip(width.astype(int).tolist(), height.astype(int).tolist()))


def read_training_data(folder: Path, echo: Callable[[str], None] = print) -> TrainingData:
    """train.csv and val.csv of ``folder``, both checked (see the module's doc)."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--data {folder} is a file; give the folder prepare wrote")
    folder = folder.absolute()
    said: set[str] = set()

    def once(line: str) -> None:  # the same note for both manifests is said once
        if line not in said:
            said.add(line)
            echo(line)

    train = read(folder / TRAIN, "labelled", once)
    val = read(folder / VAL, "labelled", once)
    if len(set(train.labels or [])) < 2:  # what lr-find and train would learn: one answer
        only = "cats" if set(train.labels or [0]) == {0} else "dogs"
        raise UserError(
            f"{train.path} holds only {only}: a classifier needs images of both classes to "
            "learn from"
        )
    if len(set(val.labels or [])) == 1:  # validation then rewards answering that class
        only = "cats" if val.labels[0] == 0 else "dogs"
        echo(
            f"warning: {val.path} holds only {only}: its scores cannot tell a classifier from "
            f"one that answers {only} to everything; give it images of both classes"
        )
    return TrainingData(folder, train, val)

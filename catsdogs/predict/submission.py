"""The Kaggle submission file: ``id,label``, one row per test image, ids ascending."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from catsdogs import files, outputs
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import TTA, guard, inputs, predictor
from catsdogs.printing import printable
from catsdogs.training.rundir import run_of

FORMATS = ("auto", "proba", "class")


def sample_submission(test: Path) -> Path | None:
    """The competition's sample submission that prepare found, as ``prepare.json`` beside
    the test manifest ``test`` records it (None for other test sets)."""
    record = manifests.read_record(test.parent) if inputs.is_manifest(test) else None
    sample = (record or {}).get("sample_submission")
    return Path(sample) if sample else None


def choose_format(fmt: str, test: Path) -> tuple[str, str]:
    """``auto``: the format of the competition's sample submission, which prepare records in
    ``prepare.json`` beside the test manifest. dogs-vs-cats scores 0/1 labels by accuracy (its
    sample reads ``1,0``), the Redux board probabilities by log loss (``1,0.5``)."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be auto, proba or class; got {fmt!r}")
    if fmt != "auto":
        return fmt, "asked for with --format"
    sample = sample_submission(test)
    first = pd.read_csv(sample, nrows=1) if sample and sample.is_file() else pd.DataFrame()
    if "label" not in first or first.empty:
        return "proba", "no competition sample submission known; --format class for 0/1 labels"
    if float(first["label"].iloc[0]).is_integer():
        return "class", f"{sample} has 0/1 labels: the accuracy board"
    return "proba", f"{sample} has probabilities: the log-loss board"


def table(ids: list[int], probabilities: np.ndarray, fmt: str, clip: float) -> pd.DataFrame:
    """The submission's rows, ids ascending (written by ``write``). ``proba``: P(dog) clipped
    to [clip, 1 - clip] (log-loss board); ``class``: 0 cat, 1 dog."""
    if fmt not in FORMATS[1:]:
        raise UserError(f"--format must be proba or class; got {fmt!r}")
    if not 0 <= clip < 0.5:
        raise UserError(f"--clip must be in [0, 0.5); got {clip}")
    frame = pd.DataFrame({"id": np.asarray(ids, dtype=np.int64), "label": probabilities})
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise UserError(f"test id {int(duplicated.iloc[0])} appears more than once")
    frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
    if fmt == "class":
        frame["label"] = (frame["label"] >= 0.5).astype(int)
    else:
        frame["label"] = frame["label"].clip(clip, 1 - clip)
    return frame


def write(frame: pd.DataFrame, path: Path) -> None:
    """Atomically: a half-written submission never exists."""
    if frame["label"].dtype.kind == "f":
        text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6f")
    else:
        text = frame.to_csv(index=False, lineterminator="\n")
    files.write_text(path, text)


def predict_and_write(
    model: Path | None,
    test: Path,
    out: Path,
    fmt: str,
    clip: float,
    tta: bool = TTA,
    echo: Callable[[str], None] = print,
    force: bool = False,
) -> pd.DataFrame:
    """`catsdogs predict`: every test image checked, predicted, and written as a submission:
    into the model's run (its own) and at ``out`` where ``guard`` allows (``force``: always)."""
    fmt, why = choose_format(fmt, test)
    table([], np.zeros(0), fmt, clip)  # argument errors before any slow work
    outputs.check_file(out, "--out", ".csv")  # what Kaggle takes; its record is the .json
    model_path = predictor.find(model)
    author, weakness = guard.author(model_path)
    own = Path(author.run) / guard.OWN if author.run else None
    named = [(model_path, "the model"), (test, "the test set")]
    if inputs.is_manifest(test):
        named += manifests.set_files(test.parent)
    # The sample submissions prepare recorded, of this test set and of the model's data: a
    # submission written over one would change the format later predictions choose.
    run = run_of(model_path)
    data = run.data_record()[0] if run else None
    for manifest in dict.fromkeys([test, *([data / manifests.TEST] if data else [])]):
        if sample := sample_submission(manifest):
            named.append((sample, "the competition's sample submission"))
    outputs.check_not_input([(out, "--out")], named)
    guard.check_run_files(out, own)
    guard.check_record(out)
    echo(f"format: {fmt} ({why})")
    with tempfile.TemporaryDirectory(prefix="catsdogs-predict-") as scratch:
        images = inputs.test_images(test, Path(scratch), echo)
        outputs.check_not_input(
            [(out, "--out")], ((path, "a test image") for path in images["path"])
        )
        loaded = predictor.load(model_path)  # a bad model fails before the images
        echo(f"model: {loaded}, {len(images)} test images from {test}")
        echo(predictor.tta_line(tta))
        orientations = images["orientation"].tolist() if "orientation" in images else None
        probabilities = predictor.p_dog(
            loaded, images["path"].tolist(), tta, orientations=orientations
        )
    frame = table(images["id"].tolist(), probabilities, fmt, clip)
    rows = f"{len(frame)} rows, ids {frame['id'].min()}..{frame['id'].max()}"
    if own is not None and own.resolve() != out.resolve():
        write(frame, own)
        echo(f"wrote {printable(own)}: the run's own submission, {rows}")
    elif own is not None:  # --out is the run's own file: always its model's to write
        force = True
    if why := guard.kept_because(author, weakness, out, force, fmt):
        where = (
            f"this model's submission is {printable(own)} (--force writes {printable(out)} too)"
            if own
            else (f"--force writes {printable(out)}")
        )
        echo(f"warning: {why}; {where}")
        return frame
    replaced = guard.recorded(out) if out.exists() else None
    write(frame, out)
    guard.write_record(out, author)
    if replaced is not None and replaced != author:
        other = " (validated on other data: not compared)" if replaced.data != author.data else ""
        echo(f"replaced the submission of {replaced.text()}{other}")
    if author.val_loss is None and not weakness:
        echo(
            f"warning: {printable(model_path)} was not judged on validation (a run judges its "
            "best.keras), so nothing says this submission is better than a guess"
        )
    shown = printable(out)
    if weakness and (own is None or out.resolve() != own.resolve()):
        echo(f"warning: {shown} holds a weak model's submission ({weakness}), as --force asked")
    echo(f"wrote {shown}: {rows} (its model recorded in {printable(guard.record_path(out))})")
    return frame

"""Never a worse submission in silence. A run keeps its own submission (``<run>/submission.csv``)
and the file asked for (``--out``, submission.csv) is replaced only by a model at least as good
on validation as the one that wrote it, recorded beside it (``submission.json``); a model of a
run that ended weak (at chance, one class, under one pass: ``decisions.weakness``) is not
written there at all. ``--force`` writes it whatever the record says; each refusal says which
model is better and where this one's submission is."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from catsdogs import files, printing
from catsdogs.errors import UserError
from catsdogs.training import decisions
from catsdogs.training.rundir import BEST, run_around, run_of

OWN = "submission.csv"  # a run's own submission, in its directory


def record_path(out: Path) -> Path:
    """Where the record of who wrote ``out`` goes: beside it (submission.csv -> submission.json)."""
    return out.with_suffix(".json")


@dataclass(frozen=True)
class Author:
    """The model that wrote a submission and how good it was on validation (None: no run)."""

    model: str
    run: str | None = None
    data: str | None = None  # the identity of the data it trained and was validated on
    val_loss: float | None = None
    val_accuracy: float | None = None

    def text(self) -> str:
        scores = (
            f" (val_loss {self.val_loss:.4f}, val_acc {self.val_accuracy:.4f})"
            if self.val_loss is not None
            else " (no validation score recorded)"
        )
        return printing.printable(Path(self.run or self.model)) + scores


def author(model: Path) -> tuple[Author, str | None]:
    """``model`` as the author of a submission, and why its run ended weak (None: it did not,
    or it has no run)."""
    run = run_of(model)
    if run is None:
        return Author(str(model.absolute())), None
    weakness = decisions.weakness(run)  # the run's, whichever of its models: last.keras too
    summary = run.summary()
    if summary is None or model.name != BEST:  # last.keras: not the judged one
        return Author(str(model.absolute())), weakness
    return (
        Author(
            str(model.absolute()),  # the record is read from other folders too
            str(run.path.absolute()),
            run.data_record()[1],
            summary.best_val_loss,
            summary.best_val_accuracy,
        ),
        weakness,
    )


def _read(out: Path) -> tuple[Author, str | None] | None:
    """The record beside ``out`` and the file it names (None: no record we can read)."""
    try:
        fields = json.loads(record_path(out).read_text())
        named = fields.pop("submission", None) if isinstance(fields, dict) else None
        found = Author(**fields)
    except (OSError, ValueError, TypeError):
        return None
    return found, named


def recorded(out: Path) -> Author | None:
    """Who wrote ``out``, as recorded beside it (None: no record, or not one we wrote: a
    damaged or hand-edited one is no record, nor one that names another file)."""
    read = _read(out)
    if read is None or read[1] not in (None, out.name):
        return None
    found = read[0]
    scores = (found.val_loss, found.val_accuracy)
    numbers = all(
        v is None or (isinstance(v, (int, float)) and math.isfinite(v)) for v in scores
    )  # NaN compares as better than anything
    if not numbers or not isinstance(found.model, str):
        return None
    return found


def check_record(out: Path) -> None:
    """Refuse an ``out`` beside which a file of the record's name exists that is not a
    record we wrote (another tool's file, a run's metrics.json, prepare.json): writing the
    record would overwrite it."""
    record = record_path(out)  # --out ends in .csv (submission.predict_and_write), so not this
    if (read := _read(out)) and read[1] not in (None, out.name):
        raise UserError(
            f"--out {printing.printable(out)}: {printing.printable(record)} beside it records "
            f"the model of {printing.printable(out.with_name(read[1]))}: choose another --out "
            "name"
        )
    if record.exists() and recorded(out) is None:
        raise UserError(
            f"--out {printing.printable(out)} would write its record over "
            f"{printing.printable(record)}, which is not a record catsdogs can read (another "
            "file, or one damaged or edited): choose another --out"
        )


def _loss(author: Author, fmt: str) -> float | None:
    """What the board of ``fmt`` scores, as a loss (lower is better): 0/1 labels are scored
    by accuracy, probabilities by log loss."""
    if fmt == "class":
        return None if author.val_accuracy is None else -author.val_accuracy
    return author.val_loss


def kept_because(
    new: Author, weakness: str | None, out: Path, force: bool, fmt: str = "proba"
) -> str | None:
    """Why ``out`` is not to be written by ``new`` (None: write it): a model is judged on
    validation by what the board of the submission's format ``fmt`` scores."""
    if force:
        return None
    if weakness:
        return f"a weak model ({weakness}), so {printing.printable(out)} is not written"
    if not out.exists():
        return None  # a first submission
    old = recorded(out)
    if old is None:
        return (
            f"kept {printing.printable(out)}: nothing records which model wrote it (no "
            f"{record_path(out).name} of catsdogs beside it), so nothing says this one is better"
        )
    old_loss, new_loss = _loss(old, fmt), _loss(new, fmt)
    if old_loss is None:
        return None  # nothing to compare with
    if new_loss is None:  # a .keras file outside a run: nothing says it is as good
        return (
            f"kept {printing.printable(out)}: its model {old.text()} was judged on validation, "
            f"this one {new.text()} was not"
        )
    if old.data != new.data or new_loss <= old_loss:  # other data: not comparable
        return None
    by = "accuracy (0/1 labels)" if fmt == "class" else "log loss (probabilities)"
    return (
        f"kept {printing.printable(out)}: its model {old.text()} is better on validation "
        f"{by} than this one {new.text()}"
    )


def write_record(out: Path, new: Author) -> None:
    record = {**asdict(new), "submission": out.name}
    files.write_text(record_path(out), json.dumps(record, indent=2) + "\n")


def check_run_files(out: Path, own: Path | None) -> None:
    """Refuse an ``out`` inside a run directory other than the model's own submission: it
    would overwrite the run's files (history.csv, config.yaml) or another run's submission,
    which nothing compares with."""
    if own is not None and out.resolve() == own.resolve():
        return
    inside = run_around(out)
    if inside is not None:
        raise UserError(
            f"--out {printing.printable(out)} is inside the run directory "
            f"{printing.printable(inside)} (its files and its own submission are its "
            "model's): choose --out outside a run directory"
        )

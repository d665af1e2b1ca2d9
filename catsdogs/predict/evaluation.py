"""Scores of a model on labelled images: the numbers, the table a person reads, and the eval
file (one schema, whether `catsdogs evaluate` or `catsdogs report` writes it; one file per
manifest and TTA setting, see ``rundir.eval_path``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from catsdogs import files, outputs
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import TTA, predictor
from catsdogs.training.rundir import BEST, LAST, eval_path, run_of

EPSILON = float(np.finfo(np.float64).eps)  # scikit-learn's clip for log_loss


def losses(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each image's log loss (the binary cross-entropy the model trained on): the one
    definition behind every log loss the project reports, their mean being scikit-learn's
    ``log_loss`` to the last bit (P(dog) in float64, the true class's probability clipped to
    float64's epsilon from 0 and 1)."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    truth = np.where(np.asarray(labels).ravel() == 1, p, 1 - p)
    return -np.log(np.clip(truth, EPSILON, 1 - EPSILON))


def scores(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, log loss, ROC AUC, confusion matrix and per-class precision/recall (1 = dog)."""
    labels = np.asarray(labels).astype(int).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    predicted = (probabilities >= 0.5).astype(int)
    precision, recall, _, support = skm.precision_recall_fscore_support(
        labels, predicted, labels=[0, 1], zero_division=0
    )
    both = len(set(labels.tolist())) == 2
    return {
        "count": int(len(labels)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "log_loss": float(np.mean(losses(labels, probabilities))),
        "roc_auc": float(skm.roc_auc_score(labels, probabilities)) if both else None,
        "confusion_matrix": skm.confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "support": int(s)}
            for name, p, r, s in zip(("cat", "dog"), precision, recall, support)
        },
    }


def wilson(successes: int, count: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``successes / count`` (Wilson 1927): unlike
    the normal approximation it stays inside [0, 1] and is not zero-width at 0 or ``count``,
    which matters for the few hundred images of a validation set."""
    if count < 1:
        raise ValueError("an interval needs at least one trial")
    interval = stats.binomtest(successes, count).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def one_class(result: dict) -> str | None:
    """A warning where the model called every image one class (its accuracy is then only the
    share of that class), else None."""
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    for name, held in (("cat", tn + fp), ("dog", fn + tp)):
        if held == result["count"] > 0:  # the data's one class: a model is not judged
            return (
                f"warning: the data holds only {name}s ({held} images): its accuracy is the "
                f"share of them called {name}, and it cannot tell whether the model tells "
                "cats from dogs; score it on images of both classes"
            )
    for name, called in (("cat", tn + fn), ("dog", fp + tp)):
        if called == result["count"] > 0:
            return (
                f"warning: the model calls every image a {name} ({called} of {called}): its "
                f"accuracy is only the share of {name}s here; it has learned nothing to tell "
                "them apart"
            )
    return None


def table(result: dict) -> str:
    auc = "n/a (one class)" if result["roc_auc"] is None else f"{result['roc_auc']:.4f}"
    (tn, fp), (fn, tp) = result["confusion_matrix"]
    lines = [
        f"images    {result['count']}",
        f"accuracy  {result['accuracy']:.4f}",
        f"log loss  {result['log_loss']:.4f}",
        f"ROC AUC   {auc}",
        "",
        "confusion   pred cat  pred dog",
        f"true cat  {tn:>10}{fp:>10}",
        f"true dog  {fn:>10}{tp:>10}",
        "",
        "class   precision  recall  support",
    ]
    for name, row in result["per_class"].items():
        lines.append(f"{name:<8}{row['precision']:>9.4f}{row['recall']:>8.4f}{row['support']:>9}")
    return "\n".join(lines)


def trained_epoch(model: Path) -> int | None:
    """The epoch whose weights a run's model file holds: best.keras the best epoch, last.keras
    the last one (None for a model outside a run, or another file)."""
    run = run_of(model)
    summary = run.summary() if run else None
    if summary is None:
        return None
    return {BEST: summary.best_epoch, LAST: summary.epochs}.get(model.name)


def record(model: Path, data: Path, tta: bool, labels, probabilities) -> dict:
    """An eval file's content: what was scored, on what, how, and the scores."""
    return {
        "model": str(model),
        "epoch": trained_epoch(model),
        "data": str(data),
        "tta": tta,
        **scores(np.asarray(labels), probabilities),
    }


def save(result: dict, model_path: Path, echo: Callable[[str], None] = print) -> Path:
    """The eval file beside the model, for the manifest and TTA setting of ``result``; says
    when it replaces an earlier one of the same (a model trained further since, say), and
    that the scores shown were not saved where writing fails."""
    path = eval_path(model_path, Path(result["data"]), result["tta"])
    earlier = path.is_file()
    try:
        files.write_text(path, json.dumps(result, indent=2) + "\n")
    except UserError as err:
        raise UserError(f"{err} (the scores above are complete; they were not saved)") from None
    echo(
        f"wrote {path}"
        + (" (replacing the earlier scores of this model on this data)" if earlier else "")
    )
    return path


def trained_on(model: Path, manifest: manifests.Manifest) -> str | None:
    """A warning when images of ``manifest`` are in the training set of the run that made
    ``model`` (the same bytes, by SHA-256: another prepare of the same folder splits them
    otherwise); None when there are none, or the training set is unknown (a model outside a
    run, or its data gone)."""
    run = run_of(model)
    if run is None:
        return None
    trained = Path(str(run.config().get("data", {}).get("dir", ""))) / manifests.TRAIN
    if not trained.is_file() or trained.resolve() == manifest.path.resolve():
        seen = len(manifest) if trained.is_file() else 0
    else:
        try:
            known = set(manifests.image_hashes(trained))
            seen = sum(digest in known for digest in manifest.image_hashes())
        except (OSError, ValueError, UserError):  # the training set is no longer readable
            return None
    if not seen:
        return None
    return (
        f"warning: {seen} of {len(manifest)} images in {manifest.path} were in this model's "
        f"training set ({trained}): these scores overstate how it does on new images"
    )


def inputs(model: Path, manifest: manifests.Manifest) -> Iterator[tuple[Path | str, str]]:
    """What scoring ``model`` on ``manifest`` reads, for ``outputs.check_not_input``: the
    model, the manifest and the set it belongs to, and its images."""
    yield model, "the model"
    yield manifest.path, "the manifest scored"
    yield from manifests.set_files(manifest.path.parent)
    for image in manifest.paths:
        yield image, f"an image of {manifest.path.name}"


@dataclass
class Scored:
    """A model scored on a labelled manifest: the loaded model, each image's ``frame`` row
    (path, orientation, label, probability: P(dog), loss) and the eval file's content."""

    model: predictor.Loaded
    frame: pd.DataFrame
    result: dict


def score(
    model_path: Path,
    manifest: manifests.Manifest,
    tta: bool,
    echo: Callable[[str], None],
    also_written: Sequence[tuple[Path, str]] = (),
) -> Scored:
    """Score ``model_path`` on ``manifest`` (`evaluate` and `report` alike): nothing it
    writes, the eval file and ``also_written``, may be one of its inputs; a bad model fails
    before the images are read; a warning where the images were in the model's training set."""
    written = [(eval_path(model_path, manifest.path, tta), "the eval file"), *also_written]
    outputs.check_not_input(written, inputs(model_path, manifest))
    loaded = predictor.load(model_path)
    echo(predictor.tta_line(tta))
    frame = pd.DataFrame(
        {
            "path": manifest.paths,
            "orientation": manifest.orientation_list(),
            "label": manifest.labels,
        }
    )
    frame["probability"] = predictor.p_dog(
        loaded, manifest.paths, tta, orientations=manifest.orientation_list()
    )
    frame["loss"] = losses(frame["label"], frame["probability"])
    result = record(model_path, manifest.path, tta, frame["label"], frame["probability"])
    return Scored(loaded, frame, result)


def evaluate(model: Path, data: Path, tta: bool = TTA, echo: Callable[[str], None] = print) -> Path:
    """`catsdogs evaluate`: score ``model`` on a labelled manifest, print the table, write
    the eval file beside the model; returns its path."""
    model_path = predictor.find(model)
    manifest = manifests.read(data, "labelled", echo)
    scored = score(model_path, manifest, tta, echo)
    echo(table(scored.result))
    for warning in (trained_on(model_path, manifest), one_class(scored.result)):
        if warning:
            echo(warning)
    return save(scored.result, model_path, echo)

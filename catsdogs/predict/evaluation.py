"""Scores of a model on labelled images: the numbers, the table a person reads, and the eval
file (one schema, whether `catsdogs evaluate` or `catsdogs report` writes it; one file per
manifest and TTA setting, see ``rundir.eval_path``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import NormalDist

import numpy as np
from sklearn import metrics as skm

from catsdogs import files
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import predictor
from catsdogs.predict.command import TTA
from catsdogs.training.rundir import eval_path, run_of


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
        "log_loss": float(skm.log_loss(labels, probabilities, labels=[0, 1])),
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
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share, z2 = successes / count, z * z
    centre = (share + z2 / (2 * count)) / (1 + z2 / count)
    half = z / (1 + z2 / count) * math.sqrt(share * (1 - share) / count + z2 / (4 * count**2))
    low = 0.0 if successes == 0 else centre - half  # exact ends, not rounding's 1e-17
    high = 1.0 if successes == count else centre + half
    return low, high


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
    return {"best.keras": summary.best_epoch, "last.keras": summary.epochs}.get(model.name)


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
            seen = sum(digest in known for digest in manifests.image_hashes(manifest.path))
        except (OSError, ValueError, UserError):  # the training set is no longer readable
            return None
    if not seen:
        return None
    return (
        f"warning: {seen} of {len(manifest)} images in {manifest.path} were in this model's "
        f"training set ({trained}): these scores overstate how it does on new images"
    )


def inputs(model: Path, manifest: manifests.Manifest) -> Iterator[tuple[Path | str, str]]:
    """What scoring ``model`` on ``manifest`` reads, for ``files.check_not_input``: the
    model, the manifest and the set it belongs to, and its images."""
    yield model, "the model"
    yield manifest.path, "the manifest scored"
    yield from manifests.set_files(manifest.path.parent)
    for image in manifest.paths:
        yield image, f"an image of {manifest.path.name}"


def evaluate(model: Path, data: Path, tta: bool = TTA, echo: Callable[[str], None] = print) -> Path:
    """`catsdogs evaluate`: score ``model`` on a labelled manifest, print the table, write
    the eval file beside the model; returns its path."""
    model_path = predictor.find(model)
    manifest = manifests.read(data, "labelled", echo)
    scores = eval_path(model_path, data, tta)
    files.check_not_input([(scores, "the eval file")], inputs(model_path, manifest))
    loaded = predictor.load(model_path)  # a bad model fails before the images
    echo(predictor.tta_line(tta))
    probabilities = predictor.p_dog(
        loaded, manifest.paths, tta, orientations=manifest.orientation_list()
    )
    result = record(model_path, data, tta, manifest.labels, probabilities)
    echo(table(result))
    if warning := trained_on(model_path, manifest):
        echo(warning)
    return save(result, model_path, echo)

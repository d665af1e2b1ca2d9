"""Scores of a model on a labelled manifest: the numbers and the table a person reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from catsdogs import files, inference, manifests, rundir
from catsdogs.errors import UserError


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


def evaluate(
    model: Path, data: Path, tta: bool = False, echo: Callable[[str], None] = print
) -> tuple[dict, Path]:
    """Score ``model`` on a labelled manifest; returns the scores and the model file."""
    model_path = rundir.find_model(model)
    manifest = manifests.read(data, "labelled", echo)
    loaded, policy = inference.load_model(model_path)  # a bad model fails before the images
    inference.check_readable(manifest.paths)
    probabilities = inference.predict(loaded, manifest.paths, policy, tta)
    result = {
        "model": str(model_path),
        "data": str(data),
        "tta": tta,
        **scores(np.asarray(manifest.labels), probabilities),
    }
    return result, model_path


def save(result: dict, model_path: Path) -> Path:
    """eval.json beside the model; a failure says the scores shown were not saved."""
    path = model_path.parent / "eval.json"
    try:
        files.write_text(path, json.dumps(result, indent=2) + "\n")
    except UserError as err:
        raise UserError(f"{err} (the scores above are complete; they were not saved)") from None
    return path

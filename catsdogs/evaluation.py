"""Scores of a model on a labelled manifest: the numbers and the table a person reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from catsdogs import atomic, inference
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


def evaluate(model: Path, data: Path, tta: bool = False) -> tuple[dict, Path]:
    """Score ``model`` on a labelled manifest; writes eval.json beside the model."""
    model_path = inference.find_model(model)
    if not data.is_file():
        raise UserError(f"--data {data} does not exist")
    frame = pd.read_csv(data)
    if not {"path", "label"} <= set(frame.columns):
        raise UserError(f"{data} needs 'path' and 'label' columns (prepare's val.csv has them)")
    inference.check_readable(frame["path"].tolist())
    loaded, policy = inference.load_model(model_path)
    probabilities = inference.predict(loaded, frame["path"].tolist(), policy, tta)
    result = {
        "model": str(model_path),
        "data": str(data),
        "tta": tta,
        **scores(frame["label"].to_numpy(), probabilities),
    }
    path = model_path.parent / "eval.json"
    atomic.write_text(path, json.dumps(result, indent=2) + "\n")
    return result, path

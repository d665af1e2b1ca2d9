"""`catsdogs report RUN_DIR`: figures and one report.md to judge a run by."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_curve

from catsdogs import files, plots
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import evaluation, predictor
from catsdogs.predict.command import TTA
from catsdogs.training import curves
from catsdogs.training.rundir import (
    CONFUSION,
    CURVES,
    MISTAKES,
    REPORT,
    ROC,
    RunDir,
    open_run,
)


def roc_figure(labels: np.ndarray, probabilities: np.ndarray, auc: float | None, path: Path):
    figure, axis = plots.figure(figsize=(5, 5))
    if auc is not None:
        fpr, tpr, _ = roc_curve(labels, probabilities)
        axis.plot(fpr, tpr, label=f"AUC {auc:.4f}")
    axis.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    axis.set(
        xlabel="false positive rate (cats called dogs)",
        ylabel="true positive rate",
        title="ROC, validation set",
    )
    axis.legend(loc="lower right")
    plots.save(figure, path)


def confusion_figure(matrix: list[list[int]], path: Path) -> None:
    figure, axis = plots.figure(figsize=(4.5, 4))
    values = np.asarray(matrix)
    axis.imshow(values, cmap="Blues")
    for (row, col), value in np.ndenumerate(values):
        color = "white" if value > values.max() / 2 else "black"
        axis.text(col, row, str(value), ha="center", va="center", color=color, fontsize=14)
    axis.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["cat", "dog"],
        yticklabels=["cat", "dog"],
        xlabel="predicted",
        ylabel="true",
        title="confusion matrix",
    )
    plots.save(figure, path)


def mistakes_figure(frame: pd.DataFrame, path: Path, count: int = 16) -> int:
    """The most confident mistakes, each titled with its true label and P(dog)."""
    wrong = frame[(frame["probability"] >= 0.5) != (frame["label"] == 1)].copy()
    wrong["confidence"] = (wrong["probability"] - 0.5).abs()
    wrong = wrong.sort_values("confidence", ascending=False).head(count)
    columns = 4
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    figure, axes = plots.figure(rows, columns, figsize=(3 * columns, 3.2 * rows))
    for axis in np.atleast_1d(axes).ravel():
        axis.axis("off")
    for axis, (_, row) in zip(np.atleast_1d(axes).ravel(), wrong.iterrows()):
        with Image.open(row["path"]) as image:
            axis.imshow(image.convert("RGB"))
        truth = "dog" if row["label"] == 1 else "cat"
        axis.set_title(
            f"{Path(row['path']).name}\ntrue {truth}, P(dog)={row['probability']:.3f}", fontsize=9
        )
    if wrong.empty:
        np.atleast_1d(axes).ravel()[0].text(0.5, 0.5, "no mistakes", ha="center")
    plots.save(figure, path)
    return len(wrong)


def _validation_manifest(run: RunDir, data: Path | None) -> Path:
    """``--data`` (a CSV, or a folder's val.csv), else the val.csv of the data the run
    trained on, provided it is still that data."""
    if data is not None:
        return data if data.suffix.lower() == ".csv" else data / manifests.VAL
    folder, recorded = run.data_record()
    if folder is None or not folder.is_absolute() or recorded is None:
        raise UserError(f"{run.path} does not record the data it trained on: pass --data")
    now = manifests.identity(folder)
    if now != recorded:
        raise UserError(
            f"the data in {folder} is no longer what {run.path} trained on (identity "
            f"{recorded}, now {now}): pass --data to report on other data"
        )
    return folder / manifests.VAL


def build(
    run_dir: Path, data: Path | None = None, tta: bool = TTA, echo: Callable[[str], None] = print
) -> Path:
    """Evaluate the run's best model on validation data and write the figures, the eval file
    and report.md into the run; returns report.md's path."""
    run = open_run(run_dir)
    files.check_folder(run_dir, "run directory")
    model_path = run.best_model()
    manifest = manifests.read(_validation_manifest(run, data), "labelled", echo)
    frame = pd.DataFrame({"path": manifest.paths, "label": manifest.labels})
    loaded = predictor.load(model_path)
    echo(predictor.tta_line(tta))
    frame["probability"] = predictor.p_dog(loaded, manifest.paths, tta, checked=True)
    result = evaluation.record(model_path, manifest.path, tta, frame["label"], frame["probability"])
    if warning := evaluation.trained_on(model_path, manifest):
        echo(warning)
    history = run.history()
    if not history.empty:
        curves.draw(history, run.path / CURVES)
    labels, probabilities = frame["label"].to_numpy(), frame["probability"].to_numpy()
    roc_figure(labels, probabilities, result["roc_auc"], run.path / ROC)
    confusion_figure(result["confusion_matrix"], run.path / CONFUSION)
    shown = mistakes_figure(frame, run.path / MISTAKES)
    evaluation.save(result, model_path, echo)
    summary = run.summary()
    epoch = (
        f", epoch {summary.best_epoch} of {summary.epochs} (the lowest validation loss)"
        if summary
        else ""
    )
    text = "\n".join(
        [
            f"# Run report: {run.path.name}",
            "",
            f"Model: `{model_path.name}`{epoch}, evaluated at {loaded.size} px on "
            f"`{manifest.path}` ({result['count']} images), TTA {'on' if tta else 'off'}.",
            "",
            "## Metrics",
            "",
            "```",
            evaluation.table(result),
            "```",
            "",
            "## Training curves",
            "",
            f"![training curves]({CURVES})" if not history.empty else "(no history yet)",
            "",
            "## ROC curve and confusion matrix",
            "",
            f"![ROC curve]({ROC}) ![confusion matrix]({CONFUSION})",
            "",
            f"## The {shown} most confident mistakes",
            "",
            f"![most confident mistakes]({MISTAKES})",
            "",
            "## Config",
            "",
            "```yaml",
            run.config_text().rstrip(),
            "```",
            "",
        ]
    )
    files.write_text(run.path / REPORT, text)
    return run.path / REPORT

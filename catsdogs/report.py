"""`catsdogs report RUN_DIR`: figures and one report.md to judge a run by."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from catsdogs import evaluation, files, inference, manifests, plots, rundir  # noqa: E402
from catsdogs.errors import UserError  # noqa: E402


def roc_figure(labels: np.ndarray, probabilities: np.ndarray, auc: float | None, path: Path):
    figure, axis = plt.subplots(figsize=(5, 5))
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
    figure, axis = plt.subplots(figsize=(4.5, 4))
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
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows))
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


def _validation_manifest(run: rundir.RunDir, data: Path | None) -> Path:
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


def build(run_dir: Path, data: Path | None = None, echo: Callable[[str], None] = print) -> Path:
    """Evaluate the run's best model on validation data and write the figures and report.md."""
    run = rundir.open_run(run_dir)
    files.check_folder(run_dir, "run directory")
    model_path = run.best_model()
    config = run.config_text()
    manifest = manifests.read(_validation_manifest(run, data), "labelled", echo)
    frame = pd.DataFrame({"path": manifest.paths, "label": manifest.labels})
    model, policy = inference.load_model(model_path)
    frame["probability"] = inference.predict(model, manifest.paths, policy, tta=False)
    result = evaluation.scores(frame["label"].to_numpy(), frame["probability"].to_numpy())

    history = run_dir / "history.csv"
    if history.is_file():
        plots.training_curves(pd.read_csv(history), run_dir / "curves.png")
    roc_figure(
        frame["label"].to_numpy(),
        frame["probability"].to_numpy(),
        result["roc_auc"],
        run_dir / "roc.png",
    )
    confusion_figure(result["confusion_matrix"], run_dir / "confusion.png")
    shown = mistakes_figure(frame, run_dir / "mistakes.png")
    files.write_text(run_dir / "eval.json", json.dumps(result, indent=2) + "\n")
    text = "\n".join(
        [
            f"# Run report: {run_dir.name}",
            "",
            f"Model: `{model_path.name}` evaluated on `{manifest.path}` "
            f"({result['count']} images).",
            "",
            "## Metrics",
            "",
            "```",
            evaluation.table(result),
            "```",
            "",
            "## Training curves",
            "",
            "![training curves](curves.png)" if history.is_file() else "(no history.csv)",
            "",
            "## ROC curve and confusion matrix",
            "",
            "![ROC curve](roc.png) ![confusion matrix](confusion.png)",
            "",
            f"## The {shown} most confident mistakes",
            "",
            "![most confident mistakes](mistakes.png)",
            "",
            "## Config",
            "",
            "```yaml",
            config.rstrip(),
            "```",
            "",
        ]
    )
    files.write_text(run_dir / "report.md", text)
    return run_dir / "report.md"

"""`catsdogs report RUN_DIR`: figures and one report.md to judge a run by."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_curve

from catsdogs import durations, files, outputs, plots
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import TTA, evaluation, tiles
from catsdogs.training import curves, decisions
from catsdogs.training.rundir import (
    CONFIG,
    CONFUSION,
    CORRECT,
    CURVES,
    LOGS,
    MISTAKES,
    REPORT,
    ROC,
    RunDir,
    Summary,
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
    """Counts and each true class's shares (coloured by share, so a larger class does not
    look better), with n for each class and in all."""
    figure, axis = plots.figure(figsize=(5, 4.4))
    counts = np.asarray(matrix)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        color = "white" if shares[row, col] > 0.5 else "black"
        text = f"{count}\n{shares[row, col]:.1%}"
        axis.text(col, row, text, ha="center", va="center", color=color, fontsize=13)
    axis.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["cat", "dog"],
        yticklabels=[f"cat\n(n={totals[0, 0]})", f"dog\n(n={totals[1, 0]})"],
        xlabel="predicted",
        ylabel="true (row shares)",
        title=f"confusion matrix (n={counts.sum()})",
    )
    plots.save(figure, path)


def _validation_manifest(run: RunDir, data: Path | None) -> Path:
    """``--data`` (a CSV, or a folder's val.csv), else the val.csv of the data the run
    trained on, provided it is still that data."""
    if data is not None:
        return data if data.suffix.lower() == ".csv" else data / manifests.VAL
    folder, recorded = run.data_record()
    if folder is None or not folder.is_absolute() or recorded is None:
        raise UserError(f"{run.path} does not record the data it trained on: pass --data")
    now = manifests.identity(folder)
    if now is None:
        raise UserError(
            f"the data {run.path} trained on, {folder}, is gone (no prepared set there): pass "
            "--data to report on other data"
        )
    if now != recorded:
        raise UserError(
            f"the data in {folder} is no longer what {run.path} trained on (identity "
            f"{recorded}, now {now}): pass --data to report on other data"
        )
    return folder / manifests.VAL


def _data_lines(run: RunDir, manifest: manifests.Manifest) -> list[str]:
    """The sizes of the data the run trained on (where it is still that data) and of the
    images scored here."""
    folder, recorded = run.data_record()
    scored = f"Scored here: the {len(manifest)} images of `{manifest.path}`."
    if folder is None:
        return ["The run does not record the data it trained on.", "", scored]
    now = manifests.identity(folder)
    if now is None or now != recorded:
        why = "is no longer there" if now is None else "has changed since"
        return [
            f"The data the run trained on, `{folder}`, {why}: its sizes are unknown.",
            "",
            scored,
        ]
    counts = manifests.counts(folder)
    test = counts.get(manifests.TEST)
    labelled = manifests.labelled_test(folder) is not None
    sizes = [
        f"{counts[manifests.TRAIN]} training images",
        f"{counts[manifests.VAL]} validation images",
        "no test set"
        if test is None
        else f"{test} test images ({'labelled' if labelled else 'unlabelled'})",
    ]
    return [f"Trained on `{folder}`: {', '.join(sizes)}.", "", scored]


def _training_lines(run: RunDir, summary: Summary | None) -> list[str]:
    """How long the run trained, on what, and whether it finished."""
    status = run.state.get("status", "unknown")
    if summary is None:
        return [f"No epoch has finished (status: {status})."]
    lines = [
        f"{summary.epochs} epochs in {durations.text(summary.seconds)} (the epochs' own time, "
        f"training and validation, from history.csv); status: {status}."
    ]
    metrics = run.metrics()
    budget = metrics.get("time_budget")
    if budget:
        spent = ", ".join(
            f"{name} {durations.text(seconds)}"
            for name, seconds in budget.items()
            if name != "seconds"
        )
        lines.append(f"Time budget {durations.text(budget['seconds'])}: {spent}.")
    if "replicas" in metrics:
        replicas = metrics["replicas"]
        lines.append(
            f"{replicas} replica{'' if replicas == 1 else 's'}; mixed precision "
            f"{'on' if metrics['mixed_precision'] else 'off'}, XLA "
            f"{'on' if metrics['jit_compile'] else 'off'}."
        )
    return [" ".join(lines)]


def _accuracy_lines(result: dict) -> list[str]:
    """Whether TTA made the numbers, and the accuracy with its 95% interval."""
    (tn, _), (_, tp) = result["confusion_matrix"]
    count, right = result["count"], tn + tp
    low, high = evaluation.wilson(right, count)
    tta = (
        "on (each image's P(dog) is the mean over it and its mirror)"
        if result["tta"]
        else "off (each image seen once, as it is)"
    )
    return [
        f"TTA: {tta}.",
        "",
        f"Accuracy {result['accuracy']:.4f} ({right} of {count} right); 95% interval "
        f"{low:.4f} to {high:.4f} (Wilson score interval, n = {count}).",
    ]


def _reproduce_lines(run: RunDir, data: Path | None, tta: bool) -> list[str]:
    """The commands that train the run again and draw this report again."""
    folder = run.data_record()[0]
    train = ["catsdogs", "train", "--config", run.path / CONFIG, "--data", folder or "DATA"]
    again = ["catsdogs", "report", run.path, *(["--data", data] if data is not None else [])]
    if tta != TTA:
        again.append("--tta" if tta else "--no-tta")
    return [
        "```",
        shlex.join(str(word) for word in train),
        shlex.join(str(word) for word in again),
        "```",
        "",
        f"`{CONFIG}` is the resolved config the run trained under (its seed included); "
        "`train` makes a new run directory for it.",
    ]


def build(
    run_dir: Path, data: Path | None = None, tta: bool = TTA, echo: Callable[[str], None] = print
) -> Path:
    """Evaluate the run's best model on validation data and write the figures, the eval file
    and report.md into the run; returns report.md's path."""
    run = open_run(run_dir)
    outputs.check_folder(run_dir, "run directory")
    model_path = run.best_model()
    manifest = manifests.read(_validation_manifest(run, data), "labelled", echo)
    written = [run.path / name for name in (CURVES, ROC, CONFUSION, MISTAKES, CORRECT, REPORT)]
    scored = evaluation.score(
        model_path, manifest, tta, echo, [(path, "the report's file") for path in written]
    )
    loaded, frame, result = scored.model, scored.frame, scored.result
    weak = decisions.weakness(run)
    warnings = [
        evaluation.trained_on(model_path, manifest),
        evaluation.one_class(result),
        f"warning: a weak model ({weak}): {decisions.WEAK_ADVICE}" if weak else None,
    ]
    warnings = [warning for warning in warnings if warning]
    for warning in warnings:
        echo(warning)
    history = run.history()
    if not history.empty:
        curves.draw(history, run.path / CURVES, run.path / LOGS)
    labels, probabilities = frame["label"].to_numpy(), frame["probability"].to_numpy()
    roc_figure(labels, probabilities, result["roc_auc"], run.path / ROC)
    confusion_figure(result["confusion_matrix"], run.path / CONFUSION)
    mistakes, columns, wrong = tiles.worst_mistakes(frame)
    worst = f"The {len(mistakes)} most confident mistakes (of {wrong})" if wrong else "No mistakes"
    tiles.draw(mistakes, columns, loaded, worst, run.path / MISTAKES, "no mistakes")
    right, columns = tiles.most_confident_correct(frame)
    best = (
        f"The {len(right)} most confident right answers, {columns} of each class"
        if len(right)
        else "No right answers"
    )
    tiles.draw(right, columns, loaded, best, run.path / CORRECT, "no right answers")
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
            f"`{manifest.path}` ({result['count']} images).",
            "",
            "## Data",
            "",
            *_data_lines(run, manifest),
            "",
            "## Training",
            "",
            *_training_lines(run, summary),
            "",
            "## Metrics",
            "",
            *[f"**{warning}**\n" for warning in warnings],
            *_accuracy_lines(result),
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
            f"## {worst}",
            "",
            "Each image as the model saw it, beside its Grad-CAM map: where the evidence for "
            "the predicted class lies.",
            "",
            f"![most confident mistakes]({MISTAKES})",
            "",
            f"## {best}",
            "",
            f"![most confident right answers]({CORRECT})",
            "",
            "## Reproduce",
            "",
            *_reproduce_lines(run, data, tta),
            "",
            "## Config",
            "",
            "```yaml",
            run.config_text().rstrip(),
            "```",
            "",
        ]
    )
    if (run.path / REPORT).exists():  # a report of other data or settings may be there
        echo(f"replacing {run.path / REPORT} and its figures: this report is of {manifest.path}")
    files.write_text(run.path / REPORT, text)
    (tn, _), (_, tp) = result["confusion_matrix"]
    low, high = evaluation.wilson(tn + tp, result["count"])
    auc = "n/a (one class)" if result["roc_auc"] is None else f"{result['roc_auc']:.4f}"
    echo(
        f"{manifest.path.name} ({result['count']} images, TTA {'on' if tta else 'off'}): "
        f"accuracy {result['accuracy']:.4f} (95% interval {low:.4f} to {high:.4f}), log loss "
        f"{result['log_loss']:.4f}, ROC AUC {auc}"
    )
    return run.path / REPORT

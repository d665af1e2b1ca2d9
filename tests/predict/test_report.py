"""report.md and its pictures: what a person reads first about a run."""

from __future__ import annotations

import json
import math
import shlex
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import PNG, cli

from catsdogs import durations
from catsdogs.predict import evaluation, tiles
from catsdogs.training.rundir import eval_path


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, (0, 0)), (1, (1, 1)), (3, (1, 3)), (4, (1, 4)), (5, (1, 4)), (6, (2, 3))]
    + [
        (7, (2, 3)),
        (9, (3, 3)),
        (11, (3, 3)),
        (13, (3, 4)),
        (14, (3, 4)),
        (15, (5, 3)),
        (16, (4, 4)),
    ],
)
def test_the_grid_is_the_fullest_with_no_empty_cell(count, expected):
    rows, columns = tiles.grid(count)
    assert (rows, columns) == expected
    assert rows * columns <= count and columns <= tiles.WIDEST
    # Neither width of a wide grid (four or three columns) would show more of the tiles.
    assert count - rows * columns <= 2
    assert all(count // c * c <= rows * columns for c in (3, 4))


def frame_of(labels, probabilities) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": [f"/pets/{i}.jpg" for i in range(len(labels))],
            "label": labels,
            "probability": probabilities,
            "loss": evaluation.losses(np.asarray(labels), np.asarray(probabilities)),
        }
    )


def test_the_worst_mistakes_by_loss_fill_the_grid():
    labels = [1, 1, 0, 0, 1, 0, 1, 0, 1, 0]
    p_dog = [0.1, 0.45, 0.85, 0.6, 0.95, 0.2, 0.3, 0.99, 0.7, 0.05]
    shown, columns, wrong = tiles.worst_mistakes(frame_of(labels, p_dog))
    # Mistakes: dogs at 0.1, 0.45, 0.3 and cats at 0.85, 0.6, 0.99 -> six; a 2x3 grid.
    assert (wrong, columns, len(shown)) == (6, 3, 6)
    assert shown["probability"].tolist() == [0.99, 0.1, 0.85, 0.3, 0.6, 0.45]
    assert shown["loss"].to_numpy() == pytest.approx(-np.log([0.01, 0.1, 0.15, 0.3, 0.4, 0.45]))
    # Seven mistakes are drawn as six: the least confident one is left out.
    seven, columns, wrong = tiles.worst_mistakes(frame_of([*labels, 1], [*p_dog, 0.49]))
    assert (wrong, columns, len(seven)) == (7, 3, 6) and 0.49 not in seven["probability"].values


def test_the_right_answers_are_a_row_of_cats_over_a_row_of_dogs():
    labels = [0, 0, 0, 1, 1, 0, 1]
    p_dog = [0.3, 0.01, 0.2, 0.8, 0.6, 0.7, 0.4]  # the last two are mistakes
    shown, columns = tiles.most_confident_correct(frame_of(labels, p_dog))
    assert columns == 2  # two right dogs: two cats beside them
    assert shown["probability"].tolist() == [0.01, 0.2, 0.8, 0.6]
    only_cats, columns = tiles.most_confident_correct(frame_of([0, 0, 1], [0.2, 0.1, 0.3]))
    assert columns == 2 and only_cats["probability"].tolist() == [0.1, 0.2]


def test_wilson_interval_against_hand_worked_values():
    # 90 of 100 at z = 1.96: centre (0.9 + 0.0192) / 1.0384, half-width 0.0596.
    assert evaluation.wilson(90, 100) == pytest.approx((0.8256, 0.9448), abs=1e-4)
    z2 = 1.959964**2
    # None right: from exactly 0 to z^2/n / (1 + z^2/n); all right: the mirror image.
    assert evaluation.wilson(0, 10) == (0.0, pytest.approx(z2 / 10 / (1 + z2 / 10)))
    assert evaluation.wilson(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    low, high = evaluation.wilson(1, 1)
    assert high == 1.0 and 0 < low < 0.5  # one image says little
    with pytest.raises(ValueError):
        evaluation.wilson(0, 0)


def test_report_states_sizes_time_tta_interval_and_the_commands(smoke_run):
    run, data = smoke_run
    done = cli("report", run)
    assert done.exit_code == 0, done.output
    report = (run / "report.md").read_text()
    for name in ("curves.png", "roc.png", "confusion.png", "mistakes.png", "correct.png"):
        assert (run / name).read_bytes()[:8] == PNG, name
        assert f"]({name})" in report

    rows = {name: len(pd.read_csv(data / name)) for name in ("train.csv", "val.csv", "test.csv")}
    assert (
        f"Trained on `{data}`: {rows['train.csv']} training images, {rows['val.csv']} "
        f"validation images, {rows['test.csv']} test images (labelled)." in report
    )
    history = pd.read_csv(run / "history.csv")
    seconds = durations.text(history["seconds"].sum())
    assert f"{len(history)} epochs in {seconds} (the epochs' own time" in report
    assert "status: finished" in report

    val = data / "val.csv"
    scores = json.loads(eval_path(run / "best.keras", val, True).read_text())
    assert scores["tta"] is True and "TTA: on" in report  # the default, as predict's
    (tn, fp), (fn, tp) = scores["confusion_matrix"]
    count = tn + fp + fn + tp
    assert count == rows["val.csv"]
    low, high = evaluation.wilson(tn + tp, count)
    assert (
        f"Accuracy {scores['accuracy']:.4f} ({tn + tp} of {count} right); 95% interval "
        f"{low:.4f} to {high:.4f} (Wilson score interval, n = {count})." in report
    )
    # The headline scores on the terminal too (report printed none of its numbers).
    assert (
        f"val.csv ({count} images, TTA on): accuracy {scores['accuracy']:.4f} (95% interval "
        f"{low:.4f} to {high:.4f}), log loss {scores['log_loss']:.4f}, ROC AUC" in done.output
    )
    train = ["catsdogs", "train", "--config", f"{run}/config.yaml", "--data", str(data)]
    assert shlex.join(train) + "\n" in report
    assert shlex.join(["catsdogs", "report", str(run)]) + "\n" in report

    wrong = fp + fn
    drawn = math.prod(tiles.grid(min(wrong, tiles.MOST_MISTAKES)))
    assert f"## The {drawn} most confident mistakes (of {wrong})\n" in report
    # Again: the report it replaces is said (a probe: a report of other data replaced the
    # run's report.md and figures without a word).
    again = cli("report", run, "--no-tta")
    assert f"replacing {run / 'report.md'} and its figures: this report is of {val}" in (
        again.output
    )


def test_a_run_whose_data_is_gone_is_one_line_without_python_in_it(smoke_run, tmp_path):
    # A probe: "(identity 29d888b1d3d756d3, now None)".
    run, data = smoke_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    config = (copy / "config.yaml").read_text().replace(str(data), str(tmp_path / "gone"))
    (copy / "config.yaml").write_text(config)
    done = cli("report", copy)
    assert done.exit_code == 1, done.output
    [line] = done.output.strip().splitlines()
    assert line == (
        f"error: the data {copy} trained on, {tmp_path / 'gone'}, is gone (no prepared set "
        "there): pass --data to report on other data"
    )

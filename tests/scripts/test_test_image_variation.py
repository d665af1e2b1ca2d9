"""scripts/test_image_variation.py: the seeds' and the test images' standard errors of a
paired difference, worked by hand and checked against `catsdogs evaluate` on real runs."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, cli
from sklearn import metrics

SCRIPT = ROOT / "scripts" / "test_image_variation.py"
spec = importlib.util.spec_from_file_location("test_image_variation", SCRIPT)
variation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(variation)


def test_both_standard_errors_worked_by_hand():
    # differences: seed 0 [0, .3, .3] (mean .2), seed 1 [.3, .3, .6] (mean .4): mean .3, the
    # seeds' sd .1414, se .1; per image [.15, .3, .45]: sd .15, se .15 / sqrt(3).
    off = np.zeros((2, 3))
    result = variation.variation(np.array([[0, 0.3, 0.3], [0.3, 0.3, 0.6]]), off)
    assert result["seeds"] == 2 and result["difference"] == pytest.approx(0.3)
    assert result["seeds_se"] == pytest.approx(0.1)
    assert result["images_se"] == pytest.approx(0.15 / math.sqrt(3))
    assert result["both_se"] == pytest.approx(math.sqrt(0.01 + 0.0225 / 3))
    assert math.isnan(variation.variation(np.ones((1, 3)), np.zeros((1, 3)))["seeds_se"])


def test_the_per_image_scores_average_to_scikit_learns():
    labels = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.8, 0.4, 0.5, 1.0])
    scores = variation.per_image(labels, p)
    assert scores["log loss"].mean() == pytest.approx(metrics.log_loss(labels, p))
    assert scores["accuracy"].mean() == metrics.accuracy_score(labels, p >= 0.5)


def test_a_study_s_difference_is_the_one_evaluate_scores(smoke_run, tmp_path):
    run, data = smoke_run
    study = tmp_path / "study"
    models = {"on": run / "best.keras", "off": run / "last.keras"}
    for name, model in models.items():
        (study / "runs" / name).mkdir(parents=True)
        shutil.copy(model, study / "runs" / name / "best.keras")
    rows = [
        {"state": "complete", "seed": 0, variation.ARM: arm, "run_dir": name}
        for arm, name in ((True, "on"), (False, "off"))
    ] + [{"state": "fail", "seed": 1, variation.ARM: True, "run_dir": "gone"}]
    pd.DataFrame(rows).to_csv(study / "trials.csv", index=False)
    result = variation.study(study, data / "test.csv")
    scored = {}
    for name in models:
        model = study / "runs" / name / "best.keras"
        done = cli("evaluate", "--model", model, "--data", data / "test.csv", "--no-tta")
        assert done.exit_code == 0, done.output
        [eval_file] = (study / "runs" / name).glob("eval*.json")
        scored[name] = json.loads(eval_file.read_text())
    assert scored["on"]["log_loss"] != scored["off"]["log_loss"]  # two different models
    expected = scored["on"]["log_loss"] - scored["off"]["log_loss"]
    assert result["log loss"]["difference"] == pytest.approx(expected, abs=1e-6)
    accuracy = scored["on"]["accuracy"] - scored["off"]["accuracy"]
    assert result["accuracy"]["difference"] == pytest.approx(accuracy)
    assert result["log loss"]["seeds"] == 1


def test_one_log_loss_for_the_eval_file_the_figures_and_this_tool():
    # The eval file's log loss (evaluation.scores), the per-image losses the figures rank by
    # (evaluation.losses, in report's frame) and this tool's are one definition: equal to the
    # last bit, and scikit-learn's, with probabilities of exactly 0 and 1 wrong.
    from catsdogs.predict import evaluation, tiles

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    p = rng.uniform(0, 1, 300)
    labels[:4], p[:4] = [1, 0, 1, 0], [0.0, 1.0, 1e-20, 1 - 1e-17]
    per_image = evaluation.losses(labels, p)
    eval_file = evaluation.scores(labels, p)["log_loss"]
    assert eval_file == float(np.mean(per_image))
    assert variation.per_image(labels, p)["log loss"].tolist() == per_image.tolist()
    assert eval_file == pytest.approx(metrics.log_loss(labels, p, labels=[0, 1]), rel=1e-12)
    frame = pd.DataFrame({"path": [str(i) for i in range(300)], "label": labels})
    frame = frame.assign(probability=p, loss=per_image)
    worst, _, _ = tiles.worst_mistakes(frame)
    assert worst["loss"].iloc[0] == per_image.max()  # p = 0 for a dog: the worst mistake

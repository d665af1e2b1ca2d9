"""scripts/compare_lookahead.py: the study's tables from a trials.csv, computed right."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT
from scipy import stats

SCRIPT = ROOT / "scripts" / "compare_lookahead.py"
spec = importlib.util.spec_from_file_location("compare_lookahead", SCRIPT)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

SCORES = {  # (lookahead, learning rate) -> the three seeds' best_val_accuracy
    (True, 0.01): [0.8, 0.7, 0.9],
    (True, 0.1): [0.7, 0.7, 0.7],
    (False, 0.01): [0.7, 0.6, 0.8],
    (False, 0.1): [0.5, 0.5, 0.5],
}


def trials_csv(tmp_path) -> str:
    rows = [
        {
            "trial": len(SCORES) * seed + i,
            "state": "complete",
            "seed": seed,
            "optimizer.lookahead.enabled": arm,
            "optimizer.learning_rate": rate,
            "best_val_accuracy": scores[seed],
        }
        for i, ((arm, rate), scores) in enumerate(SCORES.items())
        for seed in range(3)
    ]
    path = tmp_path / "trials.csv"
    pd.DataFrame(rows).to_csv(path, index=False)  # the booleans come back as text
    return str(path)


def test_the_spread_across_rates_worked_by_hand(tmp_path):
    trials = pd.read_csv(trials_csv(tmp_path))
    text = compare.spread(trials)
    # Means: on 0.8 and 0.7, off 0.7 and 0.5.
    assert "| mean of the means | 0.7500 | 0.6000 |" in text
    assert "| std of the means (points) | 7.1 | 14.1 |" in text
    assert "| range of the means (points) | 10.0 | 20.0 |" in text
    assert "| worst mean | 0.7000 | 0.5000 |" in text


def test_the_script_prints_the_paired_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", trials_csv(tmp_path)])
    compare.main()
    text = capsys.readouterr().out
    # 0.01: differences 0.1 on every seed (no spread: no t); 0.1: 0.2 on every seed.
    assert "| 0.01 | 3 | 80.0 | 70.0 | +10.0 | no spread |  |  |  | 3-0 |" in text
    assert "| each arm's best | 3 | 80.0 | 70.0 | +10.0 |" in text
    assert "| std of the means (points) | 7.1 | 14.1 |" in text


def test_a_figure_needs_the_sweep_file(tmp_path, monkeypatch):
    arguments = ["compare_lookahead.py", trials_csv(tmp_path), "--figure", "x.png"]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit, match="--figure needs --sweep"):
        compare.main()


def one_point_study(folder, on: list[float], off: list[float], diverged=()) -> str:
    """A study of one point (each arm at its own rate): trials.csv has no learning rate;
    ``diverged``: the (arm, seed) runs that diverged."""
    rows = [
        {
            "state": "complete",
            "seed": seed,
            "optimizer.lookahead.enabled": arm,
            "test_log_loss": v,
            "diverged": (arm, seed) in diverged,
        }
        for arm, values in ((True, on), (False, off))
        for seed, v in enumerate(values)
    ]
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)
    return str(folder / "trials.csv")


def test_several_studies_are_one_family_holm_over_them(tmp_path, monkeypatch, capsys):
    adam = one_point_study(tmp_path / "adam", [0.30, 0.32, 0.35], [0.34, 0.35, 0.40])
    sgd = one_point_study(tmp_path / "sgd", [0.40, 0.45, 0.41], [0.41, 0.44, 0.43])
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", adam, sgd])
    compare.main()
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if "| 3 |" in line}
    assert set(rows) == {"adam", "sgd"}  # one row a study, no "each arm's best" row
    p_adam = stats.ttest_rel([0.30, 0.32, 0.35], [0.34, 0.35, 0.40]).pvalue
    p_sgd = stats.ttest_rel([0.40, 0.45, 0.41], [0.41, 0.44, 0.43]).pvalue
    smaller, larger = sorted([p_adam, p_sgd])
    holm = {p_adam: None, p_sgd: None}
    holm[smaller] = 2 * smaller
    holm[larger] = max(2 * smaller, larger)
    for name, p in (("adam", p_adam), ("sgd", p_sgd)):
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[7] == f"{p:.3f}" and cells[8] == f"{min(1.0, holm[p]):.3f}", cells
    assert rows["adam"].rstrip().endswith("| 3-0 |")  # Lookahead's loss lower on every seed


def test_a_family_refuses_a_study_of_several_points(tmp_path, monkeypatch):
    one = one_point_study(tmp_path / "one", [0.3, 0.3, 0.3], [0.4, 0.4, 0.4])
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", one, trials_csv(tmp_path)])
    with pytest.raises(SystemExit, match="more than once per seed"):
        compare.main()


def test_a_diverged_run_counts_at_chance_in_a_family(tmp_path, monkeypatch, capsys):
    # Seed 1 of plain Adam diverged after a good epoch (0.33): ln 2 counts, as fixed beforehand.
    adam = one_point_study(
        tmp_path / "adam", [0.30, 0.32, 0.35], [0.34, 0.33, 0.40], diverged=[(False, 1)]
    )
    sgd = one_point_study(tmp_path / "sgd", [0.40, 0.45, 0.41], [0.41, 0.44, 0.43])
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", adam, sgd])
    compare.main()
    text = capsys.readouterr().out
    [row] = [line for line in text.splitlines() if line.startswith("| adam | 3 |")]
    off = np.mean([0.34, np.log(2), 0.40])
    assert [c.strip() for c in row.strip("|").split("|")][3] == f"{off:.3f}"
    assert "Diverged, scored at chance on the test split: adam lookahead off seed 1" in text


def test_a_study_with_a_cut_off_trial_and_its_retry_is_one_point(tmp_path, monkeypatch, capsys):
    # Adam's seed 0 was cut off (state fail) and run again: one finished run a seed and arm.
    adam = one_point_study(tmp_path / "adam", [0.30, 0.32, 0.35], [0.34, 0.35, 0.40])
    trials = pd.read_csv(adam)
    cut = trials.iloc[[3]].assign(state="fail", test_log_loss=float("nan"))
    pd.concat([trials, cut]).to_csv(adam, index=False)
    sgd = one_point_study(tmp_path / "sgd", [0.40, 0.45, 0.41], [0.41, 0.44, 0.43])
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", adam, sgd])
    compare.main()
    assert "| adam | 3 | 0.323 | 0.363 | -0.040 |" in capsys.readouterr().out


def test_a_study_not_finished_yet_still_counts_in_the_family(tmp_path, monkeypatch, capsys):
    adam = one_point_study(tmp_path / "adam", [0.30, 0.32, 0.35], [0.34, 0.35, 0.40])
    sgd = one_point_study(tmp_path / "sgd", [0.40], [])
    pd.read_csv(sgd).assign(state="running", test_log_loss=float("nan")).to_csv(sgd, index=False)
    monkeypatch.setattr(sys, "argv", ["compare_lookahead.py", adam, sgd])
    compare.main()
    text = capsys.readouterr().out
    p = stats.ttest_rel([0.30, 0.32, 0.35], [0.34, 0.35, 0.40]).pvalue
    [row] = [line for line in text.splitlines() if line.startswith("| adam |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[7:9] == [f"{p:.3f}", f"{2 * p:.3f}"]  # one of two, though sgd has no p yet
    assert any(line.startswith("| sgd | 0 |") for line in text.splitlines())

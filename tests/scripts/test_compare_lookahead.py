"""scripts/compare_lookahead.py: the study's tables from a trials.csv, computed right."""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest
from helpers import ROOT

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
    assert "| 0.01 | 3 | 80.0 | 70.0 | +10.0 | +10.0 to +10.0 |" in text
    assert "| each arm's best | 3 | 80.0 | 70.0 | +10.0 |" in text
    assert "| std of the means (points) | 7.1 | 14.1 |" in text


def test_a_figure_needs_the_sweep_file(tmp_path, monkeypatch):
    arguments = ["compare_lookahead.py", trials_csv(tmp_path), "--figure", "x.png"]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit, match="--figure needs --sweep"):
        compare.main()

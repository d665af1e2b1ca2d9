"""scripts/compare_lookahead.py: the study's numbers, from a summary.csv, computed right."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from helpers import ROOT

SCRIPT = ROOT / "scripts" / "compare_lookahead.py"
spec = importlib.util.spec_from_file_location("compare_lookahead", SCRIPT)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def summary(rows):
    columns = ["optimizer.lookahead.enabled", "optimizer.learning_rate", "n"]
    columns += ["val_accuracy_mean", "val_accuracy_std"]
    return pd.DataFrame(rows, columns=columns)


def test_best_against_best_each_rate_and_the_spread():
    text = compare.report(
        summary(
            [
                (True, 0.01, 4, 0.80, 0.10),
                (True, 0.1, 4, 0.70, 0.0),
                (False, 0.01, 4, 0.70, 0.10),
                (False, 0.1, 4, 0.50, 0.0),
            ]
        )
    )
    # se = sqrt(0.1^2/4 + 0.1^2/4) = 0.0707: +10 points is z = 1.4
    assert "| Lookahead on | 0.01 | 0.8000 ± 0.1000 |" in text
    assert "Best against best: +10.0 points (standard error 7.1, z = 1.4)." in text
    assert "| 0.1 | 0.7000 | 0.5000 | +20.0 | 0.0 | n/a |" in text
    assert "| std of the means (points) | 7.1 | 14.1 |" in text
    assert "| range of the means (points) | 10.0 | 20.0 |" in text
    assert "| worst mean | 0.7000 | 0.5000 |" in text


def test_arms_over_different_rates_are_refused():
    rows = [(True, 0.01, 3, 0.8, 0.1), (False, 0.03, 3, 0.7, 0.1)]
    with pytest.raises(SystemExit, match="both arms over the same"):
        compare.report(summary(rows))

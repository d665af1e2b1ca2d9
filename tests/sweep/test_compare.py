"""Two arms of a sweep compared paired over seeds: the numbers against scipy and against
cases worked by hand, and the table sweep.md shows."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from catsdogs.sweep import compare

ARM = "optimizer.lookahead.enabled"
LR = "optimizer.learning_rate"


def test_a_paired_difference_worked_by_hand():
    # differences 0.02, 0.03, 0.01: mean 0.02, sd 0.01, se 0.01 / sqrt(3), t = 2 sqrt(3),
    # df 2; the t distribution with 2 df has sf(t) = (1 - t / sqrt(t^2 + 2)) / 2 and its
    # 97.5% quantile is 4.30265.
    result = compare.paired(np.array([0.70, 0.72, 0.74]), np.array([0.68, 0.69, 0.73]))
    t = 2 * math.sqrt(3)
    assert result.n == 3 and result.mean == pytest.approx(0.02)
    assert result.t == pytest.approx(t)
    assert result.p == pytest.approx(1 - t / math.sqrt(t * t + 2))
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((0.02 - half, 0.02 + half), abs=1e-6)
    assert result.wins == (3, 0, 0)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_the_paired_numbers_are_scipys(n):
    generator = np.random.default_rng(n)
    a = generator.normal(0.8, 0.02, n)
    b = a + generator.normal(-0.01, 0.01, n)  # correlated arms, as a shared seed makes them
    result = compare.paired(a, b)
    reference = stats.ttest_rel(a, b)
    assert (result.t, result.p) == pytest.approx((reference.statistic, reference.pvalue))
    differences = a - b
    half = stats.t.ppf(0.975, n - 1) * differences.std(ddof=1) / math.sqrt(n)
    mean = differences.mean()
    assert (result.low, result.high) == pytest.approx((mean - half, mean + half))
    assert sum(result.wins) == n and result.wins[0] == int((differences > 0).sum())


def test_no_spread_or_one_seed_gives_no_t_and_no_interval():
    same = compare.paired(np.array([0.6, 0.7]), np.array([0.5, 0.6]))
    assert same.mean == pytest.approx(0.1) and math.isnan(same.t) and same.wins == (2, 0, 0)
    # Not the zero-width interval 0.1 to 0.1: two seeds cannot make a difference certain.
    assert math.isnan(same.low) and math.isnan(same.high) and math.isnan(same.p)
    # Test accuracies on 2,200 images move in steps of 1/2200: equal differences happen.
    steps = compare.paired(np.array([2006, 2003]) / 2200, np.array([2003, 2000]) / 2200)
    assert math.isnan(steps.low) and math.isnan(steps.p)
    alone = compare.paired(np.array([0.6]), np.array([0.5]))
    assert alone.n == 1 and math.isnan(alone.low) and math.isnan(alone.p)
    equal = compare.paired(np.array([0.6, 0.7]), np.array([0.6, 0.7]))
    assert equal.p == 1.0 and equal.wins == (0, 0, 2) and math.isnan(equal.low)


def test_holm_worked_by_hand():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (never below the one before).
    adjusted = compare.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert compare.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_counts_a_comparison_without_a_p_in_its_family():
    # Two planned comparisons, one without a p yet (too few pairs): the other is still one of
    # two: 0.01 x 2, not 0.01 left as it is.
    adjusted = compare.holm([0.01, float("nan")])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])
    # Five planned, one nan: the four ps are adjusted as the first four of five.
    adjusted = compare.holm([0.01, 0.04, 0.03, float("nan"), 0.005])
    assert adjusted[:3] == pytest.approx([0.04, 0.09, 0.09]) and adjusted[4] == 0.025
    assert math.isnan(adjusted[3])


def trials_frame() -> pd.DataFrame:
    """Two arms over two learning rates and three seeds, rows shuffled; seed 2 of the
    second rate has failed in the off arm."""
    rows = []
    on = {0.01: [0.70, 0.72, 0.74], 0.1: [0.66, 0.64, 0.65]}
    off = {0.01: [0.68, 0.69, 0.73], 0.1: [0.60, 0.61, 0.0]}
    for arm, scores in ((True, on), (False, off)):
        for rate, values in scores.items():
            for seed, value in enumerate(values):
                failed = not arm and rate == 0.1 and seed == 2
                rows.append(
                    {
                        "state": "fail" if failed else "complete",
                        "seed": seed,
                        ARM: arm,
                        LR: rate,
                        "best_val_accuracy": value,
                        "test_log_loss": 1 - value,
                    }
                )
    return pd.DataFrame(rows).sample(frac=1, random_state=0)


def test_a_table_pairs_by_seed_and_adjusts_over_its_rows():
    accuracy = compare.SCORES[0]
    table = compare.table(trials_frame(), ARM, (True, False), [LR], accuracy)
    first, second, best = table.to_dict("records")
    assert first[LR] == 0.01 and first["n"] == 3
    assert first["difference"] == pytest.approx(0.02) and first["wins"] == (3, 0, 0)
    assert second[LR] == 0.1 and second["n"] == 2  # the failed seed leaves its pair out
    assert second["difference"] == pytest.approx(np.mean([0.06, 0.03]))
    reference = stats.ttest_rel([0.66, 0.64], [0.60, 0.61])
    assert second["p"] == pytest.approx(reference.pvalue)
    assert [first["holm_p"], second["holm_p"]] == pytest.approx(
        compare.holm([first["p"], second["p"]])
    )
    # Each arm at its best rate by mean validation accuracy: on 0.01, off 0.01.
    assert best[LR] == "each arm's best" and best["difference"] == pytest.approx(0.02)
    assert math.isnan(best["holm_p"])


def test_a_loss_counts_the_lower_as_the_win():
    loss = next(s for s in compare.SCORES if s.column == "test_log_loss")
    table = compare.table(trials_frame(), ARM, (True, False), [LR], loss)
    assert table.iloc[0]["difference"] == pytest.approx(-0.02)
    assert table.iloc[0]["wins"] == (3, 0, 0)  # on's loss is lower on every seed


def test_the_markdown_shows_each_score_the_trials_have():
    text = compare.markdown(
        trials_frame(), ARM, (True, False), ("lookahead on", "lookahead off"), [LR]
    )
    assert "### val accuracy, best epoch" in text and "### test log loss" in text
    assert "### test accuracy" not in text  # not measured: no table
    row = next(line for line in text.splitlines() if line.startswith("| 0.01 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["0.01", "3", "72.0", "70.0", "+2.0"]
    assert cells[-1] == "3-0"


def test_the_figure_joins_each_seeds_two_runs():
    names = ("lookahead on", "lookahead off")
    figure = compare.figure(trials_frame(), ARM, (True, False), names, [LR])
    try:
        panels = [axis.get_title() for axis in figure.axes]
        assert panels == ["val accuracy, best epoch (points)", "test log loss"]
        accuracy, loss = figure.axes
        joins = [line for line in accuracy.lines if line.get_color() == "grey"]
        # 3 pairs at 0.01, 2 at 0.1 (the failed seed has no pair)
        assert len(joins) == 5
        ends = sorted(tuple(np.round(line.get_ydata(), 6)) for line in joins)
        assert ends == sorted(
            [(70.0, 68.0), (72.0, 69.0), (74.0, 73.0), (66.0, 60.0), (64.0, 61.0)]
        )
        x = sorted({tuple(np.round(line.get_xdata(), 2)) for line in joins})
        assert x == [(-0.18, 0.18), (0.82, 1.18)]  # on left, off right, at each rate
        # every finished run a dot, the on arm's seed 2 at 0.1 too (its partner failed)
        dots = [line for line in accuracy.lines if line.get_marker() == "."]
        assert [len(d.get_ydata()) for d in dots] == [3, 3, 3, 2]
        assert sorted(np.round(dots[2].get_ydata(), 6)) == [64.0, 65.0, 66.0]
        means = [line for line in loss.lines if line.get_marker() == "o"]
        assert [round(float(m.get_ydata()[0]), 6) for m in means] == pytest.approx(
            [1 - 0.72, 1 - np.mean([0.68, 0.69, 0.73]), 1 - 0.65, 1 - 0.605]
        )
        assert [t.get_text() for t in accuracy.get_xticklabels()] == ["0.01", "0.1"]
    finally:
        plt.close(figure)


def test_no_finished_trial_draws_no_figure():
    trials = trials_frame().assign(state="running")
    assert compare.figure(trials, ARM, (True, False), ("a", "b"), [LR]) is None


def test_a_difference_without_spread_says_so_and_claims_no_interval():
    rows = [
        {
            "state": "complete",
            "seed": seed,
            ARM: arm,
            LR: 0.01,
            "test_accuracy": value,
            "best_val_accuracy": value,
        }
        for seed in range(3)
        for arm, value in ((True, (2006 + seed) / 2200), (False, (2003 + seed) / 2200))
    ]
    text = compare.markdown(pd.DataFrame(rows), ARM, (True, False), ("on", "off"), [LR])
    row = next(line for line in text.splitlines() if line.startswith("| 0.01 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:] == ["3", "91.2", "91.1", "+0.1", "no spread", "", "", "", "3-0"]


def test_two_runs_of_one_seed_at_one_point_are_refused_not_misaligned():
    trials = trials_frame()
    again = trials[(trials[ARM]) & (trials[LR] == 0.01) & (trials["seed"] == 1)].assign(
        best_val_accuracy=0.5
    )
    with pytest.raises(ValueError, match="=True has more than one run of seed 1 at one point"):
        compare.table(pd.concat([trials, again]), ARM, (True, False), [LR], compare.SCORES[0])


def test_the_legend_hides_no_run():
    # The real-setting study at its first pair: three Lookahead runs high up, one plain run.
    on = {"best_val_accuracy": [0.9126, 0.9076, 0.9136], "test_log_loss": [0.219, 0.221, 0.216]}
    off = {"best_val_accuracy": [0.9005], "test_log_loss": [0.254]}
    rows = [
        {"state": "complete", "seed": seed + (arm is False), ARM: arm}
        | {column: values[seed] for column, values in scores.items()}
        for arm, scores in ((True, on), (False, off))
        for seed in range(len(scores["test_log_loss"]))
    ]
    names = ("lookahead on (learning_rate 0.001)", "lookahead off (learning_rate 0.0005)")
    figure = compare.figure(pd.DataFrame(rows), ARM, (True, False), names, [])
    try:
        figure.tight_layout()
        figure.canvas.draw()
        legend = next(axis.get_legend() for axis in figure.axes if axis.get_legend())
        box = legend.get_window_extent()
        for axis in figure.axes:
            for line in axis.lines:
                for x, y in axis.transData.transform(np.column_stack(line.get_data())):
                    assert not box.contains(x, y), f"a run at {line.get_data()} under the legend"
    finally:
        plt.close(figure)

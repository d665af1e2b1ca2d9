"""Two arms of a sweep compared the way its design allows: paired over seeds.

A grid sweep runs every point with the same seeds, and a seed fixes a run's initialization,
data order and augmentation, so the two values of the compared key (say Lookahead on and off)
at one point are a pair per seed. Per point: the mean difference over the seeds, its 95%
confidence interval from the t distribution (df = n - 1), the paired t and its two-sided p
(scipy's ``ttest_rel``), the p adjusted by Holm's method over the points of the study (one
family per score), and how many seeds each arm wins. Each arm at its own best point (chosen
by the mean of the sweep's metric on validation) is compared the same way; that choice looks
at validation, so only the test split's difference there is free of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from catsdogs import plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Paired:
    """The difference a - b over n paired seeds."""

    n: int
    mean: float
    low: float  # the confidence interval's ends (nan below 2 pairs, or without spread)
    high: float
    t: float
    p: float
    wins: tuple[int, int, int]  # seeds where a is higher, where b is higher, ties


def paired(a: np.ndarray, b: np.ndarray) -> Paired:
    """The paired comparison of ``a`` and ``b`` (same length, the i-th of each one seed)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    differences = a - b
    n = len(differences)
    wins = (
        int((differences > 0).sum()),
        int((differences < 0).sum()),
        int((differences == 0).sum()),
    )
    if n < 2:
        mean = float(differences.mean()) if n else float("nan")
        return Paired(n, mean, float("nan"), float("nan"), float("nan"), float("nan"), wins)
    # No spread (up to the rounding of the scores' subtraction; accuracies on a test split
    # move in steps of 1/images, so equal differences happen): the t interval and t are not
    # defined, and a zero-width interval would claim a certainty three seeds do not give. The
    # p is 1 where every difference is 0, else not defined (holm still counts the row).
    if np.allclose(differences, differences[0], rtol=0, atol=1e-12):
        mean = float(differences.mean())
        p = 1.0 if mean == 0 else float("nan")
        return Paired(n, mean, float("nan"), float("nan"), float("nan"), p, wins)
    result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(CONFIDENCE)
    return Paired(
        n,
        float(differences.mean()),
        float(interval.low),
        float(interval.high),
        float(result.statistic),
        float(result.pvalue),
        wins,
    )


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p values: the i-th smallest of m is
    multiplied by m - i, and the adjusted values never decrease. The family is every entry,
    a nan one (a comparison with too few pairs so far, or without spread) included: it was
    planned, so leaving it out would correct the others for fewer comparisons than were
    made. Nan ones stay nan."""
    order = [i for i in np.argsort(p_values) if not np.isnan(p_values[i])]
    m = len(p_values)
    adjusted = [float("nan")] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Score:
    """A column of trials.csv to compare, and how to say it."""

    column: str
    name: str
    higher_is_better: bool
    points: bool  # shown in percentage points (an accuracy), else as is (a loss)


SCORES = [
    Score("best_val_accuracy", "val accuracy, best epoch", True, True),
    Score("final_val_accuracy", "val accuracy, last epoch", True, True),
    Score("test_accuracy", "test accuracy", True, True),
    Score("test_log_loss", "test log loss", False, False),
]


def _pairs(
    done: pd.DataFrame, key: str, arms: tuple[Any, Any], column: str
) -> tuple[np.ndarray, np.ndarray]:
    """The two arms' values of ``column`` over the seeds both have, in seed order."""
    return _matched(*(_by_seed(done[done[key] == arm], column, f"{key}={arm}") for arm in arms))


def _by_seed(runs: pd.DataFrame, column: str, arm: str) -> pd.Series:
    """One arm's finished values of ``column`` at one point, by seed. Two runs of one seed
    there have no pairing: refused."""
    values = runs.set_index("seed")[column].dropna()
    if values.index.has_duplicates:
        seed = values.index[values.index.duplicated()][0]
        raise ValueError(f"{arm} has more than one run of seed {seed} at one point")
    return values


def _matched(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The values of the seeds both have, in seed order."""
    seeds = sorted(set(a.index) & set(b.index))
    return a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy()


def table(
    trials: pd.DataFrame,
    key: str,
    arms: tuple[Any, Any],
    others: list[str],
    score: Score,
    metric: str = "best_val_accuracy",
    maximize: bool = True,
    at_best: bool = True,
) -> pd.DataFrame:
    """One row per point of the ``others`` keys, then (``at_best``, where there are other
    keys) one for each arm at its own best point (by the mean of ``metric``): the paired
    difference of ``score`` between the arms."""
    done = trials[trials["state"] == "complete"]
    if score.column not in done or done[score.column].isna().all():
        return pd.DataFrame()
    rows = []
    # Every point a trial has reached is a row and one of Holm's family, finished or not: it
    # is a planned comparison; its pairs are its finished trials'.
    for group in _points(trials, others):
        finished = group[group["state"] == "complete"]
        a, b = _pairs(finished, key, arms, score.column)
        rows.append({**{k: group[k].iloc[0] for k in others}, **_row(a, b, score)})
    frame = pd.DataFrame(rows)
    frame["holm_p"] = holm(frame["p"].tolist())
    if others and at_best:
        best = _at_best(done, key, arms, others, score, metric, maximize)
        if best is not None:
            frame = pd.concat([frame, pd.DataFrame([best])], ignore_index=True)
    return frame


def _points(done: pd.DataFrame, others: list[str]) -> list[pd.DataFrame]:
    """The trials of each point of the ``others`` keys (all of them when there are none), in
    the order the trials first reach them."""
    if not others:
        return [done]
    return [group for _, group in done.groupby([done[k].map(repr) for k in others], sort=False)]


def _row(a: np.ndarray, b: np.ndarray, score: Score) -> dict[str, Any]:
    result = paired(a, b)
    higher, lower, tied = result.wins
    return {
        "n": result.n,
        "a": float(a.mean()) if len(a) else float("nan"),
        "b": float(b.mean()) if len(b) else float("nan"),
        "difference": result.mean,
        "low": result.low,
        "high": result.high,
        "t": result.t,
        "p": result.p,
        "wins": (higher, lower, tied) if score.higher_is_better else (lower, higher, tied),
    }


def _at_best(
    done: pd.DataFrame,
    key: str,
    arms: tuple[Any, Any],
    others: list[str],
    score: Score,
    metric: str,
    maximize: bool,
) -> dict[str, Any] | None:
    """Each arm at the point where its mean ``metric`` is best, paired by seed."""
    chosen = []
    for arm in arms:
        mine = done[done[key] == arm]
        if mine.empty:
            return None
        means = mine.groupby([mine[k].map(repr) for k in others], sort=False)[metric].mean()
        best = means.idxmax() if maximize else means.idxmin()
        best = best if isinstance(best, tuple) else (best,)
        at = mine[np.logical_and.reduce([mine[k].map(repr) == v for k, v in zip(others, best)])]
        chosen.append(_by_seed(at, score.column, f"{key}={arm}"))
    a, b = _matched(*chosen)
    return {**{k: "each arm's best" for k in others}, **_row(a, b, score), "holm_p": float("nan")}


def figure(
    trials: pd.DataFrame,
    key: str,
    arms: tuple[Any, Any],
    names: tuple[str, str],
    others: list[str],
    images: int | None = None,
) -> Figure | None:
    """The pairs themselves, one panel per score the trials have: at each point of the
    ``others`` keys, each finished run a dot, each seed's two runs joined by a grey line, and
    each arm's mean over the paired seeds as a large dot. A difference that a few seeds
    carry, or that every seed shares, shows here as it cannot in a mean and a band. An
    accuracy panel spans at least ``plots.IMAGES_SPANNED`` of the ``images`` validated on.
    None when no trial has finished."""
    done = trials[trials["state"] == "complete"]
    scores = [s for s in SCORES if s.column in done and not done[s.column].isna().all()]
    if not scores:
        return None
    fig, axes = plots.figure(
        1, len(scores), figsize=(max(6.0, 3.6 * len(scores)), 4.4), squeeze=False
    )
    groups = _points(done, others)
    for axis, score in zip(axes[0], scores):
        for place, group in enumerate(groups):
            a, b = _pairs(group, key, arms, score.column)
            scale = 100.0 if score.points else 1.0
            left, right = place - 0.18, place + 0.18
            for first, second in zip(a, b):
                axis.plot(
                    [left, right],
                    [scale * first, scale * second],
                    "-",
                    color="grey",
                    alpha=0.6,
                    linewidth=1,
                )
            sides = ((left, a, "tab:blue", names[0]), (right, b, "tab:orange", names[1]))
            for (spot, matched, colour, name), arm in zip(sides, arms):
                # every finished seed a dot (an arm whose partner has not run yet too), the
                # mean over the paired seeds a large one
                every = scale * group[group[key] == arm][score.column].dropna().to_numpy()
                label = name if place == 0 else None
                axis.plot([spot] * len(every), every, ".", color=colour, label=label)
                if len(matched):
                    axis.plot(spot, scale * matched.mean(), "o", color=colour, markersize=9)
        ticks = [", ".join(_cell(g[k].iloc[0]) for k in others) for g in groups]
        axis.set_xticks(range(len(groups)), ticks if others else [""])
        if others:
            axis.set_xlabel(", ".join(others))
        axis.set_xlim(-0.5, len(groups) - 0.5)
        axis.set_title(score.name + (" (points)" if score.points else ""), fontsize=10)
        axis.grid(alpha=0.3)
        if score.points:  # one image's difference must not fill the panel's height
            plots.at_least(axis, 100 * plots.IMAGES_SPANNED / images if images else 2.0)
    # The legend sits in room made above the first panel's runs, never over one of them.
    first = axes[0][0]
    low, high = first.get_ylim()
    first.set_ylim(low, high + 0.3 * (high - low))
    first.legend(loc="upper center", fontsize=8, markerscale=2)
    fig.suptitle(f"{names[0]} against {names[1]}\ngrey lines join one seed's two runs", fontsize=10)
    return fig


def _number(value: float, points: bool, signed: bool = False) -> str:
    if np.isnan(value):
        return ""
    if points:
        return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _p(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.3f}" if value >= 0.001 else "<0.001"


def markdown(
    trials: pd.DataFrame,
    key: str,
    arms: tuple[Any, Any],
    names: tuple[str, str],
    others: list[str],
    metric: str = "best_val_accuracy",
    maximize: bool = True,
    at_best: bool = True,
) -> str:
    """The comparison as markdown tables, one per score that the trials have; ``names``:
    how to call the arms."""
    best_row = (
        " (the last row, each arm at its best point by validation, is outside that family)"
        if others and at_best
        else ""
    )
    lines = [
        f"## {names[0]} against {names[1]}, paired over seeds",
        "",
        f"Each row: the mean of each arm over the seeds both finished, their difference "
        f"({names[0]} minus {names[1]}; accuracies in points) with its {CONFIDENCE:.0%} "
        "confidence interval from the t distribution, the paired t and its two-sided p, "
        f"the p adjusted by Holm's method over the rows of the table (each row counts, also "
        f"one without a p so far){best_row}, and the "
        "seeds on which each arm scores better.",
        "",
    ]
    for score in SCORES:
        frame = table(trials, key, arms, others, score, metric, maximize, at_best)
        if frame.empty:
            continue
        header = [*others, "n", names[0], names[1], "difference", "95% CI", "t", "p", "Holm p"]
        lines += [f"### {score.name}", "", "| " + " | ".join(header) + " | wins |"]
        lines.append("|" + " --- |" * (len(header) + 1))
        for row in frame.to_dict("records"):
            interval = (
                ("no spread" if row["n"] >= 2 else "")
                if np.isnan(row["low"])
                else f"{_number(row['low'], score.points, True)} to "
                f"{_number(row['high'], score.points, True)}"
            )
            wins = f"{row['wins'][0]}-{row['wins'][1]}" + (
                f" ({row['wins'][2]} tied)" if row["wins"][2] else ""
            )
            cells = [
                *(_cell(row[k]) for k in others),
                str(row["n"]),
                _number(row["a"], score.points),
                _number(row["b"], score.points),
                _number(row["difference"], score.points, True),
                interval,
                "" if np.isnan(row["t"]) else f"{row['t']:.2f}",
                _p(row["p"]),
                _p(row["holm_p"]),
                wins,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)

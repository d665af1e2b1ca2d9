"""What a sweep shows, rebuilt from its study after every trial: ``trials.csv`` (one row a
trial), ``summary.csv`` (one row a combination, seeds pooled), ``sweep.png`` (the metric against
the swept number, mean and +-1 std over seeds: the paper's robustness figure), ``paired.png``
(a sweep with ``compare``: each seed's two arms joined) and ``sweep.md``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from catsdogs import durations, files, plots
from catsdogs.sweep import compare, pin, storage
from catsdogs.sweep.spec import Sweep
from catsdogs.training import decisions
from catsdogs.training.rundir import HISTORY, VAL_ACCURACY, VAL_LOSS, RunDir

RESULTS = [
    "best_val_loss",
    "best_val_accuracy",
    "best_epoch",
    "final_val_loss",
    "final_val_accuracy",
    "test_accuracy",
    "test_log_loss",
    "epochs",
    "seconds",
]
COUNTS = ["best_epoch", "epochs"]  # whole numbers, blank where a trial has none
PAIRED = "paired.png"
SHORT = {VAL_ACCURACY: "val_acc", VAL_LOSS: VAL_LOSS}


def short_metric(metric: str) -> str:
    return SHORT[metric]


def label(key: str, value: Any) -> str:
    """``optimizer.lookahead.enabled`` True -> ``lookahead on``; else ``learning_rate 0.03``."""
    parts = key.split(".")
    if isinstance(value, (bool, np.bool_)):
        name = parts[-2] if parts[-1] == "enabled" and len(parts) > 1 else parts[-1]
        return f"{name} {'on' if value else 'off'}"
    if isinstance(value, (float, np.floating)):  # 12 digits: 0.1 and 0.1000001 stay apart
        return f"{parts[-1]} {float(value):.12g}"
    return f"{parts[-1]} {value}"


def trials_frame(study: optuna.Study, sweep: Sweep) -> pd.DataFrame:
    """One row per trial that started (the queue's waiting ones and the ones that stepped
    aside for a duplicate are left out)."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if storage.excluded(trial) or trial.state == optuna.trial.TrialState.WAITING:
            continue
        if not set(sweep.design.distributions()) <= set(trial.params):
            continue  # just taken by another worker, its values not all stored yet
        point = sweep.design.point_of(trial.params)
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "seed": point.seed,
                **dict(point.values),
                **{key: attrs.get(key) for key in RESULTS},
                "run_dir": attrs.get("run_dir"),
                "command": attrs.get("command"),
                "diverged": bool(attrs.get("diverged", False)),
            }
        )
    keys = sweep.design.keys
    columns = ["trial", "state", "seed", *keys, *RESULTS, "run_dir", "command", "diverged"]
    frame = pd.DataFrame(rows, columns=columns)
    frame[RESULTS] = frame[RESULTS].apply(pd.to_numeric)  # a score not measured is nan
    # A trial cut off (its process killed) and run again: the run again is the trial's record.
    keys = ["seed", *keys]
    again = frame.duplicated(subset=keys, keep="last") & (frame["state"] == "fail")
    return frame[~again].reset_index(drop=True)


def csv_text(trials: pd.DataFrame) -> str:
    """trials.csv's text: the counts as whole numbers (2, not 2.0), blank where missing; the
    frame itself keeps floats, so that a missing count is nan, not pandas' NA, in its sums."""
    shown = trials.copy()
    for column in COUNTS:
        shown[column] = shown[column].map(lambda value: "" if pd.isna(value) else str(int(value)))
    return shown.to_csv(index=False, lineterminator="\n")


def summary_frame(trials: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Mean, sample standard deviation and standard error over the seeds of every
    combination's complete trials: ``n`` of them, ``diverged`` of those diverged. A diverged
    trial counts with the epochs it finished; one that finished none has no value to pool,
    so each standard error divides by the number of values, not by ``n``."""
    done = trials[trials["state"] == "complete"]
    columns = [
        *sweep.design.keys,
        "n",
        "val_accuracy_mean",
        "val_accuracy_std",
        "val_accuracy_se",
        "val_loss_mean",
        "val_loss_std",
        "val_loss_se",
        "test_accuracy_mean",
        "test_accuracy_std",
        "diverged",
    ]
    if done.empty:
        return pd.DataFrame(columns=columns)
    keys = [done[key].map(repr) for key in sweep.design.keys]  # lists and floats group exactly
    grouped = done.groupby(keys, sort=False)
    summary = pd.DataFrame(
        {
            **{key: grouped[key].first() for key in sweep.design.keys},
            "n": grouped.size(),
            "val_accuracy_mean": grouped["best_val_accuracy"].mean(),
            "val_accuracy_std": grouped["best_val_accuracy"].std(ddof=1),
            "val_loss_mean": grouped["best_val_loss"].mean(),
            "val_loss_std": grouped["best_val_loss"].std(ddof=1),
            "test_accuracy_mean": grouped["test_accuracy"].mean(),
            "test_accuracy_std": grouped["test_accuracy"].std(ddof=1),
            "diverged": grouped["diverged"].sum().astype(int),
        }
    ).reset_index(drop=True)
    for name in (VAL_ACCURACY, VAL_LOSS):  # the standard error of each mean over seeds
        values = grouped[f"best_{name}"].count().reset_index(drop=True)
        summary[f"{name}_se"] = summary[f"{name}_std"] / np.sqrt(values)
    return summary[columns]


def _log_axis(key: str, values: pd.Series) -> bool:
    numbers = values.astype(float)
    return "learning_rate" in key or (numbers.min() > 0 and numbers.max() / numbers.min() >= 20)


def _rows_with(frame: pd.DataFrame, values: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` with these values (numbers, switches, lists alike)."""
    mask = np.ones(len(frame), dtype=bool)
    for key, value in values.items():
        mask &= frame[key].map(lambda cell, v=value: np.array_equal(cell, v)).to_numpy(bool)
    return frame[mask]


def _draw_grid(axis, summary: pd.DataFrame, trials: pd.DataFrame, sweep: Sweep) -> str:
    """One line per value of the other swept keys: the mean over seeds, +-1 std as a band,
    and each seed's own score as a dot (three seeds are too few for a band to say much)."""
    metric, x = sweep.metric, sweep.x
    others = [key for key in sweep.design.keys if key != x]
    done = trials[trials["state"] == "complete"]
    groups = (
        summary.groupby([summary[k].map(repr) for k in others], sort=False)
        if others
        else [((), summary)]
    )
    for _, group in groups:
        group = group.sort_values(x)
        values = {k: group[k].iloc[0] for k in others}
        name = ", ".join(label(k, v) for k, v in values.items()) or metric
        mean, std = group[f"{metric}_mean"], group[f"{metric}_std"].fillna(0)
        line = axis.plot(group[x].astype(float), mean, "o-", label=name)[0]
        axis.fill_between(
            group[x].astype(float), mean - std, mean + std, color=line.get_color(), alpha=0.2
        )
        mine = _rows_with(done, values)
        axis.plot(
            mine[x].astype(float), mine[f"best_{metric}"], ".", color=line.get_color(), alpha=0.6
        )
    axis.legend()
    if len(sweep.spec.seeds) < 2:
        return "lines: each point's one seed (no spread to draw)"
    return "lines: the mean over seeds, bands: +-1 std, dots: each seed"


def _draw_search(axis, summary: pd.DataFrame, trials: pd.DataFrame, sweep: Sweep) -> str:
    """One dot per finished trial."""
    done = trials[trials["state"] == "complete"]
    axis.plot(done[sweep.x].astype(float), done[f"best_{sweep.metric}"], "o", alpha=0.7)
    return "one dot per trial"


def _draw_categories(axis, summary: pd.DataFrame, trials: pd.DataFrame, sweep: Sweep) -> str:
    """No number to put on the x axis (a grid of switches or names): one place for each
    combination, its mean with +-1 std as an error bar, and each seed's score as a dot."""
    metric = sweep.metric
    done = trials[trials["state"] == "complete"]
    names = []
    for place, (_, row) in enumerate(summary.iterrows()):
        values = {k: row[k] for k in sweep.design.keys}
        names.append("\n".join(label(k, v) for k, v in values.items()))
        std = 0.0 if np.isnan(row[f"{metric}_std"]) else row[f"{metric}_std"]
        line = axis.errorbar(place, row[f"{metric}_mean"], yerr=std, fmt="o", capsize=6)
        seeds = _rows_with(done, values)[f"best_{metric}"]
        axis.plot([place] * len(seeds), seeds, ".", color=line[0].get_color(), alpha=0.6)
    axis.set_xticks(range(len(names)), names)
    axis.set_xlim(-0.5, len(names) - 0.5)
    if len(sweep.spec.seeds) < 2:
        return "points: each combination's one seed (no spread to draw)"
    return "points: the mean over seeds, bars: +-1 std, dots: each seed"


def _mark_diverged(axis, trials: pd.DataFrame, sweep: Sweep) -> str:
    """A red cross at each diverged trial: at its best value where it finished an epoch,
    else on the bottom edge of the plot (it has no value)."""
    diverged = trials[(trials["state"] == "complete") & trials["diverged"].astype(bool)]
    if diverged.empty:
        return ""
    values = diverged[f"best_{sweep.metric}"]
    cross = {"color": "tab:red", "marker": "x", "linestyle": "", "markersize": 9}
    judged, unjudged = diverged[values.notna()], diverged[values.isna()]
    if not judged.empty:
        x = judged[sweep.x].astype(float)
        axis.plot(x, judged[f"best_{sweep.metric}"], label="diverged later", **cross)
    if not unjudged.empty:  # y in axes units: 0 is the bottom edge, whatever the limits
        x = unjudged[sweep.x].astype(float)
        edge = axis.get_xaxis_transform()
        label = "diverged in its first epoch (no value)"
        axis.plot(x, [0.0] * len(x), transform=edge, clip_on=False, label=label, **cross)
    axis.legend()
    return ", red crosses: diverged"


DRAW = {"grid": _draw_grid, "search": _draw_search}  # keyed by the design's kind


def figure(
    summary: pd.DataFrame,
    trials: pd.DataFrame,
    sweep: Sweep,
    path: Path,
    images: int | None = None,
) -> None:
    """The metric against the swept number, as the design's kind draws it; an accuracy axis
    spans at least ``plots.IMAGES_SPANNED`` validation images (of ``images``), so that one
    image's difference does not look like a trend."""
    metric, x = sweep.metric, sweep.x
    fig, axis = plots.figure(figsize=(7, 4.5))
    shown = ""
    nothing = summary[f"{metric}_mean"].isna().all()  # none yet, or none finished an epoch
    if nothing:
        none = "every finished trial diverged in its first epoch"
        axis.text(0.5, 0.5, "no finished trial yet" if summary.empty else none, ha="center")
    elif x is None:
        shown = _draw_categories(axis, summary, trials, sweep)
    else:
        shown = DRAW[sweep.design.kind](axis, summary, trials, sweep)
        shown += _mark_diverged(axis, trials, sweep)
        if _log_axis(x, trials[x].dropna()):
            axis.set_xscale("log")
        axis.set_xlabel(x)
    if metric == VAL_ACCURACY and not nothing:
        axis.axhline(0.5, color="grey", linestyle=":", label="chance (two balanced classes)")
        axis.legend()
        plots.at_least(axis, plots.IMAGES_SPANNED / images if images else 0.02)
    axis.set_ylabel(f"{metric} at the best epoch")
    title = f"sweep {sweep.name}: {len(sweep.spec.seeds)} seed(s) per point"
    axis.set_title(f"{title}\n{shown}" if shown else title, fontsize=10)
    axis.grid(alpha=0.3)
    plots.save(fig, path)


def _table(frame: pd.DataFrame, keys: tuple[str, ...] = ()) -> str:
    """A markdown table: scores to 4 digits, the swept ``keys``' values to 12 (0.1 and
    0.1000001 are two rows, and must read as two)."""

    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            digits = 12 if column in keys else 4
            return "" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(v, c) for v, c in zip(row, frame.columns)) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def _wall_time(study: optuna.Study) -> float:
    trials = [
        t for t in study.get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete
    ]
    if not trials:
        return 0.0
    start = min(t.datetime_start for t in trials)
    return (max(t.datetime_complete for t in trials) - start).total_seconds()


def weak_trials(trials: pd.DataFrame, out: Path) -> dict[int, str]:
    """Each complete trial whose run ended weak (``decisions.weakness``: validation at
    chance or one class, under one pass), by trial number: what the terminal warned of."""
    found = {}
    for row in trials[trials["state"] == "complete"].itertuples():
        folder = out / "runs" / str(row.run_dir)
        if isinstance(row.run_dir, str) and (folder / HISTORY).is_file():
            if reason := decisions.weakness(RunDir(folder)):
                found[row.trial] = reason
    return found


def val_images(trials: pd.DataFrame, out: Path) -> int | None:
    """How many images the trials were validated on (their runs record it), if known."""
    for name in trials.loc[trials["state"] == "complete", "run_dir"].dropna():
        counted = RunDir(out / "runs" / str(name)).metrics().get("val_images")
        if counted:
            return int(counted)
    return None


def best_line(
    summary: pd.DataFrame,
    sweep: Sweep,
    weak: pd.DataFrame | None = None,
    val_n: int | None = None,
) -> str:
    """The best combination by the mean of the metric, its standard error and n; where others
    are within the seeds' noise of it (their means +-1 standard error overlap; with one seed,
    an accuracy within one standard error of the best's on the ``val_n`` validation images,
    else equal values), they are named with it instead of a winner; and none where the best
    one's every run ended weak (``weak``: the trials whose runs did, with the design's keys)."""
    metric = sweep.metric
    summary = summary[summary[f"{metric}_mean"].notna()]  # all diverged before one epoch: none
    if summary.empty:
        return "No best combination: every finished trial diverged in its first epoch."
    mean, se = summary[f"{metric}_mean"], summary[f"{metric}_se"]
    best = mean.idxmax() if sweep.direction == "maximize" else mean.idxmin()
    keys = sweep.design.keys
    if weak is not None and not weak.empty:
        mine = weak
        for key in keys:
            mine = mine[mine[key] == summary.loc[best, key]]
        if len(mine) >= summary.loc[best, "n"]:
            return (
                "No best combination: even the best one's runs ended weak (validation at "
                "chance or one class, or under one pass; see Warnings below), so none is "
                "better than a guess."
            )

    def described(row: pd.Series) -> str:
        shown = ", ".join(label(k, row[k]) for k in sweep.design.keys) or "the base config"
        noise = "" if np.isnan(row[f"{metric}_se"]) else f" +- {row[f'{metric}_se']:.4f}"
        return f"{shown}: {metric} {row[f'{metric}_mean']:.4f}{noise} (n={int(row['n'])})"

    if np.isnan(se[best]):  # one value there: no seeds' noise, but the images' own
        margin, why = 1e-12, "one seed"
        if metric == VAL_ACCURACY and val_n:
            images = math.sqrt(mean[best] * (1 - mean[best]) / val_n)
            if images > margin:
                margin = images
                why += (
                    f"; within one standard error of an accuracy on {val_n} validation "
                    f"images, +- {images:.4f}"
                )
        equal = summary[(mean - mean[best]).abs() <= margin]
        if len(equal) > 1:
            order = equal[f"{metric}_mean"].sort_values(ascending=sweep.direction != "maximize")
            named = "; ".join(described(summary.loc[i]) for i in order.index)
            return f"No best combination: {len(equal)} tie ({why}): {named}."
        return f"Best combination: {described(summary.loc[best])}; one seed: no standard error."
    tied = summary[(mean - mean[best]).abs() <= se + se[best]]  # rows of one value: left out
    if len(tied) == 1:
        return f"Best combination: {described(summary.loc[best])} (+- one standard error)."
    order = tied[f"{metric}_mean"].sort_values(ascending=sweep.direction != "maximize").index
    named = "; ".join(described(summary.loc[i]) for i in order)
    return (
        f"No best combination: {len(tied)} are within one another's noise (means +- one "
        f"standard error overlap): {named}."
    )


def markdown(
    summary: pd.DataFrame,
    trials: pd.DataFrame,
    sweep: Sweep,
    wall: float,
    pinned: str | None,
    weak: dict[int, str] | None = None,
    val_n: int | None = None,
) -> str:
    metric = sweep.metric
    states = trials["state"].value_counts().to_dict()
    base = f"Base config `{sweep.spec.base}`"
    if pinned:
        base += f", pinned in `{pin.PINNED}` (SHA-256 {pinned[:16]}; every trial trains from it)"
    lines = [
        f"# Sweep {sweep.name}",
        "",
        f"{base}, metric `{metric}` at each trial's best epoch (its lowest validation loss); "
        f"trials: {', '.join(f'{n} {s}' for s, n in states.items()) or 'none yet'}; "
        f"wall time {durations.text(wall)}.",
        "",
    ]
    weak = weak or {}
    if not summary.empty:
        weak_rows = trials[trials["trial"].isin(weak)] if weak else None
        lines += [best_line(summary, sweep, weak_rows, val_n), ""]
    lines += [
        "![sweep](sweep.png)",
        "",
        "## Summary (seeds pooled)",
        "",
        _table(summary, sweep.design.keys),
        "",
    ]
    if sweep.arms is not None and not trials.empty:
        lines += [
            compare.markdown(
                trials,
                sweep.spec.compare,
                sweep.arms,
                _arm_names(sweep),
                _others(sweep),
                f"best_{metric}",
                sweep.direction == "maximize",
            ),
        ]
        if (trials["state"] == "complete").any():
            lines += [f"![each seed's two runs]({PAIRED})", ""]
    if weak:
        lines += ["## Warnings", ""]
        for number, reason in sorted(weak.items()):
            row = trials[trials["trial"] == number].iloc[0]
            point = ", ".join(label(k, row[k]) for k in sweep.design.keys)
            lines.append(f"- trial {number} ({point}, seed {row['seed']}): a weak model: {reason}")
        lines.append("")
    lines += [
        "## Sweep file",
        "",
        "```yaml",
        sweep.text.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _arm_names(sweep: Sweep) -> tuple[str, str]:
    """How to call each arm: its value, and what ``arm_set`` sets apart for it."""
    key, arms = sweep.spec.compare, sweep.arms

    def name(arm: Any) -> str:
        point = next(p for p in sweep.design.points() if dict(p.values)[key] == arm)
        own = sweep.arm_overrides(point)
        apart = ", ".join(label(k, v) for k, v in own.items())
        return f"{label(key, arm)} ({apart})" if apart else label(key, arm)

    return name(arms[0]), name(arms[1])


def _others(sweep: Sweep) -> list[str]:
    """The swept keys besides the compared one: the points at which the arms are paired."""
    return [k for k in sweep.design.keys if k != sweep.spec.compare]


def best_run(study: optuna.Study, sweep: Sweep, out: Path) -> Path | None:
    """The run directory of the finished trial with the best metric (None: none finished, or
    sweep.md names no best combination: a tie, or the best ones' runs ended weak)."""
    trials = trials_frame(study, sweep)
    done = trials[(trials["state"] == "complete") & trials[f"best_{sweep.metric}"].notna()]
    if done.empty:
        return None
    weak = weak_trials(trials, out)
    weak_rows = trials[trials["trial"].isin(weak)] if weak else None
    line = best_line(summary_frame(trials, sweep), sweep, weak_rows, val_images(trials, out))
    if not line.startswith("Best "):
        return None
    values = done[f"best_{sweep.metric}"]
    best = values.idxmax() if sweep.direction == "maximize" else values.idxmin()
    return out / "runs" / str(done.loc[best, "run_dir"])


def write(study: optuna.Study, sweep: Sweep, out: Path) -> None:
    """All the files, each atomically, from the study as it is now."""
    trials = trials_frame(study, sweep)
    summary = summary_frame(trials, sweep)
    files.write_text(out / "trials.csv", csv_text(trials))
    files.write_text(out / "summary.csv", summary.to_csv(index=False, lineterminator="\n"))
    val_n = val_images(trials, out)
    figure(summary, trials, sweep, out / "sweep.png", val_n)
    if sweep.arms is not None:
        pairs = compare.figure(
            trials,
            sweep.spec.compare,
            sweep.arms,
            _arm_names(sweep),
            _others(sweep),
            val_n,
        )
        if pairs is not None:
            plots.save(pairs, out / PAIRED)
    weak = weak_trials(trials, out)
    text = markdown(
        summary, trials, sweep, _wall_time(study), pin.pinned_digest(study), weak, val_n
    )
    versions = study.user_attrs.get(pin.CODE)
    if versions:  # the code that ran the study, by the git tree of the package
        text += f"\nCode: catsdogs package {', then '.join(versions)} (git tree).\n"
    files.write_text(out / "sweep.md", text)

"""Lookahead on vs off in a finished sweep: the numbers behind docs/studies/lookahead.md.

Reads a sweep's summary.csv (written by `catsdogs sweep`, seeds pooled per learning rate) and
prints, as markdown, what the study asks: each arm at its own best learning rate (difference
against the seeds' standard error), the difference at every learning rate, and the spread of
each arm's accuracy across the learning-rate range (robustness).

    python scripts/compare_lookahead.py docs/studies/lookahead_sgd/summary.csv
"""

from __future__ import annotations

import argparse
import math

import pandas as pd

ARM = "optimizer.lookahead.enabled"
LR = "optimizer.learning_rate"
MEAN = "val_accuracy_mean"
STD = "val_accuracy_std"


def _arms(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Lookahead-on and -off rows, each indexed by learning rate."""
    enabled = summary[ARM].astype(str).str.lower() == "true"
    on = summary[enabled].set_index(LR).sort_index()
    off = summary[~enabled].set_index(LR).sort_index()
    if on.empty or off.empty or list(on.index) != list(off.index):
        raise SystemExit(f"error: the summary needs both arms over the same {LR} values")
    return on, off


def _se(a: pd.Series, b: pd.Series) -> float:
    """Standard error of a difference of two seed means."""
    return math.sqrt(a[STD] ** 2 / a["n"] + b[STD] ** 2 / b["n"])


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def report(summary: pd.DataFrame) -> str:
    on, off = _arms(summary)
    lines = ["| | best lr | val_accuracy (mean ± std over seeds) |", "| --- | --- | --- |"]
    best = {}
    for name, arm in (("Lookahead on", on), ("Lookahead off", off)):
        lr = arm[MEAN].idxmax()
        best[name] = arm.loc[lr]
        lines.append(f"| {name} | {lr:g} | {arm.loc[lr, MEAN]:.4f} ± {arm.loc[lr, STD]:.4f} |")
    a, b = best["Lookahead on"], best["Lookahead off"]
    diff, se = a[MEAN] - b[MEAN], _se(a, b)
    lines += [
        "",
        f"Best against best: {_pts(diff)} points (standard error {100 * se:.1f}, "
        f"z = {diff / se:.1f}).",
        "",
    ]

    lines += [
        "| learning rate | on | off | on − off (points) | se | z |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for lr in on.index:
        a, b = on.loc[lr], off.loc[lr]
        diff, se = a[MEAN] - b[MEAN], _se(a, b)
        z = f"{diff / se:.1f}" if se > 0 else "n/a"
        lines.append(
            f"| {lr:g} | {a[MEAN]:.4f} | {b[MEAN]:.4f} | {_pts(diff)} | {100 * se:.1f} | {z} |"
        )

    lines += ["", "| across the learning rates | on | off |", "| --- | --- | --- |"]
    spread = (
        ("mean of the means", lambda s: f"{s.mean():.4f}"),
        ("std of the means (points)", lambda s: f"{100 * s.std(ddof=1):.1f}"),
        ("range of the means (points)", lambda s: f"{100 * (s.max() - s.min()):.1f}"),
        ("worst mean", lambda s: f"{s.min():.4f}"),
    )
    for label, stat in spread:
        lines.append(f"| {label} | {stat(on[MEAN])} | {stat(off[MEAN])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="a sweep's summary.csv")
    print(report(pd.read_csv(parser.parse_args().summary)))


if __name__ == "__main__":
    main()

"""docs/budget/accuracy.png from docs/budget/results.csv: test accuracy with TTA against the time
budget, for each recipe on each machine (the runs and commands: docs/benchmarks.md), with the
targets of issue 31 marked.

    python scripts/budget_figure.py [--results docs/budget/results.csv]
                                    [--out docs/budget/accuracy.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import benchlib
import pandas as pd

from catsdogs import plots

# (machine, recipe) -> colour and line style: a machine's colour, a recipe's style.
COLOURS = {"2 cores": "tab:blue", "1 core": "tab:orange"}
STYLES = {"now": "-", "before": "--"}
# Where each line's values go beside its points (points of an inch, alignment), so that no two
# meet: the two "now" lines end at the same accuracy.
LABELS = {
    ("2 cores", "now"): ((-6, 5), "right"),
    ("1 core", "now"): ((7, -3), "left"),
    ("2 cores", "before"): ((0, -14), "center"),
    ("1 core", "before"): ((0, -14), "center"),
}
# The targets on 2 cores (and 30 minutes on one core): minutes -> accuracy.
TARGETS = {"2 cores": {10: 0.88, 30: 0.94, 60: 0.96}, "1 core": {30: 0.90}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    folder = benchlib.ROOT / "docs" / "budget"
    parser.add_argument("--results", type=Path, default=folder / "results.csv")
    parser.add_argument("--out", type=Path, default=folder / "accuracy.png")
    args = parser.parse_args()
    runs = pd.read_csv(args.results).sort_values("minutes")
    runs = runs[runs["recipe"].isin(STYLES)]  # runs kept for the record only (superseded)
    figure, axis = plots.figure(figsize=(7.5, 5.0))
    for (machine, recipe), lines in runs.groupby(["machine", "recipe"], sort=False):
        colour, style = COLOURS[machine], STYLES[recipe]
        axis.plot(
            lines["minutes"],
            lines["test_acc_tta"],
            style,
            marker="o",
            color=colour,
            label=f"{machine}, {'configs/cpu.yaml now' if recipe == 'now' else 'before issue 31'}",
        )
        offset, align = LABELS[machine, recipe]
        for minutes, value in zip(lines["minutes"], lines["test_acc_tta"]):
            axis.annotate(
                f"{value:.3f}",
                (minutes, value),
                textcoords="offset points",
                xytext=offset,
                ha=align,
                fontsize=8,
                color=colour,
            )
    for machine, targets in TARGETS.items():
        axis.plot(
            list(targets),
            list(targets.values()),
            "x",
            markersize=9,
            color=COLOURS[machine],
            label=f"target, {machine}",
        )
    minutes = sorted(runs["minutes"].unique())
    axis.set_xscale("log")
    axis.set_xticks(minutes, [f"{m:g} min" for m in minutes])
    axis.minorticks_off()
    axis.set_xlim(minutes[0] / 1.25, minutes[-1] * 1.25)
    low = min(runs["test_acc_tta"].min(), 0.7)
    axis.set_ylim(low - 0.02, 1.0)
    axis.set(
        xlabel="time budget, start to exit",
        ylabel="accuracy on 2,200 held-out images (TTA)",
        title="configs/cpu.yaml on the full training set (17,818 images), AMD EPYC (Zen 4)",
    )
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    plots.save(figure, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

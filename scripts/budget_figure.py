"""docs/budget/accuracy.png from docs/budget/results.csv: accuracy on the held-out test split
against the time budget, with and without TTA (the runs and commands: docs/benchmarks.md).

    python scripts/budget_figure.py [--results docs/budget/results.csv]
                                    [--out docs/budget/accuracy.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import benchlib
import pandas as pd

from catsdogs import plots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    folder = benchlib.ROOT / "docs" / "budget"
    parser.add_argument("--results", type=Path, default=folder / "results.csv")
    parser.add_argument("--out", type=Path, default=folder / "accuracy.png")
    args = parser.parse_args()
    runs = pd.read_csv(args.results).sort_values("minutes")
    figure, axis = plots.figure(figsize=(6.5, 4.2))
    for column, label, offset in (
        ("test_acc_tta", "with TTA (predict's default)", (-34, 6)),  # labels above left
        ("test_acc", "without TTA", (6, -12)),  # and below right: they never overlap
    ):
        line = axis.plot(runs["minutes"], runs[column], "o-", label=label)[0]
        for minutes, value in zip(runs["minutes"], runs[column]):
            axis.annotate(
                f"{value:.3f}",
                (minutes, value),
                textcoords="offset points",
                xytext=offset,
                color=line.get_color(),
            )
    axis.axhline(0.93, color="grey", linestyle=":", label="the issue's target, 0.93")
    axis.set_xscale("log")
    axis.set_xticks(runs["minutes"], [f"{m:g} min" for m in runs["minutes"]])
    axis.minorticks_off()
    axis.set(
        xlabel="time budget, start to exit, on 2 CPU cores",
        ylabel="accuracy on 2,200 held-out images",
        title="configs/cpu.yaml on the full training set (17,818 images)",
    )
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    plots.save(figure, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

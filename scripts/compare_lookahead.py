"""Lookahead on vs off in a sweep's trials.csv: the tables of docs/studies/lookahead.md.

The paired comparison is the one `catsdogs sweep` writes into sweep.md for a sweep file with
``compare: optimizer.lookahead.enabled`` (catsdogs/sweep/compare.py); this script prints it
for any trials.csv (studies that ran before sweep.md had it), then the spread of each arm's
mean over the learning rates (robustness, the paper's second claim).

Several trials.csv files (studies with one point each, such as each optimizer's arms at their
own rates) are one family: one row per study, Holm's correction over the studies; a run that
diverged is scored there as a model that says 0.5 for every image (test accuracy 0.5, test log
loss ln 2), the rule docs/studies/lookahead.md fixed before the results.

    python scripts/compare_lookahead.py docs/studies/lookahead_full_adam/trials.csv \
        docs/studies/lookahead_full_sgd/trials.csv

    python scripts/compare_lookahead.py docs/studies/lookahead_sgd/trials.csv \
        [--figure docs/studies/lookahead_sgd/sweep.png --sweep configs/sweeps/lookahead_sgd.yaml]
        [--pairs docs/studies/lookahead_sgd/paired.png]

With --figure it also draws the sweep's figure (as `catsdogs sweep` does: each seed a dot)
from the trials alone; with --pairs the figure of the pairs (each seed's two runs joined).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from catsdogs import plots
from catsdogs.sweep import compare, results, spec

ARM = "optimizer.lookahead.enabled"
LR = "optimizer.learning_rate"


def spread(trials: pd.DataFrame, column: str = "best_val_accuracy") -> str:
    """Each arm's mean over the seeds at every learning rate, summed up across the rates."""
    done = trials[trials["state"] == "complete"]
    means = done.groupby([ARM, LR])[column].mean().unstack(ARM)
    rows = (
        ("mean of the means", lambda s: f"{s.mean():.4f}"),
        ("std of the means (points)", lambda s: f"{100 * s.std(ddof=1):.1f}"),
        ("range of the means (points)", lambda s: f"{100 * (s.max() - s.min()):.1f}"),
        ("worst mean", lambda s: f"{s.min():.4f}"),
    )
    lines = ["| across the learning rates | on | off |", "| --- | --- | --- |"]
    lines += [f"| {name} | {stat(means[True])} | {stat(means[False])} |" for name, stat in rows]
    return "\n".join(lines)


def read(path: Path) -> pd.DataFrame:
    """A trials.csv as the sweep wrote it, its switch typed, the columns of older ones added."""
    trials = pd.read_csv(path)
    trials[ARM] = trials[ARM].astype(str).str.lower() == "true"
    missing = [c for c in results.RESULTS if c not in trials]  # older trials.csv files
    trials = trials.reindex(columns=[*trials.columns, *missing])
    return trials if "diverged" in trials else trials.assign(diverged=False)


CHANCE = {"test_accuracy": 0.5, "test_log_loss": math.log(2)}  # 0.5 for every image


def family(paths: list[Path]) -> str:
    """The studies as one family: a row each (named by its folder), Holm over the rows; a
    diverged run scored at chance on the test split, not at the epoch it reached before."""
    frames = [read(path).assign(study=path.parent.name) for path in paths]
    for path, frame in zip(paths, frames):
        if frame[frame["state"] == "complete"].duplicated([ARM, "seed"]).any():
            raise SystemExit(
                f"error: {path} runs an arm more than once per seed (several points): "
                "a family takes studies of one point each"
            )
    trials = pd.concat(frames, ignore_index=True)
    diverged = (trials["state"] == "complete") & (
        trials["diverged"].astype(str).str.lower() == "true"
    )
    trials.loc[diverged, list(CHANCE)] = list(CHANCE.values())
    names = ("lookahead on", "lookahead off")
    text = compare.markdown(trials, ARM, (True, False), names, ["study"], at_best=False)
    runs = trials[diverged][["study", ARM, "seed"]].itertuples(index=False, name=None)
    scored = [f"{study} lookahead {'on' if on else 'off'} seed {seed}" for study, on, seed in runs]
    if scored:
        text += "\nDiverged, scored at chance on the test split: " + ", ".join(scored) + "\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trials", nargs="+", type=Path, help="a sweep's trials.csv (or several)")
    parser.add_argument("--figure", type=Path, help="draw the sweep's figure here")
    parser.add_argument("--sweep", type=Path, help="the sweep file (for --figure)")
    parser.add_argument("--pairs", type=Path, help="draw each seed's two runs, joined, here")
    args = parser.parse_args()
    if len(args.trials) > 1:
        print(family(args.trials))
        return
    trials = read(args.trials[0])
    if args.figure:
        if args.sweep is None:
            raise SystemExit("error: --figure needs --sweep (the sweep file the trials ran)")
        checked = spec.read(args.sweep)
        results.figure(results.summary_frame(trials, checked), trials, checked, args.figure)
    names = ("lookahead on", "lookahead off")
    if args.pairs:
        plots.save(compare.figure(trials, ARM, (True, False), names, [LR]), args.pairs)
    print(compare.markdown(trials, ARM, (True, False), names, [LR]))
    print(spread(trials))


if __name__ == "__main__":
    main()

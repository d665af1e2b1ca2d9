"""How much of a paired Lookahead comparison is the test split's own sampling.

The paired t interval of docs/studies/lookahead.md (section 2) is over seeds: it holds the
test split fixed, 2,200 images drawn once. Were the images drawn again, the difference would
move too. This script measures both: each finished run's model (its best.keras) predicts
P(dog) for every image of the study's labelled test split once, and for each score (log loss,
accuracy) it prints the difference Lookahead minus its inner optimizer averaged over the
seeds, the seeds' standard error of it (what the t interval uses), and the test images'
standard error of it (the spread over images of the per-image difference, averaged over the
seeds, over the square root of the image count). Their root sum of squares is a rough
standard error for a new draw of both seeds and images.

    python scripts/test_image_variation.py runs/sweeps/lookahead_full_adam \\
        runs/sweeps/lookahead_full_sgd --test data/full/test.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

ARM = "optimizer.lookahead.enabled"


def per_image(labels: np.ndarray, p_dog: np.ndarray) -> dict[str, np.ndarray]:
    """Each image's log loss and correctness (the means are log_loss and accuracy)."""
    from catsdogs.predict import evaluation

    return {
        "log loss": evaluation.losses(labels, p_dog),
        "accuracy": ((p_dog >= 0.5) == (labels == 1)).astype(float),
    }


def variation(on: np.ndarray, off: np.ndarray) -> dict[str, float]:
    """``on``, ``off``: one score per seed (rows, paired) and image (columns, the same
    images). The mean difference, the seeds' standard error of it, the images' standard
    error of it, and their root sum of squares."""
    differences = np.asarray(on, dtype=float) - np.asarray(off, dtype=float)
    seeds, images = differences.shape
    per_seed = differences.mean(axis=1)
    seeds_se = per_seed.std(ddof=1) / math.sqrt(seeds) if seeds > 1 else float("nan")
    images_se = differences.mean(axis=0).std(ddof=1) / math.sqrt(images)
    return {
        "seeds": seeds,
        "difference": float(per_seed.mean()),
        "seeds_se": float(seeds_se),
        "images_se": float(images_se),
        "both_se": float(math.hypot(seeds_se, images_se)),
    }


def predictions(folder: Path, run_dir: str, paths: list[str], orientations: list[int]):
    """P(dog) of the run's best.keras for each path, one pass, as `catsdogs evaluate` does."""
    from catsdogs.predict import predictor

    loaded = predictor.load(folder / "runs" / run_dir / "best.keras")
    return predictor.p_dog(loaded, paths, tta=False, orientations=orientations)


def study(folder: Path, test: Path) -> dict[str, dict[str, float]]:
    """The variation of each score in the sweep at ``folder`` (one point, two arms)."""
    from catsdogs.data import manifests

    manifest = manifests.read(test, "labelled", print)
    labels = np.asarray(manifest.labels, dtype=float)
    trials = pd.read_csv(folder / "trials.csv")
    done = trials[trials["state"] == "complete"]
    done = done.assign(on=done[ARM].astype(str).str.lower() == "true")
    seeds = sorted(set(done[done["on"]]["seed"]) & set(done[~done["on"]]["seed"]))
    scores: dict[bool, list[dict[str, np.ndarray]]] = {True: [], False: []}
    for seed in seeds:
        for arm in (True, False):
            [run_dir] = done[(done["on"] == arm) & (done["seed"] == seed)]["run_dir"]
            print(f"{folder.name}: seed {seed}, lookahead {'on' if arm else 'off'}")
            p = predictions(folder, run_dir, manifest.paths, manifest.orientation_list())
            scores[arm].append(per_image(labels, p))
    return {
        name: variation(
            np.stack([s[name] for s in scores[True]]), np.stack([s[name] for s in scores[False]])
        )
        for name in ("log loss", "accuracy")
    }


def markdown(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per study and score; accuracies in points."""
    lines = [
        "| study | score | seeds | difference | seeds' SE | test images' SE | both |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_score in results.items():
        for score, v in by_score.items():
            scale, form = (100.0, "{:+.2f}") if score == "accuracy" else (1.0, "{:+.4f}")
            cells = [form.format(scale * v["difference"])] + [
                form.format(scale * v[k]).lstrip("+") for k in ("seeds_se", "images_se", "both_se")
            ]
            lines.append(f"| {name} | {score} | {v['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", type=Path, help="a sweep's output folder")
    parser.add_argument("--test", type=Path, required=True, help="the labelled test.csv")
    args = parser.parse_args()
    print(markdown({folder.name: study(folder, args.test) for folder in args.studies}))


if __name__ == "__main__":
    main()

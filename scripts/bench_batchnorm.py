"""What BatchNorm statistics cost the judged weights: validation of a run's checkpoints with
the moving statistics and with statistics measured for the weights, side by side.

During training BatchNorm keeps moving averages over the last batches of augmented crops,
under the weights that run forward (Lookahead's fast ones). For each checkpoint of a run
(``--checkpoints``: its own folder, or copies kept while it trained) this scores the
validation set with the fast and the slow weights, each with the moving statistics
(``training.batchnorm_statistics: moving``) and with statistics measured for it on 512
training images prepared as validation prepares them (``recompute``); then the slow weights
with statistics measured on 2,048 such images, and on 512 augmented ones (which part of the
difference is the images, which the averaging).

    python scripts/bench_batchnorm.py --run runs/final-1h --data data/full \
        [--checkpoints runs/final-1h/checkpoints]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import benchlib

benchlib.quiet_tensorflow()

import yaml  # noqa: E402

from catsdogs.config import Config  # noqa: E402
from catsdogs.data import manifests, pipeline  # noqa: E402
from catsdogs.optim import find_lookahead  # noqa: E402
from catsdogs.training import batchnorm  # noqa: E402
from catsdogs.training.trainer import Sums, Trainer  # noqa: E402

COLUMNS = [
    "fast, moving",
    "fast, 512",
    "slow, moving",
    "slow, 512",
    "slow, 2,048",
    "slow, 512 augmented",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path)
    args = parser.parse_args()
    tree = yaml.safe_load((args.run / "config.yaml").read_text())
    tree["data"]["cache"] = "off"  # nothing here trains: decode the few images it reads
    config = Config.model_validate(tree)
    data = manifests.read_training_data(args.data, echo=lambda _: None)
    trainer = Trainer(config, data)
    if find_lookahead(trainer.optimizer) is None or not batchnorm.layers(trainer.model):
        raise SystemExit("error: the run has no Lookahead or no BatchNorm: nothing to compare")

    def images(count: int, augmented: bool = False):
        sample = data.train.sample(count, config.seed)
        return pipeline.dataset(sample, config.data, augmented, config.seed)

    variants = {  # column -> (slow weights, images the statistics are measured on)
        "fast, moving": (False, None),
        "fast, 512": (False, images(512)),
        "slow, moving": (True, None),
        "slow, 512": (True, images(512)),
        "slow, 2,048": (True, images(2048)),
        "slow, 512 augmented": (True, images(512, augmented=True)),
    }
    folder = args.checkpoints or args.run / "checkpoints"
    paths = sorted(folder.glob("ckpt-*.index"), key=lambda p: int(p.stem.split("-")[1]))
    print(f"{len(data.val)} validation images; loss / accuracy")
    print("| checkpoint | step | " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * (len(COLUMNS) + 2))
    for path in paths:
        trainer.checkpoint.restore(str(path.with_suffix(""))).expect_partial()
        cells: list[Sums] = []
        for column in COLUMNS:
            slow, measured_on = variants[column]
            training = config.training.model_copy(update={"evaluate_slow_weights": slow})
            trainer.config = config.model_copy(update={"training": training})
            trainer.batchnorm_images, trainer._judged_statistics = measured_on, None
            cells.append(trainer.validate())
        shown = " | ".join(f"{s.mean_loss:.4f} / {s.accuracy:.4f}" for s in cells)
        print(f"| {path.stem} | {int(trainer.optimizer.iterations)} | {shown} |")


if __name__ == "__main__":
    main()

"""Where catsdogs reads and writes by default, relative to the folder it runs in: one place for
each, so the command line's defaults, the config schema and the lookup of runs agree."""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/processed")  # prepare's manifests; a config's data.dir
RAW = Path("data/raw")  # downloads and the archives' extractions
RUNS = Path("runs")  # run directories; a sweep's folder is runs/sweeps/<name>
SUBMISSION = Path("submission.csv")  # predict's output for a Kaggle test set
LR_FIND = Path("lr_find.png")  # lr-find's figure (its curve beside it as lr_find.csv)
SHOW_BATCH = Path("show_batch.png")  # show-batch's figure

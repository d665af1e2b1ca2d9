"""An image changed under a running run (truncated, overwritten, deleted) ends training in one
`error:` line naming it, with the run marked failed; put back, the same command continues."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import real_data, smoke_train

from catsdogs.training import hooks

CHANGES = {
    "truncated": lambda image: image.write_bytes(image.read_bytes()[:300]),
    "overwritten": lambda image: image.write_bytes(bytes(range(256)) * 8),
    "deleted": lambda image: image.unlink(),
}
GO_ON = "put the image back and run the same command again to continue this run"


def own_copies(shared: Path, folder: Path, count: int) -> Path:
    """cat.0 .. cat.<count - 1> and the dogs of the same numbers, copied from ``shared``: the
    tests change these, never the shared images."""
    (folder / "train").mkdir(parents=True)
    for kind in ("cat", "dog"):
        for number in range(count):
            name = f"{kind}.{number}.jpg"
            shutil.copy(shared / "train" / name, folder / "train" / name)
    return folder


@pytest.mark.parametrize(
    ("manifest", "change", "verified", "says"),
    [
        ("train.csv", "truncated", True, "changed since prepare checked it (its sha256 differs)"),
        ("val.csv", "deleted", True, "does not exist (the data moved?)"),
        ("train.csv", "overwritten", False, "cannot be used (not-an-image"),
    ],
    ids=["train-truncated", "val-deleted", "train-overwritten-unhashed"],
)
def test_an_image_changed_while_training_is_named_and_the_run_marked_failed(
    shared_data, tmp_path, monkeypatch, manifest, change, verified, says
):
    images = own_copies(shared_data, tmp_path / "images", 20)
    data = real_data(images, tmp_path / "data", train=16, val=8, verified=verified)
    row = 3
    image = Path(pd.read_csv(data / manifest).path[row])
    original = image.read_bytes()
    real_record = hooks.record_epoch

    def record_epoch(trainer, run, history, epoch_row, *rest):
        recorded = real_record(trainer, run, history, epoch_row, *rest)
        if epoch_row["epoch"] == 1:
            CHANGES[change](image)
        return recorded

    monkeypatch.setattr(hooks, "record_epoch", record_epoch)
    run = tmp_path / "r"
    # Nothing cached: every epoch reads the images from disk again.
    settings = "--set data.cache=off --set training.epochs=3 --set data.predict_size=32"
    command = ["--data", data, "--run-dir", run, *settings.split()]
    done = smoke_train(*command)
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.output
    named = f"error: an image changed while training: {data / manifest} line {row + 2}: image "
    assert errors[0].startswith(f"{named}{image} {says}"), errors[0]
    if verified:
        assert errors[0].endswith(
            f": run `catsdogs prepare --force` again and train anew, or {GO_ON}"
        ), errors[0]
    else:
        assert errors[0].endswith(f"; {GO_ON}"), errors[0]
    state = json.loads((run / "state.json").read_text())
    history = pd.read_csv(run / "history.csv")
    assert state["status"] == "failed"
    assert state["message"] == errors[0].removeprefix("error: ")
    assert state["epochs_done"] == len(history) >= 1

    monkeypatch.undo()
    image.write_bytes(original)  # put back
    done = smoke_train(*command)
    assert done.exit_code == 0, done.output
    assert f"resuming {run} after epoch {len(history)} of 3" in done.output
    assert pd.read_csv(run / "history.csv").epoch.tolist() == [1, 2, 3]

"""A sweep owns its folder: ``sweep.json`` records its name and resolved content, another
sweep there is one error line that reads and writes nothing, and a folder from before the
record is adopted by its own sweep only. Grid points are distinct by value and few enough,
and each run folder's name is short and survives a restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers import ROOT, SMOKE, cli, real_data, require_shared
from optuna.trial import TrialState

from catsdogs.errors import UserError
from catsdogs.sweep import folder, spec

ONE = f"""\
name: first
base: {SMOKE}
set: {{training.epochs: 1, training.steps_per_epoch: 1, data.batch_size: 4}}
grid:
  optimizer.learning_rate: [0.02]
seeds: [0]
"""


def write(folder_: Path, name: str, text: str) -> Path:
    folder_.mkdir(parents=True, exist_ok=True)
    (folder_ / name).write_text(text)
    return folder_ / name


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` with its bytes (the study's database included)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A sweep ``first`` of one trial, run to its end: (its sweep file, data, folder)."""
    shared = require_shared(ROOT.parent / "shared" / "data" / "dogs-vs-cats-mini")
    root = tmp_path_factory.mktemp("owned")
    data = real_data(shared, root / "data")
    path, out = write(root, "first.yaml", ONE), root / "out"
    done = cli("sweep", path, "--data", data, "--out", out)
    assert done.exit_code == 0, done.output
    return path, data, out


def copied(finished, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(finished[2], out)
    return out


def test_the_folder_records_the_sweeps_name_and_resolved_content(finished, tmp_path):
    path, _, out = finished
    record = json.loads((out / folder.IDENTITY).read_text())
    assert record["sweep_file"] == str(path)
    content = record["content"]
    assert content["name"] == "first" and content["seeds"] == [0]
    assert content["grid"] == {"optimizer.learning_rate": [0.02]}
    assert content["set"] == {
        "training.epochs": 1,
        "training.steps_per_epoch": 1,
        "data.batch_size": 4,
    }
    # The base as trained: the smoke config with set applied, every default spelled out.
    assert content["base"]["training"]["epochs"] == 1 and content["base"]["model"]["width"] == 8
    assert content["base"]["optimizer"]["lookahead"]["sync_period"] == 3
    assert content["metric"] == "val_accuracy"


def test_another_sweep_on_the_folder_is_one_line_and_reads_and_writes_nothing(finished, tmp_path):
    # Was: the second sweep reported the first's run as its own result and rewrote trials.csv.
    path, data, _ = finished
    out = copied(finished, tmp_path)
    before = snapshot(out)
    other = write(tmp_path, "other.yaml", ONE.replace("name: first", "name: other"))
    for extra in ([], ["--summary-only"], ["--jobs", "2"]):
        refused = cli("sweep", other, "--data", data, "--out", out, *extra)
        assert refused.exit_code == 1, refused.output
        [line] = refused.output.strip().splitlines()
        assert line == (
            f"error: {out} is the folder of sweep 'first' (from {path}); sweep 'other' needs a "
            "folder of its own: pass another --out (by default runs/sweeps/other)"
        )
    # The same name with other values: its trials would not compare with the ones there.
    changed = write(tmp_path, "changed.yaml", ONE.replace("[0.02]", "[0.05]"))
    refused = cli("sweep", changed, "--data", data, "--out", out)
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert line.startswith(f"error: {out} holds sweep 'first' with other values (")
    assert "grid.optimizer.learning_rate: [0.02] -> [0.05]" in line
    assert snapshot(out) == before


def test_a_folder_from_before_the_record_is_adopted_by_its_own_sweep_only(finished, tmp_path):
    # A folder made by the code before sweep.json (sweeps in progress must continue).
    path, data, _ = finished
    out = copied(finished, tmp_path)
    (out / folder.IDENTITY).unlink()
    before = snapshot(out)
    other = write(tmp_path, "other.yaml", ONE.replace("name: first", "name: other"))
    refused = cli("sweep", other, "--data", data, "--out", out)
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        f"error: {out} is not empty and holds no study of sweep 'other': a sweep needs a "
        "folder of its own; pass a new or empty --out"
    )
    assert snapshot(out) == before
    again = cli("sweep", path, "--data", data, "--out", out)
    assert again.exit_code == 0, again.output
    assert "sweep first: 1 trials, 1 done" in again.output
    record = json.loads((out / folder.IDENTITY).read_text())
    assert record["content"] == json.loads((finished[2] / folder.IDENTITY).read_text())["content"]
    assert pd.read_csv(out / "trials.csv")["state"].tolist() == ["complete"]


def test_a_folder_that_holds_something_else_is_refused(shared_data, tmp_path):
    out = tmp_path / "papers"
    write(out, "thesis.txt", "mine")
    path = write(tmp_path, "first.yaml", ONE)
    done = cli("sweep", path, "--data", tmp_path / "nodata", "--out", out)
    assert done.exit_code == 1
    assert done.output.strip() == (
        f"error: {out} is not empty and holds no study of sweep 'first': a sweep needs a "
        "folder of its own; pass a new or empty --out"
    )
    assert snapshot(out) == {"thesis.txt": b"mine"}


def test_grid_values_equal_once_typed_are_one_point(tmp_path):
    # Was: [0.01, 1e-2] queued two trials of one point; one stepped aside, the sweep never
    # finished.
    text = ONE.replace("[0.02]", "[0.01, 1e-2, 0.1, 1.0e-1]").replace(
        "grid:\n", "grid:\n  optimizer.lookahead.enabled: [true, True, false]\n"
    )
    checked = spec.read(write(tmp_path, "s.yaml", text))
    assert checked.design.values == {
        "optimizer.lookahead.enabled": [True, False],
        "optimizer.learning_rate": [0.01, 0.1],
    }
    points = checked.design.points()
    assert checked.design.total == len(points) == 4 == len({p.key for p in points})


def test_a_grid_over_the_cap_is_refused_before_anything(tmp_path):
    rates = ", ".join(f"{i + 1}e-4" for i in range(101))
    moments = ", ".join(f"0.{i:02d}" for i in range(100))
    text = ONE.replace("  optimizer.learning_rate: [0.02]\n", "") + (
        f"grid:\n  optimizer.learning_rate: [{rates}]\n  optimizer.momentum: [{moments}]\n"
    )
    path = write(tmp_path, "s.yaml", text.replace("grid:\nseeds", "seeds", 1))
    with pytest.raises(UserError) as refused:
        spec.read(path)
    assert str(refused.value) == (
        f"{path}: the grid lists 10,100 trials (combinations x seeds); at most 10,000 are "
        "allowed (a search samples a large space)"
    )


def test_a_long_point_gets_a_short_run_folder_of_its_own_and_the_same_each_time(tmp_path):
    # Was: a run folder named by 300 characters of values (a traceback from the file system).
    long = "a" * 95  # a config name holds at most 100 characters; the point key is longer
    text = ONE.replace("grid:\n", f"grid:\n  name: [{long}x, {long}y]\n")
    grid = spec.read(write(tmp_path, "s.yaml", text)).design
    names = [grid.run_name(None, point) for point in grid.points()]
    again = [grid.run_name(None, point) for point in spec.read(tmp_path / "s.yaml").design.points()]
    assert names == again and len(set(names)) == 2
    for name, point in zip(names, grid.points()):
        assert len(name.encode()) <= 100 and name.startswith(point.key[:60])
        (tmp_path / "runs" / name).mkdir(parents=True)
    short = spec.read(write(tmp_path, "short.yaml", ONE)).design
    [point] = short.points()
    assert short.run_name(None, point) == "optimizer.learning_rate-0.02_seed-0"  # as before


def test_a_point_queued_again_continues_the_run_folder_it_recorded(tmp_path):
    # A trial re-run after a crash finds its folder, whatever the code would name it now.
    grid = spec.read(write(tmp_path, "s.yaml", ONE.replace("[0.02]", "[0.02, 0.05]"))).design
    study = optuna.create_study(direction="maximize")
    assert grid.queue(study) == 2
    trial = study.ask(grid.distributions())
    point = grid.point_of(trial.params)
    trial.set_user_attr("point", point.key)
    trial.set_user_attr("run_dir", "named-by-older-code")
    study.tell(trial, state=TrialState.FAIL)
    assert grid.queue(study) == 1
    [waiting] = [
        t
        for t in study.get_trials(states=(TrialState.WAITING,))
        if t.user_attrs["point"] == point.key
    ]
    assert waiting.user_attrs == {"point": point.key, "run_dir": "named-by-older-code"}

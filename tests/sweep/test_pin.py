"""A sweep pins its resolved base config: trials train from the pinned copy, and a base
config that changed since the study began is refused, by name of the keys that differ."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SMOKE, cli, real_data

from catsdogs.config import dump
from catsdogs.errors import UserError
from catsdogs.sweep import pin, spec, storage, trials

SWEEP = """\
name: pinned
base: base.yaml
set: {training.epochs: 1, data.batch_size: 4}
grid:
  optimizer.lookahead.enabled: [true, false]
seeds: [0, 1]
compare: optimizer.lookahead.enabled
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "base.yaml").write_text(SMOKE.read_text())
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    return tmp_path


def opened(folder: Path, out: Path):
    checked = spec.read(folder / "sweep.yaml")
    settings = trials.Settings(checked, folder, out, storage.default_storage(out))
    out.mkdir(exist_ok=True)
    return checked, trials.open_study(settings)


def test_the_first_start_pins_the_resolved_base_and_trials_train_from_it(folder):
    out = folder / "out"
    checked, study = opened(folder, out)
    pinned = pin.pin(study, checked, out)
    assert pinned.base == out / pin.PINNED
    text = (out / pin.PINNED).read_text()
    assert text == dump(checked.base_config())  # every default spelled out, set applied
    assert "batch_size: 4" in text and "sync_period: 3" in text
    point = pinned.design.points()[0]
    arguments = pinned.command(point, folder, out / "runs" / "a")
    assert arguments[arguments.index("--config") + 1] == str(out / pin.PINNED)
    assert dump(pinned.config(point)) == dump(checked.config(point))  # the same trial
    assert pin.pinned_digest(study) == pin.digest(text)
    # The pinned copy deleted by hand is written again from the study.
    (out / pin.PINNED).unlink()
    again = pin.pin(study, spec.read(folder / "sweep.yaml"), out)
    assert (out / pin.PINNED).read_text() == text and again.base == pinned.base


def test_a_base_that_changed_since_the_study_began_is_refused_by_key(folder):
    out = folder / "out"
    checked, study = opened(folder, out)
    pin.pin(study, checked, out)
    base = folder / "base.yaml"
    base.write_text(
        base.read_text().replace("image_size: 32", "image_size: 48").replace("width: 8", "width: 4")
    )
    with pytest.raises(UserError) as refused:
        pin.pin(study, spec.read(folder / "sweep.yaml"), out)
    message = str(refused.value)
    assert "data.image_size: 32 -> 48" in message and "model.width: 8 -> 4" in message
    assert "pass another --out" in message


def test_differences_name_added_and_removed_keys():
    before = "a: {b: 1, c: 2}\nd: x\n"
    after = "a: {b: 1, c: 3, e: 4}\n"
    assert pin.differences(before, after) == [
        "a.c: 2 -> 3",
        "a.e: (none) -> 4",
        "d: 'x' -> (none)",
    ]


def test_the_command_refuses_a_changed_base_in_one_line_and_trains_nothing(shared_data, folder):
    data = real_data(shared_data, folder / "data")
    out = folder / "out"
    checked, study = opened(folder, out)
    pin.pin(study, checked, out)
    base = folder / "base.yaml"
    base.write_text(base.read_text().replace("learning_rate: 0.02", "learning_rate: 0.05"))
    done = cli("sweep", folder / "sweep.yaml", "--data", data, "--out", out)
    assert done.exit_code == 1, done.output
    [line] = done.output.strip().splitlines()
    assert line.startswith("error: ") and "optimizer.learning_rate: 0.02 -> 0.05" in line
    assert not (out / "runs").exists()


def test_compare_must_name_a_grid_key_with_two_values(folder):
    text = SWEEP.replace("[true, false]", "[true]")
    (folder / "sweep.yaml").write_text(text)
    with pytest.raises(UserError, match="compare 'optimizer.lookahead.enabled' must be"):
        spec.read(folder / "sweep.yaml")
    (folder / "sweep.yaml").write_text(SWEEP)
    assert spec.read(folder / "sweep.yaml").arms == (True, False)


def test_the_code_a_study_ran_is_recorded_and_a_change_is_said(tmp_path):
    import optuna

    study = optuna.create_study()
    said: list[str] = []
    pin.note_code(study, said.append, "aaaa11112222")
    pin.note_code(study, said.append, "aaaa11112222")
    assert said == [] and study.user_attrs[pin.CODE] == ["aaaa11112222"]
    pin.note_code(study, said.append, "bbbb33334444+changes")
    assert study.user_attrs[pin.CODE] == ["aaaa11112222", "bbbb33334444+changes"]
    [line] = said
    assert line.startswith("note: the catsdogs code has changed since this study began")
    assert "aaaa11112222 then, bbbb33334444+changes now" in line
    pin.note_code(study, said.append, None)  # outside a git checkout: nothing to record
    assert len(study.user_attrs[pin.CODE]) == 2


def test_the_code_version_is_the_packages_git_tree(tmp_path):
    import re
    import subprocess

    version = pin.code_version()
    tree = subprocess.run(
        ["git", "-C", str(pin.PACKAGE), "rev-parse", "HEAD:./"], capture_output=True, text=True
    ).stdout.strip()
    if not tree:
        pytest.skip("not a git checkout")
    assert re.fullmatch(r"[0-9a-f]{12}(\+changes)?", version) and version.startswith(tree[:12])
    assert pin.code_version(tmp_path) is None  # no checkout there

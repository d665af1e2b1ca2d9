"""Every command against the bad inputs a hostile user tries: one `error:` line and exit 1,
before any slow work, and never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    SMOKE,
    cli,
    labelled_frame,
    loss_and_accuracy,
    p_dog_by_hand,
    smoke_train,
    tiny_model,
)
from imagefactory import jpeg_bytes, labelled_images

from catsdogs.data import manifests
from catsdogs.training.rundir import eval_path


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def read_only(tmp_path):
    """Make folders read-only for real: chmod for a user, the immutable flag for root (who
    ignores modes). Skips where neither works."""
    made: list[Path] = []

    def lock(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        if _writable(folder):
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        made.append(folder)
        if _writable(folder):
            pytest.skip("cannot make a read-only folder here (root, and chattr +i fails)")
        return folder

    yield lock
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


@dataclass
class World:
    """A small real setting: images, a prepared data folder, a model and a run."""

    root: Path
    images: Path
    data: Path
    model: Path
    run: Path


@pytest.fixture
def world(tmp_path) -> World:
    images = tmp_path / "images"
    frame = labelled_frame(labelled_images(images, 8))
    data = tmp_path / "data"
    manifests.write_set(data, {"train.csv": frame, "val.csv": frame}, {})
    run = tmp_path / "run"
    run.mkdir()
    tiny_model(run / "best.keras")
    (run / "config.yaml").write_text("name: handmade\ndata:\n  resize: stretch\n")
    return World(tmp_path, images, data, tiny_model(tmp_path / "m.keras"), run)


def assert_one_error(done, message: str) -> None:
    # An unexpected exception would reach here as itself, with its traceback.
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.output
    assert message in errors[0], errors[0]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def header_only_val(w: World) -> Path:
    write(w.root / "d" / "train.csv", (w.data / "train.csv").read_bytes())
    return write(w.root / "d" / "val.csv", "path,label\n").parent


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def same_id_twice(folder: Path) -> Path:
    write(folder / "5.jpg", jpeg_bytes(seed=1))
    write(folder / "05.jpg", jpeg_bytes(seed=2))
    return folder


# (name, arguments made from the world, expected text in the error line)
CASES = [
    (
        # A probe: an empty config trained VGG19 with ImageNet weights (a download, then an
        # error after 9 s).
        "train an empty config",
        lambda w: [
            "train",
            "--config",
            str(write(w.root / "empty.yaml", "")),
            "--data",
            str(w.data),
        ],
        "is empty: start from one of configs/ (cpu.yaml for a CPU)",
    ),
    (
        "train a config whose name is too long for a folder",
        lambda w: [
            "train",
            "--config",
            str(
                write(
                    w.root / "long.yaml",
                    SMOKE.read_text().replace("name: smoke", "name: " + "n" * 300),
                )
            ),
            "--data",
            str(w.data),
        ],
        "name: is longer than 100 characters",
    ),
    (
        "prepare --out a file",
        lambda w: [
            "prepare",
            "--source",
            str(w.images.parent),
            "--out",
            str(write(w.root / "f", "x")),
        ],
        "is a file, not a folder",
    ),
    (
        "prepare --raw-dir a file",
        lambda w: [
            "prepare",
            "--source",
            str(w.root),
            "--raw-dir",
            str(write(w.root / "f", "x")),
            "--out",
            str(w.root / "out"),
        ],
        "--raw-dir",
    ),
    (
        "train --run-dir a file",
        lambda w: [
            "train",
            "--config",
            str(SMOKE),
            "--data",
            str(w.data),
            "--run-dir",
            str(write(w.root / "f", "x")),
        ],
        "--run-dir",
    ),
    (
        "train --set seed=-1",
        lambda w: ["train", "--config", str(SMOKE), "--set", "seed=-1"],
        "seed: Input should be greater than or equal to 0",
    ),
    (
        "train --set learning rate nan",
        lambda w: ["train", "--config", str(SMOKE), "--set", "optimizer.learning_rate=.nan"],
        "optimizer.learning_rate: Input should be a finite number",
    ),
    (
        "train --set epochs=0",
        lambda w: ["train", "--config", str(SMOKE), "--set", "training.epochs=0"],
        "training.epochs: Input should be greater than or equal to 1",
    ),
    (
        "train on a header-only val.csv",
        lambda w: ["train", "--config", str(SMOKE), "--data", str(header_only_val(w))],
        "val.csv has a header but no rows",
    ),
    (
        "train on a JPEG named train.csv",
        lambda w: [
            "train",
            "--config",
            str(SMOKE),
            "--data",
            str(write(w.root / "d" / "train.csv", jpeg_bytes()).parent),
        ],
        "train.csv is not a manifest CSV",
    ),
    (
        "train with a batch larger than the data",
        lambda w: [
            "train",
            "--config",
            str(SMOKE),
            "--data",
            str(w.data),
            "--set",
            "data.batch_size=9",
        ],
        "data.batch_size 9 is larger than the 8 images of",
    ),
    (
        "train --data a file",
        lambda w: ["train", "--config", str(SMOKE), "--data", str(w.data / "train.csv")],
        "is a file; give the folder prepare wrote",
    ),
    (
        "predict --out an existing folder",
        lambda w: [
            "predict",
            "--model",
            str(w.model),
            "--test",
            str(w.images),
            "--out",
            str(w.root),
        ],
        "--out",
    ),
    (
        "predict --test with a repeated id",
        lambda w: [
            "predict",
            "--model",
            str(w.model),
            "--out",
            str(w.root / "s.csv"),
            "--test",
            str(
                write(
                    w.root / "t.csv", f"path,id\n{w.images}/cat.0.jpg,5\n{w.images}/dog.1.jpg,05\n"
                )
            ),
        ],
        "id 5 appears twice (also line 2)",
    ),
    (
        "predict --test a folder with 5.jpg and 05.jpg",
        lambda w: [
            "predict",
            "--model",
            str(w.model),
            "--out",
            str(w.root / "s.csv"),
            "--test",
            str(same_id_twice(w.root / "test1")),
        ],
        "both have id 5",
    ),
    (
        "predict a text file",
        lambda w: ["predict", "--model", str(w.model), str(write(w.root / "notes.txt", b"hi"))],
        "notes.txt is not an image (.bmp, .gif, .jpeg, .jpg, .png, .webp) or a zip",
    ),
    (
        "evaluate with a damaged model",
        lambda w: [
            "evaluate",
            "--model",
            str(write(w.root / "bad.keras", "junk")),
            "--data",
            str(w.data / "val.csv"),
        ],
        "bad.keras is not a .keras file (damaged, or another format)",
    ),
    (
        "predict on a zip with no images in it",
        lambda w: [
            "predict",
            "--model",
            str(w.model),
            "--out",
            str(w.root / "s.csv"),
            "--test",
            str(zip_of(w.root / "nested.zip", {"train.zip": b"PK"})),
        ],
        "no images in",
    ),
    (
        "train --config a folder",
        lambda w: ["train", "--config", str(w.root)],
        "is a folder; give a YAML file",
    ),
    (
        "evaluate on a header-only CSV",
        lambda w: [
            "evaluate",
            "--model",
            str(w.model),
            "--data",
            str(write(w.root / "v.csv", "path,label\n")),
        ],
        "v.csv has a header but no rows",
    ),
    (
        "evaluate on a JPEG",
        lambda w: ["evaluate", "--model", str(w.model), "--data", str(w.images / "cat.0.jpg")],
        "cat.0.jpg is not a manifest CSV",
    ),
    (
        "evaluate on a label 2",
        lambda w: [
            "evaluate",
            "--model",
            str(w.model),
            "--data",
            str(write(w.root / "v.csv", f"path,label\n{w.images}/cat.0.jpg,2\n")),
        ],
        "v.csv line 2: label '2' is not 0 (cat) or 1 (dog)",
    ),
    (
        "lr-find with too few steps",
        lambda w: ["lr-find", "--config", str(SMOKE), "--data", str(w.data), "--steps", "2"],
        "--steps must be at least 3; got 2",
    ),
    (
        "lr-find with the end below the start",
        lambda w: ["lr-find", "--config", str(SMOKE), "--start-lr", "1", "--end-lr", "0.1"],
        "--end-lr must be above --start-lr (1); got 0.1",
    ),
    (
        "lr-find --out a folder",
        lambda w: [
            "lr-find",
            "--config",
            str(SMOKE),
            "--data",
            str(w.data),
            "--out",
            str(mkdir(w.root / "figure.png")),
        ],
        "figure.png is a folder; give a file name",
    ),
    (
        "lr-find on missing data",
        lambda w: ["lr-find", "--config", str(SMOKE), "--data", str(w.root / "none")],
        "train.csv does not exist: run `catsdogs prepare` first",
    ),
    (
        "lr-find with a batch larger than the data",
        lambda w: [
            "lr-find",
            "--config",
            str(SMOKE),
            "--data",
            str(w.data),
            "--set",
            "data.batch_size=64",
            "--out",
            str(w.root / "lr.png"),
        ],
        "data.batch_size 64 is larger than the 8 images",
    ),
    (
        "show-batch --count 0",
        lambda w: ["show-batch", "--config", str(SMOKE), "--data", str(w.data), "--count", "0"],
        "--count must be between 1 and 100; got 0",
    ),
    (
        "show-batch --out not a PNG",
        lambda w: ["show-batch", "--config", str(SMOKE), "--out", str(w.root / "grid.jpg")],
        "grid.jpg must end in .png",
    ),
    (
        "predict photos --out not a CSV",
        lambda w: ["predict", str(w.images), "--out", str(w.root / "p.png")],
        "p.png must end in .csv",
    ),
    (
        "show-batch on missing data",
        lambda w: ["show-batch", "--config", str(SMOKE), "--data", str(w.root / "none")],
        "train.csv does not exist: run `catsdogs prepare` first",
    ),
    (
        "report on a folder that is not a run",
        lambda w: ["report", str(w.images)],
        "is not a run directory (no config.yaml with state.json, history.csv or best.keras beside",
    ),
    (
        "report on a run that does not record its data",
        lambda w: ["report", str(w.run)],
        "does not record the data it trained on: pass --data",
    ),
]


@pytest.mark.parametrize(("name", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_exit_1(world, name, args, message):
    assert_one_error(cli(*args(world)), message)


def test_outputs_in_a_read_only_folder_fail_before_the_work(world, read_only, monkeypatch):
    locked = read_only(world.root / "locked")
    cases = [
        (["prepare", "--source", str(world.root), "--out", str(locked / "out")], "--out"),
        (
            [
                "predict",
                "--model",
                str(world.model),
                "--test",
                str(world.images),
                "--out",
                str(locked / "s.csv"),
            ],
            "--out",
        ),
        (["report", str(read_only(world.run))], "cannot write run directory"),
    ]
    for args, message in cases:
        done = cli(*args)
        assert_one_error(done, message)
        assert "cannot write" in done.output
    # A run whose checkpoints folder cannot be written is refused before it trains.
    run = world.root / "r"
    one_step = ["--set", "training.epochs=1", "--set", "training.steps_per_epoch=1"]
    done = smoke_train("--data", world.data, "--run-dir", run, *one_step)
    assert done.exit_code == 0, done.output
    read_only(run / "checkpoints")
    history = (run / "history.csv").read_bytes()
    done = smoke_train(
        "--data", world.data, "--run-dir", run, "--resume", "--set", "training.epochs=2"
    )
    assert_one_error(done, f"cannot write run folder {run / 'checkpoints'}")
    assert (run / "history.csv").read_bytes() == history
    monkeypatch.chdir(locked)  # where runs/ cannot be created
    done = smoke_train("--data", world.data)
    assert_one_error(done, "cannot write the runs folder")
    assert not (locked / "runs").exists()


def test_evaluate_shows_its_scores_when_it_cannot_save_them(world, read_only):
    folder = world.root / "models"
    folder.mkdir()
    tiny_model(folder / "m.keras")
    read_only(folder)
    done = cli("evaluate", "--model", folder / "m.keras", "--data", world.data / "val.csv")
    scores = eval_path(folder / "m.keras", world.data / "val.csv", True)
    assert_one_error(done, f"cannot write {scores}")
    assert "the scores above are complete" in done.output.strip().splitlines()[-1]
    # The scores shown are the model's on val.csv, computed here.
    val = pd.read_csv(world.data / "val.csv")
    loss, accuracy = loss_and_accuracy(val.label, p_dog_by_hand(folder / "m.keras", val.path))
    shown = dict(re.findall(r"(images|accuracy|log loss) +(\S+)\n", done.output))
    assert shown["images"] == str(len(val))
    assert float(shown["accuracy"]) == pytest.approx(accuracy, abs=5e-5)
    assert float(shown["log loss"]) == pytest.approx(loss, abs=5e-5)


def hard_link(target: Path, link: Path) -> Path:
    os.link(target, link)
    return link


def symbolic_link(target: Path, link: Path) -> Path:
    link.symlink_to(target)
    return link


def with_test_manifest(w: World) -> Path:
    return write(w.data / "test.csv", f"path,id\n{w.images}/cat.0.jpg,1\n{w.images}/dog.1.jpg,2\n")


def config_copy(w: World) -> Path:
    return write(w.root / "c.yaml", SMOKE.read_bytes())


def scored_by_a_link(w: World) -> Path:
    """val.csv, whose eval file beside the model is already a hard link of it."""
    hard_link(w.data / "val.csv", eval_path(w.model, w.data / "val.csv", True))
    return w.data / "val.csv"


def run_with_a_linked_figure(w: World) -> Path:
    """The run, whose roc.png is a hard link of a validation image."""
    hard_link(w.images / "cat.2.jpg", w.run / "roc.png")
    return w.run


# (name, a function that sets the case up in the world and returns the command's arguments,
# expected text in the error line). An --out that exists and is no file of the command's own
# (a photo table, a figure of its kind) is refused before the inputs are compared with it.
OWN_INPUTS = [
    (
        "predict --out the photo itself",
        lambda w: [
            "predict",
            "--model",
            w.model,
            w.images / "cat.0.jpg",
            "--out",
            w.images / "cat.0.jpg",
        ],
        "cat.0.jpg must end in .csv",
    ),
    (
        "predict --out a hard link of a photo in the folder",
        lambda w: [
            "predict",
            "--model",
            w.model,
            w.images,
            "--out",
            hard_link(w.images / "dog.3.jpg", w.root / "p.csv"),
        ],
        "p.csv is a file that is not a table of photos catsdogs wrote",
    ),
    (
        "predict --out a symbolic link to the model",
        lambda w: [
            "predict",
            "--model",
            w.model,
            w.images,
            "--out",
            symbolic_link(w.model, w.root / "p.csv"),
        ],
        "p.csv is a file that is not a table of photos catsdogs wrote",
    ),
    (
        "predict --out the test manifest",
        lambda w: [
            "predict",
            "--model",
            w.model,
            "--test",
            with_test_manifest(w),
            "--out",
            w.data / "test.csv",
        ],
        "test.csv would overwrite an input (the test set)",
    ),
    (
        "predict --out the data's train.csv",
        lambda w: [
            "predict",
            "--model",
            w.model,
            "--test",
            with_test_manifest(w),
            "--out",
            w.data / "train.csv",
        ],
        "train.csv would overwrite an input (the manifest train.csv of {data})",
    ),
    (
        "predict --out a hard link of a test image",
        lambda w: [
            "predict",
            "--model",
            w.model,
            "--test",
            with_test_manifest(w),
            "--out",
            hard_link(w.images / "dog.1.jpg", w.root / "s.csv"),
        ],
        "s.csv would overwrite an input (a test image {images}/dog.1.jpg, the same file)",
    ),
    (
        "evaluate's eval file a hard link of the manifest it scores",
        lambda w: ["evaluate", "--model", w.model, "--data", scored_by_a_link(w)],
        "would overwrite an input (the manifest scored {data}/val.csv, the same file)",
    ),
    (
        "report's roc.png a hard link of a validation image",
        lambda w: ["report", run_with_a_linked_figure(w), "--data", w.data],
        "the report's file {run}/roc.png would overwrite an input (an image of val.csv "
        "{images}/cat.2.jpg, the same file)",
    ),
    (
        "lr-find --out beside train.csv",
        lambda w: ["lr-find", "--config", SMOKE, "--data", w.data, "--out", w.data / "train.png"],
        "the curve's CSV {data}/train.csv is a file that is not an lr-find curve",
    ),
    (
        "show-batch --out a hard link of the config",
        lambda w: [
            "show-batch",
            "--config",
            config_copy(w),
            "--data",
            w.data,
            "--out",
            hard_link(w.root / "c.yaml", w.root / "c.png"),
        ],
        "c.png is a file that is not a figure show-batch drew",
    ),
    (
        "show-batch --out a link to a training image",
        lambda w: [
            "show-batch",
            "--config",
            SMOKE,
            "--data",
            w.data,
            "--out",
            symbolic_link(w.images / "cat.4.jpg", w.root / "grid.png"),
        ],
        "grid.png is a file that is not a figure show-batch drew",
    ),
    (
        "prepare --out the --source folder",
        lambda w: ["prepare", "--source", w.images, "--out", w.images, "--raw-dir", w.root / "raw"],
        "--out {images} would overwrite an input (the --source)",
    ),
    (
        "prepare --exclude its own rejected.csv",
        lambda w: [
            "prepare",
            "--source",
            w.images,
            "--out",
            w.root / "prepared",
            "--raw-dir",
            w.root / "raw",
            "--exclude",
            write(w.root / "prepared" / "rejected.csv", "cat.0.jpg\n"),
        ],
        "rejected.csv would overwrite an input (the --exclude list)",
    ),
    (
        "train --run-dir the data folder",
        lambda w: ["train", "--config", SMOKE, "--data", w.data, "--run-dir", w.data],
        "--run-dir {data} exists and is not a run directory",
    ),
    (
        "train --run-dir the config file",
        lambda w: [
            "train",
            "--config",
            config_copy(w),
            "--data",
            w.data,
            "--run-dir",
            w.root / "c.yaml",
        ],
        "--run-dir {root}/c.yaml is a file, not a folder",
    ),
]


def tree(root: Path) -> dict[str, object]:
    """Every file, link and folder under ``root``: a link by its target, a file by its bytes."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif path.is_file():
            found[name] = ("file", path.read_bytes())
        else:
            found[name] = ("folder",)
    return found


@pytest.mark.parametrize(("name", "setup", "message"), OWN_INPUTS, ids=[c[0] for c in OWN_INPUTS])
def test_no_command_writes_over_its_own_inputs(world, name, setup, message):
    args = setup(world)
    before = tree(world.root)
    done = cli(*args)
    places = {"root": world.root, "images": world.images, "data": world.data, "run": world.run}
    assert_one_error(done, message.format(**places))
    assert tree(world.root) == before  # nothing written, nothing removed

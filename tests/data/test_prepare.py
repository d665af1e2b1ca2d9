"""`catsdogs prepare` end to end on real images from ../shared, in every layout it accepts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import FakeKaggle, cli, die_after_writing, free_ports, smoke_train
from imagefactory import (
    copy_real,
    jpeg_bytes,
    labelled_images,
    sideways,
    with_orientation,
    zip_folder,
)
from loopback import FileServer, serve

from catsdogs import printing
from catsdogs.data import manifests
from catsdogs.data.options import Options
from catsdogs.data.prepare import prepare

CATS = [f"train/cat.{i}.jpg" for i in range(12)]
DOGS = [f"train/dog.{i}.jpg" for i in range(12)]
TESTS = [f"test1/{i}.jpg" for i in range(1, 7)]


def competition_tree(shared: Path, root: Path, test_dir: str = "test1") -> Path:
    """The competition's files, plus the awkward cases real data has or could have."""
    copy_real(shared, root / "train", CATS + DOGS)
    copy_real(shared, root / test_dir, TESTS)
    train = root / "train"
    good = (train / "cat.0.jpg").read_bytes()
    (train / "cat.900.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (train / "notes.txt").write_text("not a labelled image")  # no label
    (train / "Thumbs.db").write_bytes(b"\0" * 64)  # junk, skipped quietly
    shutil.copyfile(train / "dog.0.jpg", train / "dog.950.jpg")  # exact duplicate
    shutil.copyfile(train / "dog.1.jpg", train / "cat.951.jpg")  # duplicate, other label
    shutil.copyfile(train / "cat.2.jpg", root / test_dir / "7.jpg")  # train/test overlap
    shutil.copyfile(shared / "sampleSubmission.csv", root / "sampleSubmission.csv")
    return root


def competition_zip(shared: Path, tmp: Path) -> Path:
    tree = competition_tree(shared, tmp / "tree")
    bundle = tmp / "bundle"
    bundle.mkdir()
    zip_folder(tree / "train", bundle / "train.zip", arcroot="train")
    zip_folder(tree / "test1", bundle / "test1.zip", arcroot="test1")
    shutil.copyfile(tree / "sampleSubmission.csv", bundle / "sampleSubmission.csv")
    return zip_folder(bundle, tmp / "dogs-vs-cats.zip")


def write_list(folder: Path) -> Path:
    (folder / "exclude.txt").write_text("cat.1.jpg\n")
    return folder / "exclude.txt"


def test_competition_zip_end_to_end(shared_data, tmp_path):
    archive = competition_zip(shared_data, tmp_path)
    out, raw = tmp_path / "processed", tmp_path / "raw"
    done = cli(
        "prepare",
        "--source",
        str(archive),
        "--out",
        str(out),
        "--raw-dir",
        str(raw),
        "--val-fraction",
        "0.25",
        "--workers",
        "2",
    )
    assert done.exit_code == 0, done.output

    train, val, test = (pd.read_csv(out / f"{n}.csv") for n in ("train", "val", "test"))
    rejected = pd.read_csv(out / "rejected.csv")
    # The terminal summary says what the files hold.
    lines = done.output.splitlines()
    assert f"source: {archive} (asked for with --source)" in lines
    shown = {words[0]: words[1:] for words in map(str.split, lines) if words}
    for name, frame in (("train", train), ("val", val)):
        counts = [(frame.label == 0).sum(), (frame.label == 1).sum(), len(frame)]
        assert shown[name] == [str(n) for n in counts], name
    assert shown["test"] == ["-", "-", str(len(test))]
    assert f"rejected: {len(rejected)}" in lines
    rejected.index = rejected.path.map(lambda p: Path(p).name)
    meta = ["width", "height", "mode", "format", "sha256", "orientation"]
    assert list(train.columns) == ["path", "label", *meta]
    assert list(test.columns) == ["path", "id", *meta]
    assert set(train.orientation) == set(test.orientation) == {1}  # Kaggle's carry no EXIF
    # Kept: cat.0-11 and dog.0-11 less dog.1 (its copy cat.951 claims another label), so
    # 12 cats + 11 dogs, split 3:1 stratified.
    assert (len(train), len(val)) == (17, 6)
    assert sorted(val.label.tolist()) == [0, 0, 0, 1, 1, 1]
    assert all(
        Path(p).name.startswith("cat") == (label == 0) for p, label in zip(train.path, train.label)
    )
    assert test.id.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert rejected.loc["cat.900.jpg", "reason"] == "truncated"
    assert rejected.loc["notes.txt", "reason"] == "no-label"
    assert rejected.loc["dog.950.jpg", "reason"] == "duplicate"
    assert rejected.loc["cat.951.jpg", "reason"] == "conflicting-duplicate"
    assert rejected.loc["dog.1.jpg", "reason"] == "conflicting-duplicate"
    assert "Thumbs.db" not in rejected.index

    report = json.loads((out / "prepare.json").read_text())
    assert report["counts"]["train"] == {"cat": 9, "dog": 8, "total": 17}
    assert report["rejected"] == {
        "conflicting-duplicate": 2,
        "duplicate": 1,
        "no-label": 1,
        "truncated": 1,
    }
    assert [Path(p).name for p in report["train_test_overlaps"][0]] == ["cat.2.jpg", "7.jpg"]
    assert Path(report["sample_submission"]).name == "sampleSubmission.csv"
    # Everything was written under the two folders we named, nothing beside them.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bundle",
        "dogs-vs-cats.zip",
        "processed",
        "raw",
        "tree",
    ]

    # The same inputs and seed give byte-identical manifests; a re-run is a no-op.
    again = cli(
        "prepare",
        "--source",
        str(archive),
        "--out",
        str(tmp_path / "again"),
        "--raw-dir",
        str(raw),
        "--val-fraction",
        "0.25",
    )
    assert again.exit_code == 0, again.output
    for name in ("train.csv", "val.csv", "test.csv", "rejected.csv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    same = ("--source", str(archive), "--out", str(out), "--raw-dir", str(raw))
    noop = cli("prepare", *same, "--val-fraction", "0.25")
    assert noop.exit_code == 0 and "already prepared" in noop.output
    # Other options on a prepared folder: said, never the old set silently kept.
    changed = cli("prepare", *same, "--seed", "7")
    assert changed.exit_code == 1
    [line] = changed.output.strip().splitlines()
    assert line == (
        f"error: {out} was prepared with other options: val_fraction 0.25 (now 0.1); seed 42 "
        "(now 7); --force prepares it again as asked now, or choose another --out"
    )
    excluded = cli(
        "prepare", *same, "--val-fraction", "0.25", "--exclude", str(write_list(tmp_path))
    )
    assert excluded.exit_code == 1 and "--exclude none (now a list);" in excluded.output
    # make run's plain prepare asks nothing of the data: the folder is used, whatever its
    # source and options, and the line says what it holds.
    plain = cli("prepare", "--out", str(out), "--raw-dir", str(raw))
    sizes = ", ".join(
        f"{len(pd.read_csv(out / f'{n}.csv')):,} {n}" for n in ("train", "val", "test")
    )
    assert plain.exit_code == 0, plain.output
    assert plain.output.splitlines()[-1] == (
        f"{out} is already prepared (from {archive.resolve()}: {sizes}): using it; --force "
        "prepares it again, --source from elsewhere"
    )
    # --source auto takes any source, but other options asked are still compared.
    auto_seed = cli("prepare", "--out", str(out), "--raw-dir", str(raw), "--seed", "7")
    assert auto_seed.exit_code == 1 and "source" not in auto_seed.output.split(":", 2)[2]
    assert "val_fraction 0.25 (now 0.1); seed 42 (now 7);" in auto_seed.output
    # --test-fraction splits only a source without a test set: here it changes nothing.
    test_share = cli("prepare", *same, "--val-fraction", "0.25", "--test-fraction", "0.3")
    assert test_share.exit_code == 0 and "already prepared" in test_share.output
    other_seed = cli(
        "prepare",
        "--source",
        str(archive),
        "--out",
        str(out),
        "--raw-dir",
        str(raw),
        "--val-fraction",
        "0.25",
        "--seed",
        "7",
        "--force",
    )
    assert other_seed.exit_code == 0, other_seed.output
    assert pd.read_csv(out / "val.csv").path.tolist() != val.path.tolist()


def test_kaggle_redux_download_through_the_client_seam(shared_data, tmp_path):
    tree = competition_tree(shared_data, tmp_path / "tree", test_dir="test")
    cache = tmp_path / "kagglehub-cache"  # what kagglehub leaves: the zips and the sample CSV
    cache.mkdir()
    zip_folder(tree / "train", cache / "train.zip", arcroot="train")
    zip_folder(tree / "test", cache / "test.zip", arcroot="test")
    shutil.copyfile(shared_data / "sample_submission_redux.csv", cache / "sample_submission.csv")
    client = FakeKaggle(folder=cache)
    options = Options(
        source="kaggle",
        competition="dogs-vs-cats-redux-kernels-edition",
        out=tmp_path / "out",
        raw_dir=tmp_path / "raw",
        val_fraction=0.25,
    )
    report = prepare(options, kaggle_client=client, echo=lambda _: None)
    assert client.calls == ["dogs-vs-cats-redux-kernels-edition"]
    assert report["counts"]["test"]["total"] == 7
    assert Path(report["sample_submission"]).name == "sample_submission.csv"
    assert pd.read_csv(tmp_path / "out" / "test.csv").id.tolist() == list(range(1, 8))


def test_bare_train_zip_holds_out_a_labelled_test_split(shared_data, tmp_path):
    copy_real(shared_data, tmp_path / "train", CATS + DOGS)
    archive = zip_folder(tmp_path / "train", tmp_path / "train.zip", arcroot="train")
    options = Options(
        source=str(archive),
        out=tmp_path / "out",
        raw_dir=tmp_path / "raw",
        val_fraction=0.25,
        test_fraction=0.25,
    )
    report = prepare(options, echo=lambda _: None)
    test = pd.read_csv(tmp_path / "out" / "test.csv")
    assert list(test.columns[:3]) == ["path", "id", "label"]
    assert test.id.tolist() == [1, 2, 3, 4, 5, 6] and sorted(test.label) == [0, 0, 0, 1, 1, 1]
    assert report["counts"]["test"] == {"cat": 3, "dog": 3, "total": 6}
    used = set(test.path) | set(pd.read_csv(tmp_path / "out" / "train.csv").path)
    used |= set(pd.read_csv(tmp_path / "out" / "val.csv").path)
    assert len(used) == 24  # every image once, in exactly one split


def petimages_zip(shared: Path, tmp: Path) -> Path:
    root = tmp / "pets"
    for kind, folder in (("cat", "Cat"), ("dog", "Dog")):
        dest = root / "PetImages" / folder
        dest.mkdir(parents=True)
        for i in range(12):
            shutil.copyfile(shared / "train" / f"{kind}.{i}.jpg", dest / f"{i}.jpg")
        (dest / "Thumbs.db").write_bytes(b"\0" * 128)
    (root / "PetImages" / "Cat" / "666.jpg").write_bytes(b"")  # PetImages has empty files
    (root / "PetImages" / "Dog" / "11702.jpg").write_bytes(jpeg_bytes()[:300])
    (root / "readme[1].txt").write_text("licence")
    return zip_folder(root, tmp / "kagglecatsanddogs_5340.zip")


def test_petimages_download_via_cli(shared_data, tmp_path):
    state = FileServer(petimages_zip(shared_data, tmp_path).read_bytes())
    with serve(state) as url:
        done = cli(
            "prepare",
            "--source",
            "petimages",
            "--out",
            str(tmp_path / "out"),
            "--raw-dir",
            str(tmp_path / "raw"),
            "--val-fraction",
            "0.25",
            "--test-fraction",
            "0.25",
            env={"CATSDOGS_PETIMAGES_URL": url},
        )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "raw" / "kagglecatsanddogs_5340.zip").read_bytes() == state.payload
    report = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert report["layout"] == "petimages"
    assert report["rejected"] == {"empty": 1, "truncated": 1}
    assert report["counts"]["test"] == {"cat": 3, "dog": 3, "total": 6}
    train = pd.read_csv(tmp_path / "out" / "train.csv")
    assert all(("/Cat/" in p) == (label == 0) for p, label in zip(train.path, train.label))


def test_no_network_names_every_offline_route(tmp_path):
    [port] = free_ports(1)
    done = cli(
        "prepare",
        "--source",
        "petimages",
        "--out",
        str(tmp_path / "out"),
        "--raw-dir",
        str(tmp_path / "raw"),
        env={"CATSDOGS_PETIMAGES_URL": f"http://127.0.0.1:{port}/pets.zip"},
    )
    assert done.exit_code == 1
    [line] = [x for x in done.output.splitlines() if x.startswith("error: ")]
    assert line.startswith(f"error: no network: could not reach http://127.0.0.1:{port}/pets.zip")
    for route in (
        "--source PATH",
        "make run SOURCE=PATH",
        "CATSDOGS_PETIMAGES_URL=URL",
        "KAGGLE_USERNAME and KAGGLE_KEY",
        "~/.kaggle/kaggle.json",
    ):
        assert route in line, route
    assert not (tmp_path / "out").exists()


def test_extracted_folder_and_exclusion_list(shared_data, tmp_path):
    copy_real(shared_data, tmp_path / "data" / "train", CATS + DOGS)
    exclude = tmp_path / "noise.txt"
    exclude.write_text("# known label noise\ndog.5.jpg\ncat.7.jpg  # two animals\n")
    options = Options(
        source=str(tmp_path / "data"),
        out=tmp_path / "out",
        raw_dir=tmp_path / "raw",
        val_fraction=0.25,
        test_fraction=0.25,
        exclude=exclude,
    )
    report = prepare(options, echo=lambda _: None)
    assert report["rejected"] == {"excluded": 2}
    kept = pd.concat([pd.read_csv(tmp_path / "out" / f"{n}.csv") for n in ("train", "val", "test")])
    names = {Path(p).name for p in kept.path}
    assert "dog.5.jpg" not in names and "cat.7.jpg" not in names and len(names) == 22


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "/no/such/place"], "neither auto, kaggle, petimages nor an existing path"),
        (["--source", "kaggle", "--competition", "cats"], "--competition must be one of"),
        (["--val-fraction", "1.5"], "--val-fraction must be between 0 and 1"),
        (["--workers", "0"], "--workers must be between 1 and 1024; got 0"),
        (["--exclude", "/no/such/list.txt"], "exclusion list /no/such/list.txt does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, args, message):
    done = cli("prepare", *args, "--out", str(tmp_path / "out"), "--raw-dir", str(tmp_path / "raw"))
    assert done.exit_code == 1
    assert done.output.strip().startswith("error: ") and message in done.output
    assert "Traceback" not in done.output
    assert not (tmp_path / "out").exists()


def small_competition(folder: Path) -> Path:
    """train/ with 4 cats and 4 dogs, test1/ with one image: a source too small for some
    splits, made in milliseconds."""
    labelled_images(folder / "train", 8)
    (folder / "test1").mkdir()
    (folder / "test1" / "1.jpg").write_bytes(jpeg_bytes(seed=99))
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "--seed must be between 0 and 4294967295; got -1"),
        (["--seed", str(2**32)], "--seed must be between 0 and 4294967295; got 4294967296"),
        (["--workers", str(2**31)], f"--workers must be between 1 and 1024; got {2**31}"),
        (["--val-fraction", "0.1"], "--val-fraction 0.1 splits 8 images into 7 and 1; each side"),
        (["--val-fraction", "0.9"], "--val-fraction 0.9 splits 8 images into 0 and 8; each side"),
    ],
)
def test_arguments_are_refused_in_our_words_before_the_image_pass(
    tmp_path, monkeypatch, args, message
):
    source = small_competition(tmp_path / "source")

    def validate(*_):
        raise AssertionError("the images were validated before the arguments were checked")

    monkeypatch.setattr("catsdogs.data.prepare.validate", validate)
    out = tmp_path / "out"
    done = cli("prepare", "--source", source, "--out", out, "--raw-dir", tmp_path / "raw", *args)
    assert done.exit_code == 1, done.output
    errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], done.output
    assert "Traceback" not in done.output and "should be" not in done.output  # sklearn's words
    assert not out.exists()


def test_each_images_exif_orientation_is_recorded_and_rejected_csv_is_spreadsheet_safe(
    tmp_path, monkeypatch
):
    source = small_competition(tmp_path / "source")
    (source / "train" / "cat.9.jpg").write_bytes(with_orientation(sideways((40, 24)), 6))
    (source / "test1" / "2.jpg").write_bytes(with_orientation(sideways((40, 24)), 8))
    monkeypatch.chdir(tmp_path)
    Path("=HYPERLINK(1).txt").write_text("dog.1.jpg\n")  # an exclusion list, oddly named
    done = cli(
        "prepare",
        "--source",
        source,
        "--out",
        "out",
        "--raw-dir",
        "raw",
        "--val-fraction",
        "0.25",
        "--exclude",
        "=HYPERLINK(1).txt",
    )
    assert done.exit_code == 0, done.output
    kept = pd.concat(pd.read_csv(Path("out") / name) for name in ("train.csv", "val.csv"))
    test = pd.read_csv("out/test.csv")
    orientation = {
        Path(p).name: o
        for p, o in zip([*kept.path, *test.path], [*kept.orientation, *test.orientation])
    }
    assert orientation.pop("cat.9.jpg") == 6 and orientation.pop("2.jpg") == 8
    assert set(orientation.values()) == {1}
    row = kept[kept.path.str.endswith("cat.9.jpg")].iloc[0]
    assert (row.width, row.height) == (40, 24)  # as stored; the pipeline turns it
    # The exclusion list's name is the detail of its rows: written so that no spreadsheet
    # runs it, and read back as text with the quote that says so.
    rejected = Path("out/rejected.csv").read_text().splitlines()
    assert rejected[1].endswith(",excluded,'=HYPERLINK(1).txt")
    assert rejected[1].startswith(str(source.resolve() / "train" / "dog.1.jpg"))


def test_hostile_archive_source_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../evil.jpg", b"evil")
    done = cli(
        "prepare",
        "--source",
        str(tmp_path / "evil.zip"),
        "--out",
        str(tmp_path / "out"),
        "--raw-dir",
        str(tmp_path / "raw"),
    )
    assert done.exit_code == 1 and "'../evil.jpg' climbs out" in done.output
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path / "out").exists()


def test_doubly_nested_zip_in_a_download_folder(shared_data, tmp_path):
    # kagglehub may hand back a folder holding the competition zip itself, zips within a zip.
    download_folder = tmp_path / "download"
    download_folder.mkdir()
    shutil.move(competition_zip(shared_data, tmp_path), download_folder / "dogs-vs-cats.zip")
    options = Options(
        source=str(download_folder),
        out=tmp_path / "out",
        raw_dir=tmp_path / "raw",
        val_fraction=0.25,
    )
    report = prepare(options, echo=lambda _: None)
    assert report["layout"] == "competition"
    assert report["counts"]["test"]["total"] == 7
    assert report["counts"]["train"]["total"] + report["counts"]["val"]["total"] == 23


def test_manifests_work_from_any_directory(shared_data, tmp_path, monkeypatch):
    # A relative --source and --raw-dir (as `make run` passes) must not leave paths in the
    # manifests that only resolve from the directory prepare ran in.
    copy_real(shared_data, tmp_path / "project" / "data" / "train", CATS + DOGS)
    monkeypatch.chdir(tmp_path / "project")
    options = Options(source="data", out=Path("processed"), raw_dir=Path("raw"))
    prepare(options, echo=lambda _: None)
    monkeypatch.chdir(tmp_path)
    manifest = pd.read_csv(tmp_path / "project" / "processed" / "train.csv")
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in manifest.path)


def test_test_ids_are_ascii_digits_and_each_id_once(shared_data, tmp_path):
    # 5.jpg and 05.jpg, a non-ASCII digit, and a test1.zip beside the test1/ it came from.
    root = tmp_path / "competition"
    copy_real(shared_data, root / "train", CATS + DOGS)
    copy_real(shared_data, root / "test1", TESTS[:2])  # 1.jpg, 2.jpg
    zip_folder(root / "test1", root / "test1.zip", arcroot="test1")
    shutil.copyfile(shared_data / "test1" / "5.jpg", root / "test1" / "5.jpg")
    shutil.copyfile(shared_data / "test1" / "6.jpg", root / "test1" / "05.jpg")
    shutil.copyfile(shared_data / "test1" / "3.jpg", root / "test1" / "\u0667.jpg")  # a 7
    options = Options(source=str(root), out=tmp_path / "out", raw_dir=tmp_path / "raw")
    report = prepare(options, echo=lambda _: None)
    test = pd.read_csv(tmp_path / "out" / "test.csv")
    assert test.id.tolist() == [1, 2, 5]
    assert [Path(p).parent for p in test.path] == [root / "test1"] * 3
    assert Path(test.path[2]).name == "5.jpg"
    rejected = pd.read_csv(tmp_path / "out" / "rejected.csv")
    reasons = sorted(
        (str(Path(p).relative_to(Path(p).parents[1])), reason)
        for p, reason in zip(rejected.path, rejected.reason)
    )
    assert reasons == [
        ("test1/05.jpg", "duplicate-test-id"),
        ("test1/1.jpg", "duplicate-test-id"),  # the copies extracted from test1.zip
        ("test1/2.jpg", "duplicate-test-id"),
        ("test1/\u0667.jpg", "bad-test-id"),
    ]
    assert report["counts"]["test"]["total"] == 3


def test_another_archive_of_the_same_name_is_extracted_anew(shared_data, tmp_path):
    # The extraction is keyed by the archive's fingerprint, not its name: a different train.zip
    # with the same --raw-dir must not reuse the first one's files.
    archives = {}
    for name, first in (("a", 0), ("b", 100)):
        names = [
            f"train/{kind}.{i}.jpg" for kind in ("cat", "dog") for i in range(first, first + 8)
        ]
        copy_real(shared_data, tmp_path / name / "tree", names)
        archives[name] = zip_folder(
            tmp_path / name / "tree", tmp_path / name / "train.zip", "train"
        )
    raw = tmp_path / "raw"

    def names(out: str) -> set[str]:
        frames = [pd.read_csv(tmp_path / out / f"{n}.csv") for n in ("train", "val", "test")]
        return {Path(p).name for frame in frames for p in frame.path}

    for name, out in (("a", "out-a"), ("b", "out-b"), ("b", "out-b2")):
        options = Options(source=str(archives[name]), out=tmp_path / out, raw_dir=raw)
        prepare(options, echo=lambda _: None)
    assert names("out-a") == {f"{k}.{i}.jpg" for k in ("cat", "dog") for i in range(8)}
    assert names("out-b") == {f"{k}.{i}.jpg" for k in ("cat", "dog") for i in range(100, 108)}
    assert len(list(raw.iterdir())) == 2
    for manifest in ("train.csv", "val.csv", "test.csv", "rejected.csv"):
        assert (tmp_path / "out-b" / manifest).read_bytes() == (
            tmp_path / "out-b2" / manifest
        ).read_bytes()


def test_prepare_force_killed_between_manifests_leaves_a_set_nobody_uses(
    shared_data, tmp_path, monkeypatch
):
    copy_real(shared_data, tmp_path / "data" / "train", CATS + DOGS)
    out = tmp_path / "out"
    options = Options(source=str(tmp_path / "data"), out=out, raw_dir=tmp_path / "raw")
    prepare(options, echo=lambda _: None)
    old_val = pd.read_csv(out / "val.csv").path.tolist()

    die_after_writing(monkeypatch, "train.csv")
    with pytest.raises(KeyboardInterrupt):
        prepare(Options(**{**options.__dict__, "seed": 7, "force": True}), echo=lambda _: None)
    monkeypatch.undo()
    leaked = set(pd.read_csv(out / "train.csv").path) & set(old_val)
    assert leaked, "the new train.csv shares images with the old val.csv"

    done = smoke_train("--data", out, "--run-dir", tmp_path / "r")
    assert done.exit_code == 1
    assert "prepare did not finish writing" in done.output and "prepare --force" in done.output
    assert not (tmp_path / "r").exists()

    said: list[str] = []
    prepare(options, echo=said.append)  # without --force: it sees the broken set and redoes it
    assert said[0] == f"{out / 'prepare.json'} says prepare did not finish: preparing {out} again"
    assert manifests.set_problem(out) is None
    assert not set(pd.read_csv(out / "train.csv").path) & set(pd.read_csv(out / "val.csv").path)


def test_a_file_name_that_is_not_utf8_is_rejected_and_listed_readably(shared_data, tmp_path):
    root = competition_tree(shared_data, tmp_path / "src")
    latin = root / "train" / os.fsdecode(b"cat.k\xe4tze.jpg")  # a Latin-1 name
    shutil.copyfile(root / "train" / "cat.0.jpg", latin)
    out = tmp_path / "out"
    done = cli(
        "prepare", "--source", str(root), "--out", str(out), "--raw-dir", str(tmp_path / "raw")
    )
    assert done.exit_code == 0, done.output
    rejected = pd.read_csv(out / "rejected.csv")
    row = rejected[rejected["path"] == printing.printable(latin)]
    assert row["reason"].tolist() == ["no-label"]  # not cat.N.jpg; written as \xe4, no crash
    assert row["path"].iloc[0].endswith("train/cat.k\\xe4tze.jpg")
    assert not pd.read_csv(out / "train.csv")["path"].str.contains("tze").any()


def test_a_prepared_folder_is_said_in_a_few_words():
    from catsdogs.data.prepare import _prepared

    record = {"options": {"source": "/data/x"}, "counts": {n: {"total": 17818} for n in ("train",)}}
    assert _prepared(record) == "from /data/x: 17,818 train"
    assert _prepared({"source": "petimages"}) == "from petimages"


def test_an_exclusion_list_that_is_not_text_is_one_line(tmp_path):
    # A probe: bytes that are not UTF-8 in --exclude's file were a UnicodeDecodeError traceback.
    from catsdogs.data.splits import read_exclusions
    from catsdogs.errors import UserError

    listed = tmp_path / "ex.txt"
    listed.write_bytes(b"nonsense\x00\xff\n")
    with pytest.raises(UserError, match=r"ex.txt is not UTF-8 text \(byte 10\)"):
        read_exclusions(listed)
    listed.write_text("dog.1.jpg  # a comment\n\ncat.2.jpg\n")
    assert read_exclusions(listed) == {"dog.1.jpg", "cat.2.jpg"}


def test_out_inside_the_source_folder_is_refused(tmp_path):
    # A probe: `prepare --source MINI --out MINI/train` wrote five manifests among the source
    # images.
    source = tmp_path / "images"
    (source / "train").mkdir(parents=True)
    done = cli("prepare", "--source", source, "--out", source)
    assert done.exit_code == 1 and "would overwrite an input (the --source)" in done.output
    for inside in (source / "train", source / "train" / "new"):
        done = cli("prepare", "--source", source, "--out", inside)
        assert done.exit_code == 1 and "is inside --source" in done.output, inside
    assert sorted(p.name for p in source.rglob("*")) == ["train"]

"""The one manifest reader: a set is used whole or not at all, and every row is checked first."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from helpers import data_identity, die_after_writing, labelled_frame
from imagefactory import jpeg_bytes, labelled_images
from PIL import Image

from catsdogs.data import manifests
from catsdogs.errors import UserError


def read(path: Path, kind: str = "labelled") -> tuple[manifests.Manifest, list[str]]:
    said: list[str] = []
    return manifests.read(path, kind, echo=said.append), said


def test_a_complete_set_reads_back_verified(tmp_path):
    paths = labelled_images(tmp_path / "img", 4)
    frame = labelled_frame(paths)
    record = manifests.write_set(tmp_path / "out", {"train.csv": frame, "val.csv": frame}, {})
    assert record["complete"] is True and set(record["manifests"]) == {"train.csv", "val.csv"}
    manifest, said = read(tmp_path / "out" / "train.csv")
    assert said == []  # verified: nothing to say
    assert manifest.paths == [str(p) for p in paths] and manifest.labels == [0, 1, 0, 1]
    data = manifests.read_training_data(tmp_path / "out", echo=lambda _: None)
    assert data.identity == manifests.identity(tmp_path / "out") == data_identity(tmp_path / "out")


def test_a_set_prepare_did_not_finish_is_refused(tmp_path, monkeypatch):
    # prepare --force killed after the new train.csv, before the new val.csv: the old val.csv
    # shares images with the new train.csv. The set must be unusable until prepare runs again.
    paths = labelled_images(tmp_path / "img", 6)
    old = labelled_frame(paths)
    out = tmp_path / "out"
    manifests.write_set(out, {"train.csv": old.iloc[:4], "val.csv": old.iloc[4:]}, {})
    written = die_after_writing(monkeypatch, "train.csv")
    with pytest.raises(KeyboardInterrupt):
        manifests.write_set(out, {"train.csv": old.iloc[2:], "val.csv": old.iloc[:2]}, {})
    monkeypatch.undo()
    assert written == ["prepare.json", "train.csv"]
    for name in ("train.csv", "val.csv"):
        with pytest.raises(UserError, match="prepare did not finish writing .*prepare --force"):
            read(out / name)
    assert manifests.set_problem(out) == f"{out / 'prepare.json'} says prepare did not finish"


def test_a_manifest_edited_after_prepare_is_refused(tmp_path):
    frame = labelled_frame(labelled_images(tmp_path / "img", 4))
    manifests.write_set(tmp_path, {"train.csv": frame, "val.csv": frame}, {})
    (tmp_path / "val.csv").write_text(frame.iloc[:2].to_csv(index=False))
    with pytest.raises(UserError, match=r"val.csv does not match .*prepare.json"):
        manifests.read_training_data(tmp_path, echo=lambda _: None)
    problem = manifests.set_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'val.csv'} does not match prepare.json")


def test_a_hand_made_manifest_is_accepted_with_one_line(tmp_path):
    paths = labelled_images(tmp_path / "img", 4)
    pd.DataFrame({"path": [p.name for p in paths], "label": [0, 1, 0, 1]}).to_csv(
        tmp_path / "img" / "mine.csv", index=False
    )
    manifest, said = read(tmp_path / "img" / "mine.csv")
    assert said == [
        f"note: {tmp_path / 'img'} has no prepare.json: its manifests are checked, not verified"
    ]
    # Relative paths are read from the manifest's folder, not from wherever one stands.
    assert manifest.paths == [str(p) for p in paths]


@pytest.mark.parametrize("label", ["2", "", "dog", "0.5", "nan", "-1"])
def test_a_label_other_than_0_or_1_names_the_line(tmp_path, label):
    frame = labelled_frame(labelled_images(tmp_path / "img", 4))
    frame["label"] = frame["label"].astype(str)
    frame.loc[2, "label"] = label
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(UserError) as err:
        read(tmp_path / "train.csv")
    assert str(err.value) == (
        f"{tmp_path / 'train.csv'} line 4: label {label!r} is not 0 (cat) or 1 (dog)"
    )


def test_float_labels_zero_and_one_are_labels(tmp_path):
    frame = labelled_frame(labelled_images(tmp_path / "img", 4))
    frame["label"] = frame["label"].astype(float)  # pandas writes 0.0 / 1.0
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert read(tmp_path / "train.csv")[0].labels == [0, 1, 0, 1]


def test_missing_changed_and_non_image_files_name_row_and_file(tmp_path):
    paths = labelled_images(tmp_path / "img", 6)
    frame = labelled_frame(paths)
    frame.to_csv(tmp_path / "train.csv", index=False)
    paths[3].unlink()
    with pytest.raises(UserError, match=rf"line 5: image {paths[3]} does not exist"):
        read(tmp_path / "train.csv")
    paths[3].write_bytes(jpeg_bytes(seed=3))
    paths[4].write_bytes(jpeg_bytes(seed=99))  # another image under the same name
    with pytest.raises(UserError, match=rf"line 6: image {paths[4]} changed since prepare"):
        read(tmp_path / "train.csv")
    # Without a sha256 column each image is checked as prepare checks it: Pillow and
    # TensorFlow must both decode all of it.
    frame.drop(columns="sha256").to_csv(tmp_path / "train.csv", index=False)
    paths[1].write_text("not an image at all\n")
    with pytest.raises(UserError, match=rf"line 3: image {paths[1]} cannot be used \(not-an-image"):
        read(tmp_path / "train.csv")
    whole = jpeg_bytes(size=(64, 64), seed=1)
    paths[1].write_bytes(whole[: len(whole) // 2])  # a header that opens, data that ends early
    with pytest.raises(UserError, match=rf"line 3: image {paths[1]} cannot be used \(truncated"):
        read(tmp_path / "train.csv")
    paths[1].write_bytes(whole)
    Image.open(io.BytesIO(whole)).save(paths[2], format="TIFF")  # Pillow reads it, TF cannot
    with pytest.raises(UserError, match=rf"line 4: image {paths[2]} cannot be used \(tensorflow"):
        read(tmp_path / "train.csv")


def test_header_only_jpeg_and_missing_column_are_one_line(tmp_path):
    (tmp_path / "val.csv").write_text("path,label,width,height,mode,format,sha256\n")
    with pytest.raises(UserError, match="val.csv has a header but no rows"):
        read(tmp_path / "val.csv")
    (tmp_path / "photo.csv").write_bytes(jpeg_bytes())
    with pytest.raises(UserError, match=r"photo.csv is not a manifest CSV \(not CSV text\)"):
        read(tmp_path / "photo.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(UserError, match=r"empty.csv is not a manifest CSV \(empty\)"):
        read(tmp_path / "empty.csv")
    # A test set to predict, given to evaluate (a probe: the message said "a manifest starts
    # with path,label; prepare writes them", though prepare wrote it without labels).
    (tmp_path / "ids.csv").write_text("path,id\nx.jpg,1\n")
    with pytest.raises(UserError, match=r"ids.csv holds unlabelled images \(path,id: a set to"):
        read(tmp_path / "ids.csv")
    (tmp_path / "other.csv").write_text("path,kind\nx.jpg,1\n")
    with pytest.raises(UserError, match="other.csv has no 'label' column"):
        read(tmp_path / "other.csv")
    with pytest.raises(UserError, match="does not exist: run `catsdogs prepare` first"):
        read(tmp_path / "nothing.csv")


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["1", "05", "5"], "line 4: id 5 appears twice (also line 3)"),
        (["1", "\u0665", "2"], "line 3: id '\u0665' is not a test id (digits 0-9)"),
        (["1", "", "2"], "line 3: id '' is not a test id (digits 0-9)"),
        (["1", "-1", "2"], "line 3: id '-1' is not a test id (digits 0-9)"),
        (["1", "9" * 26, "2"], f"line 3: id '{'9' * 26}' is not a test id (digits 0-9)"),
    ],
)
def test_test_ids_are_ascii_digits_and_unique(tmp_path, ids, message):
    paths = labelled_images(tmp_path / "img", 3)
    frame = pd.DataFrame({"path": [str(p) for p in paths], "id": ids})
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError) as err:
        read(tmp_path / "test.csv", "test")
    assert str(err.value) == f"{tmp_path / 'test.csv'} {message}"


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        "[1, 2]",
        '{"complete": true, "manifests": null}',
        '{"manifests": {}}',  # no "complete": prepare always says whether it finished
        '{"complete": "yes", "manifests": {}}',
    ],
)
def test_a_damaged_record_is_one_line(tmp_path, damage):
    frame = labelled_frame(labelled_images(tmp_path / "img", 4))
    manifests.write_set(tmp_path, {"train.csv": frame}, {})
    (tmp_path / "prepare.json").write_text(damage)
    with pytest.raises(UserError, match="prepare.json is damaged"):
        read(tmp_path / "train.csv")


def test_several_bad_lines_are_named_after_the_first(tmp_path):
    # A probe: "(and 2 more)" did not say which.
    frame = labelled_frame(labelled_images(tmp_path / "img", 8))
    frame["label"] = frame["label"].astype(str)
    frame.loc[[1, 3, 4, 5, 6], "label"] = "dog"
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(UserError) as err:
        read(tmp_path / "train.csv")
    assert str(err.value) == (
        f"{tmp_path / 'train.csv'} line 3: label 'dog' is not 0 (cat) or 1 (dog) "
        "(and 4 more: line 5, line 6, line 7, ...)"
    )


def test_training_data_of_one_class_is_refused_in_one_line(tmp_path):
    # A probe: a cats-only manifest was accepted by train and by lr-find (which suggested 1e-1).
    paths = labelled_images(tmp_path / "images", 6)
    frame = labelled_frame(paths, sha256=False)
    frame[frame["label"] == 0].to_csv(tmp_path / "train.csv", index=False)
    frame.to_csv(tmp_path / "val.csv", index=False)
    with pytest.raises(UserError, match=r"train.csv holds only cats: a classifier needs images"):
        manifests.read_training_data(tmp_path)
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert len(manifests.read_training_data(tmp_path).train) == 6


def test_a_validation_set_of_one_class_is_warned_of(tmp_path):
    paths = labelled_images(tmp_path / "images", 6)
    frame = labelled_frame(paths, sha256=False)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame[frame["label"] == 1].to_csv(tmp_path / "val.csv", index=False)
    said: list[str] = []
    manifests.read_training_data(tmp_path, said.append)
    assert [line for line in said if not line.startswith("note:")] == [
        f"warning: {tmp_path / 'val.csv'} holds only dogs: its scores cannot tell a classifier "
        "from one that answers dogs to everything; give it images of both classes"
    ]
    frame.to_csv(tmp_path / "val.csv", index=False)
    said.clear()
    manifests.read_training_data(tmp_path, said.append)
    assert not any(line.startswith("warning:") for line in said)

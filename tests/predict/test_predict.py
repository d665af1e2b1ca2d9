"""predict, evaluate and report: the files Kaggle and people read."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import (
    PNG,
    cli,
    labelled_frame,
    loss_and_accuracy,
    p_dog_by_hand,
    real_data,
    smoke_train,
    tiny_model,
)
from imagefactory import image_bytes, jpeg_bytes, labelled_images, sideways, with_orientation
from sklearn import metrics as skm

from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import evaluation, submission
from catsdogs.training.rundir import eval_path


def test_submission_format_matches_the_competition_sample(shared_data):
    sample = (shared_data / "sampleSubmission.csv").read_bytes()
    ids = list(range(12500, 0, -1))  # given out of order
    frame = submission.table(ids, np.linspace(0, 1, len(ids)), "class", 0.005)
    out = frame.to_csv(index=False, lineterminator="\n").encode()
    assert out.splitlines()[0] == sample.splitlines()[0] == b"id,label"
    assert len(out.splitlines()) == len(sample.splitlines())
    assert [line.split(b",")[0] for line in out.splitlines()] == [
        line.split(b",")[0] for line in sample.splitlines()
    ]
    # 1 (dog) where P(dog) >= 0.5: sorted by id, the probabilities run from 1 down to 0.
    by_id = np.linspace(0, 1, len(ids))[::-1]
    assert frame["label"].tolist() == (by_id >= 0.5).astype(int).tolist()


def test_ids_sorted_each_once_and_probabilities_clipped(tmp_path):
    frame = submission.table([3, 1, 2], np.array([1.0, 0.0, 0.7]), "proba", 0.005)
    assert frame["id"].tolist() == [1, 2, 3]
    assert frame["label"].tolist() == pytest.approx([0.005, 0.7, 0.995])
    submission.write(frame, tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text() == "id,label\n1,0.005000\n2,0.700000\n3,0.995000\n"
    with pytest.raises(UserError, match="test id 2 appears more than once"):
        submission.table([1, 2, 2], np.zeros(3), "proba", 0.005)
    with pytest.raises(UserError, match="--format must be proba or class"):
        submission.table([1], np.zeros(1), "probability", 0.005)


def write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).write_bytes(jpeg_bytes(size=(40 + i, 30), seed=i))


def test_tta_changes_nothing_for_a_flip_invariant_model(tmp_path):
    write_images(tmp_path / "test", ["3.jpg", "1.jpg", "2.jpg", "10.jpg"])
    for invariant in (True, False):
        model = tiny_model(tmp_path / f"m{invariant}.keras", flip_invariant=invariant)
        outputs = {}
        for flag in ("--tta", "--no-tta"):
            out = tmp_path / f"{invariant}{flag}.csv"
            done = cli("predict", "--model", model, "--test", tmp_path / "test", "--out", out, flag)
            assert done.exit_code == 0, done.output
            outputs[flag] = pd.read_csv(out)
            assert outputs[flag]["id"].tolist() == [1, 2, 3, 10]
        same = np.allclose(outputs["--tta"]["label"], outputs["--no-tta"]["label"], atol=1e-6)
        assert same == invariant  # and TTA really does something for a model that can tell


def test_zip_source_and_class_format(tmp_path):
    write_images(tmp_path / "test1", ["1.jpg", "2.jpg"])
    with zipfile.ZipFile(tmp_path / "test1.zip", "w") as zf:
        for path in sorted((tmp_path / "test1").iterdir()):
            zf.write(path, f"test1/{path.name}")
    model = tiny_model(tmp_path / "m.keras")
    out = tmp_path / "sub.csv"
    done = cli(
        "predict",
        "--model",
        model,
        "--test",
        tmp_path / "test1.zip",
        "--out",
        out,
        "--format",
        "class",
    )
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(out)
    p_dog = p_dog_by_hand(model, sorted((tmp_path / "test1").iterdir()), tta=True)
    assert frame["id"].tolist() == [1, 2]
    assert frame["label"].tolist() == (p_dog >= 0.5).astype(int).tolist()


@pytest.mark.parametrize(
    ("sample", "expected"),
    [("sampleSubmission.csv", "class"), ("sample_submission_redux.csv", "proba"), (None, "proba")],
)
def test_default_format_follows_the_competition_sample(shared_data, tmp_path, sample, expected):
    # dogs-vs-cats scores 0/1 labels by accuracy (its sample says `1,0`); the Redux board
    # scores probabilities by log loss (`1,0.5`). prepare records the sample it found; with
    # no sample, probabilities.
    write_images(tmp_path / "test1", ["1.jpg", "2.jpg", "3.jpg"])
    rows = {"path": [str(p) for p in sorted((tmp_path / "test1").iterdir())], "id": [1, 2, 3]}
    known = str(shared_data / sample) if sample else None
    manifests.write_set(tmp_path, {"test.csv": pd.DataFrame(rows)}, {"sample_submission": known})
    out, model = tmp_path / "sub.csv", tiny_model(tmp_path / "m.keras")
    done = cli("predict", "--model", model, "--test", tmp_path / "test.csv", "--out", out)
    assert done.exit_code == 0, done.output
    assert f"format: {expected} (" in done.output
    labels = pd.read_csv(out)["label"]
    p_dog = p_dog_by_hand(model, rows["path"], tta=True)
    if expected == "class":
        assert labels.dtype.kind == "i"
        assert labels.tolist() == (p_dog >= 0.5).astype(int).tolist()
    else:  # clipped to [0.005, 0.995], written with 6 decimals
        assert labels.dtype.kind == "f"
        assert labels.to_numpy() == pytest.approx(np.clip(p_dog, 0.005, 0.995), abs=2e-6)


def test_unreadable_test_image_names_the_file_and_writes_nothing(tmp_path):
    write_images(tmp_path / "test", ["1.jpg", "2.jpg"])
    (tmp_path / "test" / "3.jpg").write_bytes(b"")
    out = tmp_path / "sub.csv"
    done = cli(
        "predict",
        "--model",
        tiny_model(tmp_path / "m.keras"),
        "--test",
        tmp_path / "test",
        "--out",
        out,
    )
    assert done.exit_code == 1
    assert f"cannot read test image {tmp_path / 'test' / '3.jpg'}: empty" in done.output
    assert not out.exists()
    # Two more: each named after the first (a probe: "(and 2 more)" did not say which).
    for name in ("4.jpg", "5.jpg"):
        (tmp_path / "test" / name).write_bytes(b"")
    done = cli("predict", "--model", tmp_path / "m.keras", "--test", tmp_path / "test")
    others = f"{tmp_path / 'test' / '4.jpg'}, {tmp_path / 'test' / '5.jpg'}"
    assert f"3.jpg: empty (and 2 more: {others})" in done.output


def test_a_model_file_resizes_as_it_was_trained_alone_as_in_its_run(tmp_path):
    # A wide image: stretched and padded to the model's square, it gives two inputs.
    (tmp_path / "test1").mkdir()
    (tmp_path / "test1" / "1.jpg").write_bytes(jpeg_bytes(size=(96, 24), seed=3))
    image = tmp_path / "test1" / "1.jpg"
    got = {}
    for policy in ("stretch", "pad"):
        model = tiny_model(tmp_path / f"{policy}.keras", flip_invariant=False, resize=policy)
        out = tmp_path / f"{policy}.csv"
        args = ["--model", model, "--test", tmp_path / "test1", "--out", out, "--no-tta"]
        done = cli("predict", *args, "--format", "proba", "--clip", "0")
        assert done.exit_code == 0, done.output
        assert f"({policy} to 32 px)" in done.output
        got[policy] = pd.read_csv(out)["label"].iloc[0]
        assert got[policy] == pytest.approx(
            p_dog_by_hand(model, [image], resize=policy)[0], abs=2e-6
        )
    assert got["stretch"] != pytest.approx(got["pad"], abs=1e-4)  # the policy mattered


def test_a_model_that_does_not_record_its_resize_policy_is_refused(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "plain.keras")
    write_images(tmp_path / "test1", ["1.jpg"])
    done = cli("predict", "--model", tmp_path / "plain.keras", "--test", tmp_path / "test1")
    assert done.exit_code == 1
    assert done.output.strip().splitlines()[-1] == (
        f"error: model {tmp_path / 'plain.keras'} does not record how its images were resized "
        "(a ResizePolicy layer); only models saved by `catsdogs train` can be used"
    )


def test_image_without_an_id_is_refused(tmp_path):
    write_images(tmp_path / "test", ["1.jpg", "cat.jpg"])
    done = cli(
        "predict",
        "--model",
        tiny_model(tmp_path / "m.keras"),
        "--test",
        tmp_path / "test",
        "--out",
        tmp_path / "s.csv",
    )
    assert done.exit_code == 1 and "has no integer id" in done.output


def test_scores_equal_sklearn_and_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.1, 0.6, 0.8, 0.4, 0.9, 0.2])
    result = evaluation.scores(labels, probabilities)
    assert result["accuracy"] == pytest.approx(4 / 6)
    by_hand = -np.mean(np.log([0.9, 0.4, 0.8, 0.4, 0.9, 0.8]))
    assert result["log_loss"] == pytest.approx(by_hand)
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, probabilities))
    assert result["roc_auc"] == pytest.approx(8 / 9)  # 8 of the 9 dog/cat pairs ranked right
    assert result["confusion_matrix"] == [[2, 1], [1, 2]]
    assert result["per_class"]["dog"] == {"precision": 2 / 3, "recall": 2 / 3, "support": 3}
    assert "accuracy  0.6667" in evaluation.table(result)


def test_evaluate_and_report_on_a_run(tmp_path):
    paths = labelled_images(tmp_path / "images", 6)
    val = tmp_path / "val.csv"
    labelled_frame(paths, sha256=False).to_csv(val, index=False)
    run = tmp_path / "run"
    run.mkdir()
    tiny_model(run / "best.keras", flip_invariant=False)
    # The run trained on two of these images, copied elsewhere under other names (another
    # prepare of the same folder): the same bytes, found by their SHA-256.
    trained = tmp_path / "trained"
    copies = labelled_images(tmp_path / "copies", 9)[6:] + [
        Path(shutil.copy(paths[i], tmp_path / "copies" / f"again-{i}.jpg")) for i in (1, 4)
    ]
    trained.mkdir()
    labelled_frame(copies).to_csv(trained / "train.csv", index=False)
    (run / "config.yaml").write_text(f"data:\n  dir: {trained}\n  resize: stretch\n")
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.7, 0.6, 0.5],
            "accuracy": [0.5, 0.6, 0.7],
            "val_loss": [0.71, 0.65, 0.66],
            "val_accuracy": [0.5, 0.5, 0.6],
            "learning_rate": [0.01] * 3,
            "seconds": [2.0, 2.0, 2.0],
        }
    ).to_csv(run / "history.csv", index=False)

    # The scores, computed here from the model's P(dog) for each image.
    labels = pd.read_csv(val)["label"].to_numpy()
    p_dog = p_dog_by_hand(run / "best.keras", paths)
    log_loss, accuracy = loss_and_accuracy(labels, p_dog)
    mistakes = int(((p_dog >= 0.5) != (labels == 1)).sum())

    done = cli("evaluate", "--model", run, "--data", val, "--no-tta")
    assert done.exit_code == 0, done.output
    assert "TTA off: one pass per image" in done.output
    assert (
        f"warning: 2 of 6 images in {val} were in this model's training set "
        f"({trained / 'train.csv'}): these scores overstate how it does on new images"
    ) in done.output
    plain = eval_path(run / "best.keras", val, False)
    assert plain.name == f"eval-val-{manifests.file_sha256(val)[:8]}.json"
    result = json.loads(plain.read_text())
    assert (result["model"], result["count"]) == (str(run / "best.keras"), 6)
    assert (result["epoch"], result["data"], result["tta"]) == (2, str(val), False)
    assert result["accuracy"] == pytest.approx(accuracy)
    assert result["log_loss"] == pytest.approx(log_loss, rel=1e-5)
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, p_dog), abs=1e-6)
    # The table printed says the same.
    shown = dict(re.findall(r"(images|accuracy|log loss) +(\S+)\n", done.output))
    assert shown["images"] == "6"
    assert float(shown["accuracy"]) == pytest.approx(accuracy, abs=5e-5)
    assert float(shown["log loss"]) == pytest.approx(log_loss, abs=5e-5)

    # The default is TTA, for evaluate and report as for predict: another file, the first kept.
    with_tta = cli("evaluate", "--model", run, "--data", val)
    assert with_tta.exit_code == 0 and "TTA on: each image is also seen mirrored" in with_tta.output
    mirrored = json.loads(eval_path(run / "best.keras", val, True).read_text())
    p_tta = p_dog_by_hand(run / "best.keras", paths, tta=True)
    assert mirrored["tta"] and mirrored["log_loss"] == pytest.approx(
        loss_and_accuracy(labels, p_tta)[0], rel=1e-5
    )
    assert json.loads(plain.read_text()) == result
    again = cli("evaluate", "--model", run, "--data", val, "--no-tta")
    replacing = "(replacing the earlier scores of this model on this data)"
    assert f"wrote {plain} {replacing}" in again.output

    done = cli("report", run, "--data", val, "--no-tta")
    assert done.exit_code == 0, done.output
    assert "warning: 2 of 6 images" in done.output
    report = (run / "report.md").read_text()
    for name in ("curves.png", "roc.png", "confusion.png", "mistakes.png"):
        assert (run / name).read_bytes()[:8] == PNG, name
        assert f"]({name})" in report
    assert (
        f"Model: `best.keras`, epoch 2 of 3 (the lowest validation loss), evaluated at 32 px on "
        f"`{val}` (6 images)." in report
    )
    # report writes the eval file as evaluate does: the same fields, the same scores.
    reported = json.loads(plain.read_text())
    assert reported.keys() == result.keys()
    assert reported["accuracy"] == result["accuracy"] and reported["epoch"] == 2
    assert f"accuracy  {accuracy:.4f}\n" in report
    assert f"most confident mistakes (of {mistakes})\n" in report
    assert f"```yaml\n{(run / 'config.yaml').read_text().rstrip()}\n```" in report


ODD_NAMES = ["my cat.jpg", "chien-été.png", "1.jpg", "sub/Ünïcode dog.jpeg"]
LEFT_BEHIND = ["._my cat.jpg", ".DS_Store", "Thumbs.db", "notes.txt"]


def odd_folder(folder: Path) -> list[Path]:
    """Photos with the names people give them, plus what operating systems leave beside."""
    for i, name in enumerate(ODD_NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(size=(36 + 3 * i, 30), seed=10 + i))
    for name in LEFT_BEHIND:
        (folder / name).write_bytes(b"\x00\x05\x16\x07 not an image")
    return sorted(folder / name for name in ODD_NAMES)


def read_table(output: str) -> list[tuple[str, float, str]]:
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.endswith("P(dog)  label"))
    rows = []
    for line in lines[header + 1 :]:
        if not line or line.startswith("wrote "):
            break
        name, p_dog, label = line.rsplit(maxsplit=2)
        rows.append((name.rstrip(), float(p_dog), label))
    return rows


def test_photos_in_a_folder_each_once_with_its_name_and_nothing_written(tmp_path):
    model = tiny_model(tmp_path / "m.keras", flip_invariant=False)
    photos = odd_folder(tmp_path / "my pets")
    done = cli("predict", "--model", model, tmp_path / "my pets")
    assert done.exit_code == 0, done.output
    expected = p_dog_by_hand(model, photos, tta=True)
    rows = read_table(done.output)
    assert [r[0] for r in rows] == [str(p) for p in photos]  # the 1.jpg among them: a photo
    assert [r[1] for r in rows] == pytest.approx(expected, abs=5e-4)
    assert [r[2] for r in rows] == ["dog" if p >= 0.5 else "cat" for p in expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "my pets"]


def test_photos_from_arguments_and_a_zip_into_a_csv(tmp_path):
    model = tiny_model(tmp_path / "m.keras", flip_invariant=False)
    photos = odd_folder(tmp_path / "pets")
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # Python marks non-ASCII names as UTF-8
        for path in sorted((tmp_path / "pets").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tmp_path / "pets").as_posix())
    single = photos[0]
    out = tmp_path / "out" / "photos.csv"
    done = cli("predict", "--model", model, single, archive, "--out", out)
    assert done.exit_code == 0, done.output
    written = pd.read_csv(out)
    inner = [p.relative_to(tmp_path / "pets").as_posix() for p in photos]
    assert written.columns.tolist() == ["file", "p_dog", "label"]
    assert written["file"].tolist() == [str(single)] + [f"{archive}:{name}" for name in inner]
    expected = p_dog_by_hand(model, [single, *photos], tta=True)
    assert written["p_dog"].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert [r[0] for r in read_table(done.output)] == written["file"].tolist()


def test_photo_mode_refusals_are_one_line(tmp_path):
    model = str(tiny_model(tmp_path / "m.keras"))
    write_images(tmp_path / "test1", ["1.jpg"])
    both = cli("predict", "--model", model, "a.jpg", "--test", tmp_path / "test1")
    assert both.exit_code == 1 and "not both" in both.output
    empty = cli("predict", "--model", model, "")
    assert empty.exit_code == 1 and "an empty path was given" in empty.output
    shaped = cli("predict", "--model", model, "x.jpg", "--format", "class")
    assert shaped.exit_code == 1 and "photos get P(dog)" in shaped.output
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    broken = cli("predict", "--model", model, tmp_path / "broken.jpg")
    assert broken.exit_code == 1
    assert f"cannot read the image {tmp_path / 'broken.jpg'}" in broken.output
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is not an image" in cli("predict", "--model", model, text).output


def test_the_competition_test_folder_is_still_a_submission(tmp_path):
    write_images(tmp_path / "test1", ["2.jpg", "1.jpg"])
    out = tmp_path / "sub.csv"
    model = str(tiny_model(tmp_path / "m.keras"))
    done = cli("predict", "--model", model, "--test", tmp_path / "test1", "--out", out)
    assert done.exit_code == 0, done.output
    assert pd.read_csv(out)["id"].tolist() == [1, 2]


def test_a_photo_whose_name_is_not_utf8_is_one_error_line(tmp_path):
    model = str(tiny_model(tmp_path / "m.keras"))
    latin = tmp_path / os.fsdecode(b"k\xe4tze.jpg")
    latin.write_bytes(jpeg_bytes())
    done = cli("predict", "--model", model, latin)  # named alone: refused, not skipped
    assert done.exit_code == 1
    assert "k\\xe4tze.jpg: name-not-utf8" in done.output


def test_a_folder_names_each_file_it_skips_and_predicts_the_rest(tmp_path):
    model = tiny_model(tmp_path / "m.keras", flip_invariant=False)
    pets = tmp_path / "pets"
    write_images(pets, ["a.jpg"])
    (pets / "b.webp").write_bytes(image_bytes("WEBP", seed=1))
    (pets / "c.webp").write_bytes(image_bytes("WEBP", seed=2, mode="RGBA"))
    (pets / "scan.tiff").write_bytes(image_bytes("TIFF"))
    (pets / os.fsdecode(b"k\xe4tze.jpg")).write_bytes(jpeg_bytes(seed=3))
    done = cli("predict", "--model", model, pets, "--no-tta")
    assert done.exit_code == 0, done.output
    rows = read_table(done.output)
    assert [r[0] for r in rows] == [str(pets / n) for n in ("a.jpg", "b.webp", "c.webp")]
    expected = p_dog_by_hand(model, [pets / "a.jpg", pets / "b.webp"])  # RGB: TF alone reads it
    assert [r[1] for r in rows[:2]] == pytest.approx(expected, abs=5e-4)
    lines = done.output.splitlines()
    assert (
        "skipped 1 file that is not an image TensorFlow reads (.bmp .gif .jpeg .jpg .png "
        f".webp): {pets / 'scan.tiff'}" in lines
    )
    assert f"skipped 1 file whose name is not UTF-8 (rename to use): {pets}/k\\xe4tze.jpg" in lines


def test_a_photo_taken_sideways_is_seen_as_its_camera_meant(tmp_path):
    import tensorflow as tf
    from PIL import Image

    model = tiny_model(tmp_path / "m.keras", flip_invariant=False)
    phone = tmp_path / "phone.jpg"  # red left, blue right, tagged: turn 90 degrees clockwise
    phone.write_bytes(with_orientation(sideways((40, 24)), 6))
    stored = tf.io.decode_jpeg(phone.read_bytes(), channels=3).numpy()
    for name, pixels in (("upright.png", np.rot90(stored, k=-1)), ("stored.png", stored)):
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp_path / name)  # lossless
    upright, as_stored = p_dog_by_hand(model, [tmp_path / "upright.png", tmp_path / "stored.png"])
    assert abs(upright - as_stored) > 0.01  # the model tells them apart
    done = cli("predict", "--model", model, phone, "--no-tta")
    assert done.exit_code == 0, done.output
    assert read_table(done.output)[0][1] == pytest.approx(upright, abs=5e-4)
    # evaluate reads it from a manifest, as train and report do: upright too.
    val = tmp_path / "val.csv"
    val.write_text(f"path,label\n{phone},1\n")
    done = cli("evaluate", "--model", model, "--data", val, "--no-tta")
    assert done.exit_code == 0, done.output
    shown = float(re.search(r"log loss +(\S+)\n", done.output).group(1))
    assert shown == pytest.approx(-np.log(upright), abs=5e-5)


def test_photo_names_that_look_like_formulas_stay_text_in_the_csv(tmp_path, monkeypatch):
    model = tiny_model(tmp_path / "m.keras", flip_invariant=False)
    monkeypatch.chdir(tmp_path)
    names = ["=1+2.jpg", "+cat.jpg", "@dog.jpg", "-0.5.jpg", "plain.jpg"]
    write_images(tmp_path, names)
    done = cli("predict", "--model", model, "--out", "photos.csv", "--", *names)
    assert done.exit_code == 0, done.output
    assert [r[0] for r in read_table(done.output)] == names  # the terminal shows them as named
    lines = (tmp_path / "photos.csv").read_text().splitlines()
    cells = [line.split(",")[0] for line in lines[1:]]
    assert cells == ["'=1+2.jpg", "'+cat.jpg", "'@dog.jpg", "'-0.5.jpg", "plain.jpg"]
    written = pd.read_csv(tmp_path / "photos.csv")
    assert written["p_dog"].dtype == np.float64  # numbers stay numbers
    expected = p_dog_by_hand(model, [tmp_path / n for n in names], tta=True)
    assert written["p_dog"].to_numpy() == pytest.approx(expected, abs=1e-6)


def test_a_runs_own_test_set_is_the_default(shared_data, tmp_path, monkeypatch):
    data = real_data(shared_data, tmp_path / "data", test=3)
    run = tmp_path / "run"
    trained = smoke_train("--data", data, "--run-dir", run)
    assert trained.exit_code == 0, trained.output
    monkeypatch.chdir(tmp_path)  # no data/processed here
    done = cli("predict", "--model", run, "--out", "s.csv", "--force")  # a smoke run is weak
    assert done.exit_code == 0, done.output
    written = pd.read_csv(tmp_path / "s.csv")
    assert written["id"].tolist() == [1, 2, 3]
    assert f"3 test images from {data / 'test.csv'}" in done.output
    # The run's best model's P(dog) for those images (no sample submission known: proba).
    test = pd.read_csv(data / "test.csv")
    p_dog = p_dog_by_hand(run / "best.keras", test["path"], tta=True)
    assert written["label"].to_numpy() == pytest.approx(np.clip(p_dog, 0.005, 0.995), abs=2e-6)


def test_out_over_the_sample_submission_of_the_models_data_is_refused(shared_data, tmp_path):
    # A probe: `predict --test DIR --out <the sample submission that prepare.json records>`
    # overwrote it, and later predictions silently switched format (class -> proba).
    sample = tmp_path / "sampleSubmission.csv"
    shutil.copyfile(shared_data / "sampleSubmission.csv", sample)
    write_images(tmp_path / "test1", ["1.jpg", "2.jpg"])
    rows = {"path": [str(p) for p in sorted((tmp_path / "test1").iterdir())], "id": [1, 2]}
    data = tmp_path / "data"
    manifests.write_set(data, {"test.csv": pd.DataFrame(rows)}, {"sample_submission": str(sample)})
    run = tmp_path / "run"
    run.mkdir()
    tiny_model(run / "best.keras")
    (run / "config.yaml").write_text(f"name: handmade\ndata:\n  dir: {data}\n  resize: stretch\n")
    before = sample.read_bytes()
    done = cli("predict", "--model", run, "--test", tmp_path / "test1", "--out", sample)
    assert done.exit_code == 1, done.output
    assert "would overwrite an input (the competition's sample submission)" in done.output
    assert sample.read_bytes() == before


def test_a_photo_whose_name_holds_a_newline_is_one_row_of_the_table(tmp_path):
    # A probe: a photo name with a newline broke predict's terminal table.
    model = tiny_model(tmp_path / "m.keras")
    folder = tmp_path / "pets"
    folder.mkdir()
    (folder / "a\nb.jpg").write_bytes(jpeg_bytes(size=(32, 30), seed=3))
    (folder / "c.jpg").write_bytes(jpeg_bytes(size=(32, 30), seed=4))
    done = cli("predict", "--model", model, folder)
    assert done.exit_code == 0, done.output
    names = [name for name, _, _ in read_table(done.output)]
    assert names == [f"{folder}/a\\nb.jpg", f"{folder}/c.jpg"]


def test_a_model_calling_every_image_one_class_is_said_to_by_evaluate():
    labels = np.array([0, 0, 1, 1, 0])
    result = evaluation.scores(labels, np.full(5, 0.2))  # every image a cat
    assert evaluation.one_class(result).startswith(
        "warning: the model calls every image a cat (5 of 5): its accuracy is only the share"
    )
    assert "every image a dog (5 of 5)" in evaluation.one_class(
        evaluation.scores(labels, np.full(5, 0.9))
    )
    mixed = evaluation.scores(labels, np.array([0.1, 0.2, 0.8, 0.9, 0.4]))
    assert evaluation.one_class(mixed) is None
    # Data of one class, every image right: not "learned nothing" (a probe), the data's limit.
    cats = evaluation.scores(np.zeros(4, dtype=int), np.full(4, 0.1))
    assert evaluation.one_class(cats).startswith(
        "warning: the data holds only cats (4 images): its accuracy is the share of them called"
    )


def test_a_model_whose_data_moved_asks_for_test_rather_than_using_another_data_s(
    tmp_path, monkeypatch
):
    # A probe: predict fell back to data/processed/test.csv in silence and blamed --test.
    run = tmp_path / "run"
    run.mkdir()
    tiny_model(run / "best.keras")
    (run / "config.yaml").write_text(f"data:\n  dir: {tmp_path / 'moved'}\n")
    pd.DataFrame({"epoch": [1], "val_loss": [0.5], "val_accuracy": [0.8]}).to_csv(
        run / "history.csv", index=False
    )
    monkeypatch.chdir(tmp_path)
    done = cli("predict", "--model", run)
    assert done.exit_code == 1
    assert done.output.strip() == (
        f"error: the data the model trained on ({tmp_path / 'moved'}) is gone: give the test "
        "set with --test"
    )

"""Never a worse submission in silence: a run keeps its own submission, the file asked for is
replaced only by a model at least as good on validation, and a weak model's is not written
there without --force."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import cli, tiny_model
from imagefactory import jpeg_bytes

from catsdogs.training import decisions
from catsdogs.training.rundir import COLUMNS, RunDir
from catsdogs.training.train import closing


def a_run(
    folder: Path,
    val_loss: float,
    val_accuracy: float = 0.8,
    dog_share: float = 0.5,
    passes: float = 3.0,
    identity: str = "abc",
) -> Path:
    """A finished run whose best epoch scored ``val_loss`` and ``val_accuracy`` on 100 images."""
    folder.mkdir(parents=True)
    tiny_model(folder / "best.keras")
    row = [1, 0.5, 0.8, val_loss, val_accuracy, 1e-3, 9.0, dog_share]
    pd.DataFrame([dict(zip(COLUMNS, row))]).to_csv(folder / "history.csv", index=False)
    (folder / "config.yaml").write_text(f"data:\n  dir: {folder}\n  identity: {identity}\n")
    (folder / "metrics.json").write_text(json.dumps({"val_images": 100, "passes": passes}))
    return folder


@pytest.fixture
def test_set(tmp_path) -> Path:
    folder = tmp_path / "test1"
    folder.mkdir()
    for index in (1, 2, 3):
        (folder / f"{index}.jpg").write_bytes(jpeg_bytes(seed=index))
    return folder


def submit(run: Path, test: Path, out: Path, *extra: str) -> str:
    done = cli("predict", "--model", run, "--test", test, "--out", out, *extra)
    assert done.exit_code == 0, done.output
    return done.output


def test_a_worse_model_keeps_the_better_ones_submission_and_says_so(tmp_path, test_set):
    # A 3-minute run at chance wrote its submission over a better run's, without a word.
    out = tmp_path / "submission.csv"
    better = a_run(tmp_path / "runs" / "better", val_loss=0.30)
    worse = a_run(tmp_path / "runs" / "worse", val_loss=0.60, val_accuracy=0.70)
    said = submit(better, test_set, out)
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(better)
    assert (better / "submission.csv").read_bytes() == out.read_bytes()
    written = out.read_bytes()
    said = submit(worse, test_set, out)
    assert out.read_bytes() == written  # kept
    assert f"kept {out}: its model {better} (val_loss 0.3000, val_acc 0.8000) is better" in said
    assert f"this model's submission is {worse / 'submission.csv'}" in said
    assert (worse / "submission.csv").is_file()  # both kept
    said = submit(worse, test_set, out, "--force")
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(worse)
    assert f"replaced the submission of {better} (val_loss 0.3000" in said  # forced: said
    equal = a_run(tmp_path / "runs" / "equal", val_loss=0.60)
    submit(equal, test_set, out)  # at least as good: replaces
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(equal)
    other = a_run(tmp_path / "runs" / "other", val_loss=0.90, identity="xyz")
    said = submit(other, test_set, out)  # validated on other data: nothing to compare, replaced
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(other)
    # Said as what it is (a probe: it read as an improvement).
    assert (
        f"replaced the submission of {equal} (val_loss 0.6000, val_acc 0.8000) (validated " in said
    )
    assert "on other data: not compared)" in said


def test_a_weak_model_writes_only_its_run_s_submission_without_force(tmp_path, test_set):
    out = tmp_path / "submission.csv"
    weak = a_run(tmp_path / "weak", val_loss=0.69, val_accuracy=0.49, dog_share=0.0175)
    said = submit(weak, test_set, out)
    assert not out.exists() and (weak / "submission.csv").is_file()
    assert "warning: a weak model (val_acc 0.490 is within chance on 100 images)" in said
    said = submit(weak, test_set, out, "--force")
    assert out.is_file()
    # Forced, it still says what it wrote (a probe: not a word that the file is weak).
    assert f"warning: {out} holds a weak model's submission (val_acc 0.490" in said


@pytest.mark.parametrize(
    ("accuracy", "share", "passes", "said"),
    [
        (0.80, 0.5, 3.0, None),
        (0.61, 0.5, 3.0, None),  # above 0.5 + 1/sqrt(100)
        (0.60, 0.5, 3.0, "val_acc 0.600 is within chance on 100 images"),
        (0.80, 1.0, 3.0, "it calls every validation image a dog"),
        (0.80, 0.5, 0.4, "it saw its training images 0.40 times (under one pass)"),
        (0.80, 0.5, None, None),  # not recorded (a run from before): not judged
    ],
)
def test_weak_names_each_reason_whatever_the_number_of_epochs(accuracy, share, passes, said):
    best = {"val_accuracy": accuracy, "val_dog_share": share}
    assert decisions.weak(best, 100, passes) == said


def test_a_run_stopped_before_its_end_is_judged_on_what_it_recorded(tmp_path, test_set):
    # A probe: a run at chance stopped with Ctrl-C (no metrics.json) wrote --out without a
    # word: its validation images were taken as 0, and chance was not judged.
    run = a_run(tmp_path / "stopped", val_loss=0.69, val_accuracy=0.495)
    (run / "metrics.json").unlink()
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"path": [f"{i}.jpg" for i in range(400)], "label": 0}).to_csv(
        data / "val.csv", index=False
    )
    (run / "config.yaml").write_text(f"data:\n  dir: {data}\n  identity: abc\n")
    assert decisions.weakness(RunDir(run)) == "val_acc 0.495 is within chance on 400 images"
    out = tmp_path / "submission.csv"
    said = submit(run, test_set, out)
    assert not out.exists() and "a weak model (val_acc 0.495 is within chance" in said
    assert "under 1% of them" in decisions.weak({"val_accuracy": 0.9}, 100, 0.003)


def test_a_weak_run_ends_with_a_warning_even_after_one_epoch(tmp_path):
    run = a_run(tmp_path / "run", val_loss=0.69, val_accuracy=0.49, passes=0.02)
    lines = closing(RunDir(run))
    [warning] = [line for line in lines if line.startswith("warning:")]
    assert "under one pass" in warning and "FORCE=1" in warning
    # Its next: line says what predict will do with it (a probe: it read as for any model).
    [predict] = [line for line in lines if line.startswith("  catsdogs predict")]
    assert predict.endswith("# a weak model: writes only the run's own submission (--force: --out)")
    healthy = a_run(tmp_path / "healthy", val_loss=0.3)
    assert not [line for line in closing(RunDir(healthy)) if line.startswith("warning:")]
    assert not [line for line in closing(RunDir(healthy)) if "# a weak model" in line]


def test_a_run_shorter_than_lookahead_s_sync_period_is_weak_its_slow_weights_unmoved():
    best = {"val_accuracy": 0.8, "val_dog_share": 0.5}
    said = decisions.weak(best, 100, 3.0, steps=4, sync_period=5)
    assert said == (
        "its 4 steps are fewer than Lookahead's k = 5: the slow weights it is judged by never "
        "moved from their start"
    )
    assert decisions.weak(best, 100, 3.0, steps=5, sync_period=5) is None


def test_a_model_outside_a_run_does_not_replace_a_judged_one_and_records_are_checked(
    tmp_path, test_set
):
    # A probe: a weak run's best.keras copied out of its run replaced a better submission.
    out = tmp_path / "submission.csv"
    better = a_run(tmp_path / "runs" / "better", val_loss=0.30)
    submit(better, test_set, out)
    loose = tiny_model(tmp_path / "loose.keras")
    said = submit(loose, test_set, out)
    assert "was judged on validation, this one" in said
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(better)
    # A hand-edited record (a string score) is refused in one line (it was a traceback), and
    # removing it lets the next submission through.
    record = json.loads((tmp_path / "submission.json").read_text())
    worse = a_run(tmp_path / "runs" / "worse", val_loss=0.5)
    # A NaN score too (a probe: "its model (val_loss nan) is better on validation").
    for score in ("0.1", float("nan")):
        (tmp_path / "submission.json").write_text(json.dumps(record | {"val_loss": score}))
        done = cli("predict", "--model", worse, "--test", test_set, "--out", out)
        assert done.exit_code == 1 and "not a record catsdogs can read" in done.output
    (tmp_path / "submission.json").unlink()
    # Without its record nothing says who wrote the file (a probe: deleting the record, or a
    # hand-made file there, let any model replace it without a word): kept without --force.
    written = out.read_bytes()
    said = submit(worse, test_set, out)
    assert out.read_bytes() == written
    assert f"kept {out}: nothing records which model wrote it (no submission.json" in said
    submit(worse, test_set, out, "--force")
    assert json.loads((tmp_path / "submission.json").read_text())["run"] == str(worse)
    # A loose model that is kept says where --force writes, not "its submission is None".
    said = submit(loose, test_set, out)
    assert "None" not in said and said.rstrip().endswith(f"--force writes {out}")
    # Where it writes, it says that nothing judged it (a probe: a weak run's best.keras
    # copied out of its run wrote a new --out without a word).
    said = submit(loose, test_set, tmp_path / "new.csv")
    assert f"warning: {loose} was not judged on validation (a run judges its best.keras)" in said
    # The record would overwrite a file that is not one (prepare.json, a run's metrics.json).
    (tmp_path / "prepare.json").write_text('{"sample_submission": null}')
    done = cli("predict", "--model", better, "--test", test_set, "--out", tmp_path / "prepare.csv")
    assert done.exit_code == 1 and "would write its record over" in done.output
    assert (tmp_path / "prepare.json").read_text() == '{"sample_submission": null}'


def test_a_weak_model_writes_its_own_run_s_file_when_that_is_out(tmp_path, test_set):
    weak = a_run(tmp_path / "weak", val_loss=0.69, val_accuracy=0.49)
    said = submit(weak, test_set, weak / "submission.csv")
    assert (weak / "submission.csv").is_file() and "is not written" not in said


def test_a_model_without_data_and_no_test_set_names_no_option_it_was_not_given(
    tmp_path, monkeypatch
):
    # A probe: "error: --test data/processed/test.csv does not exist", --test never given.
    monkeypatch.chdir(tmp_path)
    done = cli("predict", "--model", tiny_model(tmp_path / "loose.keras"))
    assert done.exit_code == 1
    assert done.output.startswith("error: no test set to predict: the model records no data")
    # A run with no finished epoch says that, not that there is no test set (a probe).
    (tmp_path / "early").mkdir()
    (tmp_path / "early" / "config.yaml").write_text("data:\n  dir: somewhere\n")
    (tmp_path / "early" / "state.json").write_text('{"status": "running"}\n')  # as start writes
    done = cli("predict", "--model", tmp_path / "early")
    assert done.exit_code == 1 and "holds no best.keras yet" in done.output, done.output


def test_each_out_has_its_own_record_and_no_record_is_written_over_a_submission(tmp_path, test_set):
    # A probe: sub.csv and sub.txt shared sub.json, so a worse model's sub.txt made sub.json
    # name it and it then replaced the better sub.csv without a word; --out sub.json wrote
    # the record over the submission. sub.CSV still shares sub.json with sub.csv.
    better = a_run(tmp_path / "runs" / "better", val_loss=0.30)
    worse = a_run(tmp_path / "runs" / "worse", val_loss=0.60)
    submit(better, test_set, tmp_path / "sub.csv")
    record = json.loads((tmp_path / "sub.json").read_text())
    assert record["submission"] == "sub.csv" and record["run"] == str(better)
    done = cli("predict", "--model", worse, "--test", test_set, "--out", tmp_path / "sub.CSV")
    assert done.exit_code == 1 and "sub.json beside it records the model of" in done.output
    assert not (tmp_path / "sub.CSV").exists()
    assert json.loads((tmp_path / "sub.json").read_text()) == record
    # A probe: --out of any suffix was taken as a submission (sub.png, sub.json, sub.keras).
    for name in ("s.json", "s.png", "s"):
        done = cli("predict", "--model", better, "--test", test_set, "--out", tmp_path / name)
        assert done.exit_code == 1, done.output
        assert done.output == f"error: --out {tmp_path / name} must end in .csv\n"
        assert not (tmp_path / name).exists()


def test_the_class_format_is_judged_by_accuracy_the_proba_format_by_log_loss(tmp_path, test_set):
    # A probe: 0/1 labels (the accuracy board) were judged by val_loss, so a model better in
    # accuracy did not replace one better only in log loss.
    sharp = a_run(tmp_path / "runs" / "sharp", val_loss=0.30, val_accuracy=0.85)
    accurate = a_run(tmp_path / "runs" / "accurate", val_loss=0.40, val_accuracy=0.90)
    labels, proba = tmp_path / "labels.csv", tmp_path / "proba.csv"
    for out, fmt in ((labels, "class"), (proba, "proba")):
        submit(sharp, test_set, out, "--format", fmt)
        said = submit(accurate, test_set, out, "--format", fmt)
        kept = fmt == "proba"
        assert json.loads(out.with_suffix(".json").read_text())["run"] == str(
            sharp if kept else accurate
        )
        by = "log loss (probabilities)" if kept else "accuracy (0/1 labels)"
        assert (f"is better on validation {by} than this one" in said) is kept, said
    said = submit(sharp, test_set, labels, "--format", "class")
    assert f"kept {labels}: its model {accurate} (val_loss 0.4000, val_acc 0.9000) is " in said


def test_a_newline_in_out_stays_on_its_line(tmp_path, test_set):
    # A probe: a raw newline in --out split "wrote ..." over two lines.
    run = a_run(tmp_path / "run", val_loss=0.30)
    out = tmp_path / "a\nb.csv"
    said = submit(run, test_set, out)
    assert out.is_file()
    assert f"wrote {tmp_path}/a\\nb.csv: 3 rows" in said
    assert not any(line.startswith("b.csv") for line in said.splitlines())


def test_out_inside_a_run_directory_is_only_that_run_s_own_submission(tmp_path, test_set):
    # A probe: --out runs/M/history.csv replaced the run's history (the next predict was a
    # traceback), and --out runs/G/submission.csv put a worse run's rows in G's own file.
    better = a_run(tmp_path / "runs" / "better", val_loss=0.30)
    worse = a_run(tmp_path / "runs" / "worse", val_loss=0.60)
    history = (worse / "history.csv").read_bytes()
    (worse / "checkpoints").mkdir()
    inside = [worse / "history.csv", better / "submission.csv"]
    for out in [*inside, worse / "checkpoints" / "x.csv", worse / "logs" / "x.csv"]:
        done = cli("predict", "--model", worse, "--test", test_set, "--out", out)
        assert done.exit_code == 1 and "is inside the run directory" in done.output, out
    done = cli("predict", "--model", worse, "--test", test_set, "--out", worse / "config.yaml")
    assert done.exit_code == 1 and "config.yaml must end in .csv" in done.output
    assert (worse / "history.csv").read_bytes() == history
    assert not (better / "submission.csv").exists()
    submit(better, test_set, better / "submission.csv")  # its own: written
    assert (better / "submission.csv").is_file()
    # A folder that merely holds a config.yaml of the user's is no run directory.
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.yaml").write_text("name: mine\n")
    submit(better, test_set, mine / "submission.csv")
    assert (mine / "submission.csv").is_file()
    # ... for predict --model too (it said "holds no best.keras yet", as of a run).
    done = cli("predict", "--model", mine, "--test", test_set, "--out", tmp_path / "x.csv")
    assert done.output == f"error: model {mine / 'best.keras'} does not exist\n"


def test_a_run_s_last_model_is_not_credited_with_its_best_epoch_s_scores(tmp_path, test_set):
    # A probe: predict --model RUN/last.keras recorded the best epoch's scores for it and
    # swapped the run's own submission (best.keras's) for last.keras's without a word.
    run = a_run(tmp_path / "run", val_loss=0.30)
    tiny_model(run / "last.keras")
    submit(run, test_set, tmp_path / "best.csv")
    own = (run / "submission.csv").read_bytes()
    submit(run / "last.keras", test_set, tmp_path / "last.csv")
    record = json.loads((tmp_path / "last.json").read_text())
    assert record["run"] is None and record["val_loss"] is None  # judged by nothing
    assert (run / "submission.csv").read_bytes() == own
    # A weak run's last.keras is as weak as its run (a probe: it wrote --out in silence).
    weak = a_run(tmp_path / "weak", val_loss=0.69, val_accuracy=0.49, dog_share=0.0175)
    tiny_model(weak / "last.keras")
    said = submit(weak / "last.keras", test_set, tmp_path / "weak.csv")
    assert "a weak model (" in said and not (tmp_path / "weak.csv").exists()


def test_a_photos_table_replaces_only_a_table_of_photos_and_never_inside_a_run(tmp_path, test_set):
    # A probe: `predict PHOTO --out sub.csv` wrote 2 rows over a recorded submission (its
    # record then guarded the photo table), over a hand-made CSV, a run's history.csv (the
    # run then failed with a KeyError) and a data set's train.csv; and photos of a run whose
    # data has no test.csv were refused for want of a test set.
    run = a_run(tmp_path / "runs" / "run", val_loss=0.30)
    photo = test_set / "1.jpg"
    submission = tmp_path / "sub.csv"
    submit(run, test_set, submission)
    manifest = tmp_path / "train.csv"
    manifest.write_text("path,label\nx.jpg,1\n")
    kept = {path: path.read_bytes() for path in (submission, manifest, run / "history.csv")}
    for out in (submission, manifest):
        done = cli("predict", photo, "--model", run, "--out", out)
        assert done.output == (
            f"error: --out {out} is a file that is not a table of photos catsdogs wrote: give "
            "another name; nothing was written\n"
        )
    done = cli("predict", photo, "--model", run, "--out", run / "photos.csv")
    assert done.exit_code == 1 and "is inside the run directory" in done.output
    assert {path: path.read_bytes() for path in kept} == kept
    table = tmp_path / "photos.csv"
    for _ in range(2):  # its own table: replaced
        done = cli("predict", photo, "--model", run, "--out", table)
        assert done.exit_code == 0 and done.output.endswith(f"wrote {table}: 1 rows\n")
    assert pd.read_csv(table).columns.tolist() == ["file", "p_dog", "label"]

"""The Python API and plain Keras loading, as a notebook user would use them: in a fresh
interpreter where it matters, against what `catsdogs predict` writes for the same images."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, SMOKE, module_command, real_data, real_images
from PIL import Image

import catsdogs
from catsdogs.errors import UserError


def pngs(shared: Path, folder: Path, count: int = 4) -> list[Path]:
    """Real photos saved losslessly (PIL and TensorFlow decode a PNG to the same pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, path in enumerate(real_images(shared, 0, count)["path"]):
        written.append(folder / f"photo-{index}.png")
        Image.open(path).convert("RGB").save(written[-1])
    return written


def predicted_by_the_command(model: Path, photos: list[Path], out: Path, tta: bool) -> pd.DataFrame:
    done = subprocess.run(
        module_command(
            "predict", "--model", model, *photos, "--out", out, "--tta" if tta else "--no-tta"
        ),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out)


def python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (nothing imported but what it imports)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True
    )


def test_importing_catsdogs_loads_neither_keras_nor_tensorflow(tmp_path):
    done = python(
        """
        import sys
        import catsdogs
        assert callable(catsdogs.load) and callable(catsdogs.train)  # the API, lazily
        print(sorted(m for m in ("keras", "tensorflow", "pandas") if m in sys.modules))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # catsdogs.load's module (pandas for its frames) loads, Keras and TensorFlow do not.
    assert "keras" not in done.stdout and "tensorflow" not in done.stdout


@pytest.mark.parametrize("order", ["import catsdogs, keras", "import keras, catsdogs"])
def test_a_fresh_interpreter_loads_a_catsdogs_model_with_plain_keras(
    smoke_run, shared_data, tmp_path, order
):
    run, _ = smoke_run
    photos = pngs(shared_data, tmp_path / "photos")
    expected = predicted_by_the_command(run, photos, tmp_path / "photos.csv", tta=False)
    done = python(
        f"""
        {order}
        import numpy as np
        from PIL import Image
        model = keras.saving.load_model({str(run / "best.keras")!r})
        size = model.get_layer("resize_policy").size
        square = keras.layers.Resizing(size, size)
        for path in {[str(p) for p in photos]!r}:
            image = np.asarray(Image.open(path).convert("RGB"), dtype="float32")
            print(float(model.predict(square(image[None]), verbose=0)[0, 0]))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    p_dog = [float(line) for line in done.stdout.split()]
    np.testing.assert_allclose(p_dog, expected["p_dog"], atol=2e-6)  # the CSV's 6 decimals


def test_without_catsdogs_keras_cannot_name_its_layer(smoke_run, tmp_path):
    # What the hook is for: the TypeError a user met before.
    run, _ = smoke_run
    done = python(f"import keras; keras.saving.load_model({str(run / 'best.keras')!r})", tmp_path)
    assert done.returncode != 0 and "ResizePolicy" in done.stderr


def test_predict_takes_paths_pil_images_and_arrays_and_agrees_with_the_command(
    smoke_run, shared_data, tmp_path
):
    run, _ = smoke_run
    photos = pngs(shared_data, tmp_path / "photos")
    expected = predicted_by_the_command(run, photos, tmp_path / "photos.csv", tta=True)
    model = catsdogs.load(run)
    by_path = model.predict([str(p) for p in photos])
    assert by_path["file"].tolist() == [str(p) for p in photos]
    np.testing.assert_allclose(by_path["p_dog"], expected["p_dog"], atol=2e-6)
    assert by_path["label"].tolist() == expected["label"].tolist()
    images = [Image.open(p) for p in photos]
    arrays = [np.asarray(image.convert("RGB")) for image in images]
    for given in (images, arrays):
        frame = model.predict(given)
        assert frame["file"].tolist() == [f"image {i}" for i in range(len(photos))]
        np.testing.assert_allclose(frame["p_dog"], by_path["p_dog"], rtol=0, atol=1e-9)
    batch = model.predict(np.stack([arrays[1], arrays[1]]))  # N x H x W x 3: N images
    np.testing.assert_allclose(batch["p_dog"], [by_path["p_dog"][1]] * 2, rtol=0, atol=1e-9)
    folder = model.predict(tmp_path / "photos", tta=False)  # a folder, one pass
    no_tta = predicted_by_the_command(run, photos, tmp_path / "no-tta.csv", tta=False)
    np.testing.assert_allclose(folder["p_dog"], no_tta["p_dog"], atol=2e-6)
    with pytest.raises(UserError, match="image 0: an array must be H x W x 3 RGB"):
        model.predict(np.zeros((8, 8)))
    with pytest.raises(UserError, match="give a path, a PIL image or an RGB array, not int"):
        model.predict([3])
    # A float image in [0, 1] read as 0-255 is black: refused, as are NaN and empty arrays.
    with pytest.raises(UserError, match=r"image 0: a float array in \[0, 1\]; give RGB"):
        model.predict([arrays[0].astype("float32") / 255])
    with pytest.raises(UserError, match="image 0: the array holds NaN"):
        model.predict([np.full((8, 8, 3), np.nan, "float32")])
    with pytest.raises(UserError, match="image 0: an array must be H x W x 3 RGB"):
        model.predict([np.zeros((0, 8, 3), "uint8")])
    # A probe: "" predicted every image under the current folder, [] said "no images in ",
    # a bool array was taken, a black float image was refused as "[0, 1]".
    with pytest.raises(UserError, match="image 0: an empty path"):
        model.predict("")
    with pytest.raises(UserError, match="no images given: give paths, PIL images or RGB"):
        model.predict([])
    with pytest.raises(UserError, match="image 0: an array of bool is no RGB image"):
        model.predict([np.ones((8, 8, 3), bool)])
    assert len(model.predict([np.zeros((8, 8, 3), "float32")])) == 1  # black: a photo

    # A probe: load("") looked for best.keras in the current folder and named that; load(None)
    # was a TypeError; values above 255 were clipped (another image) in silence.
    for empty in ("", " "):
        with pytest.raises(UserError, match=r"^load: an empty path; give a run directory or"):
            catsdogs.load(empty)
    for wrong, name in ((None, "NoneType"), (3, "int")):
        with pytest.raises(
            UserError, match=f"^load: give a run directory or a .keras file, not {name}$"
        ):
            catsdogs.load(wrong)
    with pytest.raises(UserError, match=r"image 0: values from 300 to 300; give RGB values in"):
        model.predict([np.zeros((10, 10, 3)) + 300])
    with pytest.raises(UserError, match=r"image 0: values from -5 to 0; give RGB values in"):
        model.predict([np.zeros((10, 10, 3), "int16") - np.eye(10, dtype="int16")[..., None] * 5])


def test_summary_names_the_layers_the_input_and_the_run_s_best_epoch(smoke_run):
    run, _ = smoke_run
    model = catsdogs.load(run)
    printed = []
    assert model.summary(print_fn=printed.append) is None  # printed, not shown twice
    [text] = printed
    assert model.summary(print_fn=None) == text
    # Keras' table whole in 80 columns (a probe off a terminal found it cut: "Param #" lost).
    assert "Param #" in text and max(len(line) for line in text.splitlines()[:12]) <= 80
    history = pd.read_csv(run / "history.csv")
    best = history.loc[history["val_loss"].idxmin()]
    assert "Total params" in text and "p_dog" in text  # Keras' own table
    assert f"made square by stretch to {model.loaded.size} px" in text
    assert f"run: {run}; best epoch {int(best['epoch'])} of {len(history)}" in text
    assert f"val_loss {best['val_loss']:.4f}" in text


def test_gradcam_draws_the_image_the_model_saw_beside_its_map(smoke_run, shared_data, tmp_path):
    from catsdogs.predict import predictor, tiles
    from catsdogs.predict.gradcam import GradCam

    run, _ = smoke_run
    [photo] = pngs(shared_data, tmp_path, count=2)[:1]
    model = catsdogs.load(run)
    figure = model.gradcam(photo)
    seen = predictor.model_input(model.loaded, str(photo), 1).numpy()
    [heat], [p_dog] = GradCam(model.keras).maps(seen[None])
    [axis] = figure.axes
    np.testing.assert_allclose(axis.images[0].get_array(), tiles.pair(seen, heat))
    title = axis.get_title()
    assert f"P(dog) {p_dog:.3f}" in title and ("dog" if p_dog >= 0.5 else "cat") in title
    one_pass = model.predict(photo, tta=False)["p_dog"].iloc[0]
    assert p_dog == pytest.approx(one_pass, abs=1e-5)


def test_the_readme_notebook_example_runs_as_written(smoke_run, shared_data, tmp_path):
    run, _ = smoke_run
    [block] = re.findall(
        r"## In Python.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )
    shutil.copytree(run, tmp_path / "runs" / "cpu")
    [cat] = pngs(shared_data, tmp_path / "photos", count=2)[:1]
    shutil.copy(cat, tmp_path / "my_cat.jpg")  # a PNG under a .jpg name: both read it
    done = python(block + "print('ran')\n", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("ran") and "Total params" in done.stdout
    assert (tmp_path / "why.png").read_bytes()[:4] == b"\x89PNG"


def test_train_from_python_returns_the_run_s_summary(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = real_data(shared_data, tmp_path / "data", train=16, val=8)
    lines = []
    summary = catsdogs.train(SMOKE, data=data, run_dir=tmp_path / "run", echo=lines.append)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    best = history.loc[history["val_loss"].idxmin()]
    assert summary["run"] == tmp_path / "run"
    assert summary["best_epoch"] == best["epoch"] and summary["epochs"] == len(history)
    assert summary["val_loss"] == pytest.approx(best["val_loss"])
    assert any(line.startswith("done: ") for line in lines)
    with pytest.raises(UserError, match="^time_budget "):
        catsdogs.train(SMOKE, data=data, time_budget="5 parsecs")

"""`catsdogs export`: each format written, checked against the .keras model as it is written,
and run in its own runtime (LiteRT, ONNX Runtime) as a phone or a service would, uint8 images
of their own size in."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import cli, tiny_model
from PIL import Image

from catsdogs.predict import export

HAS = {
    name: importlib.util.find_spec(name) is not None
    for name in ("onnxruntime", "ai_edge_litert", "tf2onnx")
}


def pngs(data: Path, folder: Path, count: int = 8) -> list[str]:
    """Validation photos saved losslessly: Pillow and TensorFlow decode a PNG alike."""
    folder.mkdir()
    written = []
    for index, path in enumerate(pd.read_csv(data / "val.csv")["path"].head(count)):
        written.append(str(folder / f"{index}.png"))
        Image.open(data / path).convert("RGB").save(written[-1])
    return written


def predicted(model: Path, images: list[str], out: Path) -> np.ndarray:
    done = cli("predict", "--model", model, *images, "--out", out, "--no-tta")
    assert done.exit_code == 0, done.output
    return pd.read_csv(out)["p_dog"].to_numpy()


def reported(output: str) -> tuple[float, int, int]:
    """The most difference, the same labels and the images of export's check line."""
    found = re.search(
        r"on (\d+) validation images: P\(dog\) differs by at most ([\d.e+-]+), "
        r"the same label on (\d+)",
        output,
    )
    assert found, output
    return float(found[2]), int(found[3]), int(found[1])


def uint8(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))[None]


@pytest.mark.parametrize(
    "format",
    [
        "savedmodel",
        pytest.param(
            "tflite",
            marks=pytest.mark.skipif(
                not HAS["ai_edge_litert"], reason="LiteRT (ai-edge-litert) does not install here"
            ),
        ),
        pytest.param(
            "onnx",
            marks=pytest.mark.skipif(
                not (HAS["onnxruntime"] and HAS["tf2onnx"]),
                reason="tf2onnx or onnxruntime does not install here",
            ),
        ),
    ],
)
def test_each_format_runs_in_its_own_runtime_and_gives_the_model_s_p_dog(
    smoke_run, tmp_path, format
):
    run, data = smoke_run
    out = tmp_path / f"model{export.SUFFIX[format] or '.savedmodel'}"
    done = cli("export", run, "--format", format, "--out", out)
    assert done.exit_code == 0, done.output
    most, same, images = reported(done.output)
    assert most <= export.FLOAT_LIMIT and same == images == 8  # the smoke run's 8 val images
    assert f"wrote {out}" in done.output and out.exists()
    photos = pngs(data, tmp_path / "photos")
    expected = predicted(run, photos, tmp_path / "p.csv")
    if format == "tflite":  # LiteRT's interpreter, not TensorFlow's
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(out))
        [source], [target] = interpreter.get_input_details(), interpreter.get_output_details()
        got = []
        for photo in photos:
            image = uint8(photo)
            interpreter.resize_tensor_input(source["index"], image.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(source["index"], image)
            interpreter.invoke()
            got.append(float(interpreter.get_tensor(target["index"])[0, 0]))
    elif format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = [float(session.run(None, {name: uint8(p)})[0][0, 0]) for p in photos]
    else:
        import tensorflow as tf

        artifact = tf.saved_model.load(str(out))
        got = [float(artifact.serve(uint8(p))[0, 0]) for p in photos]
    # The resize inside the artifact, P(dog) as predict computes it.
    np.testing.assert_allclose(got, expected, atol=export.FLOAT_LIMIT)


def brightness_model(path: Path) -> Path:
    """A model sure of most images: P(dog) = sigmoid(30 x (mean brightness - 0.5)), as
    catsdogs saves models (its resize policy recorded). An untrained model sits at P 0.5,
    where any rounding flips labels."""
    from catsdogs.model.classifier import ResizePolicy

    inputs = keras.Input((None, None, 3))
    x = ResizePolicy("stretch", 32, name="resize_policy")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(x))
    outputs = keras.layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.Constant(10.0),
        bias_initializer=keras.initializers.Constant(-15.0),
    )(x)
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_a_quantized_tflite_export_gives_the_same_labels_and_is_smaller(
    smoke_run, tmp_path, quantize
):
    run, data = smoke_run
    model = brightness_model(tmp_path / "bright.keras")
    out = tmp_path / f"{quantize}.tflite"
    done = cli("export", model, "--data", data, "--quantize", quantize, "--out", out)
    assert done.exit_code == 0, done.output
    _, same, images = reported(done.output)
    assert same == images == 8
    # Smaller than the float32 file, for a model with weights to speak of.
    sizes = {}
    for name in ("none", quantize):
        sizes[name] = tmp_path / f"smoke-{name}.tflite"
        done = cli("export", run, "--quantize", name, "--out", sizes[name])
        assert f"wrote {sizes[name]}" in done.output, done.output
    assert sizes[quantize].stat().st_size < 0.75 * sizes["none"].stat().st_size


def test_a_model_trained_in_bfloat16_is_checked_in_float32_and_as_predict_computes_it(
    smoke_run, tmp_path
):
    _, data = smoke_run
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny_model(tmp_path / "mixed.keras", flip_invariant=False)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    done = cli("export", model, "--data", data, "--format", "savedmodel")
    assert done.exit_code == 0, done.output
    most, _, _ = reported(done.output)
    assert most <= export.FLOAT_LIMIT
    assert "as `catsdogs predict` computes it here (bfloat16): at most" in done.output
    assert (tmp_path / "mixed.savedmodel").is_dir()  # beside the model by default


def test_a_weak_run_s_export_says_it_is_weak(smoke_run, tmp_path):
    # A probe: a run at chance exported without a word.
    run, data = smoke_run
    weak = tmp_path / "weak"
    shutil.copytree(run, weak)
    history = pd.read_csv(weak / "history.csv")
    history["val_accuracy"] = 0.5
    history.to_csv(weak / "history.csv", index=False)
    done = cli("export", weak, "--format", "tflite", "--out", tmp_path / "w.tflite")
    assert done.exit_code == 0, done.output
    assert "warning: a weak model (val_acc 0.500 is within chance" in done.output
    # Not into another run's folder (a probe: it passed for that run's export).
    done = cli("export", weak, "--format", "tflite", "--out", run / "best.tflite")
    assert done.exit_code == 1 and "is inside another run directory" in done.output


def test_export_refusals_are_one_line_and_write_nothing(smoke_run, tmp_path):
    run, data = smoke_run
    cases = [
        (["--format", "coreml"], "--format must be one of savedmodel, tflite, onnx"),
        (["--format", "onnx", "--quantize", "int8"], "--quantize int8 is the TFLite converter's"),
        (["--quantize", "int4"], "--quantize must be one of none, float16, int8"),
        (["--data", tmp_path / "nowhere"], "an export is checked on validation images"),
        # A probe: --format onnx --out x.tflite wrote ONNX under a TFLite name.
        (["--format", "onnx"], "the onnx export under a .tflite name would be taken for"),
    ]
    for arguments, message in cases:
        done = cli("export", run, "--out", tmp_path / "x.tflite", *arguments)
        assert done.exit_code == 1 and message in done.output, done.output
        assert len(done.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.tflite").exists()
    (tmp_path / "x.tflite").write_bytes(b"mine")
    done = cli("export", run, "--out", tmp_path / "x.tflite")
    assert done.exit_code == 1 and "exists: remove it, or give another --out" in done.output
    assert (tmp_path / "x.tflite").read_bytes() == b"mine"
    alone = tmp_path / "alone.keras"
    shutil.copy(run / "best.keras", alone)  # outside its run: no data recorded
    done = cli("export", alone)
    assert done.exit_code == 1 and "(no run records its data): give --data DIR" in done.output

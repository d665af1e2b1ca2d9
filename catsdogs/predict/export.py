"""`catsdogs export`: a trained model as an artifact that runs without catsdogs (a SavedModel
for TensorFlow Serving, a TFLite file for a phone, an ONNX file for ONNX Runtime), checked
against the .keras model on real images as it is written.

What every artifact is: RGB images as uint8, N x H x W x 3 of any one size, in; P(dog) of each
(N x 1, float32) out. Inside it, the model's own resize policy and predict size (the same
TensorFlow ops as prediction's pipeline) and the judged weights the .keras file holds, computed
in float32 (a model trained in bfloat16 is exported in float32: the converters and runtimes
compute float32). One pass per image: `catsdogs predict`'s TTA (the mirror averaged in) is left
to the caller, as it doubles the cost.

The converters are Keras' own ``model.export`` (tf_saved_model; litert: TensorFlow's TFLite
converter; onnx: tf2onnx, which Keras patches for Keras 3). Quantization is the TFLite
converter's: float16 weights, or int8 calibrated on training images of the model's run.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catsdogs import files, outputs, printing
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.predict import predictor
from catsdogs.training import decisions
from catsdogs.training.rundir import run_around, run_of

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("none", "float16", "int8")
CHECK_IMAGES = 200  # validation images each export is checked on
CALIBRATION_IMAGES = 300  # training images int8 is calibrated on
FLOAT_LIMIT = 1e-4  # most |difference| of P(dog) a float artifact may show
QUANTIZED_AGREEMENT = 0.99  # least share of the same labels a quantized one must give
SUFFIX = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}


@dataclass(frozen=True)
class Check:
    """How an artifact compares with its .keras model on ``images`` real images: computed in
    float32 (what the artifact computes), and, for a model trained in mixed precision, as
    `catsdogs predict` runs it (``mixed``: most difference and same labels)."""

    images: int
    most_difference: float
    same_labels: int
    mixed: tuple[float, int] | None = None

    @property
    def agreement(self) -> float:
        return self.same_labels / self.images

    def lines(self) -> list[str]:
        lines = [
            f"against the .keras model in float32 on {self.images} validation images: P(dog) "
            f"differs by at most {self.most_difference:.1e}, the same label on "
            f"{self.same_labels} ({self.agreement:.1%})"
        ]
        if self.mixed is not None:
            most, same = self.mixed
            lines.append(
                f"against it as `catsdogs predict` computes it here (bfloat16): at most "
                f"{most:.1e}, the same label on {same} ({same / self.images:.1%})"
            )
        return lines


def default_out(model: Path, format: str, quantize: str) -> Path:
    """Beside the model: best.keras -> best.tflite, best-int8.tflite, best.onnx,
    best.savedmodel/."""
    stem = model.stem + ("" if quantize == "none" else f"-{quantize}")
    return model.with_name(stem + (SUFFIX[format] or ".savedmodel"))


def _float32(model):
    """``model`` computing in float32 (a copy where it was mixed precision), its weights the
    same."""
    import keras

    config = model.get_config()

    def plain(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy":
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {key: plain(value) for key, value in node.items()}
        if isinstance(node, list):
            return [plain(value) for value in node]
        return node

    copy = keras.Model.from_config(plain(config))
    copy.set_weights(model.get_weights())
    return copy


def _servable(loaded: predictor.Loaded):
    """uint8 images of any one size in, P(dog) out: the resize inside."""
    import keras

    from catsdogs.data.pipeline import resize

    class Square(keras.layers.Layer):  # only inside an export: never saved as .keras
        def call(self, images):
            return resize(images, loaded.size, loaded.policy)

        def compute_output_shape(self, shape):
            return (shape[0], loaded.size, loaded.size, 3)

    images = keras.Input((None, None, 3), dtype="uint8", name="images")
    p_dog = _float32(loaded.model)(Square(name="square")(images))
    servable = keras.Model(images, p_dog, name="catsdogs_export")
    servable(np.zeros((1, loaded.size, loaded.size, 3), np.uint8))  # ONNX's export needs a call
    return servable


def _images(manifest: Path, count: int) -> manifests.Manifest:
    """``count`` images of a labelled manifest, drawn with a fixed seed (all, if fewer)."""
    return manifests.read(manifest, "labelled", echo=lambda line: None).sample(count, seed=0)


def _uint8(path: str, orientation: int) -> np.ndarray:
    """One image as a camera app has it: decoded, upright, RGB uint8 (TensorFlow's decoder,
    as prediction's)."""
    import tensorflow as tf

    from catsdogs.data.images import decode_rgb

    return decode_rgb(tf.io.read_file(path), orientation).numpy()


def runner(path: Path, format: str) -> Callable[[np.ndarray], np.ndarray]:
    """The artifact at ``path`` in its own runtime: uint8 N x H x W x 3 -> P(dog) (N,).
    TFLite in LiteRT's interpreter (ai-edge-litert) where it is installed, else TensorFlow's;
    ONNX in ONNX Runtime; a SavedModel in TensorFlow."""
    if format == "savedmodel":
        import tensorflow as tf

        artifact = tf.saved_model.load(str(path))  # held: its variables live as long as it
        return lambda images: np.asarray(artifact.serve(images)).reshape(-1)
    if format == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise UserError(
                "checking an ONNX export needs ONNX Runtime: pip install onnxruntime "
                "(or pip install -e '.[export]')"
            ) from None
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images})[0].reshape(-1)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806  TensorFlow's own, where LiteRT is absent
    interpreter = Interpreter(model_path=str(path))
    [source], [target] = interpreter.get_input_details(), interpreter.get_output_details()

    def run(images: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(source["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], images)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"]).reshape(-1)

    return run


def _convert(
    servable, format: str, quantize: str, out: Path, calibration: manifests.Manifest | None
) -> None:
    import tensorflow as tf

    if format == "savedmodel":
        servable.export(str(out), format="tf_saved_model", verbose=False)
    elif format == "onnx":
        try:
            import tf2onnx  # noqa: F401  Keras' ONNX export on TensorFlow goes through it
        except ImportError:
            raise UserError(
                "--format onnx needs tf2onnx: pip install tf2onnx onnxruntime "
                "(or pip install -e '.[export]')"
            ) from None
        with warnings.catch_warnings():  # Keras' tf2onnx patch asks NumPy for np.object
            warnings.simplefilter("ignore", FutureWarning)
            servable.export(str(out), format="onnx", verbose=False)
    else:
        options: dict = {}
        if quantize != "none":
            options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            options["target_spec"] = tf.lite.TargetSpec(supported_types=[tf.float16])
        if quantize == "int8":

            def representative():
                for path, orientation in zip(calibration.paths, calibration.orientation_list()):
                    yield [_uint8(path, orientation)[None]]

            options["representative_dataset"] = representative
        servable.export(str(out), format="litert", verbose=False, **options)


def export(
    model: Path | None,
    format: str,
    quantize: str = "none",
    out: Path | None = None,
    data: Path | None = None,
    echo: Callable[[str], None] = print,
) -> Check:
    """Write ``model`` (a run or a .keras file) as ``format`` at ``out`` and check it against
    the .keras model on validation images of ``data`` (a prepared folder; default: the data
    the model's run trained on); int8 is calibrated on that folder's training images."""
    if format not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    if quantize not in QUANTIZATIONS:
        raise UserError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}; got {quantize!r}")
    if quantize != "none" and format != "tflite":
        raise UserError(
            f"--quantize {quantize} is the TFLite converter's: give --format tflite (the "
            f"{format} export is float32)"
        )
    path = predictor.find(model)
    run = run_of(path)
    folder = data or (run.data_record()[0] if run else None)
    if folder is None or not (folder / manifests.VAL).is_file():
        where = f"{folder}/{manifests.VAL} does not exist" if folder else "no run records its data"
        raise UserError(
            f"an export is checked on validation images of the model's data ({where}): give "
            "--data DIR, a prepared folder"
        )
    out = out or default_out(path, format, quantize)
    others = {suffix for name, suffix in SUFFIX.items() if suffix and name != format}
    if out.suffix.lower() in others | {".keras", ".h5"}:  # a file that will not open as named
        raise UserError(
            f"--out {printing.printable(out)}: the {format} export under a {out.suffix} name "
            f"would be taken for another format: name it {out.stem}{SUFFIX[format] or ''}"
        )
    inside = run_around(out)
    if inside is not None and (run is None or inside.resolve() != run.path.resolve()):
        raise UserError(
            f"--out {printing.printable(out)} is inside another run directory "
            f"({printing.printable(inside)}), where it would pass for that run's export"
        )
    outputs.check_folder(out.parent, "--out's folder")
    if out.exists():
        raise UserError(f"{printing.printable(out)} exists: remove it, or give another --out")
    loaded = predictor.load(path)
    echo(f"model: {loaded}")
    if run and (weak := decisions.weakness(run)):  # exported all the same: the user's call
        echo(f"warning: a weak model ({weak}): its export predicts no better")
    out.parent.mkdir(parents=True, exist_ok=True)  # as savedmodel and onnx do
    checked = _images(folder / manifests.VAL, CHECK_IMAGES)
    calibration = (
        _images(folder / manifests.TRAIN, CALIBRATION_IMAGES) if quantize == "int8" else None
    )
    started = time.monotonic()
    written = files.temporary_name(out, SUFFIX[format])  # a killed export's is cleaned later
    try:
        try:
            _convert(_servable(loaded), format, quantize, written, calibration)
        except UserError:
            raise
        except Exception as err:  # a converter's own failure: one line, not its traceback
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise UserError(
                f"the {format} converter failed on this model: {type(err).__name__}: {reason}"
            ) from None
        run_artifact = runner(written, format)
        orientations = checked.orientation_list()
        got = np.array(
            [
                float(run_artifact(_uint8(path, orientation)[None])[0])
                for path, orientation in zip(checked.paths, orientations)
            ]
        )

        def against(model) -> tuple[float, int]:
            reference = dataclasses.replace(loaded, model=model)
            p_dog = predictor.p_dog(reference, checked.paths, False, orientations=orientations)
            return float(np.max(np.abs(got - p_dog))), int(np.sum((got >= 0.5) == (p_dog >= 0.5)))

        from catsdogs.predict.gradcam import all_layers

        mixed = any(layer.dtype_policy.name != "float32" for layer in all_layers(loaded.model))
        check = Check(
            len(checked), *against(_float32(loaded.model)), against(loaded.model) if mixed else None
        )
        files.rename(written, out)
    finally:
        if written.is_dir():
            shutil.rmtree(written, ignore_errors=True)
        written.unlink(missing_ok=True)
    size = sum(f.stat().st_size for f in ([out] if out.is_file() else out.rglob("*")))
    echo(
        f"wrote {printing.printable(out)} ({size / 2**20:.1f} MiB, {format}"
        f"{'' if quantize == 'none' else ', ' + quantize}) in {time.monotonic() - started:.0f}s"
    )
    for line in check.lines():
        echo(line)
    if quantize == "none" and check.most_difference > FLOAT_LIMIT:
        raise UserError(
            f"the export differs from the .keras model in float32 by "
            f"{check.most_difference:.1e} (more "
            f"than {FLOAT_LIMIT:.0e}): {printing.printable(out)} is kept to look at, not to use"
        )
    if quantize != "none" and check.agreement < QUANTIZED_AGREEMENT:
        raise UserError(
            f"the {quantize} export gives the .keras model's label on {check.agreement:.1%} of "
            f"the images (less than {QUANTIZED_AGREEMENT:.0%}): {printing.printable(out)} is "
            "kept to look at, not to use"
        )
    return check

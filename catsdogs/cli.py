"""The `catsdogs` command line: it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from catsdogs import __version__, paths, process, quiet, signals
from catsdogs.data.options import Options
from catsdogs.data.show_batch import COUNT as SHOW_COUNT
from catsdogs.data.show_batch import MOST as SHOW_MOST
from catsdogs.errors import UserError
from catsdogs.predict import CLIP, TTA
from catsdogs.sweep import STORAGE_VARIABLE
from catsdogs.training import lr_range

app = typer.Typer(
    name="catsdogs",
    help="Kaggle Dogs vs. Cats, end to end: prepare the data, train a model under Lookahead "
    "(VGG19 and SGD on a GPU, configs/vgg19_lookahead.yaml; a small CNN and Adam for a stated "
    "time on a CPU, configs/cpu.yaml), predict a submission.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show [brackets] literally
)

T = TypeVar("T")
# Typer's usage errors (a bad value, an unknown option, a missing argument) all derive from
# the base class of its public BadParameter.
UsageError = typer.BadParameter.__bases__[0]
DEFAULTS = Options()  # prepare's defaults, written once there
_STARTED: float | None = None  # when this process started, where main() is its entry point


def _stopped(err: KeyboardInterrupt, resumes: bool) -> NoReturn:
    """One line, and the shell's exit status for the signal (128 + its number). Only a
    command that ``resumes`` (prepare, train, sweep) is said to go on when run again; the
    others write their files whole at their end, so nothing of theirs was written."""
    terminated = isinstance(err, signals.Terminated)
    what = "stopped (SIGTERM)" if terminated else "interrupted"
    after = "run the same command again to go on" if resumes else "nothing was written"
    typer.echo(f"{what}; {after}", err=True)
    raise typer.Exit(128 + (signal.SIGTERM if terminated else signal.SIGINT)) from None


def _run(action: Callable[[], T], resumes: bool = False) -> T:
    """Turn a UserError into one line on stderr and exit status 1 (no traceback), and a stop
    (Ctrl-C, SIGTERM) into one line; ``resumes``: the command goes on when run again."""
    try:
        return action()
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as err:
        _stopped(err, resumes)


def main(argv: list[str] | None = None) -> None:
    """The console script: a usage error is one ``error:`` line and exit 1, like every other
    bad input (Click's default is a usage block and exit 2). Run from the command line (no
    ``argv`` given), it keeps TensorFlow's C++ start-up lines off the terminal unless asked."""
    global _STARTED
    if argv is None:  # this process is the command: its clock started with the process
        _STARTED = time.monotonic() - process.age()
        signals.install()
    if argv is None and quiet.wanted(sys.argv[1:]):
        # What TF_CPP_MIN_LOG_LEVEL silences it silences early; the filter takes the rest.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        quiet.filter_stderr()
    leave = sys.exit if argv is not None else _leave
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="catsdogs", standalone_mode=False)
    except UsageError as err:
        context = err.ctx
        if context is not None and err.format_message() == context.get_help():
            typer.echo(context.get_help())  # `catsdogs` alone: the help, as asked
            leave(0)
        where = f" (see {context.command_path} --help)" if context is not None else ""
        words = sys.argv[1:] if argv is None else argv
        named = [w for w in words if str(w).startswith("-") and Path(str(w)).exists()]
        if getattr(err, "option_name", None) and named:  # a file's name read as an option
            where += f"; {named[0]} is a file: write ./{named[0]}, or put -- before it"
        typer.echo(f"error: {err.format_message()}{where}", err=True)
        leave(1)
    leave(code or 0)


def _leave(code: int) -> NoReturn:
    """End the process at once with ``code``: every file is written whole and flushed by
    then, and TensorFlow's teardown takes seconds (more under load: more than a time budget
    leaves for the exit). Output still on its way to the terminal is passed on first."""
    sys.stdout.flush()
    quiet.drain()
    os._exit(code)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"catsdogs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help=f"Also show TensorFlow's own log lines (or set {quiet.VERBOSE_VARIABLE}=1).",
    ),
) -> None:
    """Kaggle Dogs vs. Cats, end to end."""


@app.command(short_help="Check every image, write the manifests.")
def prepare(
    source: str = typer.Option(
        DEFAULTS.source, help="auto | kaggle | petimages | PATH (a zip or an extracted folder)."
    ),
    competition: str = typer.Option(DEFAULTS.competition, help="Kaggle competition to download."),
    out: Path = typer.Option(DEFAULTS.out, help="Where the manifests go."),
    raw_dir: Path = typer.Option(DEFAULTS.raw_dir, help="Where downloads and extractions go."),
    val_fraction: float = typer.Option(
        DEFAULTS.val_fraction, help="Share of labelled images held out for val."
    ),
    test_fraction: float = typer.Option(
        DEFAULTS.test_fraction,
        help="Share held out as a labelled test set when the source has none (PetImages).",
    ),
    seed: int = typer.Option(
        DEFAULTS.seed, help="Seed of the split: same inputs + seed = same files."
    ),
    workers: int = typer.Option(
        DEFAULTS.workers, help="Parallel validation workers [default: all cores]."
    ),
    exclude: Path = typer.Option(
        DEFAULTS.exclude, help="File of image names to leave out (label noise)."
    ),
    force: bool = typer.Option(DEFAULTS.force, "--force", help="Redo extraction and manifests."),
) -> None:
    """Get the competition's images, validate every one, write train/val/test manifests."""
    from catsdogs.data.prepare import prepare as run_prepare

    options = Options(
        source=source,
        competition=competition,
        out=out,
        raw_dir=raw_dir,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        workers=workers,
        force=force,
        exclude=exclude,
    )
    _run(lambda: run_prepare(options, echo=typer.echo), resumes=True)


@app.command(short_help="Train a model; re-run to continue it.")
def train(
    config: Path = typer.Option(..., help="Training config (YAML), e.g. configs/smoke.yaml."),
    data: Path = typer.Option(None, help="Prepared manifests [default: the config's data.dir]."),
    run_dir: Path = typer.Option(
        None, help=f"Run directory [default: {paths.RUNS}/<name>-<timestamp>]."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config value: --set optimizer.learning_rate=1e-3."
    ),
    time_budget: str = typer.Option(
        None,
        "--time-budget",
        help="Train for this long, start to exit: 30m, 1h30m, 90s (training.time_budget).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the newest (or --run-dir) run."),
    reuse_finished: bool = typer.Option(
        False,
        "--reuse-finished",
        help="If a finished run of this config and data exists (--run-dir, else the newest), "
        "name it and train nothing (make run uses this).",
    ),
) -> None:
    """Train a model into a run directory; re-run the same command to continue after a crash."""

    started = _STARTED or time.monotonic()  # a time budget counts from the process's start

    def run() -> None:
        from catsdogs.config import load_with_budget

        # Checked before TensorFlow loads (~4 s).
        checked = load_with_budget(config, overrides, time_budget, "--time-budget")
        from catsdogs.training.budget import Clock
        from catsdogs.training.train import train as run_training

        run_training(checked, data, run_dir, resume, typer.echo, reuse_finished, Clock(started))

    _run(run, resumes=True)


@app.command("lr-find", short_help="Suggest a learning rate: the range test.")
def lr_find(
    config: Path = typer.Option(..., help="Training config (YAML), e.g. configs/cpu.yaml."),
    data: Path = typer.Option(None, help="Prepared manifests [default: the config's data.dir]."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config value: --set data.batch_size=64."
    ),
    start_lr: float = typer.Option(lr_range.START, help="The first step's learning rate."),
    end_lr: float = typer.Option(lr_range.END, help="The last step's learning rate."),
    steps: int = typer.Option(
        lr_range.STEPS, help="Steps from --start-lr to --end-lr (fewer if the loss diverges)."
    ),
    out: Path = typer.Option(paths.LR_FIND, help="The figure; the curve goes beside it as a .csv."),
) -> None:
    """The learning-rate range test: a fresh model of the config trains a step at each rate,
    rising exponentially, until the loss diverges; writes the loss curve and prints a
    suggested optimizer.learning_rate. Writes nothing but --out and its CSV."""

    def run() -> None:
        from catsdogs.config import load

        checked = load(config, overrides)  # before TensorFlow loads (~4 s)
        from catsdogs.training.lr_find import lr_find as run_lr_find

        run_lr_find(checked, data, out, start_lr, end_lr, steps, typer.echo, config_file=config)

    _run(run)


@app.command("show-batch", short_help="Draw training images as the model gets them.")
def show_batch(
    config: Path = typer.Option(..., help="Training config (YAML), e.g. configs/cpu.yaml."),
    data: Path = typer.Option(None, help="Prepared manifests [default: the config's data.dir]."),
    overrides: list[str] = typer.Option([], "--set", help="Override a config value: --set seed=1."),
    count: int = typer.Option(SHOW_COUNT, help=f"How many images (1 to {SHOW_MOST})."),
    out: Path = typer.Option(paths.SHOW_BATCH, help="The figure (PNG)."),
) -> None:
    """A grid of the first training images of the config's pipeline, augmented as training
    augments them, each titled with its label and size."""

    def run() -> None:
        from catsdogs.config import load

        checked = load(config, overrides)
        from catsdogs.data.show_batch import show_batch as run_show_batch

        run_show_batch(checked, data, out, count, typer.echo, config_file=config)

    _run(run)


@app.command(short_help="Write a submission, or P(dog) for photos.")
def predict(
    images: list[str] = typer.Argument(
        None, help="Your own photos: image files, folders or zips (any names).", show_default=False
    ),
    model: Path = typer.Option(
        None, help="A .keras file or a run directory [default: newest run]."
    ),
    test: Path = typer.Option(
        None,
        help="prepare's test.csv or the competition's test1/ folder or zip (a submission), or "
        "a folder or zip of your photos [default: the test.csv of the data the model trained "
        f"on, else {paths.PREPARED}/test.csv].",
        show_default=False,
    ),
    out: Path = typer.Option(
        None,
        help=f"Where the CSV goes [default: {paths.SUBMISSION} for a submission; none for photos].",
        show_default=False,
    ),
    submission_format: str = typer.Option(
        "auto",
        "--format",
        help="proba (P(dog), log-loss board), class (0/1, accuracy board) or auto (as the "
        "competition's sample submission that prepare found).",
    ),
    clip: float = typer.Option(CLIP, help="With proba: clip to [clip, 1 - clip]."),
    tta: bool = typer.Option(TTA, "--tta/--no-tta", help="Average with the mirrored image."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write --out even over a submission of a model better on validation (by the "
        "format's board: log loss or accuracy), or from a weak model. Without it such a "
        "--out is kept, said, and the exit status is 0: the file there is the better one. "
        "Each run also keeps its own submission.csv.",
    ),
) -> None:
    """Write a Kaggle submission (id,label) for every test image, or print P(dog) for each of
    your own photos: catsdogs predict photo.jpg."""
    from catsdogs.predict.command import predict as run_predict

    _run(
        lambda: run_predict(
            images or [], model, test, out, submission_format, clip, tta, typer.echo, force
        )
    )


@app.command(short_help="Score a model on labelled images.")
def evaluate(
    model: Path = typer.Option(..., help="A .keras file or a run directory."),
    data: Path = typer.Option(..., help=f"A labelled manifest, e.g. {paths.PREPARED}/val.csv."),
    tta: bool = typer.Option(TTA, "--tta/--no-tta", help="Average with the mirrored image."),
) -> None:
    """Accuracy, log loss, ROC AUC, confusion matrix and per-class precision/recall."""
    from catsdogs.predict.evaluation import evaluate as run_evaluate

    _run(lambda: run_evaluate(model, data, tta, echo=typer.echo))


@app.command(short_help="Draw a run's figures and report.md.")
def report(
    run_dir: Path = typer.Argument(..., help="A run directory from `catsdogs train`."),
    data: Path = typer.Option(None, help="Validation data [default: the run's data.dir]."),
    tta: bool = typer.Option(TTA, "--tta/--no-tta", help="Average with the mirrored image."),
) -> None:
    """Figures (curves, ROC, confusion matrix, worst mistakes) and report.md for a run."""
    from catsdogs.predict.report import build

    _run(lambda: typer.echo(f"wrote {build(run_dir, data, tta, echo=typer.echo)}"))


@app.command(short_help="Write a model as a SavedModel, TFLite or ONNX file.")
def export(
    model: Path = typer.Argument(None, help="A run directory or a .keras file [default: newest]."),
    format: str = typer.Option("tflite", "--format", help="savedmodel | tflite | onnx."),
    quantize: str = typer.Option(
        "none", help="none | float16 | int8 (TFLite; int8 calibrated on training images)."
    ),
    out: Path = typer.Option(None, help="Where [default: beside the model, e.g. best.tflite]."),
    data: Path = typer.Option(
        None, help="Prepared data to check (and calibrate) on [default: the run's data]."
    ),
) -> None:
    """A self-contained model: RGB uint8 images of any size in (the resize inside), P(dog)
    out; checked against the .keras model on validation images as it is written."""
    from catsdogs.predict.export import export as run_export

    _run(lambda: run_export(model, format, quantize, out, data, echo=typer.echo))


@app.command(short_help="Run an Optuna study of training runs.")
def sweep(
    sweep_file: Path = typer.Argument(
        ..., help="A sweep file (YAML), e.g. configs/sweeps/lookahead_sgd.yaml."
    ),
    data: Path = typer.Option(
        None, help="Prepared manifests [default: the base config's data.dir]."
    ),
    out: Path = typer.Option(
        None, help=f"The sweep's folder [default: {paths.RUNS}/sweeps/<name>]."
    ),
    storage: str = typer.Option(
        None,
        envvar=STORAGE_VARIABLE,
        help=f"An Optuna RDB URL (or {STORAGE_VARIABLE}) [default: sqlite:///<out>/study.db].",
    ),
    jobs: int = typer.Option(
        1, help="Worker processes on this machine (one GPU, or a share of the cores, each)."
    ),
    summary_only: bool = typer.Option(
        False,
        "--summary-only",
        help="Rebuild the tables and figure from the study without training.",
    ),
    worker: int = typer.Option(None, hidden=True),
) -> None:
    """Run a grid or a search of training runs (an Optuna study); re-run to continue it."""
    from catsdogs.sweep.run import sweep as run_sweep

    _run(
        lambda: run_sweep(
            sweep_file, data, out, storage, jobs, summary_only, worker, echo=typer.echo
        ),
        resumes=True,
    )

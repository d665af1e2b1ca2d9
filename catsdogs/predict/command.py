"""`catsdogs predict`: a Kaggle submission for a test set, or P(dog) for your own photos,
chosen by what is given. Light at import (the command line reads its defaults at start-up)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catsdogs.errors import UserError
from catsdogs.paths import SUBMISSION
from catsdogs.predict import CLIP, TTA


def predict(
    images: list[str],
    model: Path | None,
    test: Path | None,
    out: Path | None,
    submission_format: str = "auto",
    clip: float = CLIP,
    tta: bool = TTA,
    echo: Callable[[str], None] = print,
    force: bool = False,
) -> None:
    """Photos (``images``, or a ``test`` that is not a Kaggle test set) get a table of P(dog)
    and a CSV only at ``out``; a Kaggle test set (``test``, else the test set of the data the
    model trained on) gets a submission at ``out`` (default submission.csv)."""
    if images and test is not None:
        raise UserError("give photos as arguments or --test, not both")
    from catsdogs.predict import inputs, predictor

    if any(not image.strip() for image in images):
        raise UserError("an empty path was given as a photo")  # Path("") is the folder here
    photos = [Path(image) for image in images]
    # Photos need no test set (the model's data may have none, or be gone).
    source = test if test is not None or photos else predictor.default_test(model)
    if photos or not inputs.is_kaggle_test(source):
        from catsdogs.predict.photos import classify

        if submission_format != "auto" or clip != CLIP or force:
            raise UserError("--format, --clip and --force shape a submission; photos get P(dog)")
        classify(model, photos or [source], out, tta, echo=echo)
    else:
        from catsdogs.predict.submission import FORMATS, predict_and_write

        if test is None and submission_format in FORMATS and not source.exists():
            raise UserError(  # not --test's fault: the user gave none
                f"no test set to predict: the model records no data of its own and {source} "
                "does not exist; give --test (prepare's test.csv, or a folder or zip of images)"
            )
        predict_and_write(
            model, source, out or SUBMISSION, submission_format, clip, tta, echo, force
        )

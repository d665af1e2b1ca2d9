"""`catsdogs predict` on your own photos: P(dog) for each, as a table and, if asked, a CSV.

Photos have names, not Kaggle ids, so this is not a submission: one row per image in the
order given (``file``, ``p_dog``, ``label`` cat or dog), nothing written unless ``--out``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from catsdogs import files, outputs, printing
from catsdogs.predict import TTA, guard, inputs, predictor


def table(frame: pd.DataFrame) -> str:
    """The rows as an aligned text table, the file names left, P(dog) right."""
    names = [printing.printable(name) for name in frame["file"]]  # one line each
    width = max(len("file"), *(len(name) for name in names))
    lines = [f"{'file':<{width}}  P(dog)  label"]
    lines += [
        f"{name:<{width}}  {row.p_dog:6.3f}  {row.label}"
        for name, row in zip(names, frame.itertuples())
    ]
    return "\n".join(lines)


COLUMNS = ("file", "p_dog", "label")  # the CSV's header, which tells a table of ours


def p_dog_frame(loaded: predictor.Loaded, images: pd.DataFrame, tta: bool) -> pd.DataFrame:
    """``file``, ``p_dog`` and ``label`` (cat or dog) of each of ``images`` (``path``,
    ``file``: ``inputs.photos``'), in order."""
    probabilities = predictor.p_dog(
        loaded, images["path"].tolist(), tta, names=images["file"].tolist(), what="the"
    )
    labels = ["dog" if p >= 0.5 else "cat" for p in probabilities]
    return pd.DataFrame(dict(zip(COLUMNS, (images["file"].tolist(), probabilities, labels))))


def classify(
    model: Path | None,
    sources: list[Path],
    out: Path | None,
    tta: bool = TTA,
    echo: Callable[[str], None] = print,
) -> pd.DataFrame:
    """P(dog) for every image in ``sources`` (images, folders, zips), printed; a CSV at
    ``out`` when given."""
    written = [] if out is None else [(out, "--out")]
    if out is not None:  # a new file, or a table of photos this command wrote, outside runs
        ours = (outputs.has_header(COLUMNS), "a table of photos catsdogs wrote")
        outputs.check_file(out, "--out", ".csv", ours)
        guard.check_run_files(out, None)
    model_path = predictor.find(model)
    given = ((source, "a photo, folder or zip given") for source in sources)
    outputs.check_not_input(written, [(model_path, "the model"), *given])
    with tempfile.TemporaryDirectory(prefix="catsdogs-photos-") as scratch:
        images = inputs.photos(sources, Path(scratch), echo)
        outputs.check_not_input(written, ((path, "one of the photos") for path in images["path"]))
        loaded = predictor.load(model_path)
        count = f"{len(images)} image" + ("s" if len(images) != 1 else "")
        echo(f"model: {loaded}, {count}")
        echo(predictor.tta_line(tta))
        frame = p_dog_frame(loaded, images, tta)
    echo(table(frame))
    if out is not None:  # a file people open: names that look like formulas stay text
        safe = frame.assign(file=frame["file"].map(printing.spreadsheet_text))
        files.write_text(out, safe.to_csv(index=False, lineterminator="\n", float_format="%.6f"))
        echo(f"wrote {printing.printable(out)}: {len(frame)} rows")
    return frame

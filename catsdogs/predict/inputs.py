"""The images to predict on, from what the user gives: prepare's test manifest, the competition's
test folder or zip (``N.jpg``, a submission), or their own photos (any names, folders, zips)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pandas as pd

from catsdogs.data import extract, manifests
from catsdogs.data.layout import TEST_DIRS, is_junk
from catsdogs.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}


def _test_ids(found: list[Path]) -> list[int]:
    """Ids from Kaggle test names (``123.jpg``): ASCII digits, each id once."""
    seen: dict[int, Path] = {}
    for path in found:
        if not path.stem.isascii() or not path.stem.isdigit():
            raise UserError(
                f"test image {path} has no integer id in its name (expected e.g. 123.jpg)"
            )
        number = int(path.stem)
        if number in seen:
            raise UserError(f"test images {seen[number]} and {path} both have id {number}")
        seen[number] = path
    return list(seen)


def is_manifest(source: Path) -> bool:
    """A manifest CSV: its reader checks its images, as prepare did."""
    return source.suffix.lower() == ".csv"


def test_images(source: Path, scratch: Path, echo: Callable[[str], None]) -> pd.DataFrame:
    """``path,id`` of the test images in a manifest CSV, a folder or a zip of ``N.jpg`` files."""
    if not source.exists():
        raise UserError(f"--test {source} does not exist")
    if is_manifest(source):
        manifest = manifests.read(source, "test", echo)
        return pd.DataFrame({"path": manifest.paths, "id": manifest.ids})
    folder = source
    if source.suffix.lower() == ".zip":
        folder = extract.extract(source, scratch / source.stem)
    elif not source.is_dir():
        raise UserError(f"--test {source} is neither a CSV manifest, a folder nor a zip")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"no images in --test {source}")
    return pd.DataFrame({"path": [str(p) for p in found], "id": _test_ids(found)})


def is_kaggle_test(source: Path) -> bool:
    """prepare's test manifest, or the competition's test folder or zip (``test1/``,
    ``test1.zip`` holding ``test1/N.jpg``): a submission. Anything else is photos."""
    if is_manifest(source):
        return True
    if source.suffix.lower() == ".zip" and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            tops = {PurePosixPath(name).parts[0].lower() for name in zf.namelist() if "/" in name}
        tops.discard("__macosx")
        return source.stem.lower() in TEST_DIRS or (bool(tops) and tops <= TEST_DIRS)
    return source.is_dir() and source.name.lower() in TEST_DIRS


def photos(sources: list[Path], scratch: Path) -> pd.DataFrame:
    """``path,file`` of every image in ``sources`` (image files, folders searched
    recursively, zips), in the order given, folders sorted; ``file`` is the name to show:
    the path as given, or ``archive.zip:inner/name``. Files the OS leaves behind and files
    that are not images are skipped, as prepare skips them."""
    rows: list[tuple[str, str]] = []
    for index, source in enumerate(sources):
        if not source.exists():
            raise UserError(f"{source} does not exist")
        if source.is_file() and source.suffix.lower() == ".zip":
            folder = extract.extract(source, scratch / f"{index}-{source.stem}")
            found = sorted(p for p in folder.rglob("*") if p.is_file())
            shown = [f"{source}:{p.relative_to(folder).as_posix()}" for p in found]
        elif source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.is_file())
            shown = [str(p) for p in found]
        else:
            found, shown = [source], [str(source)]
        kept = [
            (str(path), name)
            for path, name in zip(found, shown)
            if not is_junk(path) and path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if source.is_file() and source.suffix.lower() != ".zip" and not kept:
            raise UserError(
                f"{source} is not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a zip"
            )
        rows += kept
    if not rows:
        raise UserError(f"no images in {', '.join(str(s) for s in sources)}")
    return pd.DataFrame(rows, columns=["path", "file"])

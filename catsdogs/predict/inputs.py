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
from catsdogs.printing import printable

# What TensorFlow's decoder reads (TIFF, HEIC and the like it does not: named when skipped).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}
NAMED = 5  # skipped files a line names; the rest are counted


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
    """``path,id`` of the test images in a manifest CSV, a folder or a zip of ``N.jpg`` files;
    from a manifest (whose reader checked them) also each image's ``orientation``."""
    if not source.exists():
        raise UserError(f"--test {source} does not exist")
    if is_manifest(source):
        manifest = manifests.read(source, "test", echo)
        return pd.DataFrame(
            {
                "path": manifest.paths,
                "id": manifest.ids,
                "orientation": manifest.orientation_list(),
            }
        )
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


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return ", ".join(names[:NAMED]) + more


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes the OS gave that are not UTF-8 (surrogate escapes)
        return False
    return True


def photos(sources: list[Path], scratch: Path, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """``path,file`` of every image in ``sources`` (image files, folders searched
    recursively, zips), in the order given, folders sorted; ``file`` is the name to show:
    the path as given, or ``archive.zip:inner/name``. In folders and zips, files the OS
    leaves behind are skipped without a word; files that are not images TensorFlow reads
    (a TIFF, a HEIC, notes) and names that are not UTF-8 (which TensorFlow cannot open) are
    skipped with one line each kind, naming them, so that none goes missing unsaid."""
    rows: list[tuple[str, str]] = []
    other: list[str] = []
    not_utf8: list[str] = []
    for index, source in enumerate(sources):
        if not source.exists():
            raise UserError(f"{printable(source)} does not exist")
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.is_file())
            shown = [str(p) for p in found]
        elif source.suffix.lower() == ".zip":
            folder = extract.extract(source, scratch / f"{index}-{source.stem}")
            found = sorted(p for p in folder.rglob("*") if p.is_file())
            shown = [f"{source}:{p.relative_to(folder).as_posix()}" for p in found]
        elif is_junk(source) or source.suffix.lower() not in IMAGE_SUFFIXES:
            known = ", ".join(sorted(IMAGE_SUFFIXES))
            raise UserError(f"{printable(source)} is not an image ({known}) or a zip")
        else:  # a photo named by the user: used as it is, or refused when it cannot be read
            rows.append((str(source), str(source)))
            continue
        for path, name in zip(found, shown):
            if is_junk(path):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                other.append(printable(Path(name)))
            elif not _utf8(path):
                not_utf8.append(printable(Path(name)))
            else:
                rows.append((str(path), name))
    if other:
        echo(
            f"skipped {len(other)} file{'s' if len(other) != 1 else ''} that "
            f"{'are not images' if len(other) != 1 else 'is not an image'} TensorFlow reads "
            f"({' '.join(sorted(IMAGE_SUFFIXES))}): {_listed(other)}"
        )
    if not_utf8:
        echo(
            f"skipped {len(not_utf8)} file{'s' if len(not_utf8) != 1 else ''} whose name is "
            f"not UTF-8 (rename to use): {_listed(not_utf8)}"
        )
    if not rows:
        raise UserError(f"no images in {', '.join(printable(s) for s in sources)}")
    return pd.DataFrame(rows, columns=["path", "file"])

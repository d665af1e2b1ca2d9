"""A command's outputs checked before its slow work, so that it fails in one line before that
work rather than after it: each can be written (``check_file`` / ``check_folder``, by writing
and removing a file there), a file already there is one the command may replace (its own
earlier output, not a photo or a submission that happens to have the name), and none is one of
the command's own inputs (``check_not_input``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from catsdogs.errors import UserError
from catsdogs.files import temporary_name
from catsdogs.printing import printable


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path, target: Path, what: str) -> None:
    """Create and remove a file in ``folder``: the only honest test of writability (root
    ignores modes; read-only mounts and immutable folders do not)."""
    if not folder.is_dir():
        raise UserError(f"cannot write {what} {target}: {folder} is a file, not a folder")
    probe = temporary_name(folder / "probe")
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write {what} {target}: {err.strerror or err} ({folder})") from None


def figure_mark(kind: str) -> str:
    """The PNG text (``Software``) that a figure of ``kind`` carries (plots.save): what tells
    a command's own earlier figure, which it may replace, from a user's picture or another
    command's figure of the same name."""
    return f"catsdogs {kind}"


def drawn_as(kind: str) -> Callable[[Path], bool]:
    """A test of whether a file is a PNG figure of ``kind`` that this package drew."""

    def drawn(path: Path) -> bool:
        from PIL import Image

        try:
            with Image.open(path) as image:
                return image.format == "PNG" and image.info.get("Software") == figure_mark(kind)
        except Exception:  # not an image, unreadable: not ours
            return False

    return drawn


def has_header(columns: tuple[str, ...]) -> Callable[[Path], bool]:
    """A test of whether a file is a CSV whose header is ``columns``: a table the command
    wrote before."""

    def written(path: Path) -> bool:
        try:
            with path.open(encoding="utf-8") as table:
                return table.readline().rstrip("\r\n") == ",".join(columns)
        except (OSError, UnicodeDecodeError):
            return False

    return written


def check_file(
    path: Path, what: str, suffix: str = "", ours: tuple[Callable[[Path], bool], str] | None = None
) -> None:
    """Fail now, in one line, if ``path`` cannot be written as a file (``what`` names it),
    does not end in ``suffix`` (where given), or holds a file that is not the command's own
    (``ours``: the test and, for the error, what the command writes there)."""
    if suffix and path.suffix.lower() != suffix:
        raise UserError(f"{what} {printable(path)} must end in {suffix}")
    if path.is_dir():
        raise UserError(f"{what} {printable(path)} is a folder; give a file name")
    if ours is not None and path.is_file() and not ours[0](path):
        raise UserError(
            f"{what} {printable(path)} is a file that is not {ours[1]}: give another name; "
            "nothing was written"
        )
    _probe(_nearest_existing(path.parent), path, what)


def check_folder(path: Path, what: str) -> None:
    """Fail now, in one line, if files cannot be written in the folder ``path``."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    _probe(_nearest_existing(path), path, what)


def check_not_input(
    outputs: Iterable[tuple[Path, str]], inputs: Iterable[tuple[Path | str, str]]
) -> None:
    """Fail now, in one line, if a file or folder the command will write is one of its inputs.

    ``outputs`` and ``inputs`` are pairs of a path and what it is, as the error names it
    (``("--out", ...)``, ``("the model", ...)``). An output is an input when both exist and are
    the same file: the same path, a symbolic link either way, or a hard link (the same device
    and inode). The rename in ``write_with`` would replace a link's name rather than write
    through it, but a name that is an input is a slip all the same, and a photo given as
    ``--out`` would be gone. An output that does not exist yet is no input, so ``inputs`` (a
    generator, say, over a manifest's images) is not even read then.
    """
    written: dict[tuple[int, int], tuple[Path, str]] = {}
    for path, what in outputs:
        try:
            status = os.stat(path)
        except (OSError, ValueError):  # not there (or a name the OS refuses): nothing to clobber
            continue
        written[(status.st_dev, status.st_ino)] = (Path(path), what)
    if not written:
        return
    for path, role in inputs:
        try:
            status = os.stat(path)
        except (OSError, ValueError):
            continue
        clash = written.get((status.st_dev, status.st_ino))
        if clash is not None:
            out, what = clash
            same = os.path.abspath(out) == os.path.abspath(path)
            alias = "" if same else f" {printable(Path(path))}, the same file"
            raise UserError(
                f"{what} {printable(out)} would overwrite an input ({role}{alias}); "
                "nothing was written"
            )

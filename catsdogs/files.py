"""The one writer of files: whole or not at all, checked before the work, with the user's umask.

Every file the package writes goes through here. A file is written under a temporary name
unique to this process beside its target, flushed to disk, given the mode a plain ``open``
would have given it (``mkstemp`` makes 0600 files), and renamed over the target: a crash
leaves the old file or the new one, never half of one, and two processes never share a
temporary name. Temporary names carry the writer's pid, so what a killed process left behind
is recognised and removed by the next writer in that folder.

What is checked before the work (writable, not an input) is ``outputs``'.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from catsdogs import process
from catsdogs.errors import UserError
from catsdogs.printing import printable

# ".<name>.<pid>-<8 hex>.tmp" plus, for files, the target's suffix (Keras and matplotlib
# choose the format by it).
_TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~_umask()


def temporary_name(target: Path, suffix: str = "") -> Path:
    """A name beside ``target`` that no other process or call uses."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files and folders that killed writers left in ``folder``."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not process.alive(match.group(1)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# A full disk, a full quota and a failing disk: what to do before the same command, which
# finds every file whole or absent, goes on where it stopped.
_STORAGE = {errno.ENOSPC: "free space", errno.EDQUOT: "free space", errno.EIO: "check the disk"}
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, *_STORAGE)


def _cannot_write(path: Path, err: OSError) -> UserError:
    if err.errno in _STORAGE:
        return UserError(
            f"{os.strerror(err.errno).lower()} writing {printable(path)}: "
            f"{_STORAGE[err.errno]} and run the same command again"
        )
    return UserError(f"cannot write {path}: {err.strerror or err}")


def _storage_failure(text: str) -> OSError | None:
    """The storage failure an error's message names in the C library's words (TensorFlow's
    errors carry no errno)."""
    for code in _STORAGE:
        if os.strerror(code) in text:
            return OSError(code, os.strerror(code))
    return None


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Around writers that are not this module's (TensorFlow's checkpoints and event files,
    which name ``path``): a full or failing disk becomes the one line this module gives for
    its own files; other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if err.errno in _STORAGE:
            raise _cannot_write(path, err) from None
        raise
    except UserError:
        raise
    except Exception as err:
        failure = _storage_failure(str(err))
        if failure is None:
            raise
        raise _cannot_write(path, failure) from None


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary)`` to make the file, then rename it over ``path``.

    For writers that want a path rather than a handle (``model.save``, ``figure.savefig``):
    the temporary name ends in ``path``'s suffix, so they pick the same format.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _cannot_write(path, err) from None
    tmp = temporary_name(path, path.suffix)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in _REFUSED:
            raise _cannot_write(path, err) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def rename(source: Path, target: Path) -> None:
    """Put a file that is already whole in place of ``target``: one rename, atomic, and
    needing no space."""
    os.replace(source, target)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all."""
    write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` whole or not at all."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def directory(target: Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it becomes ``target``.

    On an exception the temporary folder is removed and ``target`` is untouched. With
    ``replace`` an existing ``target`` is swapped out only after the new one is complete.
    Temporary folders of killed processes beside ``target`` are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    tmp = temporary_name(target)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        if not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(f"{target} already exists")
        old = temporary_name(target)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)

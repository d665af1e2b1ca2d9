"""Extract zip archives safely: no zip-slip, no links, no bombs, and never half an extraction."""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from catsdogs import files, progress
from catsdogs.errors import UserError

COPY_BYTES = 1 << 20
# Room left on the disk beyond the extraction itself.
DISK_MARGIN_BYTES = 256 << 20


@dataclass(frozen=True)
class Limits:
    """What an archive may unpack to. The real data is ~1.6 GB and compresses ~1:1 (JPEGs)."""

    max_total_bytes: int = 16 * 2**30
    # Uncompressed / compressed, for each entry over 1 MiB and for the whole archive once it
    # unpacks to over 1 MiB (many small entries of zeros pass the first, not the second).
    max_ratio: float = 100.0
    max_entries: int = 1_000_000


class UnsafeArchiveError(UserError):
    """An archive we refuse to extract; the message names the entry."""


UTF8_FLAG = 0x800
UNICODE_PATH_FIELD = 0x7075  # Info-ZIP's: the UTF-8 name of an entry stored without the flag


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as the archive says: UTF-8 with the UTF-8 flag (Python decodes that),
    else the UTF-8 name of Info-ZIP's Unicode Path field when it matches the stored name, else
    the stored bytes as UTF-8 where they are valid UTF-8 (Linux and macOS tools write UTF-8
    names without a flag; real code-page-437 names are almost never valid UTF-8), else the
    name in code page 437, as Python reads it."""
    name = info.filename
    if info.flag_bits & UTF8_FLAG:
        return name
    raw = name.encode("cp437")  # the stored bytes: Python decoded them as code page 437
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        body, extra = extra[4 : 4 + size], extra[4 + size :]
        if kind == UNICODE_PATH_FIELD and len(body) >= 5 and body[0] == 1:
            (crc,) = struct.unpack("<I", body[1:5])
            if crc == zlib.crc32(raw):
                with contextlib.suppress(UnicodeDecodeError):
                    return body[5:].decode("utf-8")
    with contextlib.suppress(UnicodeDecodeError):
        return raw.decode("utf-8")
    return name


def _entry_path(archive: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    name = entry_name(info)
    if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
        raise UnsafeArchiveError(f"{archive.name}: entry {name!r} is a symbolic link; refusing")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise UnsafeArchiveError(f"{archive.name}: entry {name!r} has an absolute path; refusing")
    path = PurePosixPath(normalized)
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{archive.name}: entry {name!r} climbs out with '..'; refusing")
    return path


def check(
    archive: Path, zf: zipfile.ZipFile, limits: Limits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every entry's safe relative path, or an error naming the first bad entry."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise UnsafeArchiveError(
            f"{archive.name}: {len(infos)} entries (limit {limits.max_entries})"
        )
    total = 0
    entries = []
    for info in infos:
        path = _entry_path(archive, info)
        total += info.file_size
        if info.file_size > COPY_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnsafeArchiveError(
                f"{archive.name}: entry {info.filename!r} expands {info.file_size} bytes from "
                f"{info.compress_size} (ratio limit {limits.max_ratio:g}): a zip bomb?"
            )
        entries.append((info, path))
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"{archive.name}: unpacks to {total} bytes "
            f"(limit {limits.max_total_bytes}): a zip bomb?"
        )
    size = archive.stat().st_size
    if total > COPY_BYTES and total > limits.max_ratio * size:
        raise UnsafeArchiveError(
            f"{archive.name}: unpacks to {total} bytes from {size} "
            f"(ratio limit {limits.max_ratio:g}): a zip bomb?"
        )
    return entries


def fingerprint(archive: Path) -> str:
    """A short hash of the archive's size and central directory (every entry's name, sizes
    and CRC): cheap to compute, and different for a different archive of the same name."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UserError(f"{archive} is not a readable zip archive ({err})") from None
    digest = hashlib.sha256(str(archive.stat().st_size).encode())
    for info in infos:
        digest.update(
            f"\n{info.filename}\0{info.CRC}\0{info.compress_size}\0{info.file_size}".encode()
        )
    return digest.hexdigest()[:12]


def _check_disk(archive: Path, folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN_BYTES > free:
        raise UserError(
            f"{archive.name} unpacks to {needed / 2**30:.2f} GiB; {folder} has "
            f"{free / 2**30:.2f} GiB free: make room, or pass another --raw-dir"
        )


def extract(archive: Path, target: Path, limits: Limits = Limits(), force: bool = False) -> Path:
    """Extract ``archive`` into ``target`` atomically; a no-op if ``target`` exists (unless force).

    Sizes are checked from the central directory before anything is written, and zipfile stops
    each entry at its declared size and checks its CRC, so a lying header cannot overrun.
    """
    if target.exists() and not force:
        return target
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise UserError(f"{archive} is not a readable zip archive ({err})") from None
    with zf:
        entries = check(archive, zf, limits)
        total = sum(info.file_size for info, _ in entries)
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_disk(archive, target.parent, total)
        _unpack(archive, zf, entries, total, target, force)
    return target


def _unpack(
    archive: Path,
    zf: zipfile.ZipFile,
    entries: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    total: int,
    target: Path,
    force: bool,
) -> None:
    with (
        files.directory(target, replace=force) as tmp,
        progress.bar(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"extracting {archive.name}",
        ) as bar,
    ):
        for info, path in entries:
            dest = tmp.joinpath(*path.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, dest.open("wb") as out:
                    while chunk := src.read(COPY_BYTES):
                        out.write(chunk)
                        bar.update(len(chunk))
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
                raise UserError(
                    f"{archive.name}: entry {info.filename!r} is damaged ({err})"
                ) from None

"""Safe extraction: hostile zips are refused with the entry named, and nothing is written."""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from catsdogs.data.extract import Limits, UnsafeArchiveError, entry_name, extract
from catsdogs.errors import UserError


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize(
    ("entries", "symlinks", "message"),
    [
        ({"train/ok.jpg": b"x", "../evil.jpg": b"evil"}, None, "'../evil.jpg' climbs out"),
        ({"train/../../evil.jpg": b"evil"}, None, "climbs out"),
        ({"/etc/evil.jpg": b"evil"}, None, "'/etc/evil.jpg' has an absolute path"),
        ({"C:/evil.jpg": b"evil"}, None, "absolute path"),
        (
            {"train/ok.jpg": b"x"},
            {"train/link.jpg": "/etc/passwd"},
            "'train/link.jpg' is a symbolic link",
        ),
    ],
)
def test_hostile_entries_are_refused_and_nothing_is_written(tmp_path, entries, symlinks, message):
    archive = make_zip(tmp_path / "hostile.zip", entries, symlinks)
    work = tmp_path / "work"
    work.mkdir()
    before = files_under(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=message):
        extract(archive, work / "raw" / "hostile")
    assert files_under(tmp_path) == before  # refused before anything is written
    assert not (tmp_path / "evil.jpg").exists()


def test_zip_bomb_by_ratio(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"train/cat.1.jpg": b"\0" * (20 << 20)})
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_by_total_size(tmp_path):
    archive = make_zip(
        tmp_path / "big.zip", {f"train/cat.{i}.jpg": os.urandom(4096) for i in range(8)}
    )
    with pytest.raises(UnsafeArchiveError, match="unpacks to 32768 bytes"):
        extract(archive, tmp_path / "out", Limits(max_total_bytes=10_000))
    assert not (tmp_path / "out").exists()


def test_extracts_atomically_and_rerun_is_a_no_op(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"train/cat.1.jpg": b"one", "test1/1.jpg": b"two"})
    target = extract(archive, tmp_path / "out")
    assert (target / "train" / "cat.1.jpg").read_bytes() == b"one"
    (target / "marker").write_text("kept")
    extract(archive, target)  # no-op: the marker survives
    assert (target / "marker").exists()
    extract(archive, target, force=True)  # --force: a fresh extraction replaces it
    assert not (target / "marker").exists()
    assert (target / "test1" / "1.jpg").read_bytes() == b"two"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left over


def test_damaged_entry_leaves_no_half_extraction(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {"train/cat.1.jpg": os.urandom(50_000)})
    data = bytearray(archive.read_bytes())
    data[100:140] = b"\0" * 40  # corrupt the compressed bytes: the CRC check fails
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("hello")
    with pytest.raises(UserError, match="not a readable zip"):
        extract(fake, tmp_path / "out")


def test_many_small_entries_of_zeros_are_a_bomb_as_a_whole(tmp_path):
    # Each 1 MiB entry is under the per-entry check; together they unpack to 1000x the zip.
    entries = {f"train/cat.{i}.jpg": b"\0" * (1 << 20) for i in range(40)}
    archive = make_zip(tmp_path / "zeros.zip", entries)
    with pytest.raises(UnsafeArchiveError, match=r"unpacks to 41943040 bytes from \d+ .*zip bomb"):
        extract(archive, tmp_path / "raw" / "zeros")
    assert not (tmp_path / "raw").exists()


def test_not_enough_free_disk_is_refused_before_writing(tmp_path, monkeypatch):
    from catsdogs.data import extract as module

    archive = make_zip(tmp_path / "a.zip", {"train/cat.1.jpg": os.urandom(4096)})
    usage = module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        module.shutil, "disk_usage", lambda _: usage._replace(free=module.DISK_MARGIN_BYTES)
    )
    with pytest.raises(UserError, match=r"unpacks to 0.00 GiB; .* has 0.25 GiB free"):
        extract(archive, tmp_path / "raw" / "a")
    assert list((tmp_path / "raw").iterdir()) == []


def test_a_killed_extractions_temporary_folder_is_removed(tmp_path):
    # What `kill -9` during an extraction leaves: a temporary folder named with a dead pid.
    left = tmp_path / "raw" / ".a-0123456789ab.99999999-0123abcd.tmp"
    (left / "train").mkdir(parents=True)
    (left / "train" / "cat.1.jpg").write_bytes(b"half")
    archive = make_zip(tmp_path / "a.zip", {"train/cat.1.jpg": b"one"})
    extract(archive, tmp_path / "raw" / "a")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["a"]


def info_zip_archive(path: Path, names: list[str]) -> Path:
    """What Linux's `zip` writes for UTF-8 names: the raw UTF-8 bytes without the UTF-8 flag,
    plus Info-ZIP's Unicode Path field (0x7075: version, CRC-32 of the stored name, UTF-8)."""
    placeholders = {}
    with zipfile.ZipFile(path, "w") as zf:
        for index, name in enumerate(names):
            raw = name.encode("utf-8")
            placeholder = f"{index:0{len(raw)}d}"  # ASCII, as long as the raw name
            placeholders[placeholder.encode()] = raw
            info = zipfile.ZipInfo(placeholder)
            info.extra = struct.pack("<HHB", 0x7075, 5 + len(raw), 1)
            info.extra += struct.pack("<I", zlib.crc32(raw)) + raw
            zf.writestr(info, f"content of {name}")
    data = path.read_bytes()
    for placeholder, raw in placeholders.items():
        data = data.replace(placeholder, raw)  # the local header and the central directory
    path.write_bytes(data)
    return path


def test_names_are_decoded_as_the_zip_says(tmp_path):
    names = ["chien été.jpg", "猫/ねこ.png"]
    archive = info_zip_archive(tmp_path / "infozip.zip", names)
    with zipfile.ZipFile(archive) as zf:  # Python alone reads them as code page 437
        assert not {info.filename for info in zf.infolist()} & set(names)
        assert [entry_name(info) for info in zf.infolist()] == names
    folder = extract(archive, tmp_path / "out")
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert found == sorted(names)
    assert (folder / names[0]).read_text() == f"content of {names[0]}"
    # Without the field (Linux `zip` where built without it): valid UTF-8 bytes are UTF-8;
    # bytes that are not (a real code page 437 name) stay code page 437.
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("0" * len(names[0].encode()), b"x")
        zf.writestr("1" * 9, b"y")
    data = bare.read_bytes().replace(b"0" * len(names[0].encode()), names[0].encode())
    bare.write_bytes(data.replace(b"1" * 9, "é_437.jpg".encode("cp437")))
    with zipfile.ZipFile(bare) as zf:
        shown = [entry_name(info) for info in zf.infolist()]
    assert shown == [names[0], "é_437.jpg"]
    flagged = tmp_path / "flagged.zip"  # Python's own writer sets the UTF-8 flag
    with zipfile.ZipFile(flagged, "w") as zf:
        zf.writestr(names[1], b"x")
    with zipfile.ZipFile(flagged) as zf:
        assert [entry_name(info) for info in zf.infolist()] == [names[1]]

"""The one writer of files, when the disk is full or failing: one line that names the file and
says what to do, the old file untouched and no temporary left; the same for the writers it
wraps (TensorFlow's, whose errors say it only in words)."""

from __future__ import annotations

import errno
import os

import pytest

from catsdogs import files
from catsdogs.errors import UserError

STORAGE = [
    (errno.ENOSPC, "free space"),
    (errno.EDQUOT, "free space"),
    (errno.EIO, "check the disk"),
]


@pytest.mark.parametrize(("code", "advice"), STORAGE)
def test_a_full_or_failing_disk_is_one_line_and_leaves_the_old_file(tmp_path, code, advice):
    target = tmp_path / "history.csv"
    target.write_text("epoch\n1\n")

    def fails(tmp):
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code), str(tmp))

    with pytest.raises(UserError) as raised:
        files.write_with(target, fails)
    expected = (
        f"{os.strerror(code).lower()} writing {target}: {advice} and run the same command again"
    )
    assert str(raised.value) == expected
    assert target.read_text() == "epoch\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


@pytest.mark.parametrize(("code", "advice"), STORAGE)
def test_writers_that_say_it_in_words_get_the_same_line(tmp_path, code, advice):
    folder = tmp_path / "checkpoints" / "ckpt-3"
    with pytest.raises(UserError) as raised, files.writing(folder):
        raise RuntimeError(f"{folder}_temp/part-0; {os.strerror(code)} [Op:SaveV2]")
    assert str(raised.value).startswith(f"{os.strerror(code).lower()} writing {folder}: {advice}")
    with pytest.raises(UserError) as raised, files.writing(folder):
        raise OSError(code, os.strerror(code))
    assert str(raised.value).startswith(f"{os.strerror(code).lower()} writing {folder}: {advice}")


def test_other_errors_pass_through_writing_unchanged(tmp_path):
    for error in (RuntimeError("Incompatible shapes"), FileNotFoundError(errno.ENOENT, "gone")):
        with pytest.raises(type(error)) as raised, files.writing(tmp_path):
            raise error
        assert raised.value is error

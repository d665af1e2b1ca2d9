"""The PetImages download, through a loopback HTTP server: streamed, resumable, size-checked."""

from __future__ import annotations

import os

import pytest
from helpers import free_ports
from loopback import FileServer, serve

from catsdogs.data.download import download
from catsdogs.errors import UserError

PAYLOAD = os.urandom(3 * (1 << 20) + 123)


def test_download_whole_file(tmp_path):
    state = FileServer(PAYLOAD)
    with serve(state) as url:
        path = download(url, tmp_path / "raw" / "pets.zip")
    assert path.read_bytes() == PAYLOAD
    assert state.ranges == [None]
    assert not (tmp_path / "raw" / "pets.zip.part").exists()


def test_interrupted_download_resumes_with_range(tmp_path):
    dest = tmp_path / "pets.zip"
    cut = 1_000_000
    state = FileServer(PAYLOAD, cut_after=cut)
    with serve(state) as url:
        with pytest.raises(UserError, match="run the same command again"):
            download(url, dest)
        assert not dest.exists()
        kept = dest.with_name("pets.zip.part").read_bytes()
        partial = len(kept)
        # A start of the file, at most what the server sent before it hung up.
        assert 0 < partial <= cut and kept == PAYLOAD[:partial]
        download(url, dest)
    assert dest.read_bytes() == PAYLOAD
    assert state.ranges[-1] == f"bytes={partial}-"


def test_server_that_ignores_range_restarts_cleanly(tmp_path):
    dest = tmp_path / "pets.zip"
    dest.with_name("pets.zip.part").write_bytes(PAYLOAD[:5000])
    with serve(FileServer(PAYLOAD, honour_range=False)) as url:
        download(url, dest)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_on_416(tmp_path):
    dest = tmp_path / "pets.zip"
    dest.with_name("pets.zip.part").write_bytes(PAYLOAD)
    with serve(FileServer(PAYLOAD)) as url:
        download(url, dest)
    assert dest.read_bytes() == PAYLOAD


def test_wrong_size_is_refused(tmp_path):
    with serve(FileServer(PAYLOAD)) as url, pytest.raises(UserError, match="expected 99"):
        download(url, tmp_path / "pets.zip", expected_size=99)


def test_no_network_is_one_clear_error(tmp_path):
    [port] = free_ports(1)
    with pytest.raises(UserError, match="no network: could not reach"):
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", timeout=5)

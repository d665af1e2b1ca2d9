"""Tests that need the real images of ../shared skip without them, but never under CI."""

from __future__ import annotations

import pytest
from helpers import require_shared


def test_missing_shared_data_skips_locally_and_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real data not found"):
        require_shared(tmp_path / "nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI it must be there"):
        require_shared(tmp_path / "nowhere")
    (tmp_path / "here" / "train").mkdir(parents=True)
    assert require_shared(tmp_path / "here") == tmp_path / "here"

"""Kaggle through a fake client: the folder it returns is used; each failure says what to do."""

from __future__ import annotations

import json

import pytest
import requests
from helpers import FakeKaggle

from catsdogs.data import kaggle, sources
from catsdogs.errors import UserError


def test_download_returns_the_client_folder(tmp_path):
    client = FakeKaggle(folder=tmp_path)
    assert kaggle.download_competition("dogs-vs-cats", client) == tmp_path
    assert client.calls == ["dogs-vs-cats"]


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (FakeKaggle(status=401), "did not accept the credentials.*kaggle.json"),
        (
            FakeKaggle(status=403),
            "accept the competition rules at https://www.kaggle.com/competitions/dogs-vs-cats/rules",
        ),
        (FakeKaggle(status=404), "no Kaggle competition named"),
        (FakeKaggle(error=requests.ConnectionError("Failed to resolve")), "no network"),
    ],
)
def test_failures_say_what_to_do(fake, message):
    with pytest.raises(UserError, match=message):
        kaggle.download_competition("dogs-vs-cats", fake)


def test_credentials_are_found_where_kagglehub_looks(tmp_path):
    assert kaggle.credentials_source({}, tmp_path) is None
    env = {"KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "s3cr3t-key"}
    assert "KAGGLE_USERNAME" in kaggle.credentials_source(env, tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text(
        json.dumps({"username": "a", "key": "s3cr3t-key"})
    )
    assert kaggle.credentials_source({}, tmp_path) == str(tmp_path / ".kaggle" / "kaggle.json")
    assert "KAGGLE_API_TOKEN" in kaggle.credentials_source(
        {"KAGGLE_API_TOKEN": "s3cr3t-key"}, tmp_path
    )


def test_auto_picks_kaggle_with_credentials_else_petimages(no_kaggle_credentials, monkeypatch):
    source, why = sources.choose("auto")
    assert source == "petimages" and "no Kaggle credentials" in why
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "s3cr3t-key")
    source, why = sources.choose("auto")
    assert source == "kaggle" and "KAGGLE_USERNAME" in why and "s3cr3t" not in why


def test_kaggle_without_credentials_says_where_to_put_them(no_kaggle_credentials, tmp_path):
    with pytest.raises(UserError, match="no Kaggle credentials.*~/.kaggle/"):
        sources.fetch("kaggle", "dogs-vs-cats", tmp_path / "raw")

"""Where the data comes from: Kaggle, Microsoft's PetImages zip, or a path the user gives.

Each source ends as local folders to scan; archives are extracted safely under ``raw_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

from catsdogs.data import download, extract, kaggle
from catsdogs.errors import NoNetwork, UserError

PETIMAGES_URL = (
    "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/"
    "kagglecatsanddogs_5340.zip"
)
# A mirror (or a test's loopback server) can stand in for Microsoft's URL.
PETIMAGES_URL_ENV = "CATSDOGS_PETIMAGES_URL"
COMPETITIONS = ("dogs-vs-cats", "dogs-vs-cats-redux-kernels-edition")
NAMED = ("auto", "kaggle", "petimages")
MAX_NESTING = 3
# Every route to the images that needs no (or another) network, for a download that failed.
OFFLINE_HELP = (
    "images already on disk: --source PATH (a folder or zip; make run SOURCE=PATH); a reachable "
    f"copy of the PetImages zip: {PETIMAGES_URL_ENV}=URL; or Kaggle with credentials "
    "(~/.kaggle/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY)"
)


def choose(source: str) -> tuple[str, str]:
    """The source to use and why, for ``auto`` too: Kaggle when credentials exist."""
    if source != "auto":
        return source, "asked for with --source"
    found = kaggle.credentials_source()
    if found:
        return "kaggle", f"Kaggle credentials found in {found}"
    return "petimages", "no Kaggle credentials configured, so the public PetImages zip"


def fetch(
    source: str,
    competition: str,
    raw_dir: Path,
    kaggle_client: kaggle.KaggleClient | None = None,
) -> Path:
    """Download what ``source`` names (if it needs downloading) and return a local path."""
    try:
        if source == "kaggle":
            if kaggle_client is None and kaggle.credentials_source() is None:
                raise UserError(f"no Kaggle credentials: {kaggle.CREDENTIALS_HELP}")
            return kaggle.download_competition(competition, kaggle_client)
        if source == "petimages":
            url = os.environ.get(PETIMAGES_URL_ENV, PETIMAGES_URL)
            return download.download(url, raw_dir / "kagglecatsanddogs_5340.zip")
    except NoNetwork as err:
        raise NoNetwork(f"{err}; other routes to the images: {OFFLINE_HELP}") from None
    return Path(source).expanduser()


def _extraction(archive: Path, raw_dir: Path, name: str) -> Path:
    """Where ``archive`` is extracted: named by its fingerprint, so another archive of the same
    name gets its own folder, and the same archive reuses its earlier extraction."""
    return raw_dir / f"{name}-{extract.fingerprint(archive)}"


def materialize(path: Path, raw_dir: Path, limits: extract.Limits, force: bool) -> list[Path]:
    """Folders to scan: ``path`` itself or its extraction, plus every zip found inside,
    extracted beside it under ``raw_dir``. Zips nest (the competition zip holds train.zip and
    test1.zip, and kagglehub may leave either level), so this goes a few levels down."""
    if path.is_file():
        root = extract.extract(path, _extraction(path, raw_dir, path.stem), limits, force)
    else:
        root = path
    roots, pending = [root], [root]
    for _ in range(MAX_NESTING):
        found = [inner for folder in pending for inner in sorted(folder.rglob("*.zip"))]
        pending = [
            extract.extract(
                inner,
                _extraction(inner, raw_dir, f"{inner.parent.name}-{inner.stem}"),
                limits,
                force,
            )
            for inner in found
        ]
        roots += pending
    return roots

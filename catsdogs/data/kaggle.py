"""Kaggle competition downloads through kagglehub, with errors a user can act on.

The client is a seam: anything with ``competition_download(handle) -> path`` works, so tests
pass a fake and nothing reaches Kaggle. The key itself is never printed or logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from catsdogs.errors import NoNetwork, UserError

CREDENTIALS_HELP = (
    "create an API token at https://www.kaggle.com/settings (API section) and put kaggle.json "
    "in ~/.kaggle/ (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY, or KAGGLE_API_TOKEN"
)


class KaggleClient(Protocol):
    def competition_download(self, handle: str) -> str: ...


def credentials_source(
    environ: dict[str, str] | None = None, home: Path | None = None
) -> str | None:
    """Where Kaggle credentials are configured (for the user to read), or None.

    Mirrors the places kagglehub looks, in its order; names the place, never the secret.
    """
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if environ.get("KAGGLE_API_TOKEN"):
        return "the KAGGLE_API_TOKEN environment variable"
    for name in ("access_token", "access_token.txt"):
        if (home / ".kaggle" / name).is_file():
            return f"~/.kaggle/{name}"
    if environ.get("KAGGLE_USERNAME") and environ.get("KAGGLE_KEY"):
        return "the KAGGLE_USERNAME and KAGGLE_KEY environment variables"
    folder = (
        Path(environ["KAGGLE_CONFIG_DIR"]) if "KAGGLE_CONFIG_DIR" in environ else home / ".kaggle"
    )
    if (folder / "kaggle.json").is_file():
        return str(folder / "kaggle.json")
    return None


def _status_code(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def download_competition(competition: str, client: KaggleClient | None = None) -> Path:
    """Download (or reuse kagglehub's cache of) a competition's files; return their folder."""
    if client is None:
        import kagglehub  # lazily: it reads credentials and config at import

        client = kagglehub
    rules = f"https://www.kaggle.com/competitions/{competition}/rules"
    try:
        return Path(client.competition_download(competition))
    except Exception as err:  # kagglehub raises requests', its own and OS errors alike
        status = _status_code(err)
        name = type(err).__name__
        if status == 401 or name in ("UnauthenticatedError", "CredentialError"):
            raise UserError(
                f"Kaggle did not accept the credentials (401): {CREDENTIALS_HELP}"
            ) from None
        if status == 403:
            raise UserError(
                f"Kaggle refused the download (403): accept the competition rules at {rules} "
                "while logged in (the API cannot accept them for you), then run again"
            ) from None
        if status == 404:
            raise UserError(f"no Kaggle competition named {competition!r} (404)") from None
        if name in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout") or isinstance(
            err, (ConnectionError, TimeoutError)
        ):
            raise NoNetwork(
                f"no network: could not reach Kaggle to download {competition!r}"
            ) from None
        raise UserError(f"Kaggle download of {competition!r} failed: {name}: {err}") from None

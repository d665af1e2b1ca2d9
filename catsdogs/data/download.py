"""Streamed, resumable HTTP download with a progress bar and a size check."""

from __future__ import annotations

import http.client
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from catsdogs import progress
from catsdogs.errors import NoNetwork, UserError

READ_BYTES = 1 << 20


def _total_size(response) -> int | None:
    """The full file size from Content-Range (a resumed request) or Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    match = re.match(r"bytes \d+-\d+/(\d+)", content_range)
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    return int(length) if length is not None else None


def download(url: str, dest: Path, expected_size: int | None = None, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download (HTTP Range).

    The bytes go to ``dest.part`` first and are renamed to ``dest`` only once the size is
    right, so an interrupted run leaves a resumable ``.part`` and never a truncated ``dest``.
    An existing ``dest`` is taken as done.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have and expected_size in (None, have):
            part.replace(dest)  # the part already holds the whole file
            return dest
        raise UserError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise NoNetwork(f"no network: could not reach {url} ({reason})") from err

    with response:
        resumed = response.status == 206
        total = _total_size(response)
        if total is not None and not resumed and have:
            have = 0  # the server ignored the Range header: start over
        if expected_size is not None and total is not None and total != expected_size:
            raise UserError(
                f"{url} is {total} bytes, expected {expected_size}: not the file we want"
            )
        total = total or expected_size
        mode = "ab" if resumed else "wb"
        with (
            part.open(mode) as out,
            progress.bar(
                total=total,
                initial=have if resumed else 0,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"downloading {dest.name}",
            ) as bar,
        ):
            try:
                while chunk := response.read(READ_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise UserError(
                    f"download of {url} was interrupted ({err}); run the same command again "
                    f"to resume from {part}"
                ) from err

    size = part.stat().st_size
    if total is not None and size != total:
        raise UserError(
            f"download of {url} is incomplete: {size} of {total} bytes; run the same command "
            "again to resume"
        )
    shutil.move(part, dest)
    return dest

"""Durations as people write and read them: ``30m``, ``1h30m``, ``90s`` in, ``3m12s`` out."""

from __future__ import annotations

import re

UNITS = {"h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")  # ASCII digits only
EXAMPLES = "30m, 1h30m or 90s (units h, m, s)"
MOST = 31 * 24 * 3600  # a month: longer is a typo, not a run anyone waits for


def parse(text: object) -> int:
    """Seconds in a duration such as ``30m``, ``1h30m``, ``90s``; a ValueError says what is
    wrong in words (a number without a unit, zero, anything else)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"must be a duration such as {EXAMPLES}")
    written = str(text).strip().replace(" ", "")
    if written != written.lower() and _DURATION.fullmatch(written.lower()):  # 5M: months?
        raise ValueError(f"{text!r}: write the units in lowercase, as {EXAMPLES}")
    if re.fullmatch(r"[-+]?[0-9]+(\.[0-9]+)?", written):
        raise ValueError(f"{text} has no unit: write it as {EXAMPLES}")
    match = _DURATION.fullmatch(written)
    if not written or match is None:
        raise ValueError(f"{text!r} is not a duration: write it as {EXAMPLES}")
    seconds = sum(int(n or 0) * UNITS[u] for n, u in zip(match.groups(), "hms"))
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: give a positive duration, e.g. 30m")
    if seconds > MOST:
        raise ValueError(f"{text!r} is over a month ({MOST // 3600}h): give at most that")
    return seconds


def text(seconds: float) -> str:
    """``42s``, ``3m12s``, ``1h02m``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


if __name__ == "__main__":  # `python -m catsdogs.durations 30m`: make run checks BUDGET first
    import sys

    try:
        parse(sys.argv[1] if len(sys.argv) > 1 else "")
    except ValueError as err:
        sys.exit(f"error: BUDGET {err}")

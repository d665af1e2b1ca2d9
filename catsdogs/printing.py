"""Text as people see it: a path whatever bytes its name holds, and a spreadsheet cell that
shows as written and never runs."""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(path: Path | str) -> str:
    """A path as UTF-8 text on one line: bytes of a name that are not UTF-8 written as
    ``\\xNN``, and control characters (a newline in a file name) as Python writes them."""
    text = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


# What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(cell: str) -> str:
    """A text cell of a CSV that people open, as a spreadsheet shows it and never runs it: one
    that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a
    leading ``'``, which spreadsheets take for "text" and do not show. Numbers are not text
    cells: pass only names and messages here."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def and_more(others: list[str], most: int = 3) -> str:
    """`` (and 2 more: b.jpg, c.jpg)`` after a message about the first of several: the others
    named, the first ``most`` of them; empty where there are none."""
    if not others:
        return ""
    named = ", ".join(others[:most]) + (", ..." if len(others) > most else "")
    return f" (and {len(others)} more: {named})"

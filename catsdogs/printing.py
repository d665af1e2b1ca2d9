"""Text as people see it: a path whatever bytes its name holds, and a spreadsheet cell that
shows as written and never runs."""

from __future__ import annotations

from pathlib import Path


def printable(path: Path) -> str:
    """A path as UTF-8 text: bytes of a name that are not UTF-8 written as ``\\xNN``."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(cell: str) -> str:
    """A text cell of a CSV that people open, as a spreadsheet shows it and never runs it: one
    that starts like a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a
    leading ``'``, which spreadsheets take for "text" and do not show. Numbers are not text
    cells: pass only names and messages here."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell

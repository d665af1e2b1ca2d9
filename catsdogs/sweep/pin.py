"""The base config a sweep runs, pinned in its folder.

A sweep file names its base config by path, and that file can change between the first trial
and the last (or between the study and a reader repeating it). So the first start records the
resolved base config (the file with the sweep's ``set`` applied, every default spelled out) in
the study and writes it to ``base.yaml`` in the sweep folder, with its SHA-256 in sweep.md;
every trial trains from that copy, and continuing a sweep whose base has changed since is
refused, naming the keys that differ. The code is not refused but recorded: each start notes
the git tree of the ``catsdogs`` package it runs, and says so when it differs from the one the
study began with (trials before and after may then differ for that reason alone).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import yaml

from catsdogs import files
from catsdogs.config import dump, flat
from catsdogs.errors import UserError
from catsdogs.sweep.spec import Sweep

PINNED = "base.yaml"
ATTR = "base_config"  # the study's user attribute that holds the pinned text
CODE = "code_versions"  # the package versions the study has run, in order
PACKAGE = Path(__file__).resolve().parents[1]  # catsdogs/
SHOWN = 5  # differing keys named in a refusal


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def differences(before: str, after: str) -> list[str]:
    """``key: old -> new`` for each key whose value differs between two config texts."""
    return changes(yaml.safe_load(before), yaml.safe_load(after))


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for each dotted key whose value differs between two trees."""
    old, new = flat(before), flat(after)

    def shown(values: dict[str, Any], key: str) -> str:
        return repr(values[key]) if key in values else "(none)"

    return [
        f"{key}: {shown(old, key)} -> {shown(new, key)}"
        for key in sorted(old.keys() | new.keys())
        if key not in old or key not in new or old[key] != new[key]
    ]


def pin(study: optuna.Study, sweep: Sweep, out: Path) -> Sweep:
    """The sweep, training from the base config pinned in ``out`` (pinned now on first use);
    refused where the base config has changed since the study began."""
    text = dump(sweep.base_config())
    recorded = study.user_attrs.get(ATTR)
    if recorded is None:
        study.set_user_attr(ATTR, text)
        recorded = text
    elif recorded != text:
        changed = differences(recorded, text)
        more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        raise UserError(
            f"{sweep.base} has changed since the study in {out} began "
            f"({'; '.join(changed[:SHOWN])}{more}); its trials would not be comparable: "
            f"restore it, or pass another --out for a new study (the pinned one is "
            f"{out / PINNED})"
        )
    path = out / PINNED
    if not path.is_file() or path.read_text(encoding="utf-8") != recorded:
        files.write_text(path, recorded)
    return dataclasses.replace(sweep, base=path)


def pinned_digest(study: optuna.Study) -> str | None:
    """The SHA-256 of the pinned base config (None before the first start)."""
    text = study.user_attrs.get(ATTR)
    return None if text is None else digest(text)


def code_version(package: Path = PACKAGE) -> str | None:
    """The git tree of the ``catsdogs`` package (it changes only when the code does, not with
    docs or configs), with ``+changes`` where files differ from it; None outside a checkout."""

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(package), *arguments], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    tree = git("rev-parse", "HEAD:./")
    if not tree:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return tree[:12] + ("+changes" if changed else "")


def note_code(study: optuna.Study, echo: Callable[[str], None], version: str | None) -> None:
    """Record ``version`` (see ``code_version``) when it is new to the study, and say so when
    the study began with other code."""
    seen = list(study.user_attrs.get(CODE, []))
    if version is None or (seen and seen[-1] == version):
        return
    if seen:
        echo(
            f"note: the catsdogs code has changed since this study began (package {seen[0]} "
            f"then, {version} now): trials before and after may differ for that reason"
        )
    study.set_user_attr(CODE, [*seen, version])

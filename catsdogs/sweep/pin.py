"""The base config a sweep runs, pinned in its folder.

A sweep file names its base config by path, and that file can change between the first trial
and the last (or between the study and a reader repeating it). So the first start records the
resolved base config (the file with the sweep's ``set`` applied, every default spelled out) in
the study and writes it to ``base.yaml`` in the sweep folder, with its SHA-256 in sweep.md;
every trial trains from that copy, and continuing a sweep whose base has changed since is
refused, naming the keys that differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import optuna
import yaml

from catsdogs import files
from catsdogs.config import dump
from catsdogs.errors import UserError
from catsdogs.sweep.spec import Sweep

PINNED = "base.yaml"
ATTR = "base_config"  # the study's user attribute that holds the pinned text
SHOWN = 5  # differing keys named in a refusal


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to values: ``{"data": {"image_size": 96}}`` -> ``{"data.image_size": 96}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(before: str, after: str) -> list[str]:
    """``key: old -> new`` for each key whose value differs between two config texts."""
    old, new = _flat(yaml.safe_load(before)), _flat(yaml.safe_load(after))

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

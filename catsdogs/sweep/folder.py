"""A sweep folder belongs to one sweep: ``sweep.json`` in it records the sweep's identity, its
name and its resolved content (the base config with ``set`` applied, every default spelled
out; the swept values as typed; the seeds, the metric and what else decides its trials).

Another sweep (another name, or the same name with other content) on the folder is refused
before anything in it is read or written: its trials would be mixed with, or overwrite, the
ones there. A folder made before the record existed is adopted on the first start that finds
it, where its study holds a study of this sweep's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from catsdogs import files
from catsdogs.config import dump
from catsdogs.errors import UserError
from catsdogs.sweep import pin
from catsdogs.sweep.design import Grid, Range
from catsdogs.sweep.spec import Sweep

IDENTITY = "sweep.json"
SHOWN = 5  # differing keys named in a refusal


def identity(sweep: Sweep) -> dict[str, Any]:
    """The sweep's name and resolved content, as JSON holds it."""
    spec, design = sweep.spec, sweep.design
    if isinstance(design, Grid):
        swept: dict[str, Any] = {"grid": design.values}
    else:
        space = {
            key: (
                {"low": s.low, "high": s.high, "log": s.log, "integer": s.integer}
                if isinstance(s, Range)
                else {"choices": s}
            )
            for key, s in design.space.items()
        }
        swept = {"search": space, "sampler": design.method, "trials": design.trials}
        swept["pruner"] = spec.pruner
    content = {
        "name": sweep.name,
        "base": yaml.safe_load(dump(sweep.base_config())),
        "set": sweep.set,
        **swept,
        "seeds": spec.seeds,
        "metric": spec.metric,
        "compare": spec.compare,
        "arm_set": sweep.arm_set,
    }
    return json.loads(json.dumps(content))


def _recorded(out: Path) -> dict[str, Any] | None:
    path = out / IDENTITY
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    content = recorded.get("content") if isinstance(recorded, dict) else None
    if not isinstance(content, dict) or "name" not in content:
        raise UserError(
            f"{path} cannot be read (edited by hand?): it says which sweep the folder belongs "
            "to; restore it, or pass another --out"
        )
    return recorded


def check(out: Path, sweep: Sweep) -> bool:
    """Whether ``out`` records this sweep (False: it records none yet); refused where it
    records another."""
    recorded = _recorded(out)
    if recorded is None:
        return False
    content, mine = recorded["content"], identity(sweep)
    if content["name"] != sweep.name:
        made = recorded.get("sweep_file")
        raise UserError(
            f"{out} is the folder of sweep {content['name']!r}"
            + (f" (from {made})" if made else "")
            + f"; sweep {sweep.name!r} needs a folder of its own: pass another --out (by "
            f"default runs/sweeps/{sweep.name})"
        )
    if content != mine:
        changed = pin.changes(content, mine)
        more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        raise UserError(
            f"{out} holds sweep {sweep.name!r} with other values ({'; '.join(changed[:SHOWN])}"
            f"{more}); its trials would not be comparable: restore the sweep file and its "
            "base, or pass another --out for this one"
        )
    return True


def used(out: Path) -> bool:
    """Whether ``out`` holds anything (a new sweep takes only a new or empty folder)."""
    return out.is_dir() and any(out.iterdir())


def claim(out: Path, sweep: Sweep) -> None:
    """Record ``sweep`` as the folder's own."""
    record = {"sweep_file": str(sweep.path.absolute()), "content": identity(sweep)}
    files.write_text(out / IDENTITY, json.dumps(record, indent=2) + "\n")

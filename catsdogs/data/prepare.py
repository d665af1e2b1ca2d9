"""`catsdogs prepare` from start to end: source -> local files -> validation -> manifests."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from catsdogs import outputs, printing
from catsdogs.data import kaggle, layout, manifests, sources, splits
from catsdogs.data.options import Options
from catsdogs.data.validate import validate
from catsdogs.errors import UserError

# scikit-learn's random_state, which the split takes the seed as, is a 32-bit unsigned integer.
MAX_SEED = 2**32 - 1
# Threads that validate images; more only wastes memory (and 2**31 aborts TensorFlow).
MAX_WORKERS = 1024


def _check(options: Options) -> None:
    """Every option that can be judged alone, before anything is read or written."""
    for name in ("val_fraction", "test_fraction"):
        value = getattr(options, name)
        if not 0.0 < value < 1.0:
            raise UserError(f"--{name.replace('_', '-')} must be between 0 and 1; got {value}")
    if not 0 <= options.seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and {MAX_SEED}; got {options.seed}")
    if options.workers is not None and not 1 <= options.workers <= MAX_WORKERS:
        raise UserError(f"--workers must be between 1 and {MAX_WORKERS}; got {options.workers}")
    if options.source not in sources.NAMED and not Path(options.source).expanduser().exists():
        raise UserError(
            f"--source {options.source!r} is neither auto, kaggle, petimages nor an existing path"
        )
    outputs.check_folder(options.out, "--out")
    outputs.check_folder(options.raw_dir, "--raw-dir")
    read = [] if options.exclude is None else [(options.exclude, "the --exclude list")]
    if options.source not in sources.NAMED:
        read.append((Path(options.source).expanduser(), "the --source"))
    written = [(options.out / name, "the manifest") for name in manifests.SET]
    outputs.check_not_input([(options.out, "--out"), *written], read)
    source = Path(options.source).expanduser()
    if options.source not in sources.NAMED and source.is_dir():
        out = options.out.expanduser().resolve()
        if out == source.resolve() or source.resolve() in out.parents:
            raise UserError(
                f"--out {options.out} is inside --source {options.source}: the manifests would "
                "be written among the images they list; give --out outside it"
            )
    if options.competition not in sources.COMPETITIONS:
        raise UserError(
            f"--competition must be one of {', '.join(sources.COMPETITIONS)}; "
            f"got {options.competition!r}"
        )


def _excluded(path: Path, roots: list[Path], names: set[str]) -> bool:
    if not names:
        return False
    if path.name in names or str(path) in names:
        return True
    return any(path.is_relative_to(r) and str(path.relative_to(r)) in names for r in roots)


def _asked(options: Options, exclusions: set[str]) -> dict:
    """What the manifests depend on, as asked now (``auto`` and paths resolved; the
    exclusion list by its names, whatever its comments and order)."""
    source, _ = sources.choose(options.source)
    if source not in sources.NAMED:
        source = str(Path(source).expanduser().resolve())
    listed = "\n".join(sorted(exclusions)).encode()
    return {
        "source": source,
        "competition": options.competition if source == "kaggle" else None,
        "val_fraction": options.val_fraction,
        "test_fraction": options.test_fraction,
        "seed": options.seed,
        "exclude": hashlib.sha256(listed).hexdigest() if exclusions else None,
    }


def _nothing_asked(options: Options) -> bool:
    """Whether the command asks nothing of the data (``make run``'s plain ``catsdogs
    prepare``): every option the manifests depend on at its default."""
    defaults = Options()
    return all(
        getattr(options, name) == getattr(defaults, name)
        for name in ("source", "competition", "val_fraction", "test_fraction", "seed", "exclude")
    )


def _changed(record: dict, asked: dict, any_source: bool) -> list[str]:
    """The options that ``record`` was prepared with and that differ from ``asked``; with
    ``any_source`` (``--source auto``) whichever source it was prepared from is fine."""
    before = record.get("options") or {}
    if any_source:
        before = {k: v for k, v in before.items() if k not in ("source", "competition")}
    if record.get("layout") == "competition":  # --test-fraction only splits sources without
        before = {k: v for k, v in before.items() if k != "test_fraction"}  # a test set
    changed = []
    for key in asked:
        if key not in before or before[key] == asked[key]:
            continue
        if key == "exclude":  # recorded as the list's hash: say which way it changed
            was, now = ("a list" if v else "none" for v in (before[key], asked[key]))
            changed.append(
                "another --exclude list" if was == now else f"--exclude {was} (now {now})"
            )
        else:
            changed.append(f"{key} {before[key]} (now {asked[key]})")
    return changed


def _prepared(record: dict) -> str:
    """What a prepared folder holds, in a few words: where from and how many images."""
    source = (record.get("options") or {}).get("source") or record.get("source", "?")
    counts = record.get("counts") or {}
    sizes = ", ".join(
        f"{counts[n]['total']:,} {n}" for n in ("train", "val", "test") if n in counts
    )
    return f"from {source}" + (f": {sizes}" if sizes else "")


def prepare(
    options: Options,
    kaggle_client: kaggle.KaggleClient | None = None,
    echo: Callable[[str], None] = print,
) -> dict:
    """Run the whole command; returns what it wrote to ``prepare.json``."""
    _check(options)
    exclusions = splits.read_exclusions(options.exclude)
    asked = _asked(options, exclusions)
    record = manifests.read_record(options.out)
    if not options.force and record is not None:
        problem = manifests.set_problem(options.out)
        if problem is None:
            any_source = options.source == "auto"
            changed = [] if _nothing_asked(options) else _changed(record, asked, any_source)
            if changed:
                raise UserError(
                    f"{options.out} was prepared with other options: {'; '.join(changed)}; "
                    "--force prepares it again as asked now, or choose another --out"
                )
            echo(
                f"{options.out} is already prepared ({_prepared(record)}): using it; --force "
                "prepares it again" + (", --source from elsewhere" if any_source else "")
            )
            return record
        echo(f"{problem}: preparing {options.out} again")
    started = time.monotonic()

    source, why = sources.choose(options.source)
    echo(f"source: {source} ({why})")
    location = sources.fetch(source, options.competition, options.raw_dir, kaggle_client)
    # Absolute paths in the manifests: train and predict may run from another directory.
    materialized = sources.materialize(location, options.raw_dir, options.limits, options.force)
    roots = [root.resolve() for root in materialized]
    found = layout.scan(roots)
    if not found.train:
        raise UserError(
            f"no labelled training images in {location}: expected train/cat.N.jpg and "
            "train/dog.N.jpg (the competition) or PetImages/Cat and PetImages/Dog"
        )
    echo(f"layout: {found.kind}, {len(found.train)} train and {len(found.test)} test files")

    rejected = list(found.rejected)
    excluded = {c.path for c in found.train if _excluded(c.path, roots, exclusions)}
    candidates = [c for c in found.train if c.path not in excluded]
    cats = sum(c.label == 0 for c in candidates)  # before the image pass: a split that
    splits.check_sizes(  # cannot work with every image kept is refused now
        cats,
        len(candidates) - cats,
        options.val_fraction,
        options.test_fraction,
        held_out_test=not found.test,
    )
    rejected += [(path, "excluded", str(options.exclude)) for path in sorted(excluded)]
    everything = candidates + found.test
    checks = validate([c.path for c in everything], options.workers or os.cpu_count() or 1)
    rejected += [(check.path, check.reason, check.detail) for check in checks if not check.ok]
    good = {check.path: check for check in checks if check.ok}
    train = [splits.Labelled(good[c.path], c.label) for c in candidates if c.path in good]
    test, clashes = splits.unique_test_ids(
        [(good[c.path], c.test_id) for c in found.test if c.path in good]
    )
    rejected += clashes

    made = splits.split(train, test, options.val_fraction, options.test_fraction, options.seed)
    rejected += made.rejected
    text = printing.spreadsheet_text  # rejected.csv is for people: no cell runs as a formula
    rejected_frame = pd.DataFrame(
        sorted(
            (text(printing.printable(p)), reason, text(detail)) for p, reason, detail in rejected
        ),
        columns=["path", "reason", "detail"],
    )
    summary = {
        "source": source,
        "why": why,
        "location": str(location),
        "layout": found.kind,
        "competition": options.competition if source == "kaggle" else None,
        "sample_submission": str(found.sample_submission) if found.sample_submission else None,
        "seed": options.seed,
        "val_fraction": options.val_fraction,
        "options": asked,
        "counts": {
            name: {
                "cat": int((frame["label"] == 0).sum()) if "label" in frame else None,
                "dog": int((frame["label"] == 1).sum()) if "label" in frame else None,
                "total": len(frame),
            }
            for name, frame in (("train", made.train), ("val", made.val), ("test", made.test))
        },
        "rejected": dict(sorted(Counter(rejected_frame["reason"]).items())),
        "train_test_overlaps": [list(pair) for pair in made.overlaps],
        "skipped_files": found.skipped,
        "seconds": round(time.monotonic() - started, 1),
    }
    frames = {
        manifests.TRAIN: made.train,
        manifests.VAL: made.val,
        manifests.TEST: made.test,
        manifests.REJECTED: rejected_frame,
    }
    record = manifests.write_set(options.out, frames, summary)
    echo(table(summary))
    return record


def table(summary: dict) -> str:
    """The short terminal summary: counts per split and class, rejects per reason."""
    lines = [f"{'split':<8}{'cat':>8}{'dog':>8}{'total':>8}"]
    for name, counts in summary["counts"].items():
        cat = "-" if counts["cat"] is None else counts["cat"]
        dog = "-" if counts["dog"] is None else counts["dog"]
        lines.append(f"{name:<8}{cat:>8}{dog:>8}{counts['total']:>8}")
    rejected = summary["rejected"]
    lines.append(
        f"rejected: {sum(rejected.values())}"
        + "".join(f"\n  {reason:<26}{count:>6}" for reason, count in rejected.items())
    )
    if summary["train_test_overlaps"]:
        lines.append(f"train/test overlaps (same bytes): {len(summary['train_test_overlaps'])}")
    lines.append(f"took {summary['seconds']} s")
    return "\n".join(lines)

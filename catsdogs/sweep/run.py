"""`catsdogs sweep SWEEP_FILE`: check everything, then run (or continue) the study."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from catsdogs import outputs
from catsdogs.data import manifests
from catsdogs.errors import UserError
from catsdogs.paths import RUNS
from catsdogs.sweep import folder, pin, processes, results, spec, storage, trials


def sweep(
    sweep_file: Path,
    data: Path | None = None,
    out: Path | None = None,
    storage_url: str | None = None,
    jobs: int = 1,
    summary_only: bool = False,
    worker: int | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every trial the sweep file asks for that is not done yet; returns the sweep folder."""
    checked = spec.read(sweep_file)
    if not 1 <= jobs <= 256:
        raise UserError(f"--jobs must be between 1 and 256; got {jobs}")
    if storage_url is not None:
        storage.check_url(storage_url)
    data = (data or checked.base_config().data.dir).absolute()
    out = (out or RUNS / "sweeps" / checked.name).absolute()
    outputs.check_folder(out, "--out")
    settings = trials.Settings(
        checked, data, out, storage_url or storage.default_storage(out), jobs, worker, echo
    )
    owned = folder.check(out, checked)  # another sweep's folder: refused, nothing read
    if not owned and folder.used(out) and not storage.has_study(settings.storage, checked.name):
        raise UserError(
            f"{out} is not empty and holds no study of sweep {checked.name!r}: a sweep "
            "needs a folder of its own; pass a new or empty --out"
        )
    if not summary_only and worker is None:
        manifests.read_training_data(data, echo)  # bad data is one line before any trial
    if summary_only and settings.storage == storage.default_storage(out):
        if not (out / "study.db").is_file():
            raise UserError(f"no study in {out} yet: nothing to sum up")
    with storage.errors(settings.storage):
        return _run(settings, sweep_file, owned, summary_only)


def _run(settings: trials.Settings, sweep_file: Path, owned: bool, summary_only: bool) -> Path:
    """The sweep once every check has passed: the study opened (made on first use), the
    folder claimed, the trials run here or by ``--jobs`` workers, the tables written."""
    checked, out, echo = settings.sweep, settings.out, settings.echo
    data, jobs, worker = settings.data, settings.jobs, settings.worker
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)  # the default storage's database lives in it
    try:
        study = trials.open_study(settings, create=not summary_only)
    except BaseException:
        if made and not any(out.iterdir()):  # a storage that fails leaves no folder behind
            out.rmdir()
        raise
    if summary_only:
        results.write(study, checked, out)
        return out
    pinned = pin.pin(study, checked, out)
    if not owned:
        folder.claim(out, checked)
    checked = settings.sweep = pinned
    if worker is not None:
        trials.work(settings, study)
        return out
    pin.note_code(study, echo, pin.code_version())
    processes.reap(study, echo)
    checked.design.queue(study)
    total = checked.design.total
    echo(
        f"sweep {checked.name}: {total} trials, {len(storage.finished(study))} done; "
        f"{storage.shown(settings.storage)}" + (f"; {jobs} workers" if jobs > 1 else "")
    )
    if jobs == 1:
        trials.work(settings, study)
    else:
        arguments = ["sweep", str(sweep_file), "--data", str(data), "--out", str(out)]
        processes.start_workers(jobs, [*arguments, "--jobs", str(jobs)], settings.storage)
    results.write(study, checked, out)
    echo(f"wrote {out / 'sweep.md'}")
    left = total - len(storage.finished(study))
    best = results.best_run(study, checked, out)
    if left == 0 and best is not None:
        best_of = "highest" if checked.direction == "maximize" else "lowest"
        run, why = shlex.quote(str(best)), f"  # the trial of the {best_of} {checked.metric}"
        echo(
            f"next: read {out / 'sweep.md'}, then\n"
            f"  catsdogs report {run}{why}\n"
            f"  catsdogs predict --model {run} --out submission.csv{why}"
        )
    elif left == 0:  # sweep.md names no best: a tie, or weak runs
        echo(f"next: read {out / 'sweep.md'}: it names no best combination, and says why")
    if left > 0:
        message = f"{left} of {total} trials did not finish (see {out / 'trials.csv'})"
        running = storage.running(study)
        if running < left:  # failed here, not only still running in another process
            raise UserError(f"{message}; the same command retries them")
        echo(f"{message}: {running} still running elsewhere")
    return out

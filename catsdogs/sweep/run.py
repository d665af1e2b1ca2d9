"""`catsdogs sweep SWEEP_FILE`: check everything, then run (or continue) the study."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catsdogs import files, manifests, rundir
from catsdogs.errors import UserError
from catsdogs.sweep import results, spec, study


def sweep(
    sweep_file: Path,
    data: Path | None = None,
    out: Path | None = None,
    storage: str | None = None,
    jobs: int = 1,
    summary_only: bool = False,
    worker: int | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every trial the sweep file asks for that is not done yet; returns the sweep folder."""
    checked = spec.read(sweep_file)
    if not 1 <= jobs <= 256:
        raise UserError(f"--jobs must be between 1 and 256; got {jobs}")
    data = (data or checked.base_config().data.dir).absolute()
    out = (out or rundir.RUNS / "sweeps" / checked.spec.name).absolute()
    files.check_folder(out, "--out")
    settings = study.Settings(
        checked, data, out, storage or study.default_storage(out), jobs, worker, echo
    )
    if not summary_only and worker is None:
        manifests.read_training_data(data, echo)  # bad data is one line before any trial
    if summary_only and settings.storage == study.default_storage(out):
        if not (out / "study.db").is_file():
            raise UserError(f"no study in {out} yet: nothing to sum up")
    out.mkdir(parents=True, exist_ok=True)
    the_study = study.open_study(settings, create=not summary_only)
    if summary_only:
        results.write(the_study, checked, out)
        return out
    if worker is not None:
        study.work(settings, the_study)
        return out
    study.reap(the_study, echo)
    study.queue(the_study, checked)
    total = len(checked.points()) if checked.spec.search is None else checked.spec.trials
    done = len(study.finished(the_study))
    echo(
        f"sweep {checked.spec.name}: {total} trials, {done} done; {settings.storage}"
        + (f"; {jobs} workers" if jobs > 1 else "")
    )
    if jobs == 1:
        study.work(settings, the_study)
    else:
        arguments = [str(sweep_file), "--data", str(data), "--out", str(out)]
        arguments += ["--storage", settings.storage, "--jobs", str(jobs)]
        study.start_workers(settings, arguments)
    results.write(the_study, checked, out)
    echo(f"wrote {out / 'sweep.md'}")
    left = total - len(study.finished(the_study))
    if left > 0:
        message = f"{left} of {total} trials did not finish (see {out / 'trials.csv'})"
        running = study.running(the_study)
        if running < left:  # failed here, not only still running in another process
            raise UserError(f"{message}; the same command retries them")
        echo(f"{message}: {running} still running elsewhere")
    return out

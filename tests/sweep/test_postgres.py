"""One study across machines on a real PostgreSQL server (Debian's ``postgresql`` package,
started here in a temporary folder on a unix socket, no TCP): two sweep workers that present
different host names share it, one is killed with -9 mid-trial, and the other takes that
trial up once its heartbeat has been silent for the grace period. Skipped where PostgreSQL or
its driver is missing, except under CI (``CI=true``), where ``.ci/run`` installs the server
and ``make install`` the driver, so their absence is a failure."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers import SMOKE, module_command, real_data
from optuna.trial import TrialState

SWEEP = f"""\
name: shared
base: {SMOKE}
set: {{training.epochs: 1, training.steps_per_epoch: 1, data.batch_size: 4}}
grid:
  optimizer.learning_rate: [0.01, 0.02]
seeds: [0]
heartbeat: {{interval: 1, grace_period: 4}}
"""


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason}; under CI it must be there (.ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own for the test: its URL. initdb and postgres refuse to
    run as root, so under root they run as the ``postgres`` user."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = Path(found[-1]) if found else shutil.which("initdb")
    if initdb is None:
        _missing("PostgreSQL not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the PostgreSQL driver psycopg is not installed (pip install -e '.[postgres]')")
    binaries = Path(initdb).parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # a socket path must be short
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    data, log = folder / "data", folder / "server.log"

    def run(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*as_user, *arguments], capture_output=True, text=True, timeout=120, check=False
        )

    options = f"-k {folder} -c listen_addresses='' -c fsync=off"
    try:
        made = run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        assert made.returncode == 0, made.stdout + made.stderr
        ctl = str(binaries / "pg_ctl")
        started = run(ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        assert started.returncode == 0, started.stdout + started.stderr + log.read_text()
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}"
    finally:
        stopped = run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        pid_file = data / "postmaster.pid"
        if stopped.returncode != 0 and pid_file.exists():  # stop failed: no server left over
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_trial_of_a_machine_that_died_is_taken_up_by_another_exactly_once(
    postgres, shared_data, tmp_path
):
    data = real_data(shared_data, tmp_path / "data")
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)

    def machine(name: str) -> tuple[subprocess.Popen, Path, Path]:
        out, log = tmp_path / name, tmp_path / f"{name}.log"
        command = module_command("sweep", path, "--data", data, "--out", out, "--storage", postgres)
        env = {**os.environ, "CATSDOGS_SWEEP_HOST": name}
        with open(log, "wb") as output:
            worker = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        return worker, out, log

    def study() -> optuna.Study:
        return optuna.load_study(study_name="shared", storage=postgres)

    a, a_out, _ = machine("machine-a")
    b = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and a.poll() is None:  # until A trains a trial
            if (a_out / "runs").is_dir() and any((a_out / "runs").iterdir()):
                break
            time.sleep(0.2)
        assert a.poll() is None, "machine-a ended before it could be killed"
        b, b_out, b_log = machine("machine-b")
        a.send_signal(signal.SIGKILL)  # machine-a dies mid-trial: nobody will reap it there
        a.wait()
        assert b.wait(timeout=400) == 0, b_log.read_text()[-3000:]
    finally:
        for worker in (a, b):
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()

    trials = [t for t in study().trials if "excluded" not in t.user_attrs]
    [lost] = [t for t in trials if t.user_attrs.get("host") == "machine-a"]
    assert lost.state == TrialState.FAIL
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["point"] for t in complete) == [
        "optimizer.learning_rate-0.01_seed-0",
        "optimizer.learning_rate-0.02_seed-0",
    ]  # every point once: none lost, none twice
    assert {t.user_attrs["host"] for t in complete} == {"machine-b"}
    [again] = [t for t in complete if t.user_attrs["point"] == lost.user_attrs["point"]]
    assert again.user_attrs["run_dir"] == lost.user_attrs["run_dir"]
    assert again.number > lost.number
    said = b_log.read_text()
    assert (
        f"trial {lost.number} ({lost.user_attrs['point']}) on machine-a recorded no heartbeat "
        "for 4 s: taken for lost, it is tried again"
    ) in said
    rows = pd.read_csv(b_out / "trials.csv")  # the lost trial's row gives way to its run again
    assert sorted(rows["state"]) == ["complete", "complete"]
    assert lost.number not in rows["trial"].tolist() and again.number in rows["trial"].tolist()
    assert (b_out / "runs" / again.user_attrs["run_dir"] / "best.keras").is_file()

"""The sweep's processes: every trial's `catsdogs train` and every ``--jobs`` worker is a child
that the kernel kills when its parent dies, so no orphan holds a run's lock; trials whose
process is gone are found at once and given back to the queue.

Each trial records its host and its process (``pid:start``, from ``catsdogs.process``);
running the same command again finds a trial of this host that was running in a process that
no longer exists (Optuna's heartbeat would only notice after a grace period) and fails it,
queuing its point again, so that the retry continues the same run directory. A trial of
another host is taken up through the heartbeat (``storage``). The host is the machine's name,
or ``CATSDOGS_SWEEP_HOST`` where set (two workers on one machine that stand for two machines).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from catsdogs import process
from catsdogs.errors import UserError
from catsdogs.sweep import STORAGE_VARIABLE, storage

HOST = "CATSDOGS_SWEEP_HOST"


def host() -> str:
    """The name this machine's trials record: ``CATSDOGS_SWEEP_HOST``, else the host name."""
    return os.environ.get(HOST) or socket.gethostname()


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` for a child of this process: the kernel kills the child when this
    process dies (Linux; elsewhere a no-op). A parent that dies between the fork and the
    child's prctl never signals it (the child is already an orphan), so the child checks
    that its parent is still the one that forked it and otherwise dies at once. libc is
    looked up here, in the parent, so the child between fork and exec does only the call."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    parent, prctl = os.getpid(), ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def catsdogs(arguments: list[str], env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``python -m catsdogs ARGUMENTS`` as a child that dies with this process."""
    return subprocess.Popen(
        [sys.executable, "-m", "catsdogs", *arguments],
        env=env,
        preexec_fn=die_with_parent(),
        **popen,
    )


def reap(study: optuna.Study, echo: Callable[[str], None]) -> int:
    """Fail the trials of this host whose process is gone, and queue each again."""
    here, count = host(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") == here and "process" in attrs and not process.alive(attrs["process"]):
            try:
                study.tell(trial.number, state=TrialState.FAIL)
            except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
                continue  # another worker failed it first (and queued it again)
            storage.retry(study, trial)
            echo(f"trial {trial.number} ({attrs.get('point')}) was cut off; it is tried again")
            count += 1
    return count


def _gpus() -> int:
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def worker_environment(index: int, jobs: int) -> dict[str, str]:
    """Worker ``index`` of ``jobs``: its own GPU where there are GPUs, else its share of the
    cores for TensorFlow's thread pools."""
    env = dict(os.environ)
    gpus = _gpus()
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    else:
        share = str(max(1, (os.cpu_count() or 1) // jobs))
        env.update(TF_NUM_INTRAOP_THREADS=share, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=share)
    return env


def start_workers(jobs: int, arguments: list[str], storage: str) -> None:
    """``--jobs N``: N worker processes (``catsdogs sweep ARGUMENTS --worker i``) on the same
    ``storage``, given in their environment (a password on a command line is anyone's to read
    in ``ps``); each takes trials until none are left. They die with this process."""
    workers = [
        catsdogs(
            [*arguments, "--worker", str(index)],
            env=worker_environment(index, jobs) | {STORAGE_VARIABLE: storage},
        )
        for index in range(jobs)
    ]
    try:
        codes = [worker.wait() for worker in workers]
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    if any(codes):
        raise UserError(f"a sweep worker failed (exit codes {codes}); run the same command again")

"""The study in its storage, and what its trials record.

Optuna keeps the study (SQLite in the sweep folder by default, any RDB URL to share it between
machines: PostgreSQL with the ``postgres`` extra). Each trial records in its user attributes
the point it runs (``point``), its run directory (``run_dir``), where it runs (``host``,
``process``) and, once judged, its results; a trial that stepped aside for another of the same
point is marked ``excluded`` and left out of every count and table. While a trial runs its
worker records Optuna's heartbeat; a running trial whose heartbeat stopped for the sweep's
grace period (its machine died) is failed by the next worker that looks, and queued again.

A storage that fails (a bad URL, a server that is down, a missing driver) is one error line
naming the URL (its password hidden), without SQL.
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from catsdogs.errors import UserError

LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
EXAMPLE = "sqlite:///path/to/study.db or postgresql+psycopg://user:password@host/database"
DRIVERS = {  # how to get the driver a database kind needs
    "postgresql": "pip install -e '.[postgres]' (psycopg), with URLs postgresql+psycopg://...",
}


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').absolute()}"


# Query parameters that carry a secret (libpq's password and sslpassword, and the usual others).
SECRET = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)
HIDDEN = "***"


def _password(url: str) -> str:
    """The password of ``user:password@`` as the URL's text holds it, up to the last ``@``."""
    userinfo = url.split("?", 1)[0].rpartition("@")[0].rsplit("/", 1)[-1]
    return userinfo.partition(":")[2]


def secrets(url: str) -> list[str]:
    """The secrets in ``url`` as its text holds them, longest first: the password of
    ``user:password@`` (up to the last ``@``: a password may hold one, and then a driver
    may name a piece of it as the host) with its ``@``-pieces, and the values of query
    parameters that name a secret (``?password=``)."""
    found = []
    if password := _password(url):
        found += [password, *(piece for piece in password.split("@") if len(piece) >= 3)]
    for key, value in re.findall(r"[?&]([^=&]+)=([^&]*)", url):
        if SECRET.search(key) and value:
            found.append(value)
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def hidden(text: str, url: str) -> str:
    """``text`` (a URL, or what a driver said of it) with ``url``'s secrets hidden."""
    for secret in secrets(url):
        text = text.replace(secret, HIDDEN)
    return text


def shown(url: str) -> str:
    """The URL as it may be printed: its password hidden, in ``user:password@`` and in a query
    parameter (``?password=...``) alike, in a URL that does not parse too."""
    given = url
    if password := _password(url):  # whole, even where it holds an "@" the parser splits at
        url = url.replace(f":{password}@", f":{HIDDEN}@", 1)
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # ValueError: a port that is no number
        return hidden(url, given)
    secret = {key: HIDDEN for key in parsed.query if SECRET.search(key)}
    if not secret:
        return hidden(url, given)
    rendered = parsed.update_query_dict(secret).render_as_string(hide_password=False)
    return hidden(rendered.replace("%2A%2A%2A", HIDDEN), given)  # as the password shows


def check_url(url: str) -> None:
    """Refuse, in one line, a URL that is no database URL or names an in-memory SQLite
    database (the study would be lost when the command ends, and no worker could share it)."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as err:
        why = f" ({err})" if isinstance(err, ValueError) else ""
        raise UserError(
            f"--storage {shown(url)!r} is not a database URL{hidden(why, url)} (e.g. {EXAMPLE})"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return
    memory = parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    if memory or ":memory:" in (parsed.database or ""):
        raise UserError(
            f"--storage {shown(url)}: an in-memory SQLite database is lost when the sweep ends; "
            "name a file: sqlite:///path/to/study.db"
        )
    if parsed.query:  # uri=true opens another file ("a.db?mode=ro"), others are ignored
        raise UserError(
            f"--storage {shown(url)}: a SQLite URL takes no query arguments here ("
            f"{', '.join(parsed.query)}); name the file alone: sqlite:///path/to/study.db"
        )


def _reason(error: BaseException) -> str:
    """The first line of what the database or its driver said, without SQLAlchemy's
    ``(module.Class)`` prefix, its SQL or its link."""
    while True:
        cause = getattr(error, "orig", None) or error.__cause__
        if cause is None or cause is error:
            break
        error = cause
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r"^\([\w.]+\) ", "", first).strip()


@contextlib.contextmanager
def errors(url: str) -> Iterator[None]:
    """Turn a failure of the storage at ``url`` into one error line naming it."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as err:
        raise UserError(f"storage {shown(url)}: {hidden(_reason(err), url)}") from None


def _storage(url: str, heartbeat: tuple[int, int] | None = None, on_stale=None):
    """An RDBStorage at ``url``; with ``heartbeat`` (interval, grace period in seconds) its
    trials record Optuna's heartbeat and ``on_stale`` is told of each one failed for lack
    of it."""
    check_url(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The heartbeat is experimental in Optuna and meant for study.optimize; the sweep records
    # it itself (``beating``) around ask and tell.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    interval, grace = heartbeat or (None, None)
    try:
        with warnings.catch_warnings():
            # A URL argument the driver ignores (sqlite:///x.db?mode=ro) is one it was asked
            # for: refused, as an argument it cannot read (?timeout=abc) is.
            warnings.simplefilter("error", sqlalchemy.exc.SAWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=on_stale,
            )
    except (sqlalchemy.exc.SAWarning, ValueError, TypeError) as err:
        said = re.sub(r"\s*\(Background on this .*\)$", "", _reason(err))
        raise UserError(f"storage {shown(url)}: {hidden(said, url)}") from None
    except ImportError:  # the database's driver is not installed
        parsed = make_url(url)
        install = DRIVERS.get(
            parsed.get_backend_name(), f"install the Python driver {parsed.drivername} uses"
        )
        raise UserError(
            f"storage {shown(url)}: the driver for {parsed.drivername} is not installed: {install}"
        ) from None


def has_study(url: str, name: str) -> bool:
    """Whether the storage at ``url`` holds a study called ``name`` (creating nothing where
    the default SQLite file does not exist)."""
    if url.startswith("sqlite:///") and not Path(make_url(url).database).is_file():
        return False
    with errors(url):
        return name in optuna.get_all_study_names(_storage(url))


def open_study(
    storage_url: str,
    name: str,
    direction: str,
    sampler_for: Callable[[int], optuna.samplers.BaseSampler],
    pruner: optuna.pruners.BasePruner,
    sweep_text: str,
    sweep_file: str,
    heartbeat: tuple[int, int],
    on_stale: Callable[[optuna.Study, FrozenTrial], None],
    create: bool = True,
) -> optuna.Study:
    """The study ``name`` in its storage, made on first use (``create``); refused if another
    sweep file made it (the trials of one study must mean one thing). ``sampler_for`` is
    given how many trials the study holds already: a restarted sampler draws on from there,
    not from the start again."""
    with errors(storage_url):
        storage = _storage(storage_url, heartbeat, on_stale)
        try:
            drawn = len(storage.get_all_trials(storage.get_study_id_from_name(name), False))
        except KeyError:  # no such study yet
            if not create:
                raise UserError(
                    f"no study {name!r} in {shown(storage_url)} yet: nothing to sum up"
                ) from None
            drawn = 0
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,
            sampler=sampler_for(drawn),
            pruner=pruner,
            load_if_exists=True,
        )
        recorded = study.user_attrs.get("sweep_file")
        if recorded is None:
            study.set_user_attr("sweep_file", sweep_text)
    if recorded is not None and recorded != sweep_text:
        raise UserError(
            f"the study {name!r} in {shown(storage_url)} was made from another version of "
            f"{sweep_file}; pass another --out (or --storage) for the new one"
        )
    return study


def excluded(trial: FrozenTrial) -> bool:
    return "excluded" in trial.user_attrs


def point_key(trial: FrozenTrial) -> str | None:
    return trial.user_attrs.get("point")


def counted(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """The trials in ``states``, those that stepped aside left out."""
    return [t for t in study.get_trials(deepcopy=False, states=states) if not excluded(t)]


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that are done (complete or pruned)."""
    return counted(study, DONE)


def running(study: optuna.Study) -> int:
    """Trials some process is running now (here or on another machine)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def beating(study: optuna.Study) -> list[FrozenTrial]:
    """Running trials that record a heartbeat: if one's machine dies, a worker that waits
    for it takes it up after the grace period."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if "heartbeat" in t.user_attrs]


def state(study: optuna.Study, trial: optuna.Trial) -> TrialState:
    """The trial's state in the storage now (another worker may have failed it as stale)."""
    return study._storage.get_trial(trial._trial_id).state


def step_aside(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """End ``trial`` without running it, left out of every count and table."""
    trial.set_user_attr("excluded", reason)
    study.tell(trial, state=TrialState.FAIL)


def retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the failed ``trial``'s point again, to continue in the run directory it
    recorded."""
    attrs = {key: trial.user_attrs[key] for key in ("point", "run_dir") if key in trial.user_attrs}
    study.enqueue_trial(trial.params, user_attrs=attrs)


def fail_stale(study: optuna.Study) -> None:
    """Fail the running trials whose heartbeat stopped for longer than the grace period (the
    storage's callback queues each again); a trial another worker failed first is skipped."""
    optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def beat(study: optuna.Study, trial: optuna.Trial, interval: int) -> Iterator[None]:
    """Record ``trial``'s heartbeat every ``interval`` seconds while the block runs. A beat
    that fails (the database busy or briefly away) is tried again at the next one; only a
    trial whose beats stop for the whole grace period is taken from it."""
    storage, trial_id, stop = study._storage, trial._trial_id, threading.Event()

    def record() -> None:
        while True:
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=record, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

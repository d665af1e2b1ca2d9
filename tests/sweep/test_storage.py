"""The study's storage: a URL that cannot hold a study, or a storage that fails, is one error
line naming the URL (its password hidden), without SQL or links."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SMOKE, cli, free_ports

from catsdogs.errors import UserError
from catsdogs.sweep import STORAGE_VARIABLE, processes, storage

SWEEP = f"""\
name: stored
base: {SMOKE}
grid:
  optimizer.learning_rate: [0.02]
"""


def sweep_file(folder: Path) -> Path:
    (folder / "sweep.yaml").write_text(SWEEP)
    return folder / "sweep.yaml"


def one_line(done) -> str:
    assert done.exit_code == 1, done.output
    [line] = done.output.strip().splitlines()
    assert line.startswith("error: ")
    for noise in ("[SQL", "SELECT", "sqlalche.me", "Traceback", "secret"):
        assert noise not in line, line
    return line


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_study_is_refused(tmp_path, url):
    # Was accepted: the study was lost when the command ended, and no worker could join it.
    done = cli("sweep", sweep_file(tmp_path), "--out", tmp_path / "out", "--storage", url)
    assert one_line(done) == (
        f"error: --storage {url}: an in-memory SQLite database is lost when the sweep ends; "
        "name a file: sqlite:///path/to/study.db"
    )
    assert not (tmp_path / "out").exists()


def test_a_storage_that_fails_is_one_line_naming_its_url(shared_data, tmp_path):
    # Was: the SQLAlchemy error, its SQL and an sqlalche.me link, on several lines.
    from helpers import real_data

    data = real_data(shared_data, tmp_path / "data")
    path, out = sweep_file(tmp_path), tmp_path / "out"
    missing = f"sqlite:///{tmp_path}/no/such/folder/study.db"
    line = one_line(cli("sweep", path, "--data", data, "--out", out, "--storage", missing))
    assert line == f"error: storage {missing}: unable to open database file"
    [port] = free_ports(1)
    server = f"postgresql+psycopg://sweeper:secret@127.0.0.1:{port}/study"
    line = one_line(cli("sweep", path, "--data", data, "--out", out, "--storage", server))
    shown = f"postgresql+psycopg://sweeper:***@127.0.0.1:{port}/study"
    assert line.startswith(f"error: storage {shown}: ")
    assert "refused" in line or "pip install" in line  # no server there, or no driver here
    assert not out.exists()  # a probe: a bad --storage left an empty --out folder behind
    line = one_line(cli("sweep", path, "--out", out, "--storage", "study.db"))
    assert line == (
        "error: --storage 'study.db' is not a database URL (e.g. sqlite:///path/to/study.db "
        "or postgresql+psycopg://user:password@host/database)"
    )


def test_a_url_argument_sqlite_would_misread_or_a_port_that_is_no_number_is_one_line(tmp_path):
    # Probes: `?mode=ro` printed SQLAlchemy's SAWarning and went on without it; `?timeout=abc`
    # ended in a ValueError traceback; `?uri=true&mode=ro` made a new file "study.db?mode=ro";
    # a port that is no number was a traceback.
    (tmp_path / "study.db").touch()  # an empty SQLite database
    for query, keys in (
        ("mode=ro", "mode"),
        ("timeout=abc", "timeout"),
        ("uri=true&mode=ro", "uri, mode"),
    ):
        url = f"sqlite:///{tmp_path}/study.db?{query}"
        with pytest.raises(UserError) as said:
            storage.has_study(url, "stored")
        assert str(said.value) == (
            f"--storage {url}: a SQLite URL takes no query arguments here ({keys}); name the "
            "file alone: sqlite:///path/to/study.db"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    with pytest.raises(UserError) as said:
        storage.check_url("postgresql+psycopg://u:hunter2@127.0.0.1:notaport/x")
    assert str(said.value).startswith(
        "--storage 'postgresql+psycopg://u:***@127.0.0.1:notaport/x' is not a database URL "
        "(invalid literal for int() with base 10: 'notaport')"
    )
    # file::memory: with uri=true is in memory too (it said "no such table: version_info").
    with pytest.raises(UserError, match="an in-memory SQLite database is lost"):
        storage.check_url("sqlite:///file::memory:?uri=true")


def test_a_password_in_the_query_string_is_never_shown_either():
    # A second probe: `postgresql://host/x?password=...` was printed in clear.
    assert storage.shown("postgresql://db.lan/x?password=hunter2&application_name=s") == (
        "postgresql://db.lan/x?application_name=s&password=***"
    )
    assert storage.shown("postgresql://me:pa55@db.lan/x?sslpassword=k") == (
        "postgresql://me:***@db.lan/x?sslpassword=***"
    )


def test_a_password_is_never_shown():
    # A third probe: a URL that does not parse, an in-memory SQLite URL with ?password=, and a
    # password holding "@" (the driver named its tail as the host) printed them.
    assert storage.shown("postgresql//sweeper:hunter2@db/x") == "postgresql//sweeper:***@db/x"
    assert "hunter2" not in storage.shown("sqlite:///:memory:?password=hunter2")
    odd = "postgresql+psycopg://u:hun@ter2@127.0.0.1:1/x"
    assert storage.shown(odd) == "postgresql+psycopg://u:***@127.0.0.1:1/x"
    # A fourth: a piece of under 3 characters after the "@" was shown ("u:***@ss@127.0.0.1").
    assert storage.shown("postgresql://u:p@ss@127.0.0.1:1/x") == "postgresql://u:***@127.0.0.1:1/x"
    said = "failed to resolve host 'ter2@127.0.0.1': Name or service not known"
    assert (
        storage.hidden(said, odd)
        == "failed to resolve host '***@127.0.0.1': Name or service not known"
    )
    for url in ("postgresql//sweeper:hunter2@db/x", "sqlite:///:memory:?password=hunter2"):
        with pytest.raises(UserError) as refused:
            storage.check_url(url)
        assert "hunter2" not in str(refused.value)
    assert storage.shown("postgresql+psycopg://me:pa55@db.lan/sweeps") == (
        "postgresql+psycopg://me:***@db.lan/sweeps"
    )
    assert storage.shown("sqlite:////tmp/a b/study.db") == "sqlite:////tmp/a b/study.db"


def test_workers_get_the_storage_url_in_their_environment_not_on_their_command_line(
    monkeypatch,
):
    # A probe (read in the code): `sweep --jobs N` passed --storage URL, password and all, on
    # each worker's command line, where `ps` shows it to every user of the machine.
    started = []

    class Worker:
        def __init__(self, arguments, env):
            started.append((arguments, env))

        def wait(self):
            return 0

    monkeypatch.setattr(processes, "catsdogs", Worker)
    url = "postgresql+psycopg://me:hunter2@db.lan/sweeps"
    processes.start_workers(2, ["sweep", "s.yaml", "--jobs", "2"], url)
    assert [arguments[-1] for arguments, _ in started] == ["0", "1"]
    for arguments, env in started:
        assert not any("hunter2" in word for word in arguments)
        assert env[STORAGE_VARIABLE] == url
    # The command reads it there where --storage is not given.
    assert "--storage" not in started[0][0]

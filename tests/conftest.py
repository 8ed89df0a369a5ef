"""Fixtures with a real PostgreSQL: one server per test session (per xdist worker), one fresh
database per test cloned from a template.

TRIMTAB_TEST_DSN points the suite at another server (it must allow CREATE DATABASE);
otherwise an embedded PostgreSQL runs in a throwaway /tmp data directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

from trimtab import embedded

SqlRunner = Callable[..., list[tuple[Any, ...]]]


def _bytecode_in_a_folder_of_the_run() -> None:
    """With PYTHONDONTWRITEBYTECODE set, every `trimtab` process a test starts (hundreds of
    CLI runs and language servers) compiled trimtab's modules from source again: about 0.3 s
    of CPU each. Keep the bytecode in a folder of this run instead (PYTHONPYCACHEPREFIX:
    nothing is written next to the sources), which the xdist workers and every process they
    start inherit; the process that made it removes it at the end (pytest_unconfigure)."""
    global _pycache_made_here
    if os.environ.get("TRIMTAB_TEST_PYCACHE"):  # made by the controlling process: reuse
        folder = os.environ["TRIMTAB_TEST_PYCACHE"]
    elif sys.flags.dont_write_bytecode:
        folder = tempfile.mkdtemp(prefix="trimtab-test-pycache-", dir="/tmp")
        os.environ["TRIMTAB_TEST_PYCACHE"] = folder
        _pycache_made_here = folder
    else:
        return  # bytecode goes to __pycache__ as usual
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = folder
    sys.pycache_prefix = folder  # this process's later imports (test modules, trimtab) too
    sys.dont_write_bytecode = False


_pycache_made_here: str | None = None
_bytecode_in_a_folder_of_the_run()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _pycache_made_here is not None:
        shutil.rmtree(_pycache_made_here, ignore_errors=True)


@dataclass(frozen=True)
class PgServer:
    admin_url: str  # a database on the server we may connect to (postgres on the embedded one)
    template: str
    version: int  # server_version_num, e.g. 180006
    embedded: bool


def with_database(url: str, name: str) -> str:
    """The same connection string, pointing at database `name`."""
    if url.startswith(("postgresql://", "postgres://")):
        return urlunsplit(urlsplit(url)._replace(path="/" + name))
    return make_conninfo(url, dbname=name)


def _execute(url: str, *statements: pgsql.Composable | str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _model_cache_dir() -> Iterator[None]:
    """Models read from cached shadow databases go to a folder of this session (and the
    processes it starts), not to the user's cache."""
    folder = tempfile.mkdtemp(prefix="trimtab-test-cache-", dir="/tmp")
    os.environ["TRIMTAB_CACHE_DIR"] = folder
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _embedded_servers_go_with_their_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test whose project started trimtab's embedded server (a command run without a
    database URL) leaves it running when its folder is deleted, and as root its data in
    /var/lib/trimtab: stop and remove every such server under the test's folder."""
    base = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if base is None:
        return
    for state in base.glob("**/" + embedded.STATE_DIR):
        if (state / "pgdata").exists() or (state / "pgdata").is_symlink():
            embedded.remove(state.parent)


def _remove_in_the_background(folder: Path) -> None:
    """Delete a stopped server's data directory without waiting for it: after a whole run it
    holds gigabytes (every test's shadows), and deleting it took each worker 8-14 s at the
    end of the run on a quiet machine, over 100 s on a busy one."""
    subprocess.Popen(["rm", "-rf", "--", str(folder)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)  # outlives the worker; nothing waits for it


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    dsn = os.environ.get("TRIMTAB_TEST_DSN")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    pgdata: Path | None = None
    if dsn:
        admin = dsn
        # Runs and their workers share an external server: one template each.
        template = f"trimtab_tmpl_{worker or 'main'}_{uuid.uuid4().hex[:6]}"
    else:
        pgdata = Path(tempfile.mkdtemp(prefix="trimtab-test-", dir="/tmp"))
        admin = embedded.start_server(pgdata)
        template = "trimtab_tmpl"
        # Tests never need durability; this makes CREATE DATABASE about 20 ms.
        _execute(
            admin,
            "ALTER SYSTEM SET fsync = off",
            "ALTER SYSTEM SET synchronous_commit = off",
            "ALTER SYSTEM SET full_page_writes = off",
            "SELECT pg_reload_conf()",
        )
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            version = conn.info.server_version
            conn.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(template)
                )
            )
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(template)))
        yield PgServer(admin_url=admin, template=template, version=version, embedded=not dsn)
    finally:
        if pgdata is not None:
            embedded.stop_server(pgdata)
            _remove_in_the_background(pgdata)
        else:
            _execute(
                admin,
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(template)
                ),
            )


@pytest.fixture(scope="session")
def admin_url(pg_server: PgServer) -> str:
    return pg_server.admin_url


class _AdminSession:
    """One autocommit session on the server's admin database for the CREATE and DROP
    DATABASE of every db_url: a connection each cost two server processes per test (about
    4.5 ms of CPU each), for the thousand tests that take a database. A new session when
    the last one was lost (a test may end every other backend): the statement never ran."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def execute(self, statement: pgsql.Composable) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute(statement)
                return
            except psycopg.OperationalError:
                if not self.conn.broken:  # the statement's own error, not a lost session
                    raise
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute(statement)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture(scope="session")
def _admin_session(pg_server: PgServer) -> Iterator[_AdminSession]:
    session = _AdminSession(pg_server.admin_url)
    yield session
    session.close()


@pytest.fixture
def db_template(pg_server: PgServer) -> str:
    """The database db_url copies: empty here; a module whose tests all start from the same
    tables and rows overrides it with a database that has them (tests/test_studio_api.py)."""
    return pg_server.template


@pytest.fixture
def db_url(pg_server: PgServer, _admin_session: _AdminSession, db_template: str) -> Iterator[str]:
    """A fresh database for this test (a copy of db_template, empty by default); dropped
    afterwards."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    create = pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        pgsql.Identifier(name), pgsql.Identifier(db_template)
    )
    if pg_server.version >= 150000:  # STRATEGY arrived in PostgreSQL 15
        create = pgsql.SQL("{} STRATEGY FILE_COPY").format(create)
    _admin_session.execute(create)
    try:
        yield with_database(pg_server.admin_url, name)
    finally:
        _admin_session.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


@pytest.fixture
def sql(db_url: str) -> SqlRunner:
    """run(text, params=None): run SQL on the test database (autocommit).

    Returns the rows of the last statement that produced rows, else [].
    """

    def run(text: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(db_url, autocommit=True) as conn:
            cur = conn.execute(text, params)  # type: ignore[arg-type]
            rows: list[tuple[Any, ...]] = []
            while True:
                if cur.description is not None:
                    rows = cur.fetchall()
                if not cur.nextset():
                    return rows

    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with a trimtab.toml."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "trimtab.toml").write_text('schema = "schema.sql"\n')
    return root

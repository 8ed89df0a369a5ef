"""migrate and push behind a real pgbouncer in transaction mode, as a user runs them: with
DIRECT_DATABASE_URL (everything that needs a session goes there) and without it (what a
transaction pooler can carry works, what needs a session is refused up front, naming
DIRECT_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import PgServer
from tests.test_cli_push import run, write
from tests.test_online_migrations import AFTER, BEFORE, _migrations, _push_plan

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PORT = 6432  # names the socket file only: pgbouncer listens on no TCP port here

pytestmark = pytest.mark.skipif(not os.access(PGBOUNCER, os.X_OK),
                                reason="pgbouncer is not installed (Debian: apt install "
                                       "pgbouncer; .ci/run installs it)")


class Pooler:
    def __init__(self, folder: Path, admin_url: str) -> None:
        self.folder = folder
        self.admin = psycopg.connect(f"host={folder} port={PORT} dbname=pgbouncer "
                                     f"user={conninfo_to_dict(admin_url).get('user', 'postgres')}",
                                     autocommit=True, cursor_factory=psycopg.ClientCursor)

    def url(self, db_url: str) -> str:
        """``db_url``'s database, reached through the pooler."""
        info = conninfo_to_dict(db_url)
        return (f"postgresql://{quote(info.get('user', 'postgres'))}@/"
                f"{quote(info['dbname'])}?host={quote(str(self.folder))}&port={PORT}")

    def transactions(self, db_url: str) -> int:
        """How many transactions pgbouncer has carried to ``db_url``'s database."""
        cur = self.admin.execute("SHOW STATS")  # simple protocol: all the console speaks
        names = [c.name for c in cur.description or ()]
        dbname = conninfo_to_dict(db_url)["dbname"]
        return sum(dict(zip(names, row, strict=True))["total_xact_count"]
                   for row in cur.fetchall() if row[0] == dbname)


@pytest.fixture(scope="session")
def pooler(pg_server: PgServer) -> Iterator[Pooler]:
    """pgbouncer in transaction mode in front of the test server, on a Unix socket in a
    folder of its own; any database name is passed through, each client's user kept."""
    server = conninfo_to_dict(pg_server.admin_url)
    host = str(server.get("host") or "127.0.0.1")
    folder = Path(tempfile.mkdtemp(prefix="trimtab-pool-", dir="/tmp"))
    # pgbouncer refuses to run as root: it runs as the user that owns the server's socket
    # folder (the embedded server's user), who can reach that socket.
    user = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
    users = [server.get("user", "postgres"), "trimtab_sandbox"]
    (folder / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={server.get('port') or 5432}\n"
        "[pgbouncer]\n"
        "listen_addr =\n"
        f"listen_port = {PORT}\n"
        f"unix_socket_dir = {folder}\n"
        "pool_mode = transaction\n"
        "auth_type = trust\n"
        f"auth_file = {folder}/users.txt\n"
        f"admin_users = {users[0]}\n"
        "max_client_conn = 200\n")
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        shutil.chown(folder, user)
        command[1:1] = ["-u", user]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # await its own word that it listens
            seen.append(line)
            if "process up" in line:
                break
        else:
            pytest.fail("pgbouncer did not start:\n" + "".join(seen))
        pooled = Pooler(folder, pg_server.admin_url)
        try:
            yield pooled
        finally:
            pooled.admin.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _with_rows(project: Path, db_url: str) -> None:
    """BEFORE applied directly, with rows: the tables generate writes online forms for."""
    write(project, BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert run(project, "migrate", "--url", db_url).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO orders SELECT g, 1 + g % 50, g, 'o' || g, NULL "
                     "FROM generate_series(1, 2000) g")


def _applied(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT name FROM trimtab.migrations WHERE finished_at IS NOT NULL ORDER BY 1")]


def _advisory_locks(db_url: str) -> list[tuple[int, str]]:
    """Advisory locks held on ``db_url``'s database, by whom."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "USING (pid) WHERE l.locktype = 'advisory' AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()


def test_migrate_through_the_pooler_applies_migrations_with_a_transaction(
        project: Path, db_url: str, pooler: Pooler) -> None:
    """Each transactional migration holds its lock for one transaction, which a
    transaction pooler keeps on one server connection: they run through it."""
    write(project, BEFORE)
    assert run(project, "generate", "--url", db_url).returncode == 0
    before = pooler.transactions(db_url)
    r = run(project, "migrate", env={"DATABASE_URL": pooler.url(db_url)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Applied 1 migration" in r.stdout
    assert pooler.transactions(db_url) > before  # it did go through the pooler
    assert len(_applied(db_url)) == 1
    assert _advisory_locks(db_url) == []


def test_migrate_without_a_transaction_is_refused_through_the_pooler(
        project: Path, db_url: str, pooler: Pooler) -> None:
    """A migration without a transaction (CREATE INDEX CONCURRENTLY) runs under a
    session-level lock, which a transaction pooler cannot keep: refused before anything
    runs, naming DIRECT_DATABASE_URL, nothing applied, no lock left behind."""
    _with_rows(project, db_url)
    write(project, AFTER)
    assert run(project, "generate", "--url", db_url).returncode == 0
    files = _migrations(project)
    assert any(f.read_text().startswith("-- trimtab:no-transaction") for f in files)
    r = run(project, "migrate", env={"DATABASE_URL": pooler.url(db_url)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "connection pooler" in r.stderr and "DIRECT_DATABASE_URL" in r.stderr, r.stderr
    assert "-- trimtab:no-transaction" in r.stderr and "nothing was applied" in r.stderr
    assert _applied(db_url) == [files[0].stem]  # only the one applied directly before
    assert _advisory_locks(db_url) == []


def test_migrate_with_a_direct_url_goes_direct(project: Path, db_url: str,
                                               pooler: Pooler) -> None:
    """DATABASE_URL through the pooler, DIRECT_DATABASE_URL to the server: migrate, the
    concurrent index builds and their session lock included, goes direct."""
    _with_rows(project, db_url)
    write(project, AFTER)
    assert run(project, "generate", "--url", db_url).returncode == 0
    before = pooler.transactions(db_url)
    env = {"DATABASE_URL": pooler.url(db_url), "DIRECT_DATABASE_URL": db_url}
    r = run(project, "migrate", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(_applied(db_url)) == len(_migrations(project))
    assert pooler.transactions(db_url) == before  # nothing went through the pooler
    assert _push_plan(project, db_url) == []


def test_push_through_the_pooler_runs_in_one_transaction(project: Path, db_url: str,
                                                         pooler: Pooler) -> None:
    """push applies its plan in one transaction, which a transaction pooler carries; the
    shadow database (session settings, a session lock on the server) is not built through
    the pooler but on the embedded server, and push says why."""
    _with_rows(project, db_url)
    write(project, AFTER)
    before = pooler.transactions(db_url)
    r = run(project, "push", env={"DATABASE_URL": pooler.url(db_url)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Applied 6 changes" in r.stdout
    assert pooler.transactions(db_url) > before
    said = r.stdout + r.stderr
    assert "connection pooler" in said and "DIRECT_DATABASE_URL" in said, said
    assert "unsupported startup parameter" not in said  # never tried through it
    assert _push_plan(project, db_url) == []
    assert _advisory_locks(db_url) == []


def test_push_with_a_direct_url_goes_direct(project: Path, db_url: str,
                                            pooler: Pooler) -> None:
    _with_rows(project, db_url)
    write(project, AFTER)
    before = pooler.transactions(db_url)
    env = {"DATABASE_URL": pooler.url(db_url), "DIRECT_DATABASE_URL": db_url}
    r = run(project, "push", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "connection pooler" not in r.stdout + r.stderr
    assert pooler.transactions(db_url) == before
    assert _push_plan(project, db_url) == []


def test_an_online_push_runs_its_phases_through_the_pooler(project: Path, db_url: str,
                                                           pooler: Pooler) -> None:
    """Above online_rows, push runs phases: each transaction (SET LOCAL only) and each
    concurrent build (one statement, no transaction) is something a transaction pooler
    carries, and nothing of them stays on its server connections."""
    _with_rows(project, db_url)
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nonline_rows = 1000\n')
    write(project, AFTER)
    r = run(project, "push", "--json", env={"DATABASE_URL": pooler.url(db_url)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p["phase"] for p in json.loads(r.stdout)["online"]] == [
        "expand", "build indexes", "validate", "finish"]
    assert _push_plan(project, db_url) == []
    with psycopg.connect(pooler.url(db_url), autocommit=True) as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == ("0",)
    assert _advisory_locks(db_url) == []

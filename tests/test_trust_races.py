"""Two trimtab processes on one server, each on its own database, sharing what lives on the
server: the project's cached shadow database. Real processes, a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import PgServer, with_database
from trimtab.sources.shadow import _BUILD_LOCK

EXE = str(Path(sys.executable).parent / "trimtab")


@pytest.fixture
def second_db(pg_server: PgServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            pgsql.Identifier(name), pgsql.Identifier(pg_server.template)))
    try:
        yield with_database(pg_server.admin_url, name)
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                pgsql.Identifier(name)))


def _start(project: Path, url: str, app: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "PGAPPNAME": app}
    return subprocess.Popen([EXE, *args], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _waits_on_lock(admin_url: str, app: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", (app,),
        ).fetchone() == (True,)


def _until(condition: object, what: str) -> None:
    # PostgreSQL tells no one when a session starts to wait on a lock: pg_stat_activity is
    # the only place it shows, so it is looked at until it does (bounded, for a hung run).
    deadline = time.monotonic() + 60
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_two_databases_of_one_server_share_the_cached_shadow_one_at_a_time(
        pg_server: PgServer, db_url: str, second_db: str, project: Path) -> None:
    """A (on one database) builds the project's cached shadow database and is held, by the
    test, just before it fills it; B (on another database of the same server) must wait
    for A instead of dropping and creating the same database under A's feet."""
    (project / "schema.sql").write_text("CREATE TABLE a (id int, b text);\n")
    for url in (db_url, second_db):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE a (id int)")
    admin = pg_server.admin_url
    tag = uuid.uuid4().hex[:8]
    # The test holds the server's build lock wherever a build could take it: A's database
    # and the maintenance database.
    holders = [psycopg.connect(db_url, autocommit=True),
               psycopg.connect(with_database(admin, "postgres"), autocommit=True)]
    a = b = None
    try:
        for h in holders:
            h.execute("SELECT pg_advisory_lock(%s)", (_BUILD_LOCK,))
        a = _start(project, db_url, f"a_{tag}", "status")
        _until(lambda: _waits_on_lock(admin, f"a_{tag}"), "A waits for the build lock")
        b = _start(project, second_db, f"b_{tag}", "status")
        _until(lambda: b.poll() is not None or _waits_on_lock(admin, f"b_{tag}"),
               "B finishes or waits for A")
    finally:
        for h in holders:
            h.close()  # ends the session: its locks go
    out_a, err_a = a.communicate(timeout=120) if a else ("", "")
    out_b, err_b = b.communicate(timeout=120) if b else ("", "")
    assert a is not None and b is not None
    # Before: B dropped the database A was filling; A died ("the connection is lost").
    for code, out, err in ((a.returncode, out_a, err_a), (b.returncode, out_b, err_b)):
        assert "Traceback" not in err and "CREATEDB" not in err, err
        assert code == 0, (out, err)
        assert "schema file: 1 change" in out, out  # column a.b, read from the shadow


def test_a_shadow_database_created_by_another_run_is_not_called_a_missing_privilege(
        admin_url: str) -> None:
    from trimtab.errors import ShadowUnavailable
    from trimtab.sources.shadow import sandbox

    name = f"trimtab_cache_t_{uuid.uuid4().hex[:8]}"
    with sandbox(admin_url) as box:
        box.create_database(name)  # the other run
        try:
            with pytest.raises(ShadowUnavailable) as e:
                box.create_database(name)
        finally:
            box.drop_database(name)
    assert "another trimtab process" in str(e.value) and name in str(e.value)
    assert "CREATEDB" not in str(e.value) + (e.value.hint or "")


# -- a breakpoint chunk of several statements: the one that failed is named ----------------


def _chunked_migration(project: Path, db_url: str, text: str) -> str:
    from tests.test_cli_push import run, write

    write(project, "CREATE TABLE t (id int NOT NULL);\nCREATE SEQUENCE s;\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    made = run(project, "generate", "--url", db_url, "--custom", "--name", "two")
    assert made.returncode == 0, made.stderr
    path = project / "migrations" / "0001_two.sql"
    path.write_text(text)
    assert run(project, "check", "--update-sum").returncode == 0
    return str(path)


def _line_of(path: str, text: str) -> int:
    return next(n for n, line in enumerate(Path(path).read_text().splitlines(), 1)
                if line.startswith(text))


def _sequence_calls(db_url: str) -> tuple[int, bool]:
    """nextval is outside any transaction: how often the migration's statement ran."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT last_value, is_called FROM s").fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("head", ["", "-- trimtab:no-transaction\n"],
                         ids=["in-a-transaction", "no-transaction"])
def test_migrate_names_the_failing_statement_of_a_chunk(
        project: Path, db_url: str, head: str) -> None:
    from tests.test_cli_push import run

    path = _chunked_migration(project, db_url, head + "ALTER TABLE t ADD COLUMN note text;\n"
                              "--> statement-breakpoint\n"
                              "ALTER TABLE t ADD PRIMARY KEY (id);\n"
                              "SELECT nextval('s');\n"
                              "\n"
                              "SELECT 1/0;\n")
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode != 0
    line = _line_of(path, "SELECT 1/0")
    assert f"0001_two.sql:{line}" in r.stderr, r.stderr
    assert f"(line {line})" in r.stderr and "statement: SELECT 1/0" in r.stderr, r.stderr
    assert "statement: ALTER TABLE t ADD PRIMARY KEY" not in r.stderr, r.stderr
    assert "division by zero" in r.stderr
    with psycopg.connect(db_url) as conn:  # the chunk is one unit: nothing of it stays
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'p' "
                            "AND conrelid = 't'::regclass").fetchone() == (0,)
    assert _sequence_calls(db_url) == (1, True)  # nothing of the chunk ran twice


def test_a_chunk_run_as_one_query_is_named_whole_and_never_run_again(
        project: Path, db_url: str) -> None:
    """Without a transaction, a chunk starting with DO runs as written, one query: which of
    its statements failed is not known without running them again, which is not done."""
    from tests.test_cli_push import run

    path = _chunked_migration(project, db_url, "-- trimtab:no-transaction\n"
                              "SELECT 1;\n--> statement-breakpoint\n"
                              "DO $$BEGIN PERFORM nextval('s'); END$$;\n"
                              "SELECT 1/0;\n")
    r = run(project, "migrate", "--url", db_url)
    assert r.returncode != 0
    line = _line_of(path, "DO $$")
    assert f"0001_two.sql:{line}" in r.stderr, r.stderr
    assert f"one of its 2 statements, lines {line}-{line + 1}" in r.stderr, r.stderr
    assert "division by zero" in r.stderr
    assert _sequence_calls(db_url) == (1, True)

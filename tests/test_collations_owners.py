"""Collations a schema file declares (CREATE COLLATION), and the owners it declares
(ALTER ... OWNER TO): `trimtab push` as a user runs it, on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from trimtab.sources.introspect import introspect

TRIMTAB = str(Path(sys.executable).parent / "trimtab")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    return subprocess.run([TRIMTAB, *args], cwd=cwd, capture_output=True, text=True,
                          env=environ, stdin=subprocess.DEVNULL, timeout=120)


def push(project: Path, db_url: str, schema: str) -> subprocess.CompletedProcess[str]:
    (project / "schema.sql").write_text(schema)
    return run(project, "push", "--url", db_url)


def converges(project: Path, db_url: str, schema: str) -> str:
    """Push ``schema``, then check that a second plan has nothing left to do."""
    first = push(project, db_url, schema)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run(project, "push", "--url", db_url, "--dry-run", "--exit-code")
    assert (again.returncode, again.stdout) == (0, ""), again.stdout + again.stderr
    return first.stdout


def collations(sql) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [tuple(r) for r in sql(  # type: ignore[misc]
        "SELECT collname::text, collcollate::text FROM pg_collation "
        "WHERE collnamespace = 'public'::regnamespace ORDER BY 1")]


def column_collation(sql, table: str, column: str) -> str | None:  # type: ignore[no-untyped-def]
    rows = sql("SELECT c.collname::text FROM pg_attribute a JOIN pg_collation c "
               "ON c.oid = a.attcollation WHERE a.attrelid = %s::regclass AND a.attname = %s",
               (table, column))
    return rows[0][0] if rows else None


# -- collations ------------------------------------------------------------------------------


def test_new_collation_and_the_column_using_it_in_one_push(project, db_url, sql) -> None:
    out = converges(project, db_url,
                    "CREATE COLLATION byte_order (locale = 'POSIX');\n"
                    "CREATE TABLE t (a text COLLATE byte_order, b text);\n"
                    "COMMENT ON COLLATION byte_order IS 'sorts by bytes';\n"
                    "CREATE DOMAIN code AS text COLLATE byte_order;\n"
                    "CREATE TABLE u (c code);\n")
    assert "create collation public.byte_order" in out
    assert collations(sql) == [("byte_order", "POSIX")]
    assert column_collation(sql, "t", "a") == "byte_order"
    assert sql("SELECT obj_description(oid, 'pg_collation') FROM pg_collation "
               "WHERE collname = 'byte_order'") == [("sorts by bytes",)]


def test_collation_only_the_live_database_has_is_dropped_after_its_columns_move(
        project, db_url, sql) -> None:
    sql("CREATE COLLATION old_order FROM \"POSIX\";"
        "CREATE TABLE t (a text, b text COLLATE old_order);"
        "CREATE INDEX t_b ON t (b)")
    converges(project, db_url,
              "CREATE COLLATION new_order (lc_collate = 'C', lc_ctype = 'POSIX');\n"
              "CREATE TABLE t (a text, b text COLLATE new_order, c text COLLATE new_order);\n"
              "CREATE INDEX t_b ON t (b);\n")
    assert collations(sql) == [("new_order", "C")]
    assert column_collation(sql, "t", "b") == "new_order"
    assert column_collation(sql, "t", "c") == "new_order"


def test_changed_collation_nothing_uses_is_made_again(project, db_url, sql) -> None:
    # The first version through push as well: the shadow kept from it must not hide the edit.
    converges(project, db_url,
              "CREATE COLLATION spare (locale = 'POSIX');\nCREATE TABLE t (a text);\n")
    out = converges(project, db_url,
                    "CREATE COLLATION spare (locale = 'C');\nCREATE TABLE t (a text);\n")
    assert "drop collation public.spare (replaced)" in out
    assert collations(sql) == [("spare", "C")]


def test_changed_collation_in_use_is_refused_naming_its_columns(project, db_url, sql) -> None:
    sql("CREATE COLLATION ord (locale = 'POSIX'); CREATE TABLE t (a text COLLATE ord)")
    result = push(project, db_url,
                  "CREATE COLLATION ord (locale = 'C');\nCREATE TABLE t (a text COLLATE ord);\n")
    assert result.returncode != 0
    assert "collation public.ord changes" in result.stderr
    assert "column public.t.a" in result.stderr
    assert collations(sql) == [("ord", "POSIX")]


def test_collation_is_read_from_the_catalog(db_url, sql) -> None:
    sql("CREATE COLLATION split (lc_collate = 'C', lc_ctype = 'POSIX');"
        "CREATE COLLATION whole (provider = libc, locale = 'C')")
    with psycopg.connect(db_url) as conn:
        model = introspect(conn)
    split = model.collations[("collation", "public", "split")]
    assert (split.provider, split.lc_collate, split.lc_ctype, split.locale,
            split.deterministic) == ("c", "C", "POSIX", None, True)
    assert model.collations[("collation", "public", "whole")].lc_collate == "C"
    assert not any("collation" in u for u in model.unmanaged)


# -- owners ----------------------------------------------------------------------------------


@pytest.fixture
def role(admin_url: str) -> Iterator[str]:
    """A role of the server, made for this test (roles are cluster-wide); dropped once the
    test's database is gone (ask for it before ``db_url``)."""
    name = f"owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE ROLE {}").format(pgsql.Identifier(name)))
    yield name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(name)))


def owner_of(sql, kind: str, name: str) -> str:  # type: ignore[no-untyped-def]
    query = {
        "rel": "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass",
        "type": "SELECT pg_get_userbyid(typowner) FROM pg_type WHERE oid = %s::regtype",
        "func": "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = %s::regprocedure",
        "schema": "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s",
    }[kind]
    return sql(query, (name,))[0][0]


def test_declared_owners_are_given_and_undeclared_ones_kept(role, project, db_url, sql) -> None:
    sql(f"CREATE TABLE t (id int); CREATE TABLE kept (id int); ALTER TABLE kept OWNER TO {role}"
        f"; CREATE TYPE mood AS ENUM ('ok')")
    schema = (f"CREATE SCHEMA app AUTHORIZATION {role};\n"
              "CREATE TABLE t (id int);\n"
              f"ALTER TABLE public.t OWNER TO {role};\n"
              "CREATE TABLE kept (id int);\n"
              "CREATE TABLE app.fresh (id int);\n"
              f"ALTER TABLE app.fresh OWNER TO {role};\n"
              "CREATE VIEW v AS SELECT id FROM t;\n"
              f"ALTER VIEW v OWNER TO {role};\n"
              "CREATE SEQUENCE s;\n"
              f"ALTER SEQUENCE s OWNER TO {role};\n"
              "CREATE TYPE mood AS ENUM ('ok');\n"
              f"ALTER TYPE mood OWNER TO \"{role}\";\n"
              "CREATE FUNCTION f(a int4) RETURNS int LANGUAGE sql AS 'SELECT a';\n"
              "CREATE FUNCTION f(a text) RETURNS text LANGUAGE sql AS 'SELECT a';\n"
              f"ALTER FUNCTION f(integer) OWNER TO {role};\n")
    out = converges(project, db_url, schema)
    assert f"change owner of table public.t to {role}" in out
    assert owner_of(sql, "schema", "app") == role
    assert owner_of(sql, "rel", "public.t") == role
    assert owner_of(sql, "rel", "app.fresh") == role
    assert owner_of(sql, "rel", "v") == role
    assert owner_of(sql, "rel", "s") == role
    assert owner_of(sql, "type", "mood") == role
    assert owner_of(sql, "func", "f(integer)") == role
    assert owner_of(sql, "func", "f(text)") == "postgres"  # not declared: left as it is
    assert owner_of(sql, "rel", "kept") == role  # not declared: never planned back


def test_a_serial_sequence_follows_its_table_to_the_declared_owner(role, project, db_url,
                                                                  sql) -> None:
    # pg_dump declares both; PostgreSQL refuses to give a table's sequence away alone.
    sql("CREATE TABLE w (id serial)")
    converges(project, db_url, "CREATE TABLE w (id serial);\n"
                               f"ALTER SEQUENCE w_id_seq OWNER TO {role};\n"
                               f"ALTER TABLE w OWNER TO {role};\n")
    assert owner_of(sql, "rel", "w_id_seq") == role


def test_owner_to_a_role_the_target_lacks_is_refused_at_its_line(project, db_url, sql) -> None:
    sql("CREATE TABLE t (id int)")
    result = push(project, db_url, "CREATE TABLE t (id int, b text);\n"
                                    "ALTER TABLE t OWNER TO nobody_here;\n")
    assert result.returncode != 0
    assert "schema.sql:2:" in result.stderr
    assert "role nobody_here does not exist" in result.stderr
    assert sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass "
               "AND attname = 'b'") == [(0,)]


def test_the_shadow_never_runs_owner_to(role, project, db_url, sql) -> None:
    # The sandbox could not give its objects to another role: the statement stays out of
    # the shadow, and the dry run still plans the change (for push to run on the target).
    sql("CREATE TABLE t (id int)")
    (project / "schema.sql").write_text(f"CREATE TABLE t (id int);\n"
                                        f"ALTER TABLE t OWNER TO {role};\n")
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == f"ALTER TABLE public.t OWNER TO {role};\n"
    assert owner_of(sql, "rel", "t") == "postgres"

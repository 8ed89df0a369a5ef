"""Collations a schema file declares (CREATE COLLATION), and the owners it declares
(ALTER ... OWNER TO): `trimtab push` as a user runs it, on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

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
    sql("CREATE COLLATION spare (locale = 'POSIX'); CREATE TABLE t (a text)")
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

"""Extensions on a real server: those the target has work in a schema that never creates
them, none is dropped because the schema does not mention it, and no generated SQL pins a
version the schema did not write."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.test_cli_push import run, write

# Drizzle projects use extension types and operator classes without CREATE EXTENSION.
USES = ("CREATE TABLE users (id int PRIMARY KEY, email citext NOT NULL);\n"
        "CREATE INDEX users_email_trgm ON users USING gin (email gin_trgm_ops);\n")


def _install(db_url: str, *names: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")


def _migration_sql(project: Path) -> str:
    files = sorted((project / "migrations").glob("*.sql"))
    assert files, "no migration written"
    return "\n".join(f.read_text() for f in files)


def test_the_targets_extensions_serve_a_schema_that_does_not_create_them(
        project: Path, db_url: str) -> None:
    _install(db_url, "citext", "pg_trgm")
    write(project, USES)
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "email public.citext NOT NULL" in dry.stdout or "email citext" in dry.stdout, \
        dry.stdout
    assert "gin_trgm_ops" in dry.stdout
    assert "EXTENSION" not in dry.stdout  # neither created again nor dropped
    assert run(project, "push", "--url", db_url).returncode == 0
    again = run(project, "push", "--url", db_url, "--dry-run", "--exit-code")
    assert (again.returncode, again.stdout) == (0, ""), again.stdout + again.stderr


def test_an_extension_the_schema_does_not_declare_is_not_dropped(
        project: Path, db_url: str) -> None:
    _install(db_url, "citext", "btree_gin")
    write(project, "CREATE TABLE t (id int);\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    assert "DROP EXTENSION" not in r.stdout and "drop extension" not in r.stdout
    assert "not managed: extension btree_gin" in r.stdout + r.stderr
    with psycopg.connect(db_url) as conn:
        left = {n for (n,) in conn.execute("SELECT extname FROM pg_extension")}
    assert {"citext", "btree_gin"} <= left


def test_generated_sql_pins_no_version_the_schema_did_not_write(
        project: Path, db_url: str) -> None:
    write(project, "CREATE EXTENSION IF NOT EXISTS citext;\n"
                   "CREATE TABLE t (id int, name citext);\n")
    r = run(project, "generate", "--url", db_url)
    assert r.returncode == 0, r.stderr
    migration = _migration_sql(project)
    assert "CREATE EXTENSION IF NOT EXISTS citext" in migration
    assert "VERSION" not in migration
    for args in (("export",), ("export", "--idempotent")):
        out = run(project, *args, "--url", db_url)
        assert out.returncode == 0, out.stderr
        assert "CREATE EXTENSION IF NOT EXISTS citext" in out.stdout
        assert "VERSION" not in out.stdout, out.stdout
    dry = run(project, "push", "--url", db_url, "--dry-run")
    assert "VERSION" not in dry.stdout


def test_a_version_the_schema_writes_is_kept(project: Path, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        (version,) = conn.execute("SELECT default_version FROM pg_available_extensions "
                                  "WHERE name = 'citext'").fetchone()
    write(project, f"CREATE EXTENSION citext VERSION '{version}';\n"
                   "CREATE TABLE t (name citext);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    assert f"VERSION '{version}'" in _migration_sql(project)


def test_the_cached_shadow_follows_the_targets_extensions(project: Path, db_url: str) -> None:
    _install(db_url, "citext")
    write(project, "CREATE TABLE t (name citext);\n")
    first = run(project, "push", "--url", db_url, "--dry-run")
    assert first.returncode == 0, first.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION citext")
    # The same statements, but the target lost citext: a shadow kept from the first run
    # would still accept them, and push would fail only when applying.
    second = run(project, "push", "--url", db_url, "--dry-run")
    assert second.returncode == 1, second.stdout
    assert "schema.sql:1:" in second.stderr and "citext" in second.stderr


def test_migrations_that_use_the_targets_extensions_replay(project: Path, db_url: str) -> None:
    _install(db_url, "citext", "pg_trgm")
    write(project, USES)
    first = run(project, "generate", "--url", db_url)
    assert first.returncode == 0, first.stderr
    migration = _migration_sql(project)
    assert "citext" in migration and "EXTENSION" not in migration
    # The replay of that migration needs citext as much as the schema did.
    again = run(project, "generate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert len(list((project / "migrations").glob("*.sql"))) == 1
    status = run(project, "status", "--url", db_url)
    assert status.returncode == 0, status.stderr
    assert "every change is in a migration" in status.stdout, status.stdout


def test_reset_keeps_the_extensions(project: Path, db_url: str) -> None:
    _install(db_url, "citext", "btree_gin")
    write(project, "CREATE TABLE t (name citext);\n")
    assert run(project, "push", "--url", db_url).returncode == 0
    r = run(project, "reset", "--url", db_url, "--yes")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        left = {n for (n,) in conn.execute("SELECT extname FROM pg_extension")}
        assert conn.execute("SELECT to_regclass('public.t')").fetchone() != (None,)
    assert {"citext", "btree_gin"} <= left


def test_an_extension_moved_to_a_schema_of_its_own_is_moved(project: Path,
                                                            db_url: str) -> None:
    """The extension lives in public, which the schema file no longer uses: the file's
    schemas are then its whole scope, but an extension is the database's, found by name."""
    _install(db_url, "citext")
    write(project, "CREATE SCHEMA ext;\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext;\n")
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT n.nspname FROM pg_extension x JOIN pg_namespace n "
                           "ON n.oid = x.extnamespace WHERE x.extname = 'citext'").fetchone()
    assert row == ("ext",)
    again = run(project, "push", "--url", db_url, "--dry-run", "--exit-code")
    assert (again.returncode, again.stdout) == (0, ""), again.stdout + again.stderr

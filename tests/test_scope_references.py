"""A schema that refers to objects of a schema trimtab does not manage (Supabase's
``auth.users``): the shadow gets them as the target has them, the plan leaves them alone
(docs/scope.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.test_cli_push import run
from tests.test_scope import REPORT, catalog, supabase  # noqa: F401  (a fixture)

PROFILES = """-- the app's own table, its owner in auth
create table public.profiles (
  id uuid primary key references auth.users(id) on delete cascade,
  factor auth.factor_type,
  username text
);
"""


def test_push_creates_a_foreign_key_to_a_platform_table(supabase: Path, db_url: str,  # noqa: F811
                                                         sql: Callable[..., Any]) -> None:
    (supabase / "schema.sql").write_text(PROFILES)
    before = catalog(db_url)
    result = run(supabase, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "create table public.profiles" in result.stdout
    assert result.stdout.count(REPORT) == 1, result.stdout
    after = catalog(db_url)
    assert [o for o in after[0] if o[0] != "public"] == before[0]
    assert after[2] == before[2]  # the rows of every table outside public
    assert sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
               "WHERE conrelid = 'public.profiles'::regclass AND contype = 'f'") == [
        ("FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE",)]
    assert sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
               "attrelid = 'public.profiles'::regclass AND attname = 'factor'") == [
        ("auth.factor_type",)]
    again = run(supabase, "push", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout, again.stdout


def test_dry_run_plans_only_the_sources_objects(supabase: Path, db_url: str) -> None:  # noqa: F811
    (supabase / "schema.sql").write_text(PROFILES)
    result = run(supabase, "push", "--url", db_url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "REFERENCES auth.users(id) ON DELETE CASCADE" in result.stdout, result.stdout
    assert "CREATE TABLE auth" not in result.stdout and "CREATE SCHEMA" not in result.stdout
    assert "CREATE TYPE" not in result.stdout


def test_generate_and_migrate_with_a_foreign_key_to_a_platform_table(
        supabase: Path, db_url: str, sql: Callable[..., Any]) -> None:  # noqa: F811
    (supabase / "schema.sql").write_text(PROFILES)
    result = run(supabase, "generate", "--url", db_url)
    assert result.returncode == 0, result.stderr
    migration = next((supabase / "migrations").glob("*.sql")).read_text()
    assert "REFERENCES auth.users(id) ON DELETE CASCADE" in migration, migration
    assert "CREATE TABLE auth" not in migration and "CREATE SCHEMA" not in migration
    # the replay of that migration needs auth.users too
    again = run(supabase, "generate", "--url", db_url)
    assert again.returncode == 0, again.stderr
    assert len(list((supabase / "migrations").glob("*.sql"))) == 1, again.stdout
    assert run(supabase, "migrate", "--url", db_url).returncode == 0
    status = run(supabase, "status", "--url", db_url)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "drift: none" in status.stdout, status.stdout


def test_a_referenced_table_the_target_lacks_is_named(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text(PROFILES)
    result = run(project, "push", "--url", db_url)
    assert result.returncode != 0
    assert "schema.sql:3" in result.stderr, result.stderr
    assert "auth.users" in result.stderr
    assert "outside the managed schemas" in result.stderr, result.stderr


def test_a_source_that_declares_the_platform_table_still_works(supabase: Path,  # noqa: F811
                                                               db_url: str) -> None:
    (supabase / "schema.sql").write_text(
        "create schema auth;\ncreate table auth.users (id uuid primary key);\n"
        "create table public.profiles (id uuid primary key references auth.users);\n")
    result = run(supabase, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "create table public.profiles" in result.stdout


# The scan for names outside the managed schemas is kept between runs (keyed on the texts of
# the schema and of the migrations): an edit of either must be seen by the next run.

def test_the_kept_scan_sees_a_reference_added_to_the_schema(project: Path,
                                                            db_url: str) -> None:
    (project / "schema.sql").write_text("create table public.profiles (id uuid primary key);\n")
    first = run(project, "generate", "--url", db_url)
    assert first.returncode == 0, first.stderr
    (project / "schema.sql").write_text(PROFILES)
    result = run(project, "generate", "--url", db_url)
    assert result.returncode != 0
    assert "schema.sql:3" in result.stderr, result.stderr
    assert "auth.users is outside the managed schemas" in result.stderr, result.stderr


def test_the_kept_scan_sees_a_reference_added_by_a_migration(supabase: Path,  # noqa: F811
                                                             db_url: str) -> None:
    first = run(supabase, "generate", "--url", db_url, "--name", "init")
    assert first.returncode == 0, first.stderr
    # A hand-written migration that refers to the platform's table: its replay needs the
    # stub of auth.users, though the schema file did not change.
    custom = run(supabase, "generate", "--url", db_url, "--custom", "--name", "owners")
    assert custom.returncode == 0, custom.stderr
    written = next(p for p in (supabase / "migrations").glob("*owners.sql"))
    written.write_text("create table public.owners (id uuid primary key "
                       "references auth.users(id));\n")
    result = run(supabase, "generate", "--url", db_url, "--force", "--name", "drop_owners")
    assert result.returncode == 0, result.stderr
    dropped = next((supabase / "migrations").glob("*drop_owners.sql")).read_text()
    assert "DROP TABLE public.owners" in dropped, dropped


def test_the_kept_names_of_unchanged_statements_scan_as_a_fresh_scan_does() -> None:
    """Each statement's qualified names are kept by its text: after an edit, a statement
    lexed again and those taken from the last scan give the fresh scan's answer."""
    from trimtab.sources import shadow, shadowcache
    from trimtab.sources.sqlfile import split_statements

    texts = ["create table public.a (id int primary key);\n"
             "create table public.b (u uuid references auth.users (id));\n"
             "create view public.v as select x.id from extensions.t x;\n",
             "create table public.a (id int primary key, z int references auth.users (n));\n"
             "create table public.b (u uuid references auth.users (id));\n"  # as it was
             "create view public.v as select x.id from extensions.t x, storage.o o;\n"]
    key = f"test-{id(texts)}"
    for text in texts:
        statements = split_statements(text, "s.sql")
        kept = shadowcache.scan(statements, None, key, [], lambda: [])
        assert kept == shadow.scan(statements, None)
    assert ("auth", "users") in kept.names and ("storage", "o") in kept.names
    assert [i for i, *_ in kept.references] == [0, 1]  # both REFERENCES, the kept one too


def test_each_migrations_split_is_kept_by_its_text(project: Path) -> None:
    """The scan reads every migration's statements (each breakpoint chunk may hold several):
    each chunk's split is kept by its text, so a new scan (after an edit of the schema)
    splits no unchanged chunk again, and the kept split is the fresh one. A plain chunk
    (one statement, only its head read) is not kept."""
    from trimtab import engine
    from trimtab.config import load_config
    from trimtab.migrations import folder
    from trimtab.sources.sqlfile import split_statements

    mig = project / "migrations"
    folder.write_migration(mig, "init", [
        "CREATE TABLE public.a (id integer PRIMARY KEY)",
        "CREATE INDEX a_id ON public.a (id)",
        # not plain: a body, a comment, two statements in one chunk
        "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS $$ SELECT 1; $$",
        "-- two at once\nCREATE TABLE public.b (id int); CREATE TABLE public.c (id int)",
    ], None)
    (project / "schema.sql").write_text("create table public.a (id int primary key);\n")
    cfg = load_config(project)
    kept = folder.split_chunk.cache_info  # type: ignore[attr-defined]
    before = kept()
    engine._stubs(None, cfg, engine.read_source(cfg), folder.read_folder(mig))
    chunks = [ms for ms in folder.read_folder(mig).migrations[0].statements
              if not folder.is_plain_sql(ms.text) or ";" in ms.text]
    assert kept().misses - before.misses == len(chunks) == 2
    (project / "schema.sql").write_text("create table public.a (id int primary key, n int);\n")
    hits = kept().hits
    engine._stubs(None, cfg, engine.read_source(cfg), folder.read_folder(mig))
    assert kept().misses - before.misses == len(chunks)  # none split again
    # but read: the scan ran again, and each pass of it (own schemas, then names) makes
    # the migrations' statements again, one at a time
    assert kept().hits - hits == 2 * len(chunks)
    m = folder.read_folder(mig).migrations[0]
    for ms in m.statements:
        fresh = split_statements(ms.text, str(m.path))
        assert list(folder.sql_statements(ms.text, str(m.path))) == fresh
    assert [st.kind for ms in m.statements for st in folder.sql_statements(
        ms.text, str(m.path))] == ["CREATE TABLE", "CREATE INDEX", "CREATE FUNCTION",
                                   "CREATE TABLE", "CREATE TABLE"]


def test_a_same_scan_reads_not_the_kept_names_of_each_statement() -> None:
    """The kept scan is two lines: the scan, then each statement's names (30 MB of JSON
    objects at 10,000 tables). The same scan again reads the first line only; another one
    reads both, and a second line that does not parse means lexing every statement."""
    import hashlib

    from trimtab.sources import shadow, shadowcache
    from trimtab.sources.sqlfile import split_statements

    text = ("create table public.a (id int primary key);\n"
            "create table public.b (u uuid references auth.users (id));\n")
    key = f"test-two-lines-{id(text)}"
    statements = split_statements(text, "s.sql")
    first = shadowcache.scan(statements, None, key, [], lambda: [])
    path = shadowcache._cache_folder() / "scans" / \
        f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    head, names, end = path.read_bytes().split(b"\n")
    assert end == b"" and b'"texts"' not in head and json.loads(names)
    path.write_bytes(head + b"\n{not json\n")
    assert shadowcache.scan(statements, None, key, [], lambda: []) == first
    assert path.read_bytes() == head + b"\n{not json\n"  # the same scan: not written again
    edited = split_statements(text + "create view public.v as select 1 from storage.o;\n",
                              "s.sql")
    again = shadowcache.scan(edited, None, key, [], lambda: [])
    assert again == shadow.scan(edited, None) and ("storage", "o") in again.names
    assert json.loads(path.read_bytes().split(b"\n")[1])  # written whole again

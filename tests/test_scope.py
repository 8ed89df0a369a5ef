"""What trimtab manages: the schemas the schema source declares or uses, never a hosting
platform's (docs/scope.md). Checked through the CLI on a Supabase- and Neon-shaped database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.test_cli_push import run

# What a Supabase project (and Neon Auth) puts in a database before the app's first table:
# tables with rows, empty tables, a function, an enum, a view, a schema with no table.
PLATFORM = """
CREATE SCHEMA auth;
CREATE TYPE auth.factor_type AS ENUM ('totp', 'webauthn');
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE TABLE auth.sessions (id uuid PRIMARY KEY, user_id uuid REFERENCES auth.users);
CREATE TABLE auth.identities (id text PRIMARY KEY, user_id uuid REFERENCES auth.users);
CREATE TABLE auth.mfa_factors (id uuid PRIMARY KEY, factor_type auth.factor_type);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-000000000001', 'a@example.com');
CREATE SCHEMA storage;
CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE storage.objects (id uuid PRIMARY KEY, bucket_id text REFERENCES storage.buckets,
                              name text);
CREATE VIEW storage.named AS SELECT name FROM storage.objects;
INSERT INTO storage.buckets VALUES ('avatars', 'avatars');
CREATE SCHEMA realtime;
CREATE TABLE realtime.messages (id bigint PRIMARY KEY, topic text);
CREATE SCHEMA extensions;
CREATE SCHEMA graphql_public;
CREATE SCHEMA vault;
CREATE TABLE vault.secrets (id uuid PRIMARY KEY, secret text);
CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY);
INSERT INTO supabase_migrations.schema_migrations VALUES ('20240101000000');
CREATE SCHEMA neon_auth;
CREATE TABLE neon_auth.users_sync (id text PRIMARY KEY, raw_json jsonb NOT NULL);
"""

SCHEMA = """
CREATE TABLE profiles (id uuid PRIMARY KEY, username text NOT NULL);
"""

REPORT = "schema auth (4 tables)"


def catalog(db_url: str) -> list[Any]:
    """Every object outside public, with its definition, and every table's rows."""
    with psycopg.connect(db_url) as conn:
        objects = conn.execute("""
            SELECT n.nspname, c.relname, c.relkind,
                   (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                      ', ' ORDER BY a.attnum)
                    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                      AND NOT a.attisdropped)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('public', 'pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2""").fetchall()
        others = conn.execute("""
            SELECT 'schema', nspname FROM pg_namespace
            UNION ALL SELECT 'function', p.oid::regprocedure::text FROM pg_proc p
              WHERE p.pronamespace::regnamespace::text NOT IN ('pg_catalog',
                                                               'information_schema')
            UNION ALL SELECT 'type', t.oid::regtype::text FROM pg_type t
              WHERE t.typtype = 'e'
            UNION ALL SELECT 'constraint', conname || ' ' || pg_get_constraintdef(oid)
              FROM pg_constraint WHERE connamespace::regnamespace::text <> 'public'
            ORDER BY 1, 2""").fetchall()
        rows = [(s, t, conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone())
                for s, t, kind, _ in objects if kind == "r"]
    return [objects, others, rows]


@pytest.fixture
def supabase(project: Path, db_url: str, sql: Callable[..., Any]) -> Path:
    """A project with one table of its own, on a Supabase-shaped database."""
    sql(PLATFORM)
    (project / "schema.sql").write_text(SCHEMA)
    return project


def test_push_leaves_platform_schemas_alone(supabase: Path, db_url: str) -> None:
    before = catalog(db_url)
    result = run(supabase, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "create table public.profiles" in result.stdout
    assert result.stdout.count(REPORT) == 1, result.stdout
    assert "schema storage (2 tables)" in result.stdout
    assert "schema graphql_public (no tables)" in result.stdout
    assert catalog(db_url) == before
    again = run(supabase, "push", "--url", db_url)
    assert "Nothing to do" in again.stdout, again.stdout
    assert again.stdout.count(REPORT) == 1
    assert catalog(db_url) == before


def test_dry_run_plans_nothing_outside_the_source(supabase: Path, db_url: str) -> None:
    result = run(supabase, "push", "--url", db_url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("CREATE TABLE public.profiles (\n    id uuid NOT NULL,\n"
                             "    username text NOT NULL\n);\nALTER TABLE public.profiles "
                             "ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);\n"), result.stdout
    assert result.stderr.count(REPORT) == 1, result.stderr


def test_reset_drops_only_what_the_source_declares(supabase: Path, db_url: str,
                                                   sql: Callable[..., Any]) -> None:
    before = catalog(db_url)
    sql("CREATE TABLE public.leftover (id int)")
    result = run(supabase, "reset", "--yes", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(REPORT) == 1, result.stdout
    assert catalog(db_url) == before
    assert sql("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
               "AND relkind = 'r'") == [("profiles",)]


def test_status_reports_no_drift_for_platform_schemas(supabase: Path, db_url: str) -> None:
    assert run(supabase, "generate", "--url", db_url).returncode == 0
    migration = next((supabase / "migrations").glob("*.sql")).read_text()
    assert "auth" not in migration and "storage" not in migration
    assert run(supabase, "migrate", "--url", db_url).returncode == 0
    result = run(supabase, "status", "--url", db_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drift: none" in result.stdout, result.stdout
    assert result.stdout.count(REPORT) == 1, result.stdout


def test_listed_schemas_are_managed_exactly(supabase: Path, db_url: str) -> None:
    """`schemas = [...]` means what it says, a platform schema included."""
    (supabase / "trimtab.toml").write_text(
        'schema = "schema.sql"\nschemas = ["public", "realtime"]\n')
    result = run(supabase, "push", "--url", db_url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "DROP TABLE realtime.messages;" in result.stdout
    assert "DROP SCHEMA realtime;" in result.stdout
    assert "auth" not in result.stdout
    assert result.stderr.count(REPORT) == 1, result.stderr


def test_dropping_a_schema_always_needs_consent(supabase: Path, db_url: str,
                                                sql: Callable[..., Any]) -> None:
    """Even an empty schema: its emptiness says nothing about whose it is."""
    sql("CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int)")
    (supabase / "trimtab.toml").write_text(
        'schema = "schema.sql"\nschemas = ["public", "scratch"]\n')
    refused = run(supabase, "push", "--url", db_url)
    assert refused.returncode != 0
    assert "drops schema scratch" in refused.stderr, refused.stderr
    assert sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'scratch'") == [(1,)]
    assert run(supabase, "push", "--url", db_url, "--force").returncode == 0
    assert sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'scratch'") == [(0,)]


def test_declared_schemas_are_managed_and_others_left(supabase: Path, db_url: str,
                                                      sql: Callable[..., Any]) -> None:
    """A schema the source creates is managed; one it never mentions is not, even if it
    is not a platform's."""
    sql("CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int)")
    (supabase / "schema.sql").write_text(
        SCHEMA + "CREATE SCHEMA app;\nCREATE TABLE app.events (id int);\n"
                 "CREATE TABLE app.old (id int);\n")
    assert run(supabase, "push", "--url", db_url).returncode == 0
    (supabase / "schema.sql").write_text(
        SCHEMA + "CREATE SCHEMA app;\nCREATE TABLE app.events (id int);\n")
    result = run(supabase, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "drop table app.old" in result.stdout
    assert "schema billing (1 table)" in result.stdout
    assert sql("SELECT count(*) FROM billing.invoices") == [(0,)]


def test_a_source_only_in_its_own_schema_leaves_public_alone(
        project: Path, db_url: str, sql: Callable[..., Any]) -> None:
    sql("CREATE TABLE public.legacy (id int)")
    (project / "schema.sql").write_text("CREATE SCHEMA app;\nCREATE TABLE app.t (id int);\n")
    result = run(project, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "schema public (1 table)" in result.stdout
    assert sql("SELECT count(*) FROM public.legacy") == [(0,)]


def test_platform_objects_in_the_source_are_not_managed(supabase: Path, db_url: str) -> None:
    """drizzle-orm/supabase's authUsers, or a copy of auth.users for a foreign key: the
    source declares it, the platform owns it; said, and left alone."""
    (supabase / "schema.sql").write_text(
        "CREATE SCHEMA auth;\nCREATE TABLE auth.users (id uuid PRIMARY KEY);\n"
        "CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users);\n")
    before = catalog(db_url)
    result = run(supabase, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "schema auth is a platform schema" in result.stdout
    after = catalog(db_url)
    assert [o for o in after[0] if o[0] != "public"] == before[0]


DRIZZLE_SCHEMA = """import { pgTable, text, uuid } from "drizzle-orm/pg-core";

export const profiles = pgTable("profiles", {
  id: uuid("id").primaryKey(),
  username: text("username").notNull(),
});
"""


def test_drizzle_without_schema_filter_manages_public(tmp_path: Path, db_url: str,
                                                      sql: Callable[..., Any]) -> None:
    """As drizzle-kit: no schemaFilter, public only."""
    sql(PLATFORM + "CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int);")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "schema.ts").write_text(DRIZZLE_SCHEMA)
    (tmp_path / "drizzle.config.ts").write_text(
        'export default { dialect: "postgresql", schema: "./src/schema.ts" };\n')
    before = catalog(db_url)
    result = run(tmp_path, "push", "--url", db_url)
    assert result.returncode == 0, result.stderr
    assert "create table public.profiles" in result.stdout
    assert result.stdout.count(REPORT) == 1, result.stdout
    assert catalog(db_url) == before

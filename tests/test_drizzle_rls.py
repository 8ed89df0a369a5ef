"""Row-level security in Drizzle schemas: pgPolicy, pgRole, .enableRLS() and the helpers of
drizzle-orm/supabase and drizzle-orm/neon, held to the real drizzle-kit's database (as in
test_drizzle_schema), and pushed twice by trimtab's CLI."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import drizzle_kit
from tests.conftest import PgServer
from tests.test_cli_push import run
from tests.test_drizzle_schema import (  # noqa: F401  (fresh_db is a fixture)
    _apply,
    _differences,
    _introspect,
    fresh_db,
)
from trimtab.model import Model
from trimtab.plan import build_plan
from trimtab.sources.drizzle import read_drizzle

SUPABASE_ROLES = ("anon", "authenticated", "service_role", "postgres_role",
                  "supabase_auth_admin")
NEON_ROLES = ("authenticated", "anonymous")

# What Supabase keeps in auth before the app's first table (the part a schema refers to).
SUPABASE_AUTH = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
"""
# Neon: pg_session_jwt's auth.user_id() and Neon Auth's users_sync.
NEON_AUTH = """
CREATE SCHEMA auth;
CREATE FUNCTION auth.user_id() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('request.jwt.claim.sub', true) $$;
CREATE SCHEMA neon_auth;
CREATE TABLE neon_auth.users_sync (id text PRIMARY KEY, raw_json jsonb NOT NULL);
"""


def make_roles(pg_server: PgServer, roles: Sequence[str]) -> None:
    """Roles belong to the server, not to a database: made once, whoever comes first."""
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        for role in roles:
            with contextlib.suppress(psycopg.errors.DuplicateObject,
                                     psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE ROLE "{role}" NOLOGIN')


def execute(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())  # type: ignore[arg-type]


def without_expressions(model: Model) -> Model:
    """``model`` with its policies' USING and WITH CHECK left out."""
    tables = {k: dataclasses.replace(t, policies=tuple(
        dataclasses.replace(p, using=None, with_check=None) for p in t.policies))
        for k, t in model.tables.items()}
    return dataclasses.replace(model, tables=tables)


def same_as_drizzle_kit(text: str, fresh_db: Callable[[], str], setup: str = "",  # noqa: F811
                        expressions: Sequence[tuple[str, str | None, str | None]] = ()
                        ) -> None:
    """drizzle-kit pushes ``text`` into one database, trimtab's DDL goes into another (both
    prepared with ``setup``): the two must be equal.

    Except for the policies' expressions: drizzle-kit push keys a policy by its name, kind
    and roles only and creates it without USING / WITH CHECK (a permissive policy without
    USING lets no row through), while drizzle-kit generate writes them. trimtab writes them
    as generate does; ``expressions`` are (policy, USING, WITH CHECK) as PostgreSQL
    stores what generate writes."""
    why = drizzle_kit.missing_tool()
    if why:
        pytest.skip(why)
    schema = read_drizzle({"schema.ts": text})
    assert not schema.errors, [i.message for i in schema.errors]
    a, b = fresh_db(), fresh_db()
    if setup:
        execute(a, setup)
        execute(b, setup)
    pushed = drizzle_kit.push([("schema.ts", text)], ["schema.ts"], a)
    assert pushed.returncode == 0 and "Changes applied" in pushed.output, pushed.output
    _apply(b, schema)
    model_b_full = _introspect(b)
    model_a, model_b = _introspect(a), without_expressions(model_b_full)
    steps = [s for step in build_plan(model_a, model_b).steps for s in step.sql]
    assert not steps, "\n".join(steps) + "\n\n" + pushed.output + "\n\n" + schema.sql
    assert not _differences(model_a, model_b), "\n".join(_differences(model_a, model_b))
    policies = sorted((p.name, p.using, p.with_check) for t in model_b_full.tables.values()
                      for p in t.policies)
    assert policies == sorted(expressions)


POLICIES = """import { sql } from "drizzle-orm";
import { pgTable, pgPolicy, pgRole, integer, text } from "drizzle-orm/pg-core";

export const editor = pgRole("rls_editor").existing();
// not exported: drizzle-kit push would issue CREATE ROLE for it (and fail, as it exists)
const admin = pgRole("rls_admin", { createRole: true, inherit: false });

export const docs = pgTable("docs", {
  id: integer().primaryKey(),
  owner: text().notNull(),
  body: text(),
}, (t) => [
  pgPolicy("read all", { for: "select", using: sql`true` }),
  pgPolicy("own rows", { as: "restrictive", for: "update", to: [editor, "rls_admin"],
                         using: sql`${t.owner} = current_user`,
                         withCheck: sql`${t.owner} = current_user` }),
  pgPolicy("insert", { for: "insert", to: "current_user", withCheck: sql`${t.body} <> ''` }),
]);

export const audit = pgTable("audit", { id: integer(), what: text() }).enableRLS();

export const notes = pgTable("notes", { id: integer(), author: text() });
export const notesPolicy = pgPolicy("notes by author", {
  to: admin, using: sql`${notes.author} = session_user`,
}).link(notes);
"""


def test_policies_roles_and_rls_as_drizzle_kit(pg_server: PgServer,
                                               fresh_db: Callable[[], str]) -> None:  # noqa: F811
    make_roles(pg_server, ("rls_editor", "rls_admin"))
    same_as_drizzle_kit(POLICIES, fresh_db, expressions=[
        ("read all", "true", None),
        ("own rows", "(owner = CURRENT_USER)", "(owner = CURRENT_USER)"),
        ("insert", None, "(body <> ''::text)"),
        ("notes by author", "(author = SESSION_USER)", None)])


def test_an_exported_role_is_a_warning_not_created() -> None:
    text = POLICIES.replace("\nconst admin", "\nexport const admin")
    r = read_drizzle({"schema.ts": text})
    assert [(i.severity, i.span.line) for i in r.issues] == [("warning", 6)], r.issues
    assert "trimtab does not create roles" in r.issues[0].message
    assert "CREATE ROLE" not in r.sql


SUPABASE = """import { sql } from "drizzle-orm";
import { pgTable, pgPolicy, uuid, text } from "drizzle-orm/pg-core";
import { anonRole, authenticatedRole, authUid, authUsers, serviceRole }
  from "drizzle-orm/supabase";

export const profiles = pgTable("profiles", {
  id: uuid().primaryKey().references(() => authUsers.id, { onDelete: "cascade" }),
  name: text(),
}, (t) => [
  pgPolicy("profiles read", { for: "select", to: [anonRole, authenticatedRole],
                              using: sql`true` }),
  pgPolicy("profiles own", { for: "update", to: authenticatedRole,
                             using: sql`${t.id} = ${authUid}`,
                             withCheck: sql`${t.id} = ${authUid}` }),
  pgPolicy("profiles service", { to: serviceRole, using: sql`true` }),
]);
"""


def test_supabase_helpers_as_drizzle_kit(pg_server: PgServer,
                                         fresh_db: Callable[[], str]) -> None:  # noqa: F811
    make_roles(pg_server, SUPABASE_ROLES)
    same_as_drizzle_kit(SUPABASE, fresh_db, SUPABASE_AUTH, expressions=[
        ("profiles read", "true", None),
        ("profiles own", "(id = ( SELECT auth.uid() AS uid))",
         "(id = ( SELECT auth.uid() AS uid))"),
        ("profiles service", "true", None)])


def test_a_key_to_auth_users_is_a_warning_and_is_written() -> None:
    r = read_drizzle({"schema.ts": SUPABASE})
    assert not r.errors
    warnings = [(i.span.line, i.message) for i in r.issues if i.severity == "warning"]
    assert warnings == [(7, '"auth"."users" is not exported: drizzle-kit does not create it, '
                            "and neither does trimtab; the reference needs it in the "
                            "database")], warnings
    assert 'REFERENCES "auth"."users"("id") ON DELETE cascade' in r.sql
    assert "CREATE SCHEMA" not in r.sql and 'CREATE TABLE "auth"' not in r.sql


NEON = """import { pgTable, text, integer } from "drizzle-orm/pg-core";
import { anonymousRole, authenticatedRole, authUid, crudPolicy, usersSync }
  from "drizzle-orm/neon";

export const todos = pgTable("todos", {
  id: integer().primaryKey(),
  userId: text("user_id").notNull().references(() => usersSync.id),
  task: text(),
}, (t) => [
  crudPolicy({ role: authenticatedRole, read: authUid(t.userId), modify: authUid(t.userId) }),
  crudPolicy({ role: [anonymousRole], read: true, modify: null }),
]);
"""


def test_neon_helpers_as_drizzle_kit(pg_server: PgServer,
                                     fresh_db: Callable[[], str]) -> None:  # noqa: F811
    make_roles(pg_server, NEON_ROLES)
    own = "( SELECT (auth.user_id() = todos.user_id))"
    same_as_drizzle_kit(NEON, fresh_db, NEON_AUTH, expressions=[
        ("crud-authenticated-policy-select", own, None),
        ("crud-authenticated-policy-insert", None, own),
        ("crud-authenticated-policy-update", own, own),
        ("crud-authenticated-policy-delete", own, None),
        ("crud-anonymous-policy-select", "true", None)])


PLAIN_OBJECT = """import { pgTable, integer, index } from "drizzle-orm/pg-core";

export const t = pgTable("t", { a: integer() }, (t) => [
  index("t_a").on(t.a),
  { comment: "not a constraint" },
]);
"""


def test_a_plain_object_in_the_callback_is_ignored_with_a_warning(
        fresh_db: Callable[[], str]) -> None:  # noqa: F811
    r = read_drizzle({"schema.ts": PLAIN_OBJECT})
    assert [(i.severity, i.span.line) for i in r.issues] == [("warning", 5)], r.issues
    assert "drizzle-kit ignores this entry" in r.issues[0].message
    same_as_drizzle_kit(PLAIN_OBJECT, fresh_db)


CONFIG = ('export default {\n  dialect: "postgresql",\n  schema: "./schema.ts",\n'
          '  schemaFilter: ["public"],\n};\n')


def test_push_twice_with_supabase_policies(tmp_path: Path, db_url: str, pg_server: PgServer,
                                           sql: Callable[..., Any]) -> None:
    make_roles(pg_server, SUPABASE_ROLES)
    sql(SUPABASE_AUTH)
    (tmp_path / "schema.ts").write_text(SUPABASE)
    (tmp_path / "drizzle.config.ts").write_text(CONFIG)
    first = run(tmp_path, "push", "--url", db_url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert '"auth"."users" is not exported' in first.stdout + first.stderr  # the warning
    assert sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
               "conrelid = 'public.profiles'::regclass AND contype = 'f'") == [
        ("FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE",)]
    assert sql("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.profiles'::regclass"
               ) == [(True,)]
    assert sql("SELECT policyname, roles::text[], cmd FROM pg_policies "
               "WHERE tablename = 'profiles' ORDER BY 1") == [
        ("profiles own", ["authenticated"], "UPDATE"),
        ("profiles read", ["anon", "authenticated"], "SELECT"),
        ("profiles service", ["service_role"], "ALL")]
    again = run(tmp_path, "push", "--url", db_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do" in again.stdout, again.stdout

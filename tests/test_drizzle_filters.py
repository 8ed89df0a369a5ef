"""drizzle.config.ts's tablesFilter, extensionsFilters and entities.roles through the real
`trimtab` CLI, compared with the real (pinned) drizzle-kit on databases that hold tables
outside the filter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests import drizzle_kit, test_drizzle_schema
from tests.test_cli_push import run, tables

SCHEMA_TS = """import { pgTable, integer, text } from "drizzle-orm/pg-core";

export const appUsers = pgTable("app_users", {
  id: integer().primaryKey(),
  name: text().notNull(),
});
"""

# Tables someone else made: some inside the filter, some outside, with rows. app_users is
# there already, so that drizzle-kit's push has nothing to create and asks no rename
# question.
LIVE = """
CREATE TABLE public.app_users (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.legacy (id int PRIMARY KEY, note text);
INSERT INTO public.legacy VALUES (1, 'keep me');
CREATE TABLE public.app_tmp (id int);
INSERT INTO public.app_tmp VALUES (1);
CREATE TABLE public.app_old (id int);
CREATE TABLE public.spatial_ref_sys (srid int PRIMARY KEY);
INSERT INTO public.spatial_ref_sys VALUES (4326);
"""


fresh_db = test_drizzle_schema.fresh_db  # the fixture: a new empty database per call


def project(root: Path, extra: dict[str, object], schema: str = SCHEMA_TS) -> Path:
    (root / "schema.ts").write_text(schema)
    keys = "".join(f"  {k}: {json.dumps(v)},\n" for k, v in extra.items())
    (root / "drizzle.config.ts").write_text(
        'import { defineConfig } from "drizzle-kit";\n'
        "export default defineConfig({\n"
        '  dialect: "postgresql",\n'
        '  schema: "./schema.ts",\n'
        "  dbCredentials: { url: process.env.DATABASE_URL! },\n"
        f"{keys}}});\n")
    return root


def execute(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


# (config keys, the tables left in public after a push): what drizzle-kit 0.31 does with
# each, checked against it below.
CASES = [
    # one glob as a string: only app_* is managed (app_tmp and app_old are dropped)
    ({"tablesFilter": "app_*"}, ["app_users", "legacy", "spatial_ref_sys"]),
    # a negation votes yes for every other name: legacy and spatial_ref_sys are managed
    # (and dropped), app_tmp is left alone
    ({"tablesFilter": ["app_*", "!app_tmp"]}, ["app_tmp", "app_users"]),
    # braces, as minimatch expands them
    ({"tablesFilter": ["{app_u,legacy}*"]},
     ["app_old", "app_tmp", "app_users", "spatial_ref_sys"]),
    # postgis: its own tables are left out (by name, as drizzle-kit does), all else is in
    ({"extensionsFilters": ["postgis"]}, ["app_users", "spatial_ref_sys"]),
]


@pytest.mark.parametrize(("extra", "left"), CASES, ids=["glob", "negation", "braces",
                                                         "postgis"])
def test_push_leaves_tables_outside_the_filter_as_drizzle_kit_does(
        tmp_path: Path, fresh_db: Callable[[], str], extra: dict[str, object],
        left: list[str]) -> None:
    why = drizzle_kit.missing_tool()
    if why:
        pytest.skip(why)
    theirs, ours = fresh_db(), fresh_db()
    execute(theirs, LIVE)
    execute(ours, LIVE)
    pushed = drizzle_kit.push([("schema.ts", SCHEMA_TS)], ["schema.ts"], theirs,
                              config_extra=extra)
    assert pushed.returncode == 0, pushed.output
    assert tables(theirs) == left, pushed.output

    root = project(tmp_path, extra)
    r = run(root, "push", "--force", env={"DATABASE_URL": ours})
    assert r.returncode == 0, r.stderr
    assert tables(ours) == left, r.stdout + r.stderr
    outside = sorted(set(tables(ours)) - {"app_users"})
    if outside:  # named once, as schemas left alone are
        line = next(x for x in r.stdout.splitlines() if "tablesFilter" in x)
        assert all(f"public.{t}" in line for t in outside), r.stdout
    if "spatial_ref_sys" in left:  # its rows are untouched
        with psycopg.connect(ours) as conn:
            assert conn.execute("SELECT count(*) FROM public.spatial_ref_sys"
                                ).fetchone() == (1,)
    again = run(root, "push", "--force", env={"DATABASE_URL": ours})
    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout, again.stdout


def test_a_declared_table_outside_the_filter_is_the_schemas(tmp_path: Path, db_url: str) -> None:
    """drizzle-kit filters the database only: its first push creates such a table, every
    later one tries again and fails. trimtab creates it once and then sees it as the
    schema's: the second push plans nothing, and a table outside the filter that the schema
    does not declare is still left alone."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.legacy (id int)")
    root = project(tmp_path, {"tablesFilter": ["other_*"]})
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["app_users", "legacy"]
    again = run(root, "push", "--dry-run", "--exit-code", env={"DATABASE_URL": db_url})
    assert again.returncode == 0 and not again.stdout.strip(), again.stdout + again.stderr
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode == 0 and "Nothing to do" in r.stdout, r.stdout + r.stderr


def test_an_unreadable_tables_filter_is_an_error(tmp_path: Path, db_url: str) -> None:
    root = project(tmp_path, {})
    cfg = root / "drizzle.config.ts"
    cfg.write_text(cfg.read_text().replace(
        "  dbCredentials", "  tablesFilter: prefixes(),\n  dbCredentials"))
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode != 0
    assert "drizzle.config.ts" in r.stderr and "tablesFilter" in r.stderr, r.stderr
    assert tables(db_url) == []


@pytest.mark.parametrize("roles", [True, {"provider": "supabase"},
                                   {"include": ["admin"], "exclude": ["x"]}])
def test_entities_roles_says_trimtab_leaves_roles_to_the_user(
        tmp_path: Path, db_url: str, roles: object) -> None:
    root = project(tmp_path, {"entities": {"roles": roles}})
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["app_users"]
    for out in (r, run(root, "push", "--force", env={"DATABASE_URL": db_url})):
        text = out.stdout + out.stderr
        assert "entities.roles" in text and "leaves roles to you" in text, text


ENUM_TS = """import { pgTable, pgEnum, integer } from "drizzle-orm/pg-core";

export const mood = pgEnum("mood", ["happy"]);
export const people = pgTable("people", {
  id: integer().primaryKey(),
  mood: mood().notNull(),
});
"""


def test_cli_fix_of_a_drizzle_project_gives_the_ts_hint(tmp_path: Path, db_url: str) -> None:
    """A value removed from an enum that rows still use: the push stops, and its fix names
    the hint as schema.ts takes it (`//`), not the .sql form."""
    execute(db_url, "CREATE TYPE public.mood AS ENUM ('happy', 'sad');"
                    "CREATE TABLE public.people (id integer PRIMARY KEY,"
                    " mood public.mood NOT NULL);"
                    "INSERT INTO public.people VALUES (1, 'sad');")
    root = project(tmp_path, {}, schema=ENUM_TS)
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode != 0, r.stdout
    text = " ".join((r.stdout + r.stderr).split())  # rich wraps long lines
    assert "fix:" in text and "`// trimtab: renamed from '<old>'`" in text, text
    assert "-- trimtab" not in text, text


def test_into_an_empty_database_a_declared_table_outside_the_filter_is_made_once(
        tmp_path: Path, db_url: str) -> None:
    """The push into an empty database runs the schema in place and reads back what it
    made: a table the filter leaves out but the schema declares is part of that."""
    root = project(tmp_path, {"tablesFilter": ["other_*"]})
    r = run(root, "push", "--force", env={"DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert tables(db_url) == ["app_users"]
    again = run(root, "push", "--dry-run", "--exit-code", env={"DATABASE_URL": db_url})
    assert again.returncode == 0 and not again.stdout.strip(), again.stdout + again.stderr

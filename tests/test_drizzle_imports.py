"""Drizzle projects split over many files: trimtab follows imports as TypeScript does.

Each project is written under the pinned drizzle-kit's install folder (so that its
`drizzle-orm` imports resolve for drizzle-kit), pushed by the real drizzle-kit into one
database and by the `trimtab` CLI into another; both are introspected and must be equal,
and a second `trimtab push` must have nothing to do. Projects that drizzle-kit is not needed
for (errors, warnings) run in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests import drizzle_kit, test_drizzle_schema
from tests.test_cli_push import run
from trimtab.model import Model
from trimtab.plan import build_plan
from trimtab.sources.drizzle import read_drizzle
from trimtab.sources.introspect import introspect

NODE_TIMEOUT = 300
PG = 'import { pgTable, pgEnum, pgTableCreator, serial, integer, text, varchar, uuid, ' \
     'timestamp, index } from "drizzle-orm/pg-core";\n'


# --------------------------------------------------------------------------------------
# Helpers


fresh_db = test_drizzle_schema.fresh_db  # the fixture: a new empty database per call


def write_project(root: Path, files: dict[str, str], schema: str | list[str],
                  at: str = ".") -> Path:
    """The files under root, and a drizzle.config.ts in root/at naming `schema`; a value
    starting with "->" makes a symbolic link to that (relative) target instead."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            p.symlink_to(text[2:].strip(), target_is_directory=True)
        else:
            p.write_text(text)
    config = {"dialect": "postgresql", "schema": schema, "out": "./drizzle"}
    home = root / at
    home.mkdir(parents=True, exist_ok=True)
    (home / "drizzle.config.ts").write_text(
        "export default " + json.dumps(config, indent=2) + ";\n")
    return home


@pytest.fixture
def kit_root() -> Iterator[Path]:
    """An empty folder under drizzle-kit's install folder."""
    if drizzle_kit.missing_tool():
        pytest.skip(drizzle_kit.missing_tool() or "")
    root = drizzle_kit.ensure_drizzle_kit() / "work" / uuid.uuid4().hex
    root.mkdir(parents=True)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def kit_push(home: Path, url: str) -> str:
    """`drizzle-kit push` run where the user runs it (the config's folder), so that it
    finds the project's tsconfig.json as it does for them."""
    config = (home / "drizzle.config.ts").read_text()
    creds = json.dumps(drizzle_kit.credentials(url))
    (home / "drizzle.config.ts").write_text(
        config.replace('"out": "./drizzle"', f'"out": "./drizzle", "dbCredentials": {creds}'))
    try:
        bin_ = drizzle_kit.ensure_drizzle_kit() / "node_modules" / "drizzle-kit" / "bin.cjs"
        r = subprocess.run(["node", str(bin_), "push", "--force", "--verbose"], cwd=home,
                           capture_output=True, text=True, timeout=NODE_TIMEOUT,
                           stdin=subprocess.DEVNULL,
                           env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"})
    finally:
        (home / "drizzle.config.ts").write_text(config)
    output = r.stdout + r.stderr
    assert r.returncode == 0 and "Changes applied" in output, output
    return output


def _model(url: str) -> Model:
    with psycopg.connect(url, autocommit=True) as conn:
        return introspect(conn)


def same_as_drizzle_kit(home: Path, fresh_db: Callable[[], str]) -> Model:
    """drizzle-kit and trimtab push the project into two databases: they must be equal,
    and trimtab's second push must have nothing to do. Returns the database's model."""
    a, b = fresh_db(), fresh_db()
    kit_push(home, a)
    first = run(home, "push", "--url", b)
    assert first.returncode == 0, first.stdout + first.stderr
    model_a, model_b = _model(a), _model(b)
    steps = [s for step in build_plan(model_a, model_b).steps for s in step.sql]
    assert not steps, "trimtab's database differs from drizzle-kit's:\n" + "\n".join(steps)
    for attr in ("schemas", "types", "tables"):
        assert getattr(model_a, attr) == getattr(model_b, attr), attr
    second = run(home, "push", "--url", b)
    assert second.returncode == 0 and "Nothing to do" in second.stdout, \
        second.stdout + second.stderr
    return model_b


def table_names(model: Model) -> set[str]:
    return {t.name for t in model.tables.values()}


# --------------------------------------------------------------------------------------
# Projects compared with drizzle-kit

COLUMNS = PG + """
export const timestamps = {
  createdAt: timestamp("created_at").defaultNow().notNull(),
  updatedAt: timestamp("updated_at"),
};
export const id = () => uuid("id").primaryKey().defaultRandom();
export function name(length: number) {
  return varchar("name", { length }).notNull();
}
"""
CONSTS = """
export const NAME_LENGTH = 120;
export const ROLES = ["admin", "member"] as const;
export const LIMITS = { page: 25, prefix: "app" } as const;
export enum Status {
  Active = "active",
  Archived = "archived",
}
"""


def test_barrels_helpers_and_files_outside_the_glob(kit_root: Path,
                                                    fresh_db: Callable[[], str]) -> None:
    files = {
        # the schema is an index of re-exports, every form of them
        "src/db/schema/index.ts": (
            'export * from "./users";\n'
            'export { posts } from "../posts";\n'
            'export { comments as postComments } from "../comments.ts";\n'
            'import { tags } from "./tags";\n'
            'export { tags };\n'
            'export * from "./enums";\n'
        ),
        "src/db/schema/users.ts": PG + (
            'import { timestamps, id, name } from "../../lib/columns";\n'
            'import { roleEnum, statusEnum } from "./enums";\n'
            'import { NAME_LENGTH, LIMITS } from "../../lib";\n'
            'import { createId } from "@paralleldrive/cuid2";\n'
            'import { posts } from "../posts";\n'  # a cycle: posts imports users
            'export const users = pgTable("users", {\n'
            '  id: id(),\n'
            '  name: name(NAME_LENGTH),\n'
            '  handle: varchar("handle", { length: NAME_LENGTH }).$defaultFn(() => createId()),\n'
            '  role: roleEnum("role").default("member"),\n'
            '  status: statusEnum("status").notNull(),\n'
            '  pageSize: integer("page_size").default(LIMITS.page),\n'
            '  label: text("label").default(`${LIMITS.prefix}-user`),\n'
            '  pageText: text("page_text").default(LIMITS.page.toString()),\n'
            '  ...timestamps,\n'
            '});\n'
            'export const firstPost = () => posts.id;\n'
        ),
        "src/db/schema/enums.ts": (
            'import { pgEnum } from "drizzle-orm/pg-core";\n'
            'import { ROLES, Status } from "../../lib/consts";\n'
            'export const roleEnum = pgEnum("role", ROLES);\n'
            'export const statusEnum = pgEnum("status", Object.values(Status) as '
            '[string, ...string[]]);\n'
        ),
        "src/db/schema/tags.ts": (
            'import { createTable } from "../table";\n'
            'import { text, serial } from "drizzle-orm/pg-core";\n'
            'export const tags = createTable("tags", { id: serial("id").primaryKey(), '
            'label: text("label") });\n'
        ),
        "src/db/table.ts": (
            'import { pgTableCreator } from "drizzle-orm/pg-core";\n'
            'import { LIMITS } from "../lib/consts";\n'
            'export const createTable = pgTableCreator((name) => `${LIMITS.prefix}_${name}`);\n'
        ),
        "src/db/posts.ts": PG + (
            'import { users } from "./schema/users";\n'
            'import { timestamps } from "../lib/columns";\n'
            'export const posts = pgTable("posts", {\n'
            '  id: serial("id").primaryKey(),\n'
            '  authorId: uuid("author_id").notNull().references(() => users.id),\n'
            '  ...timestamps,\n'
            '}, (t) => [index("posts_author_idx").on(t.authorId)]);\n'
            # not re-exported by the schema: drizzle-kit does not see it
            'export const drafts = pgTable("drafts", { id: serial("id").primaryKey() });\n'
        ),
        "src/db/comments.ts": PG + (
            'import { posts } from "./posts";\n'
            'export const comments = pgTable("comments", {\n'
            '  id: serial("id").primaryKey(),\n'
            '  postId: integer("post_id").references(() => posts.id, '
            '{ onDelete: "cascade" }),\n'
            '});\n'
        ),
        "src/lib/columns.ts": COLUMNS,
        "src/lib/consts.ts": CONSTS,
        "src/lib/index.ts": 'export * from "./consts";\n',
        # an npm package installed from the registry (only its $defaultFn uses it)
        "node_modules/@paralleldrive/cuid2/package.json":
            '{"name": "@paralleldrive/cuid2", "main": "index.js"}\n',
        "node_modules/@paralleldrive/cuid2/index.js":
            "exports.createId = () => Math.random().toString(36).slice(2);\n",
    }
    home = write_project(kit_root, files, "./src/db/schema/index.ts")
    model = same_as_drizzle_kit(home, fresh_db)
    assert table_names(model) == {"users", "posts", "comments", "app_tags"}


def test_tsconfig_paths_base_url_and_extends(kit_root: Path,
                                             fresh_db: Callable[[], str]) -> None:
    files = {
        "tsconfig.base.json": (
            "{\n  // shared options\n  \"compilerOptions\": {\n"
            "    \"baseUrl\": \".\", /* the root */\n"
            "    \"paths\": { \"@/*\": [\"./src/*\"], \"~db\": [\"./src/db/schema/index.ts\"], },\n"
            "  },\n}\n"),
        "tsconfig.json": '{ "extends": "./tsconfig.base", "compilerOptions": '
                         '{ "strict": true } }\n',
        "src/db/schema/index.ts": 'export * from "@/db/schema/users";\n'
                                  'export { posts } from "src/db/posts";\n',
        "src/db/schema/users.ts": PG + (
            'import { timestamps, id } from "@/lib/columns";\n'
            'export const users = pgTable("users", { id: id(), ...timestamps });\n'),
        "src/db/posts.ts": PG + (
            'import { users } from "~db";\n'
            'export const posts = pgTable("posts", { id: serial("id").primaryKey(), '
            'author: uuid("author").references(() => users.id) });\n'),
        "src/lib/columns.ts": COLUMNS,
    }
    home = write_project(kit_root, files, "./src/db/schema/index.ts")
    model = same_as_drizzle_kit(home, fresh_db)
    assert table_names(model) == {"users", "posts"}


WORKSPACE = {
    "package.json": '{"name": "acme", "private": true, "workspaces": ["packages/*", "apps/*"]}',
    "packages/db/package.json": '{"name": "@acme/db", "exports": {".": "./src/index.ts", '
                                '"./schema": {"types": "./src/schema/index.ts", '
                                '"default": "./src/schema/index.ts"}}}',
    "packages/db/src/index.ts": 'export * from "./columns";\n',
    "packages/db/src/columns.ts": COLUMNS,
    "packages/db/src/schema/index.ts": PG + (
        'import { timestamps } from "../columns";\n'
        'export const accounts = pgTable("accounts", { id: serial("id").primaryKey(), '
        '...timestamps });\n'),
    "apps/web/package.json": '{"name": "web"}',
    "apps/web/src/schema.ts": PG + (
        'import { id } from "@acme/db";\n'
        'export * from "@acme/db/schema";\n'
        'export const sessions = pgTable("sessions", { id: id() });\n'),
}


def test_workspace_package_linked_in_node_modules(kit_root: Path,
                                                  fresh_db: Callable[[], str]) -> None:
    files = {**WORKSPACE, "apps/web/node_modules/@acme/db": "-> ../../../../packages/db"}
    home = write_project(kit_root, files, "./src/schema.ts", at="apps/web")
    model = same_as_drizzle_kit(home, fresh_db)
    assert table_names(model) == {"accounts", "sessions"}


def test_workspace_package_of_a_clone_not_installed(tmp_path: Path) -> None:
    """No node_modules yet: the workspace's package.json says where @acme/db is."""
    home = write_project(tmp_path, WORKSPACE, "./src/schema.ts", at="apps/web")
    r = run(home, "export")
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.accounts" in r.stdout
    assert "CREATE TABLE public.sessions" in r.stdout


# --------------------------------------------------------------------------------------
# What cannot be resolved: an error naming it, never a silent skip


@pytest.mark.parametrize(("index", "line", "spec"), [
    ('export * from "./users";\nexport * from "./billing";\n', 2, "./billing"),
    ('export * from "./users";\nexport { invoices } from "@/billing";\n', 2, "@/billing"),
    ('import { invoices } from "@acme/billing";\nexport * from "./users";\n'
     'export { invoices };\n', 1, "@acme/billing"),
])
def test_an_unresolved_import_that_could_hold_tables_is_an_error(
        tmp_path: Path, index: str, line: int, spec: str) -> None:
    files = {"src/schema/index.ts": index,
             "src/schema/users.ts": PG + 'export const users = pgTable("users", '
                                         '{ id: serial("id").primaryKey() });\n'}
    home = write_project(tmp_path, files, "./src/schema/index.ts")
    for command in ("export", "generate"):
        r = run(home, command)
        assert r.returncode != 0, r.stdout
        assert f"index.ts:{line}" in r.stderr and spec in r.stderr, r.stderr
    assert not (home / "drizzle").exists()


def test_an_npm_package_not_installed_is_fine_in_runtime_only_parts(tmp_path: Path) -> None:
    files = {"schema.ts": PG + (
        'import { createId } from "@paralleldrive/cuid2";\n'
        'import { nanoid } from "nanoid";\n'
        'export const users = pgTable("users", {\n'
        '  id: text("id").primaryKey().$defaultFn(() => createId()),\n'
        '  slug: text("slug").$onUpdate(() => nanoid()),\n'
        '});\n')}
    home = write_project(tmp_path, files, "./schema.ts")
    r = run(home, "export")
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.users" in r.stdout


def test_an_npm_value_where_it_reaches_the_database_is_an_error(tmp_path: Path) -> None:
    files = {"schema.ts": PG + (
        'import { createId } from "@paralleldrive/cuid2";\n'
        'export const users = pgTable("users", {\n'
        '  id: text("id").primaryKey().default(createId()),\n'
        '});\n')}
    home = write_project(tmp_path, files, "./schema.ts")
    r = run(home, "export")
    assert r.returncode != 0
    assert "schema.ts:" in r.stderr and "@paralleldrive/cuid2" in r.stderr, r.stderr


def test_editor_buffers_of_imported_files_are_read(tmp_path: Path) -> None:
    """read_drizzle with texts and a reader: an import resolves through the reader."""
    texts = {str(tmp_path / "schema.ts"): 'export * from "./users";\n'}
    users = PG + 'export const users = pgTable("users", { id: serial("id").primaryKey() });\n'
    ds = read_drizzle(texts, read=lambda name: users if name == str(tmp_path / "users.ts")
                      else None)
    assert not ds.errors and "CREATE TABLE" in ds.sql
    lost = read_drizzle(texts)  # no reader: the import cannot be followed, and says so
    assert [i.message for i in lost.errors if "./users" in i.message]


# --------------------------------------------------------------------------------------
# The reader's warnings reach the user whatever the command finds to do


def test_warnings_are_printed_by_every_command(tmp_path: Path, db_url: str) -> None:
    files = {"schema/index.ts": PG + 'export * from "./users";\n'
                                     'const drafts = pgTable("drafts", { id: serial("id") });\n',
             "schema/users.ts": PG + (
                 'export const users = pgTable("users", { id: serial("id").primaryKey() });\n')}
    home = write_project(tmp_path, files, "./schema/index.ts")
    warning = "`drafts` is not exported"

    def said(r: subprocess.CompletedProcess) -> str:
        assert r.returncode == 0, r.stdout + r.stderr
        assert warning in r.stdout + r.stderr, r.stdout + r.stderr
        return r.stdout

    said(run(home, "push", "--url", db_url))
    assert "Nothing to do" in said(run(home, "push", "--url", db_url))
    said(run(home, "generate", "--url", db_url))
    assert "Nothing to generate" in said(run(home, "generate", "--url", db_url))
    assert "CREATE TABLE public.users" in said(run(home, "export"))


def test_a_table_not_exported_is_a_warning_in_imported_and_re_exported_files_too(
        tmp_path: Path) -> None:
    """drizzle-kit sees only the exports of the schema files, with what they re-export: a
    table no file exports is ignored wherever it is declared, and said so everywhere."""
    schema, users, helpers = (str(tmp_path / n) for n in ("schema.ts", "users.ts", "helpers.ts"))
    texts = {schema: PG + 'import { stamp } from "./helpers";\nexport * from "./users";\n'
                          'const scratch = pgTable("scratch", { id: serial("id") });\n'
                          'export const posts = pgTable("posts", { id: serial("id"), '
                          'note: text("note").default(stamp) });\n'}
    disk = {users: PG + 'export const users = pgTable("users", { id: serial("id") });\n'
                        'const drafts = pgTable("drafts", { id: serial("id") });\n',
            helpers: PG + 'export const stamp = "x";\n'
                          'const audit = pgTable("audit", { id: serial("id") });\n'
                          'export const published = pgTable("published", { id: serial("id") });\n'}
    ds = read_drizzle(texts, read=disk.get)
    assert not ds.errors, [i.message for i in ds.errors]
    said = sorted((i.span.file, i.span.line, i.message.split(":")[0]) for i in ds.issues
                  if "is not exported" in i.message)
    assert said == sorted([(schema, 4, "`scratch` is not exported"),
                           (users, 3, "`drafts` is not exported"),
                           (helpers, 3, "`audit` is not exported")]), said
    assert '"public"."users"' in ds.sql and '"public"."posts"' in ds.sql
    for ignored in ("scratch", "drafts", "audit", "published"):
        assert f'"{ignored}"' not in ds.sql

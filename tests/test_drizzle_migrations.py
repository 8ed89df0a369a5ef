"""trimtab migrate and drizzle's migrator on one database: each sees what the other applied.

drizzle-orm's migrator (what `drizzle-kit migrate` runs) records each migration it applies in
`drizzle.__drizzle_migrations` as (sha256 of the file, the journal's `when`) and applies only
the entries whose `when` is above the newest `created_at` there. trimtab reads that table
(by hash) and, in a Drizzle project, writes it the same way. The tests run the real
drizzle-kit 0.31.11 / drizzle-orm 0.45.4 / pg 8.23.1 (installed by tests/drizzle_kit.py) on
the test server; they skip only when node or npm is missing. The first tests need no node.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests import drizzle_kit
from tests.conftest import PgServer, with_database
from tests.test_cli_push import run
from trimtab.errors import DatabaseError
from trimtab.migrations.folder import check, read_folder, write_migration
from trimtab.migrations.runner import migrate
from trimtab.migrations.tracking import DrizzleTable, forget
from trimtab.plan import build_plan
from trimtab.sources.introspect import introspect

NODE_TIMEOUT = 120
needs_node = pytest.mark.skipif(drizzle_kit.missing_tool() is not None,
                                reason=drizzle_kit.missing_tool() or "")


# --------------------------------------------------------------------------------------
# Helpers


def drizzle_rows(url: str, table: str = "drizzle.__drizzle_migrations"
                 ) -> list[tuple[str, int]] | None:
    """(hash, created_at) of drizzle's table in id order; None when there is no table."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            return None
        rows = conn.execute(f"SELECT hash, created_at FROM {table} ORDER BY id").fetchall()
    return [(h, int(c)) for h, c in rows]


def expected_rows(folder: Path, names: list[str] | None = None) -> list[tuple[str, int]]:
    """What drizzle-orm's migrator records for the folder's migrations (or those named):
    sha256 of the file's text and the journal's `when`, computed here independently."""
    journal = json.loads((folder / "meta" / "_journal.json").read_text())
    return [(hashlib.sha256((folder / f"{e['tag']}.sql").read_bytes()).hexdigest(), e["when"])
            for e in journal["entries"] if names is None or e["tag"] in names]


def tags(folder: Path) -> list[str]:
    return [e["tag"] for e in json.loads((folder / "meta" / "_journal.json").read_text())
            ["entries"]]


def trimtab_applied(url: str) -> list[tuple[str, bool]]:
    """trimtab's applied rows: (name, whether copied from drizzle's history)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [(n, b == "drizzle-kit") for n, b in conn.execute(
            "SELECT name, applied_by FROM trimtab.migrations WHERE finished_at IS NOT NULL "
            "ORDER BY id").fetchall()]


RECORD = 'insert into "drizzle"."__drizzle_migrations"'  # drizzle's logged insert


def query(url: str, text: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(text).fetchall()  # type: ignore[arg-type]


def execute(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)  # type: ignore[arg-type]


@pytest.fixture
def fresh_db(pg_server: PgServer) -> Iterator[Callable[[], str]]:
    """make() -> the URL of another new empty database (all dropped afterwards)."""
    made: list[str] = []

    def make() -> str:
        name = f"z_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_server.template}"')
        made.append(name)
        return with_database(pg_server.admin_url, name)

    yield make
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_MIGRATE_JS = """\
const { Pool } = require("pg");
const { drizzle } = require("drizzle-orm/node-postgres");
const { migrate } = require("drizzle-orm/node-postgres/migrator");
const [credentials, options] = JSON.parse(process.argv[2]);
const pool = new Pool(credentials);
// logger: every query on stdout ("Query: ..."), to see what ran
migrate(drizzle(pool, { logger: true }), options)
  .then(() => pool.end())
  .catch(async (e) => { console.error(e); await pool.end(); process.exit(1); });
"""


@dataclass
class Project:
    """A Drizzle project under drizzle-kit's install folder (so that `drizzle-orm` imports
    resolve), with drizzle.config.ts pointing at the test database, migrations in
    `drizzle/`."""

    root: Path
    url: str

    @property
    def folder(self) -> Path:
        return self.root / "drizzle"

    def schema(self, body: str) -> None:
        (self.root / "src" / "schema.ts").write_text(
            'import { pgTable, serial, integer, text, boolean, index } '
            'from "drizzle-orm/pg-core";\n\n' + body)

    def node(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["node", *args], cwd=self.root, capture_output=True, text=True,
                              timeout=NODE_TIMEOUT, stdin=subprocess.DEVNULL,
                              env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"})

    def kit(self, *args: str) -> str:
        """drizzle-kit <args>; its output. It exits 0 on some failures (a migration that
        fails exits 1 without a word): the callers check the database too."""
        r = self.node(str(self.root.parent.parent / "node_modules" / "drizzle-kit" / "bin.cjs"),
                      *args)
        assert r.returncode == 0, f"drizzle-kit {' '.join(args)}: {r.returncode}\n" \
                                  f"{r.stdout}\n{r.stderr}"
        return r.stdout + r.stderr

    def orm_migrate(self, **options: str) -> subprocess.CompletedProcess:
        """drizzle-orm's own `migrate(db, {migrationsFolder, ...options})`."""
        script = self.root / "migrate.cjs"
        script.write_text(_MIGRATE_JS)
        arg = json.dumps([drizzle_kit.credentials(self.url),
                          {"migrationsFolder": str(self.folder), **options}])
        return self.node(str(script), arg)

    def trimtab(self, *args: str) -> subprocess.CompletedProcess:
        r = run(self.root, *args, *(() if args[0] == "check" else ("--url", self.url)))
        assert r.returncode == 0, f"trimtab {' '.join(args)}: {r.stdout}\n{r.stderr}"
        return r


@pytest.fixture
def project(db_url: str) -> Iterator[Project]:
    if drizzle_kit.missing_tool():
        pytest.skip(drizzle_kit.missing_tool() or "")
    root = drizzle_kit.ensure_drizzle_kit() / "work" / uuid.uuid4().hex
    (root / "src").mkdir(parents=True)
    config = {"dialect": "postgresql", "schema": "./src/schema.ts", "out": "./drizzle",
              "dbCredentials": drizzle_kit.credentials(db_url)}
    (root / "drizzle.config.ts").write_text(
        "export default " + json.dumps(config, indent=2) + ";\n")
    try:
        yield Project(root, db_url)
    finally:
        shutil.rmtree(root, ignore_errors=True)


USERS = """export const users = pgTable("users", {
  id: serial("id").primaryKey(),
  email: text("email").notNull(),
});
"""
POSTS = """export const posts = pgTable("posts", {
  id: serial("id").primaryKey(),
  authorId: integer("author_id").notNull().references(() => users.id),
  title: text("title").notNull(),
}, (t) => [index("posts_author_idx").on(t.authorId)]);
"""


# --------------------------------------------------------------------------------------
# The rule: when trimtab writes drizzle's table (no node needed)


def test_a_trimtab_project_gets_no_drizzle_table(tmp_path: Path, db_url: str) -> None:
    folder = tmp_path / "migrations"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    result = migrate(db_url, read_folder(folder))
    assert [r.status for r in result.runs] == ["applied"]
    assert result.drizzle_table is None
    assert query(db_url, "SELECT to_regnamespace('drizzle')") == [(None,)]


def test_an_existing_drizzle_table_gets_a_row_per_migration(tmp_path: Path, db_url: str) -> None:
    # drizzle's table in the database is enough (no drizzle config, a trimtab folder).
    execute(db_url, "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations "
                    "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint)")
    folder = tmp_path / "migrations"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    write_migration(folder, "b", ["CREATE TABLE b (id int)", "-- été\nSELECT 1"], None)
    write_migration(folder, "c", ["CREATE INDEX CONCURRENTLY b_id ON b (id)"], None,
                    transactional=False)
    result = migrate(db_url, read_folder(folder))
    assert result.drizzle_table == "drizzle.__drizzle_migrations"
    assert drizzle_rows(db_url) == expected_rows(folder)
    assert migrate(db_url, read_folder(folder)).runs == ()
    assert drizzle_rows(db_url) == expected_rows(folder)  # nothing twice


def test_a_failed_migration_leaves_no_drizzle_row(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "drizzle.config.ts").write_text("export default {};\n")
    folder = tmp_path / "drizzle"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    write_migration(folder, "b", ["CREATE TABLE b (id int)", "SELECT 1/0"], None)
    with pytest.raises(Exception, match="division by zero"):
        migrate(db_url, read_folder(folder))
    assert drizzle_rows(db_url) == expected_rows(folder, ["0000_a"])


def test_a_drizzle_row_that_cannot_be_written_rolls_the_migration_back(
        tmp_path: Path, db_url: str) -> None:
    execute(db_url, "CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations "
                    "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);"
                    "CREATE FUNCTION drizzle.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$BEGIN RAISE EXCEPTION 'read only'; END$$;"
                    "CREATE TRIGGER refuse BEFORE INSERT ON drizzle.__drizzle_migrations "
                    "FOR EACH ROW EXECUTE FUNCTION drizzle.refuse()")
    folder = tmp_path / "migrations"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    with pytest.raises(DatabaseError, match=r"cannot write drizzle's migrations table "
                       r"drizzle.__drizzle_migrations \(read only\); migration 0000_a was "
                       "rolled back"):
        migrate(db_url, read_folder(folder))
    assert query(db_url, "SELECT to_regclass('a')") == [(None,)]
    assert query(db_url, "SELECT count(*) FROM trimtab.migrations "
                         "WHERE finished_at IS NOT NULL") == [(0,)]


def test_applied_before_the_drizzle_table_was_kept_is_recorded_there(
        tmp_path: Path, db_url: str) -> None:
    # A trimtab project that becomes a Drizzle project: the next migrate (even with nothing
    # to apply) records the applied migrations, else drizzle's migrator would run them again.
    folder = tmp_path / "migrations"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    write_migration(folder, "b", ["CREATE TABLE b (id int)"], None)
    migrate(db_url, read_folder(folder))
    assert drizzle_rows(db_url) is None
    (tmp_path / "drizzle.config.ts").write_text("export default {};\n")
    config = tmp_path / "drizzle.config.ts"
    assert read_folder(folder).drizzle_reason() == f"its project has {config}"
    result = migrate(db_url, read_folder(folder))
    assert result.runs == () and result.drizzle_backfilled == ("0000_a", "0001_b")
    assert drizzle_rows(db_url) == expected_rows(folder)
    assert migrate(db_url, read_folder(folder)).drizzle_backfilled == ()


def test_mark_applied_records_in_drizzle_table(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "drizzle.config.ts").write_text("export default {};\n")
    folder = tmp_path / "drizzle"
    first = write_migration(folder, "by hand", ["CREATE TABLE by_hand (id int)"], None)
    write_migration(folder, "next", ["CREATE TABLE next_one (id int)"], None)
    marked = migrate(db_url, read_folder(folder), mark_applied=first.name)
    assert [r.status for r in marked.runs] == ["marked"]
    assert marked.drizzle_table == "drizzle.__drizzle_migrations"
    assert drizzle_rows(db_url) == expected_rows(folder, [first.name])
    migrate(db_url, read_folder(folder))
    assert drizzle_rows(db_url) == expected_rows(folder)


def test_forget_drops_both_histories(tmp_path: Path, db_url: str) -> None:
    # What a reset that rebuilds the database needs: drizzle's rows left behind would
    # count as applied, and the rebuild would apply nothing.
    (tmp_path / "drizzle.config.ts").write_text("export default {};\n")
    folder = tmp_path / "drizzle"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None)
    migrate(db_url, read_folder(folder))
    execute(db_url, "DROP TABLE a")
    with psycopg.connect(db_url, autocommit=True) as conn:
        forget(conn)
    assert drizzle_rows(db_url) is None
    assert [r.status for r in migrate(db_url, read_folder(folder)).runs] == ["applied"]


def test_journal_when_must_increase_in_a_drizzle_project(tmp_path: Path) -> None:
    folder = tmp_path / "drizzle"
    write_migration(folder, "a", ["CREATE TABLE a (id int)"], None, when=2000)
    write_migration(folder, "b", ["CREATE TABLE b (id int)"], None, when=1000)
    assert check(folder) == []  # trimtab matches by name: the order of `when` is not its problem
    (tmp_path / "drizzle.config.ts").write_text("export default {};\n")
    problems = check(folder)
    assert [p.message for p in problems] == [
        "journal entry 0001_b has \"when\" 1000, not after 0000_a's (2000): drizzle-kit "
        "migrate and drizzle-orm's migrator never apply it to a database that has 0000_a"]
    assert problems[0].line is not None and 'set its "when" to 2001' in (problems[0].hint or "")
    # generate keeps it increasing, whatever the clock says
    write_migration(folder, "c", ["CREATE TABLE c (id int)"], None)
    whens = [m.when for m in read_folder(folder).migrations]
    assert whens[2] > max(whens[:2])


# --------------------------------------------------------------------------------------
# With the real drizzle-kit and drizzle-orm


@needs_node
def test_drizzle_kit_then_trimtab(project: Project) -> None:
    """drizzle-kit migrate applies 0000-0001; trimtab migrate applies only 0002-0003, and
    drizzle's table then holds all four, as drizzle would have written them."""
    project.schema(USERS)
    project.kit("generate", "--name", "users")
    project.schema(USERS + POSTS)
    project.kit("generate", "--name", "posts")
    project.kit("migrate")
    assert drizzle_rows(project.url) == expected_rows(project.folder)
    # trimtab's checksum is drizzle's hash
    assert [m.checksum for m in read_folder(project.folder).migrations] == [
        h for h, _ in drizzle_rows(project.url) or []]

    project.schema(USERS.replace('.notNull(),\n});', '.notNull(),\n  bio: text("bio"),\n});')
                   + POSTS)
    project.kit("generate", "--name", "bio")
    project.kit("generate", "--custom", "--name", "seed")
    seed = next(project.folder.glob("0003_*.sql"))
    seed.write_text(seed.read_text() + "-- données de départ\n"
                    "INSERT INTO users (email) VALUES ('ada@example.com');\n")

    r = project.trimtab("migrate")
    assert "0002_bio" in r.stdout and "0003_seed" in r.stdout and "0000_users" not in r.stdout
    assert trimtab_applied(project.url) == [
        ("0000_users", True), ("0001_posts", True), ("0002_bio", False), ("0003_seed", False)]
    assert drizzle_rows(project.url) == expected_rows(project.folder)
    assert query(project.url, "SELECT count(*) FROM users") == [(1,)]

    # drizzle-kit agrees: nothing left to apply (a rerun of 0002 would fail on the column)
    project.kit("migrate")
    assert drizzle_rows(project.url) == expected_rows(project.folder)
    assert query(project.url, "SELECT count(*) FROM users") == [(1,)]


@needs_node
def test_trimtab_then_drizzle_orm(project: Project) -> None:
    """trimtab migrate applies 0000-0001 of a folder drizzle-kit wrote; drizzle-orm's
    migrator then applies only 0002-0003 (re-running 0000 would fail: CREATE TABLE)."""
    project.schema(USERS)
    project.kit("generate", "--name", "users")
    project.kit("generate", "--custom", "--name", "seed")
    seed = next(project.folder.glob("0001_*.sql"))
    seed.write_text("INSERT INTO users (email) VALUES ('grace@example.com');\n")
    project.trimtab("migrate")
    assert drizzle_rows(project.url) == expected_rows(project.folder)

    project.schema(USERS + POSTS)
    project.kit("generate", "--name", "posts")
    project.kit("generate", "--custom", "--name", "more")
    more = next(project.folder.glob("0003_*.sql"))
    more.write_text("INSERT INTO users (email) VALUES ('alan@example.com');\n")
    r = project.orm_migrate()
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'CREATE TABLE "posts"' in r.stdout and 'CREATE TABLE "users"' not in r.stdout
    assert query(project.url, "SELECT email FROM users ORDER BY id") == [
        ("grace@example.com",), ("alan@example.com",)]
    assert drizzle_rows(project.url) == expected_rows(project.folder)

    # and trimtab agrees in turn: 0002-0003 are drizzle's now
    assert "Up to date" in project.trimtab("migrate").stdout
    assert [b for _, b in trimtab_applied(project.url)] == [False, False, True, True]
    again = project.orm_migrate()
    assert again.returncode == 0 and RECORD not in again.stdout
    assert query(project.url, "SELECT count(*) FROM users") == [(2,)]


@needs_node
def test_custom_migrations_table(project: Project) -> None:
    """drizzle's `migrationsSchema` / `migrationsTable` options (drizzle.config.ts
    `migrations: {schema, table}`): trimtab reads and writes the table it is given."""
    where = DrizzleTable("ops", "applied_migrations")
    project.schema(USERS)
    project.kit("generate", "--name", "users")
    r = project.orm_migrate(migrationsSchema=where.schema, migrationsTable=where.table)
    assert r.returncode == 0, r.stderr
    project.schema(USERS + POSTS)
    project.kit("generate", "--name", "posts")
    result = migrate(project.url, read_folder(project.folder), drizzle_table=where)
    assert [(x.name, x.status) for x in result.runs] == [("0001_posts", "applied")]
    assert result.drizzle_table == "ops.applied_migrations"
    assert drizzle_rows(project.url, str(where)) == expected_rows(project.folder)
    assert drizzle_rows(project.url) is None  # the default table is not made
    again = project.orm_migrate(migrationsSchema=where.schema, migrationsTable=where.table)
    assert again.returncode == 0 and 'CREATE TABLE "' not in again.stdout


@needs_node
def test_custom_migrations_table_from_drizzle_config(project: Project) -> None:
    """`migrations: {schema, table}` in drizzle.config.ts: trimtab's CLI records there,
    as drizzle-kit does, and never plans the table itself as a change to the schema."""
    config = project.root / "drizzle.config.ts"
    config.write_text(config.read_text().replace(
        '"dialect"', '"migrations": {"schema": "ops", "table": "applied_migrations"},\n'
        '  "dialect"', 1))
    project.schema(USERS)
    project.kit("generate", "--name", "users")
    project.kit("migrate")
    assert drizzle_rows(project.url, "ops.applied_migrations") == expected_rows(project.folder)
    project.schema(USERS + POSTS)
    project.trimtab("generate", "--name", "posts")
    project.trimtab("migrate")
    assert drizzle_rows(project.url, "ops.applied_migrations") == expected_rows(project.folder)
    assert drizzle_rows(project.url) is None  # nothing in drizzle's default table
    assert [b for _, b in trimtab_applied(project.url)] == [True, False]
    plan = json.loads(project.trimtab("push", "--dry-run", "--json").stdout)
    assert plan["changes"] == [], plan  # ops.applied_migrations is bookkeeping, not schema
    status = json.loads(project.trimtab("status", "--json").stdout)
    assert status["applied"] == ["0000_users", "0001_posts"] and status["pending"] == []
    assert status["drift"] == [] and status["problems"] == [], status
    project.kit("migrate")  # drizzle-kit finds nothing to apply either
    assert query(project.url, "SELECT count(*) FROM ops.applied_migrations") == [(2,)]


@pytest.mark.parametrize("schema_filter", ['"public"', '["public", "app"]'])
def test_schema_filter_keeps_other_schemas_out_of_the_plan(tmp_path: Path, db_url: str,
                                                          schema_filter: str) -> None:
    """drizzle-kit push manages the schemaFilter's schemas only: so does trimtab, and a
    table of another tool's schema (Supabase's auth.users, say) is no table to drop."""
    execute(db_url, "CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY);"
                    "INSERT INTO auth.users VALUES (1)")
    (tmp_path / "schema.ts").write_text(
        'import { pgTable, serial, integer, text } from "drizzle-orm/pg-core";\n' + USERS)
    (tmp_path / "drizzle.config.ts").write_text(
        'export default {\n  dialect: "postgresql",\n  schema: "./schema.ts",\n'
        f'  schemaFilter: {schema_filter},\n}};\n')
    r = run(tmp_path, "push", "--json", "--url", db_url)
    assert r.returncode == 0, r.stderr
    targets = [c["target"] for c in json.loads(r.stdout)["changes"]]
    assert ["table", "public", "users"] in targets
    assert not [t for t in targets if "auth" in t[1:2]], targets
    assert query(db_url, "SELECT count(*) FROM auth.users") == [(1,)]


def test_an_unreadable_migrations_table_in_drizzle_config_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(USERS)
    (tmp_path / "drizzle.config.ts").write_text(
        'const t = process.env.TABLE;\nexport default {\n  dialect: "postgresql",\n'
        '  schema: "./schema.ts",\n  migrations: { table: t },\n};\n')
    r = run(tmp_path, "status")
    assert r.returncode == 1
    assert "drizzle.config.ts" in r.stderr and "migrations.table" in r.stderr


@needs_node
def test_a_folder_trimtab_generates_is_what_drizzle_kit_migrate_applies(
        project: Project, fresh_db: Callable[[], str]) -> None:
    """A trimtab.toml project (schema.sql, migrations in drizzle-kit's layout): drizzle-kit
    migrate applies trimtab's folder from empty, to the schema trimtab migrate gives."""
    (project.root / "trimtab.toml").write_text('schema = "schema.sql"\nmigrations = "drizzle"\n')
    schema = project.root / "schema.sql"
    users = ("CREATE TYPE mood AS ENUM ('ok', 'meh');\n"
             "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
             "  email text NOT NULL UNIQUE, mood mood DEFAULT 'ok');\n")
    posts = ("CREATE TABLE posts (id serial PRIMARY KEY, user_id bigint NOT NULL REFERENCES "
             "users,\n  body text, CONSTRAINT body_len CHECK (length(body) < 1000));\n"
             "CREATE INDEX posts_user ON posts (user_id);\n"
             "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
             "BEGIN NEW.body := coalesce(NEW.body, ''); RETURN NEW; END; $$;\n"
             "CREATE TRIGGER posts_touch BEFORE INSERT ON posts FOR EACH ROW "
             "EXECUTE FUNCTION touch();\n")
    more = ("CREATE VIEW active AS SELECT id, email FROM users WHERE mood <> 'meh';\n"
            "COMMENT ON TABLE users IS 'people';\n")
    for text in (users, users + posts,
                 users.replace("'meh')", "'meh', 'great')") + posts + more):
        schema.write_text(text)
        project.trimtab("generate")
    project.trimtab("generate", "--custom", "--name", "seed")
    seed = next(project.folder.glob("0003_seed.sql"))
    seed.write_text(seed.read_text() + "INSERT INTO users (email) VALUES ('ada@example.com');\n")
    project.trimtab("check", "--update-sum")
    assert len(tags(project.folder)) == 4
    # trimtab's down files are in the folder too (drizzle-kit reads the journal only).
    assert len(list((project.folder / "down").glob("*.down.sql"))) == 3
    journal = json.loads((project.folder / "meta" / "_journal.json").read_text())
    assert [(e["idx"], e["version"], e["breakpoints"]) for e in journal["entries"]] == [
        (i, "7", True) for i in range(4)]
    whens = [e["when"] for e in journal["entries"]]
    assert whens == sorted(set(whens))  # strictly increasing

    # database A: drizzle-kit migrate from empty
    project.kit("migrate")
    assert drizzle_rows(project.url) == expected_rows(project.folder)
    assert "Up to date" in project.trimtab("migrate").stdout  # trimtab sees drizzle's rows
    # database B: trimtab migrate from empty
    b = fresh_db()
    r = run(project.root, "migrate", "--url", b)
    assert r.returncode == 0, r.stderr
    assert drizzle_rows(b) == expected_rows(project.folder)  # drizzle.config.ts is next to it

    with psycopg.connect(project.url) as ca, psycopg.connect(b) as cb:
        model_a, model_b = introspect(ca), introspect(cb)
    assert not build_plan(model_a, model_b).steps
    assert model_a.tables == model_b.tables and model_a.types == model_b.types
    assert query(b, "SELECT email FROM users") == [("ada@example.com",)]
    # and drizzle-kit, pointed at database B, applies nothing
    (project.root / "drizzle.config.ts").write_text((project.root / "drizzle.config.ts")
                                                    .read_text().replace(
        json.dumps(drizzle_kit.credentials(project.url)["database"]),
        json.dumps(drizzle_kit.credentials(b)["database"])))
    project.kit("migrate")
    assert query(b, "SELECT count(*) FROM users") == [(1,)]
    assert drizzle_rows(b) == expected_rows(project.folder)


@pytest.mark.slow  # drizzle-kit and trimtab, turn by turn
@needs_node
def test_trimtab_and_drizzle_take_turns(project: Project) -> None:
    """Generations of a Drizzle project (drizzle-kit writes the first two, trimtab the
    rest), applied in turn by drizzle-kit migrate, trimtab migrate and drizzle-orm's
    migrator; after each, the other tools have nothing left to do."""
    folder = project.folder

    def all_agree(applied_by_trimtab: list[str]) -> None:
        rows = expected_rows(folder)
        assert drizzle_rows(project.url) == rows
        assert "Up to date" in project.trimtab("migrate").stdout
        status = json.loads(project.trimtab("status", "--json").stdout)
        assert status["pending"] == [] and status["problems"] == []
        assert [n for n, copied in trimtab_applied(project.url) if not copied] == \
            applied_by_trimtab
        project.kit("migrate")  # applies nothing: re-running any would fail
        r = project.orm_migrate()
        assert r.returncode == 0 and RECORD not in r.stdout, r.stdout + r.stderr
        assert drizzle_rows(project.url) == rows

    def users(*columns: str) -> str:
        return USERS.replace('.notNull(),\n});', ".notNull(),\n" + "".join(
            f"  {c},\n" for c in columns) + "});")

    # 1. drizzle-kit writes 0000, drizzle-kit migrate applies it
    project.schema(users())
    project.kit("generate", "--name", "users")
    project.kit("migrate")
    all_agree([])
    # 2. drizzle-kit writes 0001, trimtab migrate applies it
    project.schema(users() + POSTS)
    project.kit("generate", "--name", "posts")
    project.trimtab("migrate")
    all_agree(["0001_posts"])
    # 3. trimtab writes 0002 and a custom 0003, drizzle-kit migrate applies them
    project.schema(users('bio: text("bio")') + POSTS)
    assert "0002_add_users_bio" in project.trimtab("generate").stdout
    project.trimtab("generate", "--custom", "--name", "welcome")
    custom = folder / "0003_welcome.sql"
    custom.write_text(custom.read_text() + "-- bienvenue à bord\n"
                      "INSERT INTO users (email, bio) VALUES ('ada@example.com', 'née');\n")
    project.trimtab("check", "--update-sum")
    project.kit("migrate")
    all_agree(["0001_posts"])
    # 4. trimtab writes 0004, trimtab migrate applies it
    project.schema(users('bio: text("bio")', 'active: boolean("active").default(true)') + POSTS)
    project.trimtab("generate")
    project.trimtab("migrate")
    all_agree(["0001_posts", tags(folder)[4]])
    # 5. trimtab writes 0005 and 0006, drizzle-orm's migrator applies them
    project.schema(users('bio: text("bio")', 'active: boolean("active").default(true)')
                   + POSTS.replace('title: text("title").notNull(),',
                                   'title: text("title").notNull(),\n  views: integer("views"),'))
    project.trimtab("generate")
    project.trimtab("generate", "--custom", "--name", "count")
    count = folder / "0006_count.sql"
    count.write_text("INSERT INTO posts (author_id, title, views) "
                     "SELECT id, 'hello', 0 FROM users;\n")
    project.trimtab("check", "--update-sum")
    r = project.orm_migrate()
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(RECORD) == 2 and "views" in r.stdout
    all_agree(["0001_posts", tags(folder)[4]])

    assert len(tags(folder)) == 7
    assert query(project.url, "SELECT email, bio, active FROM users") == [
        ("ada@example.com", "née", True)]
    assert query(project.url, "SELECT title, views FROM posts") == [("hello", 0)]
    assert check(folder) == []

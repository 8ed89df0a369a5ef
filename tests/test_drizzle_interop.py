"""trimtab generate and drizzle-kit generate on one migrations folder, with the real pinned
drizzle-kit: each writes the correct next migration after the other's. trimtab writes
drizzle-kit's own snapshot (version 7) next to each migration of a Drizzle project and keeps
its own files in meta/_trimtab/, which drizzle-kit does not read."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests import drizzle_kit
from tests import test_drizzle_migrations as dm
from tests.test_cli_push import run
from tests.test_drizzle_migrations import POSTS, USERS, Project, tags
from trimtab.migrations.folder import check
from trimtab.plan import build_plan
from trimtab.sources.drizzle_snapshot import drizzle_snapshot, dump_drizzle_snapshot
from trimtab.sources.introspect import introspect

project = dm.project  # the fixtures: a Drizzle project under drizzle-kit's install folder
fresh_db = dm.fresh_db
FIXTURES = Path(__file__).parent.parent / "fixtures" / "drizzle"
MOOD = """export const notes = pgTable("notes", {
  id: serial("id").primaryKey(),
  userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
  body: text("body").default("x"),
  done: boolean("done").notNull().default(false),
});
"""


def sql_of(folder: Path, tag: str) -> str:
    return (folder / f"{tag}.sql").read_text()


def meta_names(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "meta").iterdir())


def twin(project: Project) -> Project:
    """A second project of the same config, for drizzle-kit alone."""
    root = project.root.parent / uuid.uuid4().hex
    (root / "src").mkdir(parents=True)
    shutil.copy(project.root / "drizzle.config.ts", root / "drizzle.config.ts")
    return Project(root, project.url)


def test_the_snapshot_is_drizzle_kits_and_deterministic() -> None:
    files = [str(FIXTURES / "sample" / "schema.ts")]
    one = dump_drizzle_snapshot(drizzle_snapshot(files, casing=None, id="a", prev_id="b"))
    two = dump_drizzle_snapshot(drizzle_snapshot(files, casing=None, id="a", prev_id="b"))
    assert one == two
    data = json.loads(one)
    assert (data["version"], data["dialect"]) == ("7", "postgresql")
    users = data["tables"]["public.users"]
    assert users["columns"]["role"] == {"name": "role", "type": "role", "typeSchema": "public",
                                        "primaryKey": False, "notNull": True,
                                        "default": "'viewer'"}
    assert data["tables"]["public.posts"]["columns"]["published"]["default"] is False
    assert users["uniqueConstraints"]["users_email_unique"]["columns"] == ["email"]
    assert users["checkConstraints"]["users_age_check"]["value"] == '"users"."age" >= 0'


def test_drizzle_kit_writes_the_same_snapshot_of_the_sample(project: Project) -> None:
    """drizzle-kit's own snapshot of the sample schema and trimtab's agree (ids aside)."""
    shutil.copy(FIXTURES / "sample" / "schema.ts", project.root / "src" / "schema.ts")
    project.kit("generate", "--name", "init")
    theirs = json.loads((project.folder / "meta" / "0000_snapshot.json").read_text())
    mine = drizzle_snapshot([str(project.root / "src" / "schema.ts")], casing=None,
                            id=theirs["id"], prev_id=theirs["prevId"])
    assert mine == theirs


def test_drizzle_kit_continues_a_folder_trimtab_generated(project: Project) -> None:
    project.schema(USERS)
    project.trimtab("generate", "--name", "init")
    assert meta_names(project.folder) == ["0000_snapshot.json", "_journal.json", "_trimtab"]
    project.schema(USERS + POSTS)
    out = project.kit("generate", "--name", "posts")
    assert "0001_posts.sql" in out, out
    # drizzle-kit alone, same history
    alone = twin(project)
    alone.schema(USERS)
    alone.kit("generate", "--name", "init")
    alone.schema(USERS + POSTS)
    alone.kit("generate", "--name", "posts")
    assert sql_of(project.folder, "0001_posts") == sql_of(alone.folder, "0001_posts")
    assert 'CREATE TABLE "users"' not in sql_of(project.folder, "0001_posts")
    # and nothing more for drizzle-kit to do
    assert "No schema changes" in project.kit("generate")
    shutil.rmtree(alone.root, ignore_errors=True)


def test_trimtab_continues_a_folder_drizzle_kit_generated(project: Project) -> None:
    project.schema(USERS)
    project.kit("generate", "--name", "init")
    project.schema(USERS + POSTS)
    project.trimtab("generate", "--name", "posts")
    text = sql_of(project.folder, "0001_posts")
    assert "CREATE TABLE public.posts" in text and "CREATE TABLE public.users" not in text
    assert not check(project.folder)
    assert "No schema changes" in project.kit("generate")


@pytest.mark.slow  # drizzle-kit and trimtab migrate, turn by turn
def test_taking_turns_gives_one_database(project: Project,
                                         fresh_db: Callable[[], str]) -> None:
    bodies = [USERS, USERS + POSTS, USERS + POSTS + MOOD,
              USERS + POSTS + MOOD.replace('.default("x")', ""),
              USERS + MOOD.replace('.default("x")', ""), USERS.replace(
                  'email: text("email").notNull(),', 'email: text("email").notNull(),\n  '
                  'name: text("name"),') + MOOD]
    for n, body in enumerate(bodies):
        project.schema(body)
        if n % 2:
            project.kit("generate", "--name", f"step{n}")
        else:
            project.trimtab("generate", "--name", f"step{n}", "--force")
    assert len(tags(project.folder)) == len(bodies)
    assert "No schema changes" in project.kit("generate")
    r = run(project.root, "status", "--url", project.url)  # smoke: the folder reads
    assert r.returncode in (0, 1), r.stderr
    project.kit("migrate")
    other = fresh_db()
    r = run(project.root, "migrate", "--url", other)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(project.url) as ca, psycopg.connect(other) as cb:
        a, b = introspect(ca), introspect(cb)
    assert not build_plan(a, b).steps
    assert a.tables == b.tables
    assert drizzle_kit.DRIZZLE_KIT == "0.31.11"


def test_an_old_trimtab_folder_is_moved_aside_then_drizzle_kit_continues(
        project: Project) -> None:
    """A folder written before trimtab kept its files in meta/_trimtab/: the next trimtab
    generate moves its snapshots and sum there (they still load), then drizzle-kit goes on."""
    project.schema(USERS)
    project.trimtab("generate", "--name", "init")
    meta = project.folder / "meta"
    # the layout of an earlier trimtab: its own snapshot and sum in meta/
    (meta / "0000_snapshot.json").unlink()
    (meta / "_trimtab" / "0000_snapshot.json").rename(meta / "0000_snapshot.json")
    (meta / "_trimtab" / "trimtab.sum").rename(meta / "trimtab.sum")
    (meta / "_trimtab").rmdir()
    assert not check(project.folder)
    project.schema(USERS + POSTS)
    project.trimtab("generate", "--name", "posts")
    assert meta_names(project.folder) == ["0001_snapshot.json", "_journal.json", "_trimtab"]
    assert sorted(p.name for p in (meta / "_trimtab").iterdir()) == [
        "0000_snapshot.json", "0001_snapshot.json", "trimtab.sum"]
    assert not check(project.folder)
    assert "No schema changes" in project.kit("generate")
    project.schema(USERS + POSTS + MOOD)
    project.kit("generate", "--name", "notes")
    assert "CREATE TABLE \"notes\"" in sql_of(project.folder, "0002_notes")
    assert 'CREATE TABLE "users"' not in sql_of(project.folder, "0002_notes")


def with_config(project: Project, **extra: object) -> None:
    """drizzle.config.ts of ``project`` with ``extra`` keys (schemaFilter, schema ...)."""
    cfg = project.root / "drizzle.config.ts"
    config = json.loads(cfg.read_text().removeprefix("export default ").rstrip().rstrip(";"))
    cfg.write_text("export default " + json.dumps({**config, **extra}, indent=2) + ";\n")


def test_drizzle_kit_finds_nothing_after_trimtab_generated_everything(
        project: Project) -> None:
    """Every builder of the `everything` fixture, generated by trimtab: drizzle-kit then
    finds no change (a concurrent index, .desc() with .op(), bigint and sql-given number
    defaults, bigserial with a mode, enums of every schema)."""
    shutil.copy(FIXTURES / "everything" / "schema.ts", project.root / "src" / "schema.ts")
    with_config(project, schemaFilter=["public", "shop"])
    project.trimtab("generate", "--name", "init")
    out = project.kit("generate", "--name", "again")
    assert "No schema changes" in out, out


def test_the_snapshot_follows_the_schemas_imports(project: Project) -> None:
    """The config names an index.ts of re-exports (and a barrel one folder down): drizzle-kit's
    snapshot holds the tables of every file it reaches, as the reader does."""
    src = project.root / "src"
    head = 'import { pgTable, serial, integer, text, index } from "drizzle-orm/pg-core";\n'
    (src / "tables").mkdir()
    (src / "tables" / "users.ts").write_text(head + USERS)
    (src / "tables" / "posts.ts").write_text(head + 'import { users } from "./users";\n' + POSTS)
    (src / "tables" / "index.ts").write_text('export { users } from "./users";\n'
                                             'export * from "./posts";\n')
    (src / "index.ts").write_text('export * from "./tables";\n')
    with_config(project, schema="./src/index.ts")
    project.trimtab("generate", "--name", "init")
    snap = json.loads((project.folder / "meta" / "0000_snapshot.json").read_text())
    assert sorted(snap["tables"]) == ["public.posts", "public.users"]
    out = project.kit("generate", "--name", "again")
    assert "No schema changes" in out, out


def test_check_accepts_a_migration_drizzle_kit_appended(project: Project) -> None:
    """trimtab generate, then drizzle-kit generate: the folder is sound, and check says the
    last migration is drizzle-kit's (not in trimtab's sum) instead of calling it an error."""
    project.schema(USERS)
    project.trimtab("generate", "--name", "init")
    project.schema(USERS + POSTS)
    project.kit("generate", "--name", "posts")
    assert not check(project.folder)
    r = run(project.root, "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0001_posts.sql" in r.stdout + r.stderr and "drizzle-kit" in r.stdout + r.stderr
    r = run(project.root, "status", "--url", project.url)
    assert "not in trimtab.sum" not in r.stdout + r.stderr, r.stdout + r.stderr
    # then trimtab goes on after it, and its sum takes drizzle-kit's migration in
    project.schema(USERS + POSTS + MOOD)
    project.trimtab("generate", "--name", "notes")
    assert not check(project.folder)
    assert "No schema changes" in project.kit("generate")


def test_sum_messages_name_the_sum_where_it_is(project: Project) -> None:
    """In a folder both tools write, trimtab's sum is meta/_trimtab/trimtab.sum: the problems
    and the --update-sum line name that file, not meta/trimtab.sum."""
    project.schema(USERS)
    project.trimtab("generate", "--name", "init")
    sql_file = project.folder / "0000_init.sql"
    sql_file.write_text(sql_file.read_text() + "\n-- reviewed\n")
    r = run(project.root, "check")
    assert r.returncode == 1
    assert "differs from meta/_trimtab/trimtab.sum" in r.stderr, r.stderr
    r = run(project.root, "check", "--update-sum")
    assert str(project.folder / "meta" / "_trimtab" / "trimtab.sum") in r.stdout.replace(
        "\n", ""), r.stdout
    assert not (project.folder / "meta" / "trimtab.sum").exists()
    assert not check(project.folder)

"""Input that would be cut or mangled on its way to PostgreSQL is refused with its place, and
input that declares nothing does not silently drop everything: the real console script,
real files, a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from pytest_lsp import LanguageClient

from tests.test_cli_push import run, tables, write
from tests.test_lsp import change_doc, client, db, has, open_doc, until, workspace  # noqa: F401
from trimtab import engine
from trimtab.config import load_config
from trimtab.errors import SchemaError
from trimtab.migrations.folder import read_folder
from trimtab.sources.sqlfile import read_schema, split_statements, structural_model


def hand_written_folder(project: Path, *files: tuple[str, bytes]) -> Path:
    """A migrations folder as drizzle-kit leaves it (journal, .sql files, no sum)."""
    folder = project / "migrations"
    (folder / "meta").mkdir(parents=True)
    entries = []
    for i, (tag, data) in enumerate(files):
        (folder / f"{tag}.sql").write_bytes(data)
        entries.append({"idx": i, "version": "7", "when": 1_700_000_000_000 + i, "tag": tag,
                        "breakpoints": True})
    (folder / "meta" / "_journal.json").write_text(json.dumps(
        {"version": "7", "dialect": "postgresql", "entries": entries}, indent=2))
    return folder


def refused_at(r, place: str, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == 1, r.stdout + r.stderr
    text = " ".join(r.stderr.split())  # rich wraps long lines
    assert place in text, r.stderr
    for w in words:
        assert w in text, r.stderr
    assert "Traceback" not in r.stderr


# -- NUL and bytes that are not UTF-8 ----------------------------------------------------------


def test_a_nul_in_a_migration_is_refused_and_nothing_is_recorded(project: Path,
                                                                 db_url: str) -> None:
    hand_written_folder(project, ("0000_init", b"CREATE TABLE a (id int);\n"
                                               b"CREATE TABLE b (id int);\x00\n"
                                               b"CREATE TABLE c (id int);\n"))
    r = run(project, "migrate", "--url", db_url)
    refused_at(r, "0000_init.sql:2:25", "NUL")
    assert tables(db_url) == []
    status = run(project, "status", "--url", db_url)
    refused_at(status, "0000_init.sql:2:25", "NUL")


def test_a_nul_in_the_schema_file_refuses_push(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    assert run(project, "push", "--url", db_url).returncode == 0
    (project / "schema.sql").write_bytes(b"CREATE TABLE a (id int);\n-- \x00\n"
                                         b"CREATE TABLE b (id int);\n")
    r = run(project, "push", "--url", db_url)
    refused_at(r, "schema.sql:2:4", "NUL")
    assert tables(db_url) == ["a", "b"]
    r = run(project, "push", "--url", db_url, "--force")
    refused_at(r, "schema.sql:2:4", "NUL")
    assert tables(db_url) == ["a", "b"]


def test_a_nul_in_a_schema_folder_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "01.sql").write_text("CREATE TABLE a (id int);\n")
    (folder / "02.sql").write_bytes(b"CREATE TABLE b (note text DEFAULT 'x\x00y');\n")
    with pytest.raises(SchemaError) as e:
        read_schema(folder)
    assert (e.value.file, e.value.line, e.value.column) == (str(folder / "02.sql"), 1, 37)


def test_bytes_that_are_not_utf8_are_placed(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_bytes(b"CREATE TABLE a (id int);\n"
                                         b"CREATE TABLE b (note text DEFAULT 'caf\xe9');\n")
    r = run(project, "push", "--url", db_url)
    refused_at(r, "schema.sql:2:39", "UTF-8")
    assert tables(db_url) == []


def test_bytes_that_are_not_utf8_in_a_migration_are_refused(project: Path,
                                                             db_url: str) -> None:
    hand_written_folder(project, ("0000_init", b"CREATE TABLE a (id int);\n"
                                               b"CREATE TABLE b (note text DEFAULT 'caf\xe9');\n"))
    r = run(project, "migrate", "--url", db_url)
    refused_at(r, "0000_init.sql:2:39", "UTF-8")
    assert tables(db_url) == []


def test_check_names_a_nul_in_a_generated_migration(project: Path, db_url: str) -> None:
    write(project, "CREATE TABLE a (id int);\n")
    assert run(project, "generate", "--url", db_url).returncode == 0
    path = project / "migrations" / "0000_init.sql"
    path.write_bytes(path.read_bytes() + b"\x00CREATE TABLE b (id int);\n")
    line = path.read_bytes().count(b"\n")
    r = run(project, "check")
    refused_at(r, f"0000_init.sql:{line}:", "NUL")


def test_a_nul_in_the_seed_file_is_refused(project: Path, db_url: str) -> None:
    (project / "trimtab.toml").write_text('schema = "schema.sql"\nseed = "seed.sql"\n')
    write(project, "CREATE TABLE a (id int);\n")
    (project / "seed.sql").write_bytes(b"INSERT INTO a VALUES (1);\x00\n"
                                       b"INSERT INTO a VALUES (2);\n")
    assert run(project, "push", "--url", db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO a VALUES (7)")
    r = run(project, "reset", "--yes", "--url", db_url)
    refused_at(r, "seed.sql:1:26", "NUL")
    with psycopg.connect(db_url) as conn:  # refused before anything was dropped
        assert conn.execute("SELECT id FROM a").fetchall() == [(7,)]


def test_a_journal_that_is_not_utf8_is_placed(tmp_path: Path) -> None:
    folder = hand_written_folder(tmp_path, ("0000_init", b"CREATE TABLE a (id int);\n"))
    journal = folder / "meta" / "_journal.json"
    journal.write_bytes(journal.read_bytes().replace(b'"7",\n  "dialect"',
                                                     b'"7\xff",\n  "dialect"'))
    with pytest.raises(SchemaError) as e:
        read_folder(folder)
    assert (e.value.file, e.value.line) == (str(journal), 2)
    assert "UTF-8" in e.value.message


def test_an_unsaved_buffer_with_a_nul_is_an_error_not_a_cut(project: Path) -> None:
    write(project, "CREATE TABLE a (id int);\n")
    cfg = load_config(project)
    path = str(project / "schema.sql")
    with pytest.raises(SchemaError) as e:
        engine.read_source(cfg, {path: "CREATE TABLE a (id int);\nCREATE TABLE b (id\x00 int);\n"})
    assert (e.value.file, e.value.line, e.value.column) == (path, 2, 19)


def test_the_fast_reader_flags_a_nul_as_you_type() -> None:
    statements = split_statements("CREATE TABLE a (id int);\n\x00CREATE TABLE b (id int);\n",
                                  "schema.sql")
    _, issues = structural_model(statements)
    assert [(i.severity, i.span.line, i.span.column) for i in issues
            if "NUL" in i.message] == [("error", 2, 1)]


async def test_the_editor_shows_a_nul_in_an_unsaved_buffer_instead_of_a_cut(
        client: LanguageClient, workspace: Path, db_url: str) -> None:  # noqa: F811
    db(db_url, "CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE posts (id int)")
    text = "CREATE TABLE users (id int PRIMARY KEY);\nCREATE TABLE posts (id int);\n"
    uri = open_doc(client, workspace / "schema.sql", text)
    await until(client, uri, lambda ds: not ds)
    # Cut at the NUL, the schema would lose posts and the plan would drop it.
    change_doc(client, uri, 2, text.replace("\nCREATE TABLE posts", "\n\x00CREATE TABLE posts"))
    diags = await until(client, uri, has("postgres", "NUL"))  # the exact path's finding
    d = next(d for d in diags if d.code == "postgres")
    assert (d.range.start.line, d.range.start.character) == (1, 0)
    assert not [d.message for d in diags if d.code == "drops-table"]


def drizzle_project(root: Path, schema_ts: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "drizzle.config.ts").write_text(
        'import { defineConfig } from "drizzle-kit";\n'
        'export default defineConfig({ dialect: "postgresql", schema: "./src/schema.ts" });\n')
    (root / "src" / "schema.ts").write_text(
        'import { pgTable, text } from "drizzle-orm/pg-core";\n' + schema_ts)
    return root / "src" / "schema.ts"


def test_a_drizzle_schema_with_a_nul_is_refused(tmp_path: Path) -> None:
    ts = drizzle_project(tmp_path / "app", 'export const t = pgTable("t", '
                                           '{ note: text().default("a\x00b") });\n')
    with pytest.raises(SchemaError) as e:
        engine.read_source(load_config(tmp_path / "app"))
    assert (e.value.file, e.value.line, e.value.column) == (str(ts), 2, 56)
    assert "NUL" in e.value.message


def test_a_nul_escape_in_a_drizzle_string_is_refused(tmp_path: Path) -> None:
    ts = drizzle_project(tmp_path / "app", 'export const t = pgTable("t", '
                                           '{ note: text().default("a\\0b") });\n'
                                           'export const u = pgTable("u", { note: text() });\n')
    with pytest.raises(SchemaError) as e:
        engine.read_source(load_config(tmp_path / "app"))
    assert (e.value.file, e.value.line) == (str(ts), 2)
    assert "NUL" in e.value.message


# -- a syntax error in a migration of several statements -----------------------------------------

BROKEN = (b"CREATE TABLE a (id int);\n"
          b"CREATE TABLE b (\n"
          b"  id int,);\n"
          b"CREATE TABLE c (id int);\n")


@pytest.mark.parametrize("command", [["migrate"], ["status"], ["generate"],
                                     ["reset", "--yes", "--migrations"]])
def test_a_syntax_error_in_a_migration_is_postgres_message_with_its_place(
        project: Path, db_url: str, command: list[str]) -> None:
    write(project, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
                   "CREATE TABLE c (id int);\n")
    hand_written_folder(project, ("0000_init", BROKEN))
    r = run(project, *command, "--url", db_url)
    refused_at(r, "0000_init.sql:3:", 'syntax error at or near ")"',
               "statement 2 of 3 (line 2)", "statement: CREATE TABLE b (")
    assert "savepoint" not in r.stderr
    assert tables(db_url) == []


# -- a schema file that declares nothing ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "-- nothing here yet\n/* still nothing */\n"])
def test_an_empty_schema_file_does_not_drop_every_table_silently(project: Path, db_url: str,
                                                                 text: str) -> None:
    write(project, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    assert run(project, "push", "--url", db_url).returncode == 0
    write(project, text)
    r = run(project, "push", "--url", db_url)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "declares no objects" in " ".join(r.stderr.split())
    assert tables(db_url) == ["a", "b"]
    forced = run(project, "push", "--url", db_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert tables(db_url) == []
